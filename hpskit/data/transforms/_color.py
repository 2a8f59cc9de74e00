"""Per-sample colour operations: parameters drawn on the CPU, one batched pass each.

Same contract as :mod:`hpskit.data.transforms._ops`: images (B, 3, H, W) in [0, 1], a CPU
``torch.Generator``, per-sample parameters moved with one non-blocking copy
(:func:`~hpskit.data.transforms._ops.to_device`), no read-back from the device.
kornia's functional ops are used where they take per-sample tensors (``rgb_to_grayscale``,
``posterize``, ``equalize``); the rest are short tensor expressions (the HSV shift is written out because
kornia's HSV round trip costs about three times the kernels).
"""

from __future__ import annotations

import math

import torch
from kornia.color import rgb_to_grayscale
from kornia.enhance import equalize, posterize
from torch import Tensor

from ._ops import to_device, uniform

__all__ = ["hue_saturation_value", "random_hue_saturation_value", "random_brightness_contrast",
           "random_gamma", "random_posterize", "random_snow", "snow", "grayscale", "equalize_images"]


def _per_sample(values: Tensor, images: Tensor) -> Tensor:
    """(B,) host values → (B, 1, 1, 1) on the images' device and dtype (non-blocking)."""
    return to_device(values, images, images.dtype)[:, None, None, None]


def hue_saturation_value(images: Tensor, hue: Tensor, saturation: Tensor, value: Tensor) -> Tensor:
    """Rotate the hue, scale the saturation and shift the value of RGB images, via HSV.

    RGB → HSV with the hue in sextants (``h ∈ [0, 6)``: ``2i + (x[i+1] − x[i−1]) / C`` for the largest
    channel ``i`` and chroma ``C``), ``h += 6 · hue``, ``s = clip(s · saturation)``, ``v = clip(v + value)``,
    and back with ``x_n = v − v · s · clip(min(k, 4 − k), 0, 1)``, ``k = (n + h) mod 6`` for
    ``n = 5, 3, 1``. About 25 element-wise kernels; kornia's ``rgb_to_hsv`` + ``hsv_to_rgb`` launch about
    80 for the same result.

    Args:
        images: (B, 3, H, W) in [0, 1].
        hue: (B, 1, 1, 1) hue rotation, fraction of a turn.
        saturation: (B, 1, 1, 1) saturation factor.
        value: (B, 1, 1, 1) value shift.

    Returns:
        (B, 3, H, W) in [0, 1].
    """
    v, top = images.max(1, keepdim=True)
    chroma = v - images.amin(1, keepdim=True)
    diff = (images.roll(-1, 1) - images.roll(1, 1)).gather(1, top)  # x[i+1] − x[i−1] at the largest i
    h = torch.addcmul(2.0 * top, diff, chroma.clamp(min=1e-12).reciprocal())  # chroma 0 → diff 0 → h = 2i
    h = torch.remainder(h + 6.0 * hue, 6.0)
    s = (chroma / v.clamp(min=1e-12) * saturation).clamp_(0, 1)
    v = (v + value).clamp_(0, 1)
    n = torch.arange(5.0, 0.0, -2.0, device=images.device, dtype=images.dtype)[None, :, None, None]
    k = torch.remainder(n + h, 6.0)
    return v - v * s * torch.minimum(k, 4.0 - k).clamp_(0, 1)


def random_hue_saturation_value(images: Tensor, hue: float, saturation: float, value: float,
                                generator: torch.Generator) -> Tensor:
    """HSV shift per sample (Albumentations ``HueSaturationValue``): :func:`hue_saturation_value` with
    hue ``U(−hue, hue)`` turns, saturation factor ``U(1 − saturation, 1 + saturation)`` and value shift
    ``U(−value, value)``.

    Args:
        images: (B, 3, H, W) in [0, 1].
        hue: Hue shift bound, fraction of a turn.
        saturation: Saturation factor deviation.
        value: Value shift bound.
        generator: CPU generator.

    Returns:
        (B, 3, H, W) in [0, 1].
    """
    B = images.shape[0]
    params = torch.stack([uniform(B, -hue, hue, generator),
                          uniform(B, 1 - saturation, 1 + saturation, generator),
                          uniform(B, -value, value, generator)], 1)
    p = to_device(params, images, images.dtype)[:, :, None, None, None]  # (B, 3, 1, 1, 1): one copy
    return hue_saturation_value(images, p[:, 0], p[:, 1], p[:, 2])


def random_brightness_contrast(images: Tensor, brightness: float, contrast: float,
                               generator: torch.Generator) -> Tensor:
    """``α·x + β`` per sample, ``α ~ U(1 − contrast, 1 + contrast)``, ``β ~ U(−brightness, brightness)``
    (Albumentations ``RandomBrightnessContrast`` with ``brightness_by_max``), clipped to [0, 1].

    Args:
        images: (B, 3, H, W) in [0, 1].
        brightness: Additive brightness bound.
        contrast: Contrast factor deviation.
        generator: CPU generator.

    Returns:
        (B, 3, H, W) in [0, 1].
    """
    B = images.shape[0]
    ab = to_device(torch.stack([uniform(B, 1 - contrast, 1 + contrast, generator),
                                uniform(B, -brightness, brightness, generator)], 1), images, images.dtype)
    return torch.addcmul(ab[:, 1, None, None, None], images, ab[:, 0, None, None, None]).clamp_(0, 1)


