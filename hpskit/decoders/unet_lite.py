"""The authors' U-Net-lite decoder: F3 → F0 with skip connections, then a learned ×4 upscaler.

One decoder class serves both D-PoSE heads: ``out_channels=1, final_activation="sigmoid"`` is the depth
decoder, ``out_channels=23, final_activation=None`` the part-segmentation decoder (docs/authors-code.md (c)).
Sub-module names mirror the authors' so a checkpoint converter only renames the prefix.

Differences from the authors' module that change no numbers:

- the two adaptive pools (7×7, 2×2) they build and never call are not built;
- the ReLUs they apply right after the upscaler's two bilinear ×2 steps act on non-negative data and are
  omitted;
- the ×2 upsampling before each skip concatenation resizes to the skip's exact size (bilinear,
  ``align_corners=True``), which equals the authors' ``scale_factor=2`` whenever the skip is exactly twice as
  large (always for HRNet on multiples of 32) and also accepts odd sizes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hpskit.core import ConfigError, ShapeError, check_shape

__all__ = ["ResidualBlock", "Upscaler", "UNetLiteDecoder"]


def _up(x: Tensor, size: tuple[int, int]) -> Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


class ResidualBlock(nn.Module):
    """ResNet BasicBlock: conv3×3-BN-ReLU-conv3×3-BN + shortcut (1×1 conv + BN if channels change), ReLU.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.

    Shape:
        (B, in_channels, H, W) → (B, out_channels, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block; see the class docstring for shapes."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Upscaler(nn.Module):
    """×4 upscaler: [up×2, conv3×3 (+bias), BN, ReLU] twice (the authors' ``upscaling``).

    Args:
        channels: Channels C, kept throughout.

    Shape:
        (B, C, H, W) → (B, C, 4H, 4W).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.conv3_1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3_2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn4 = nn.BatchNorm2d(channels)

    def forward(self, x: Tensor) -> Tensor:
        """Upscale by 4; see the class docstring for shapes."""
        h, w = x.shape[-2:]
        x = F.relu(self.bn2(self.conv3_1(_up(x, (2 * h, 2 * w)))))
        return F.relu(self.bn4(self.conv3_2(_up(x, (4 * h, 4 * w)))))


class UNetLiteDecoder(nn.Module):
    """The authors' U-Net-lite decoder, sized from the encoder's channels.

    For level k = L-1 .. 1 (x starts as the coarsest map): ``upsample_modules.upsample_{k}_to_{k-1}`` =
    conv1×1 C_k→C_{k-1} + BN + ReLU, then bilinear ×2; concatenate ``[x, F_{k-1}]``;
    ``fusion_and_refinement.fuse_and_refine_{k}`` = 4 :class:`ResidualBlock` (2·C_{k-1} → C_{k-1}, then
    C_{k-1} → C_{k-1}). The result at F0's resolution is the second output ("depth feats"). Then
    ``upscaling`` (:class:`Upscaler`, ×4) and ``final_layers`` = conv3×3 C_0→C_0 (+bias), BN, ReLU, conv1×1
    C_0→out_channels (+bias) [, Sigmoid].

    Args:
        in_channels: Channels of F0..F_{L-1}, highest resolution first (``encoder.feature_info.channels()``),
            e.g. ``(48, 96, 192, 384)``.
        out_channels: Output channels: 1 for depth, 23 for part logits (0 = background).
        final_activation: ``"sigmoid"`` (depth in (0, 1)) or ``None`` (raw logits).

    Shape:
        - features: ``[F0, ..., F_{L-1}]`` with ``F_k`` (B, in_channels[k], H_k, W_k), each level about half
          the size of the previous one.
        - output: ``(map (B, out_channels, 4·H_0, 4·W_0), feat (B, in_channels[0], H_0, W_0))``.

    Examples:
        >>> dec = UNetLiteDecoder((8, 16, 32, 64), out_channels=1)
        >>> feats = [torch.randn(1, c, 16 // 2**i, 16 // 2**i) for i, c in enumerate((8, 16, 32, 64))]
        >>> [tuple(t.shape) for t in dec(feats)]
        [(1, 1, 64, 64), (1, 8, 16, 16)]
    """

    def __init__(
        self,
        in_channels: Sequence[int] = (48, 96, 192, 384),
        out_channels: int = 1,
        final_activation: str | None = "sigmoid",
    ):
        super().__init__()
        in_channels = tuple(int(c) for c in in_channels)
        if len(in_channels) < 2:
            raise ConfigError(f"UNetLiteDecoder: `in_channels` needs at least 2 levels; got {in_channels}.")
        if final_activation not in ("sigmoid", None):
            raise ConfigError(
                f"UNetLiteDecoder: `final_activation` must be 'sigmoid' or None; got {final_activation!r}."
            )
        self.in_channels = in_channels
        self.out_channels = int(out_channels)
        self.final_activation = final_activation
        levels = range(len(in_channels) - 1, 0, -1)  # k = L-1 .. 1
        self.upsample_modules = nn.ModuleDict({
            f"upsample_{k}_to_{k - 1}": nn.Sequential(
                nn.Conv2d(in_channels[k], in_channels[k - 1], 1, bias=False),
                nn.BatchNorm2d(in_channels[k - 1]),
                nn.ReLU(inplace=True),
            )
            for k in levels
        })
        self.fusion_and_refinement = nn.ModuleDict({
            f"fuse_and_refine_{k}": nn.Sequential(
                ResidualBlock(2 * in_channels[k - 1], in_channels[k - 1]),
                *(ResidualBlock(in_channels[k - 1], in_channels[k - 1]) for _ in range(3)),
            )
            for k in levels
        })
        c0 = in_channels[0]
        final: list[nn.Module] = [
            nn.Conv2d(c0, c0, 3, padding=1),
            nn.BatchNorm2d(c0),
            nn.ReLU(inplace=True),
            nn.Conv2d(c0, self.out_channels, 1),
        ]
        if final_activation == "sigmoid":
            final.append(nn.Sigmoid())
        self.final_layers = nn.Sequential(*final)
        self.upscaling = Upscaler(c0)

    def forward(self, features: Sequence[Tensor], head: bool = True) -> tuple[Tensor | None, Tensor]:
        """Decode the encoder levels.

        Args:
            features: ``[F0, ..., F_{L-1}]``, ``F_k`` of shape (B, in_channels[k], H_k, W_k).
            head: Run the ×4 upscaler and the final layers; ``False`` returns ``(None, feat)`` and skips their
                full-resolution convolutions (``feat`` is unchanged).

        Returns:
            ``(map, feat)``: map (B, out_channels, 4·H_0, 4·W_0) (sigmoid-activated for depth), or ``None``
            with ``head=False``; feat (B, in_channels[0], H_0, W_0).

        Raises:
            ShapeError: If the number of levels, a level's channels or the batch size is wrong.
        """
        where = "UNetLiteDecoder.forward"
        if len(features) != len(self.in_channels):
            raise ShapeError(
                f"{where}: `features` must hold {len(self.in_channels)} maps "
                f"(F0..F{len(self.in_channels) - 1}); got {len(features)}. Pass encoder(images).features."
            )
        dims: dict[str, int] = {}
        for k, (f, c) in enumerate(zip(features, self.in_channels)):
            check_shape(f, ("B", c, "*", "*"), f"features[{k}]", where, dims=dims,
                        hint=f"The decoder was built with in_channels={self.in_channels}.")
        x = features[-1]
        for k in range(len(features) - 1, 0, -1):
            skip = features[k - 1]
            x = _up(self.upsample_modules[f"upsample_{k}_to_{k - 1}"](x), tuple(skip.shape[-2:]))
            x = self.fusion_and_refinement[f"fuse_and_refine_{k}"](torch.cat([x, skip], dim=1))
        if not head:
            return None, x
        out = self.final_layers(self.upscaling(x))
        return out, x
