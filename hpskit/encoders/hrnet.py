"""The D-PoSE encoder: HRNet through timm (``features_only``, ``feature_location=''``).

timm's ``hrnet_w48`` feature trunk maps one-to-one onto the authors' backbone: all 1830 state-dict keys have
the authors' names and shapes (stage4 is built with multi-scale output), so ``trunk.<key>`` here is
``backbone.<key>`` there (docs/authors-code.md (b)). The authors' ``final_layer`` (a 1×1 conv 48→24 that the
forward pass never uses) is not built: a checkpoint converter drops its 1,176 parameters.
"""

from __future__ import annotations

from hpskit.core import ConfigError

from .timm_encoder import TimmFusedEncoder

__all__ = ["HRNetEncoder"]


class HRNetEncoder(TimmFusedEncoder):
    """HRNet branch maps F0..F3 plus the authors' learned 56² fusion (720 channels for W48).

    Without ``pretrained`` every conv of trunk and upsamplers is initialised N(0, 0.001²) and every BN to
    (1, 0), as the authors do before loading the COCO pose checkpoint (see
    :func:`~hpskit.encoders.coco.load_coco_hrnet_checkpoint`). ``pretrained=True`` loads timm's ImageNet
    classification weights instead (network access); the authors start from COCO pose weights.

    Args:
        variant: ``"hrnet_w18"``, ``"hrnet_w32"``, ``"hrnet_w48"`` (D-PoSE) or another timm HRNet name.
        pretrained: Load timm's ImageNet weights into the trunk.

    Shape:
        - images: (B, 3, H, W), H and W multiples of 32.
        - features: F0 (B, C, H/4, W/4), F1 (B, 2C, H/8, W/8), F2 (B, 4C, H/16, W/16), F3 (B, 8C, H/32, W/32)
          with C = 18 / 32 / 48.
        - fused: (B, 15C, H/4, W/4), i.e. (B, 720, 56, 56) for W48 on 224².

    Examples:
        >>> enc = HRNetEncoder("hrnet_w18")
        >>> enc.feature_info.channels(), enc.feature_info.reduction(), enc.fused_channels
        ((18, 36, 72, 144), (4, 8, 16, 32), 270)
    """

    def __init__(self, variant: str = "hrnet_w48", pretrained: bool = False):
        if not variant.startswith("hrnet_"):
            raise ConfigError(
                f"HRNetEncoder: `variant` must be a timm HRNet name like 'hrnet_w48'; got {variant!r}."
            )
        super().__init__(
            variant, out_indices=(1, 2, 3, 4), pretrained=pretrained, trunk_init="dpose", feature_location=""
        )