def random_gamma(images: Tensor, gamma: tuple[float, float], generator: torch.Generator) -> Tensor:
    """``x ** γ`` per sample, ``γ ~ U(gamma)`` (Albumentations ``RandomGamma`` with limit/100).

    A plain power: :func:`kornia.enhance.adjust_gamma` with gain 1 is this plus value checks.

    Args:
        images: (B, 3, H, W) in [0, 1].
        gamma: Range of γ.
        generator: CPU generator.

    Returns:
        (B, 3, H, W) in [0, 1].
    """
    g = _per_sample(uniform(images.shape[0], gamma[0], gamma[1], generator), images)
    return images.clamp(0, 1).pow(g)


def random_posterize(images: Tensor, bits: tuple[float, float], generator: torch.Generator) -> Tensor:
    """Keep the top ``b`` bits of each 8-bit level, ``b`` a random integer in ``[ceil(bits[0]),
    floor(bits[1])]`` per sample (:func:`kornia.enhance.posterize` with per-sample bits).

    Args:
        images: (B, 3, H, W) in [0, 1].
        bits: Range of kept bits (within [0, 8]).
        generator: CPU generator.

    Returns:
        (B, 3, H, W) in [0, 1].
    """
    lo, hi = max(0, math.ceil(bits[0])), min(8, math.floor(bits[1]))
    b = torch.randint(lo, max(lo, hi) + 1, (images.shape[0],), generator=generator)
    return posterize(images, to_device(b, images))


def snow(images: Tensor, coefficient: Tensor, brightness: Tensor) -> Tensor:
    """kornia ``RandomSnow``'s effect without the HLS round trip.

    In HLS, pixels whose lightness ``L`` is below the sample's ``coefficient`` get ``L' = min(L ·
    brightness, 1)`` with hue and saturation kept. For fixed H and S, an RGB pixel is ``L + (x − L) ·
    (1 − |2L' − 1|) / (1 − |2L − 1|)`` after ``L → L'`` (chroma scales with ``1 − |2L − 1|``), so the
    effect is a few element-wise ops on RGB with ``L = (max + min) / 2``. The other pixels are returned
    exactly as they are, so an image with no pixel darker than its coefficient is unchanged (snow only
    brightens dark pixels).

    Args:
        images: (B, 3, H, W) in [0, 1].
        coefficient: (B,) lightness threshold per sample (on the images' device).
        brightness: (B,) lightness factor per sample (on the images' device).

    Returns:
        (B, 3, H, W) in [0, 1].
    """
    x = images.clamp(0, 1)
    light = (x.amax(1, keepdim=True) + x.amin(1, keepdim=True)) / 2
    dark = light < coefficient[:, None, None, None]
    new = (light * brightness[:, None, None, None]).clamp(max=1.0)
    den = 1 - (2 * light - 1).abs()
    scale = torch.where(den > 1e-6, (1 - (2 * new - 1).abs()) / den.clamp(min=1e-6), torch.zeros_like(den))
    return torch.where(dark, torch.addcmul(new, x - light, scale).clamp_(0, 1), x)


def random_snow(images: Tensor, coefficient: tuple[float, float], brightness: tuple[float, float],
                generator: torch.Generator) -> Tensor:
    """:func:`snow` with ``coefficient ~ U(coefficient)`` and ``brightness ~ U(brightness)`` per sample.

    Args:
        images: (B, 3, H, W) in [0, 1].
        coefficient: Range of the lightness threshold.
        brightness: Range of the lightness factor.
        generator: CPU generator.

    Returns:
        (B, 3, H, W) in [0, 1].
    """
    B = images.shape[0]
    cb = torch.stack([uniform(B, coefficient[0], coefficient[1], generator),
                      uniform(B, brightness[0], brightness[1], generator)], 1)
    cb = to_device(cb, images, images.dtype)
    return snow(images, cb[:, 0], cb[:, 1])


def grayscale(images: Tensor) -> Tensor:
    """ITU-R 601 luma (:func:`kornia.color.rgb_to_grayscale`) repeated on 3 channels, (B, 3, H, W)."""
    return rgb_to_grayscale(images).expand_as(images)


def equalize_images(images: Tensor) -> Tensor:
    """Per-channel histogram equalisation of each image (:func:`kornia.enhance.equalize`).

    kornia's equalize is already one batched pass over all images and channels (a ``scatter_add_``
    histogram per plane, cumsum, one gather; PIL ``ImageOps.equalize`` of the 8-bit levels
    ``floor(x · 255)``), so it is called as is; what cost time before was the ``RandomEqualize`` wrapper.
    """
    return equalize(images)
