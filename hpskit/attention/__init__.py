"""Part soft-attention: per-part feature vectors from a feature map and part-segmentation logits."""

from .part_attention import PartAttention, part_attention

__all__ = ["PartAttention", "part_attention"]
