"""Encoders over timm ``features_only`` trunks, with the authors' learned fusion to a stride-4 map.

:class:`TimmFusedEncoder` wraps any timm model that yields four maps at strides 4, 8, 16 and 32 and adds one
learned upsampler per coarse level (:func:`~hpskit.encoders.common.upsample_stage`), so every registered
backbone plugs into the same decoders and part attention. :class:`~hpskit.encoders.hrnet.HRNetEncoder` is the
D-PoSE configuration of it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import timm
import torch
from torch import Tensor, nn

from hpskit.core import ConfigError, ShapeError, check_shape

from .common import EncoderOutput, FeatureInfo, dpose_init_, upsample_stage

__all__ = ["TimmFusedEncoder"]

logger = logging.getLogger(__name__)


class TimmFusedEncoder(nn.Module):
    """A timm ``features_only`` trunk plus the authors' learned upsampling and concatenation.

    The trunk is held as ``self.trunk``, so its state-dict keys are ``trunk.<timm key>``; the upsamplers are
    ``upsample_stage_{i+1}`` for level ``i = 1 .. L-1`` (``i`` learned ×2 steps each; the authors' names).

    Args:
        model_name: A timm model name, e.g. ``"resnet50"`` or ``"convnext_tiny"``.
        out_indices: timm feature indices to keep; they must give maps whose strides double from level to
            level (e.g. ``(1, 2, 3, 4)`` for ResNets: strides 4..32).
        pretrained: Load timm's pretrained weights (downloads from the Hugging Face Hub; ImageNet weights).
        trunk_init: ``"timm"`` keeps timm's own initialisation of the trunk; ``"dpose"`` re-initialises every
            conv N(0, 0.001²) and BN to (1, 0), as the authors do for HRNet. Ignored when ``pretrained``.
        **timm_kwargs: Passed on to ``timm.create_model`` (e.g. ``feature_location=""`` for HRNet).

    Attributes:
        feature_info: :class:`~hpskit.encoders.common.FeatureInfo` of the levels F0..F3.
        fused_channels: Channels of the fused map (sum of the level channels).

    Shape:
        - images: (B, 3, H, W), H and W multiples of the coarsest stride (32).
        - output: :class:`~hpskit.encoders.common.EncoderOutput`; ``fused`` is (B, fused_channels, H/4, W/4)
          when the finest stride is 4.
    """

    def __init__(
        self,
        model_name: str,
        *,
        out_indices: Sequence[int] = (1, 2, 3, 4),
        pretrained: bool = False,
        trunk_init: str = "timm",
        **timm_kwargs: Any,
    ):
        super().__init__()
        if trunk_init not in ("timm", "dpose"):
            raise ConfigError(
                f"TimmFusedEncoder: `trunk_init` must be 'timm' or 'dpose'; got {trunk_init!r}."
            )
        self.model_name = model_name
        self.trunk = timm.create_model(
            model_name,
            pretrained=pretrained,
            features_only=True,
            out_indices=tuple(out_indices),
            **timm_kwargs,
        )
        channels = tuple(self.trunk.feature_info.channels())
        reduction = tuple(self.trunk.feature_info.reduction())
        if len(channels) < 2 or any(b != 2 * a for a, b in zip(reduction, reduction[1:])):
            raise ConfigError(
                f"TimmFusedEncoder: timm model {model_name!r} with out_indices={tuple(out_indices)} gives "
                f"strides {reduction}; the fused map needs at least two levels whose strides double "
                "(e.g. 4, 8, 16, 32). "
                "Pick other `out_indices`."
            )
        self.feature_info = FeatureInfo(channels, reduction)
        self.fused_channels = int(sum(channels))
        self.in_chans = int(timm_kwargs.get("in_chans", 3))
        for i in range(1, len(channels)):
            stage = upsample_stage(channels[i], i)
            dpose_init_(stage)
            self.add_module(f"upsample_stage_{i + 1}", stage)
        if trunk_init == "dpose" and not pretrained:
            dpose_init_(self.trunk)

    def upsample_stages(self) -> list[nn.Sequential]:
        """The learned upsamplers for levels 1..L-1, in level order."""
        return [getattr(self, f"upsample_stage_{i + 1}") for i in range(1, len(self.feature_info))]

    def forward(self, images: Tensor) -> EncoderOutput:
        """Run the trunk and fuse its levels.

        Args:
            images: ImageNet-normalised RGB crops, shape (B, 3, H, W); H and W must be multiples of the
                coarsest stride (32 for every registered encoder).

        Returns:
            ``EncoderOutput(features=[F0, ..., F_{L-1}], fused=(B, fused_channels, H/r0, W/r0))``.

        Raises:
            ShapeError: If ``images`` is not (B, 3, H, W) or H, W are not multiples of the coarsest stride.
        """
        where = f"{type(self).__name__}.forward"
        dims = check_shape(images, ("B", self.in_chans, "H", "W"), "images", where)
        stride = self.feature_info.reduction()[-1]
        if dims["H"] % stride or dims["W"] % stride:
            raise ShapeError(
                f"{where}: `images` height and width must be multiples of {stride}; got "
                f"({dims['H']}, {dims['W']}). Resize or pad the crop (D-PoSE uses 224 × 224).",
                expected_shape=("B", self.in_chans, f"{stride}·k", f"{stride}·k"),
                actual_shape=tuple(images.shape),
            )
        features = list(self.trunk(images))
        upsampled = [up(f) for up, f in zip(self.upsample_stages(), features[1:])]
        fused = torch.cat([features[0], *upsampled], dim=1)
        return EncoderOutput(features=features, fused=fused)
