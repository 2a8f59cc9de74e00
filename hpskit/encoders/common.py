"""Pieces shared by every encoder: the output type, feature info and the authors' learned upsampling.

The D-PoSE encoder returns the four multi-resolution maps F0..F3 (strides 4, 8, 16, 32) and one *fused*
map at F0's resolution: ``concat(F0, U1(F1), U2(F2), U3(F3))`` where ``Uk`` is ``k`` repetitions of
``[bilinear up×2 (align_corners=True), conv3×3 C→C (no bias), BN, ReLU]`` (docs/authors-code.md (b)).
The Sequential index layout of ``Uk`` is the authors': the upsampler sits at 0/4/8, the convs at 1/5/9,
the BNs at 2/6/10 and the ReLUs at 3/7/11, so state-dict keys read ``upsample_stage_2.1.weight`` etc.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from torch import Tensor, nn

__all__ = ["EncoderOutput", "FeatureInfo", "upsample_stage", "dpose_init_", "kaiming_init_"]


class EncoderOutput(NamedTuple):
    """What every hpskit encoder returns.

    Attributes:
        features: The multi-resolution maps ``[F0, F1, F2, F3]``, highest resolution first; ``Fi`` has shape
            (B, C_i, H / r_i, W / r_i) with ``C_i = feature_info.channels()[i]`` and
            ``r_i = feature_info.reduction()[i]`` (4, 8, 16, 32).
        fused: The learned-upsampled concatenation at F0's resolution, shape (B, sum(C_i), H / 4, W / 4).
    """

    features: list[Tensor]
    fused: Tensor


class FeatureInfo:
    """Channels and strides of an encoder's feature levels (a small, read-only cousin of timm's).

    Args:
        channels: Channels per level, e.g. ``(48, 96, 192, 384)``.
        reduction: Stride per level relative to the input, e.g. ``(4, 8, 16, 32)``.

    Examples:
        >>> info = FeatureInfo((48, 96, 192, 384), (4, 8, 16, 32))
        >>> info.channels(), info.reduction(), len(info)
        ((48, 96, 192, 384), (4, 8, 16, 32), 4)
    """

    def __init__(self, channels: Sequence[int], reduction: Sequence[int]):
        if len(channels) != len(reduction):
            raise ValueError(f"FeatureInfo: {len(channels)} channel counts but {len(reduction)} reductions.")
        self._channels = tuple(int(c) for c in channels)
        self._reduction = tuple(int(r) for r in reduction)

    def channels(self) -> tuple[int, ...]:
        """Channels per level, highest resolution first."""
        return self._channels

    def reduction(self) -> tuple[int, ...]:
        """Stride of each level relative to the input image."""
        return self._reduction

    def __len__(self) -> int:
        return len(self._channels)

    def __repr__(self) -> str:
        return f"FeatureInfo(channels={self._channels}, reduction={self._reduction})"


def upsample_stage(channels: int, num_ups: int) -> nn.Sequential:
    """The authors' learned upsampler: ``num_ups`` × [up×2 bilinear, conv3×3 C→C, BN, ReLU].

    Args:
        channels: Channels C, kept throughout.
        num_ups: How many ×2 steps (1 for F1, 2 for F2, 3 for F3).

    Returns:
        An ``nn.Sequential`` of ``4 * num_ups`` modules; parameters at indices ``4k + 1`` (conv) and
        ``4k + 2`` (BN). Maps (B, C, h, w) to (B, C, h·2^num_ups, w·2^num_ups).

    Examples:
        >>> [k for k, _ in upsample_stage(8, 2).state_dict().items() if k.endswith("weight")]
        ['1.weight', '2.weight', '5.weight', '6.weight']
    """
    layers: list[nn.Module] = []
    for _ in range(num_ups):
        layers += [
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
            nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)


def _init_conv_bn_(module: nn.Module, init_conv_weight: Callable[[Tensor], Tensor]) -> nn.Module:
    """Every Conv2d weight by ``init_conv_weight`` (bias 0), every BatchNorm2d weight 1, bias 0; in place."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            init_conv_weight(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return module


def dpose_init_(module: nn.Module, std: float = 1e-3) -> nn.Module:
    """The authors' backbone init, in place: every conv N(0, std²) with zero bias, BN weight 1, bias 0.

    Args:
        module: Module whose Conv2d / BatchNorm2d submodules are re-initialised.
        std: Standard deviation of the conv weights (the authors use 0.001).

    Returns:
        ``module`` itself.
    """
    return _init_conv_bn_(module, lambda w: nn.init.normal_(w, mean=0.0, std=std))


def kaiming_init_(module: nn.Module) -> nn.Module:
    """He initialisation in place, for training an encoder from scratch: every conv kaiming-normal
    (fan_out, ReLU) with zero bias, BN weight 1, bias 0.

    The authors' N(0, 0.001²) (:func:`dpose_init_`) is only a placeholder that their COCO checkpoint
    overwrites. Trained from scratch with Adam it is a poor start: a conv followed by BN is scale-invariant,
    so Adam's absolute step (≈ lr) is a ~10 % relative change per step on 1e-3-sized weights.

    Args:
        module: Module whose Conv2d / BatchNorm2d submodules are re-initialised.

    Returns:
        ``module`` itself.
    """
    return _init_conv_bn_(module, lambda w: nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"))
