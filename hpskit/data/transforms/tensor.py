"""ImageNet normalisation of batched RGB tensors (the last step before the encoder).

Example:
    >>> x = torch.rand(2, 3, 4, 4)
    >>> bool(torch.allclose(unnormalize_imagenet(normalize_imagenet(x)), x, atol=1e-6))
    True
"""

from __future__ import annotations

import torch
from torch import Tensor

from hpskit.core import check_shape

from ..sample import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["normalize_imagenet", "unnormalize_imagenet"]


def _stats(x: Tensor) -> tuple[Tensor, Tensor]:
    # Filled on the device: torch.tensor(..., device=cuda) is a host -> device copy that waits for the GPU.
    mean = torch.stack([x.new_full((), v) for v in IMAGENET_MEAN])[:, None, None]
    std = torch.stack([x.new_full((), v) for v in IMAGENET_STD])[:, None, None]
    return mean, std


def normalize_imagenet(images: Tensor) -> Tensor:
    """``(x − mean) / std`` per channel.

    Args:
        images: RGB in [0, 1], shape (..., 3, H, W), float.

    Returns:
        Normalised images, same shape.
    """
    check_shape(images, ("...", 3, "H", "W"), "images", "normalize_imagenet")
    mean, std = _stats(images)
    return (images - mean) / std


def unnormalize_imagenet(images: Tensor) -> Tensor:
    """Inverse of :func:`normalize_imagenet`: ``x·std + mean``.

    Args:
        images: Normalised RGB, shape (..., 3, H, W).

    Returns:
        RGB (nominally in [0, 1]), same shape.
    """
    check_shape(images, ("...", 3, "H", "W"), "images", "unnormalize_imagenet")
    mean, std = _stats(images)
    return images * std + mean
