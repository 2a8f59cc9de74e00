"""One person's crop and paste-back, computed on the window of the image that its crop square covers.

:func:`hpskit.models.predict` crops and pastes person by person: only the window around each person's square
(plus the anti-aliasing kernel's radius) is converted to float, blurred and resampled, so large images
with many people stay cheap, and a pasted map is resampled in bands of rows so memory stays bounded
(:data:`_PASTE_BLOCK`). Each result equals the whole-image operation (:func:`hpskit.geometry.crop_images`,
:func:`hpskit.geometry.crop_images_authors`, :func:`hpskit.geometry.paste_back`) on the window. These are
what ``predict`` uses; they are public for code that crops and pastes person by person itself.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .crop import crop_images, paste_back
from .crop_authors import copy_window, resize_like_skimage

__all__ = ["crop_person", "crop_person_authors", "paste_person_map"]


def _to_unit(x: Tensor, dtype: torch.dtype) -> Tensor:
    return x.to(dtype) / 255 if x.dtype == torch.uint8 else x.to(dtype).clamp(0, 1)


def crop_person(img: Tensor, center: Tensor, scale: Tensor, res: int, antialias: bool,
                 dtype: torch.dtype) -> Tensor:
    """Exact crop of one person (1, 3, res, res) from the window of ``img`` (3, H, W) around its square.

    Equal to ``crop_images`` on the whole image, but only the window (plus the anti-aliasing kernel's
    radius) is converted, blurred and sampled, so large images with many people stay cheap.
    """
    H, W = img.shape[-2:]
    half = 100.0 * float(scale)
    sigma = max(0.0, (2 * half / res - 1) / 2) if antialias else 0.0
    margin = int(4 * sigma + 0.5) + 2
    cx, cy = float(center[0]), float(center[1])
    x0, x1 = max(0, int(np.floor(cx - half)) - margin), min(W, int(np.ceil(cx + half)) + margin + 1)
    y0, y1 = max(0, int(np.floor(cy - half)) - margin), min(H, int(np.ceil(cy + half)) + margin + 1)
    window = _to_unit(img[:, y0:y1, x0:x1].to(center.device), dtype)
    shifted = (center - center.new_tensor([x0, y0]))[None]
    return crop_images(window[None], shifted, scale[None], res=res, antialias=antialias)


def crop_person_authors(img: Tensor, window: Tensor, res: int, dtype: torch.dtype, device) -> Tensor:
    """The authors' crop of one person (1, 3, res, res): only its integer window is converted and resized
    (equal to :func:`hpskit.geometry.crop_images_authors` on the whole image)."""
    patch = _to_unit(copy_window(img, window.tolist()).to(device), dtype)
    return resize_like_skimage(patch[None], (res, res))


def _paste_person(maps: Tensor, center: Tensor, scale: Tensor, size: tuple[int, int]) -> tuple:
    """Paste one person's crop maps (1, C, R, R) into its image; only the crop's window is resampled.

    Returns ``(pasted (C, h, w), inside (h, w) bool, (y0, y1, x0, x1))`` for the window of the image that the
    crop square ``[c − b/2, c + b/2]`` (b = 200·scale) covers.
    """
    H, W = size
    half = 100.0 * float(scale)
    cx, cy = float(center[0]), float(center[1])
    x0, x1 = max(0, int(np.ceil(cx - half))), min(W, int(np.floor(cx + half)) + 1)
    y0, y1 = max(0, int(np.ceil(cy - half))), min(H, int(np.floor(cy + half)) + 1)
    if x1 <= x0 or y1 <= y0:
        return None, None, (0, 0, 0, 0)
    shifted = (center - center.new_tensor([x0, y0]))[None]
    pasted = paste_back(maps, shifted, scale[None], (y1 - y0, x1 - x0))[0]
    u = torch.arange(x0, x1, device=maps.device, dtype=center.dtype)
    v = torch.arange(y0, y1, device=maps.device, dtype=center.dtype)
    inside = ((v - cy).abs() <= half)[:, None] & ((u - cx).abs() <= half)[None, :]
    return pasted, inside, (y0, y1, x0, x1)


#: Largest number of pasted values (channels × pixels) held at once: a person filling a large photo is pasted
#: band by band (23 part logits over a 4,500-pixel-wide box would otherwise take ~1.9 GB per person).
_PASTE_BLOCK = 1 << 24


def paste_person_map(maps: Tensor, center: Tensor, scale: Tensor, size: tuple[int, int], labels: bool):
    """(1, C, R, R) crop maps → (H, W) image map: depth (C = 1) or arg-maxed labels; 0 outside the crop.

    The crop's window is resampled in bands of rows (each pixel's value does not depend on the band), so
    memory stays bounded by :data:`_PASTE_BLOCK` values whatever the image size.
    """
    H, W = size
    canvas = maps.new_zeros(H, W, dtype=torch.long if labels else maps.dtype)
    half = 100.0 * float(scale)
    cy = float(center[1])
    y0, y1 = max(0, int(np.ceil(cy - half))), min(H, int(np.floor(cy + half)) + 1)
    band = max(1, _PASTE_BLOCK // (maps.shape[1] * W))
    for b0 in range(y0, y1, band):
        b1 = min(y1, b0 + band)
        shifted = center - center.new_tensor([0.0, float(b0)])
        pasted, inside, (py0, py1, x0, x1) = _paste_person(maps, shifted, scale, (b1 - b0, W))
        if pasted is not None:
            value = pasted.argmax(0) if labels else pasted[0]
            canvas[b0 + py0:b0 + py1, x0:x1] = torch.where(inside, value, torch.zeros_like(value))
    return canvas
