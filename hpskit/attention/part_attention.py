"""Part soft-attention: one feature vector per body part, pooled under a spatial softmax of its logits.

docs/authors-code.md (d): the part logits (background already dropped) are average-pooled to the feature map's
size, turned into one spatial softmax per part (no temperature) and used as weights for an average of the
features; the authors then mix channels with a 1×1 Conv1d shared by all parts (``conv1x1_pose``, called
``mixer`` here). The authors also build a second mixer (``conv1x1_shape_cam``) that their forward never
reaches; hpskit does not build it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hpskit.core import check_shape

__all__ = ["part_attention", "PartAttention"]


def part_attention(features: Tensor, part_logits: Tensor) -> Tensor:
    """Pool ``features`` once per body part, weighted by a spatial softmax of that part's logits.

    The logits are first average-pooled to the feature size (``adaptive_avg_pool2d``; exact 4×4 means for
    224² logits on 56² features), then ``softmax`` over the H·W positions of each part gives weights that sum
    to 1, and ``out[b, p] = Σ_hw softmax(logits[b, p])[hw] · features[b, :, hw]``.

    Args:
        features: Feature map, shape (B, C, H, W) (D-PoSE: the fused 720 × 56² encoder map).
        part_logits: Raw part logits, shape (B, P, H', W'), background channel already removed
            (D-PoSE: ``seg_logits[:, 1:]``, P = 22, 224²).

    Returns:
        Per-part features, shape (B, P, C), dtype of ``features``.

    Raises:
        ShapeError: If a tensor has the wrong rank or the batch sizes differ.

    Examples:
        >>> part_attention(torch.randn(2, 720, 56, 56), torch.randn(2, 22, 224, 224)).shape
        torch.Size([2, 22, 720])
    """
    where = "part_attention"
    dims = check_shape(features, ("B", "C", "H", "W"), "features", where)
    check_shape(part_logits, ("B", "P", "*", "*"), "part_logits", where, dims=dict(dims))
    pooled = F.adaptive_avg_pool2d(part_logits, (dims["H"], dims["W"]))
    weights = torch.softmax(pooled.flatten(2), dim=-1).to(features.dtype)  # (B, P, HW)
    # out[b, p, c] = Σ_n weights[b, p, n] · features[b, c, n]
    return torch.einsum("bpn,bcn->bpc", weights, features.flatten(2))


class PartAttention(nn.Module):
    """:func:`part_attention` followed by the authors' 1×1 channel mixer (``mixer``, Conv1d C→C with bias).

    Args:
        channels: Feature channels C (720 for D-PoSE with HRNet-W48).

    Shape:
        - features: (B, C, H, W); part_logits: (B, P, H', W').
        - output: (B, P, C).

    Examples:
        >>> att = PartAttention(16)
        >>> att(torch.randn(1, 16, 7, 9), torch.randn(1, 5, 28, 36)).shape
        torch.Size([1, 5, 16])
    """

    def __init__(self, channels: int):
        super().__init__()
        self.channels = int(channels)
        # A Conv1d (not a Linear) so the weight has the authors' shape (C, C, 1).
        self.mixer = nn.Conv1d(self.channels, self.channels, kernel_size=1, bias=True)

    def forward(self, features: Tensor, part_logits: Tensor) -> Tensor:
        """Attend and mix; see the class docstring for shapes.

        Raises:
            ShapeError: If ``features`` does not have ``channels`` channels (or see :func:`part_attention`).
        """
        check_shape(features, ("B", self.channels, "H", "W"), "features", "PartAttention.forward")
        attended = part_attention(features, part_logits)  # (B, P, C)
        return self.mixer(attended.transpose(1, 2)).transpose(1, 2)

    def extra_repr(self) -> str:
        return f"channels={self.channels}"
