"""Decoders: encoder levels F0..F3 → dense maps at 4× F0's resolution (depth, part logits)."""

from .unet_lite import ResidualBlock, UNetLiteDecoder, Upscaler

__all__ = ["ResidualBlock", "UNetLiteDecoder", "Upscaler"]
