"""Backgrounds of the synthetic crops: procedural scenes, the user's photos, or scikit-image's samples.

Backgrounds are drawn directly at crop resolution (they carry no geometry). Kinds:

* ``gradient``: a linear blend of two colours in a random direction, with mild noise;
* ``noise``: multi-octave value noise (random low-resolution grids upsampled bicubically) mapped onto a
  two-colour palette;
* ``shapes``: a gradient with eight random rectangles and ellipses painted over it;
* ``room``: a wall and a floor split at a tilted horizon, the floor tiled in perspective;
* ``photo``: a random crop (scale, position, mirror) of an image from an :class:`ImageBank`: a folder
  of the user's images, or the free sample photographs that ship inside scikit-image (``skimage.data``:
  astronaut, coffee, chelsea, rocket, ...). skimage is optional; without it (or a folder) the photo kind
  is dropped.

Afterwards each background is blurred by a random Gaussian (a shallow depth of field).
Low-resolution random draws are made on a CPU generator; per-pixel noise comes from a generator on the
target device seeded from it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d
from torch import Tensor

from hpskit.core import MissingFileError

__all__ = ["BACKGROUND_KINDS", "SKIMAGE_SAMPLES", "ImageBank", "procedural_backgrounds", "blur_backgrounds"]

logger = logging.getLogger(__name__)

BACKGROUND_KINDS = ("gradient", "noise", "shapes", "room", "photo")
SKIMAGE_SAMPLES = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
                   "brick", "grass", "gravel", "camera", "coins", "moon", "page", "text", "clock", "horse")
"""skimage.data sample names tried by :meth:`ImageBank.from_skimage` (those that fail to load are skipped)."""


def _colours(g: torch.Generator, n: int, k: int) -> Tensor:
    return torch.rand(n, k, 3, generator=g) * torch.rand(n, k, 1, generator=g).mul(0.8).add(0.2)


def _value_noise(n: int, res: int, g: torch.Generator, device, octaves=(4, 8, 16, 32)) -> Tensor:
    """(n, 1, res, res) noise in about [0, 1] (sum of upsampled random grids, amplitude halving)."""
    out = torch.zeros(n, 1, res, res, device=device)
    amp, tot = 1.0, 0.0
    for o in octaves:
        grid = torch.rand(n, 1, o, o, generator=g).to(device)
        out += amp * F.interpolate(grid, size=(res, res), mode="bicubic", align_corners=False)
        tot += amp
        amp *= 0.5
    return (out / tot).clamp(0, 1)


def _gradient(n: int, res: int, g: torch.Generator, device) -> Tensor:
    c = _colours(g, n, 2).to(device)
    ang = (torch.rand(n, generator=g) * 2 * torch.pi).to(device)
    lin = torch.linspace(-0.5, 0.5, res, device=device)
    c_, s_ = torch.cos(ang)[:, None, None], torch.sin(ang)[:, None, None]
    t = c_ * lin[None, None, :] + s_ * lin[None, :, None]
    t = (t + 0.5).clamp(0, 1)[:, None]
    return c[:, 0, :, None, None] * (1 - t) + c[:, 1, :, None, None] * t


def _noise(n: int, res: int, g: torch.Generator, device) -> Tensor:
    c = _colours(g, n, 2).to(device)
    t = _value_noise(n, res, g, device)
    return c[:, 0, :, None, None] * (1 - t) + c[:, 1, :, None, None] * t


def _shapes(n: int, res: int, g: torch.Generator, device, k: int = 8) -> Tensor:
    img = _gradient(n, res, g, device)
    cen = torch.rand(n, k, 2, generator=g).to(device) * res
    half = (0.05 + 0.3 * torch.rand(n, k, 2, generator=g)).to(device) * res
    ellipse = (torch.rand(n, k, generator=g) < 0.5).to(device)
    col = _colours(g, n, k).to(device)
    ys = torch.arange(res, device=device, dtype=torch.float32)
    dx = (ys[None, None, None, :] - cen[..., 0, None, None]) / half[..., 0, None, None]  # (n, k, 1, W)
    dy = (ys[None, None, :, None] - cen[..., 1, None, None]) / half[..., 1, None, None]  # (n, k, H, 1)
    inside = torch.where(ellipse[..., None, None], dx**2 + dy**2 <= 1, (dx.abs() <= 1) & (dy.abs() <= 1))
    for i in range(k):  # painter's order over the k shapes (each step is batched)
        img = torch.where(inside[:, i, None], col[:, i, :, None, None], img)
    return img


def _room(n: int, res: int, g: torch.Generator, device) -> Tensor:
    wall_c = _colours(g, n, 1)[:, 0].to(device)
    floor_c, floor_c2 = (c.to(device) for c in _colours(g, n, 2).unbind(1))
    horizon = (0.2 + 0.6 * torch.rand(n, generator=g)).to(device) * res
    tilt = (torch.rand(n, generator=g) - 0.5).to(device) * 0.3
    tile = (2 + 6 * torch.rand(n, generator=g)).to(device)
    ys = torch.arange(res, device=device, dtype=torch.float32)
    u = ys[None, None, :] - res / 2
    h = horizon[:, None, None] + tilt[:, None, None] * u  # (n, 1, W)
    dv = ys[None, :, None] - h  # (n, H, W): > 0 below the horizon
    floor = dv > 1
    zf = res / dv.clamp(min=1)
    xf = u * zf / res
    tl = tile[:, None, None]
    checks = torch.remainder(torch.floor(xf * tl) + torch.floor(zf * tl * 0.5), 2)
    shade = _value_noise(n, res, g, device)[:, 0]
    wall = wall_c[:, :, None, None] * (0.8 + 0.3 * shade[:, None])
    fl = torch.where(checks[:, None] > 0, floor_c[:, :, None, None], floor_c2[:, :, None, None])
    return torch.where(floor[:, None], fl, wall).clamp(0, 1)


def procedural_backgrounds(kinds: Tensor, res: int, generator: torch.Generator,
                           device: torch.device | str) -> Tensor:
    """Backgrounds of the procedural kinds.

    Args:
        kinds: (B,) indices into :data:`BACKGROUND_KINDS` (``photo`` entries are left black here).
        res: Side in pixels.
        generator: CPU generator.
        device: Output device.

    Returns:
        (B, 3, res, res) in [0, 1].
    """
    B = kinds.shape[0]
    out = torch.zeros(B, 3, res, res, device=device)
    makers = {"gradient": _gradient, "noise": _noise, "shapes": _shapes, "room": _room}
    for name, make in makers.items():
        sel = (kinds == BACKGROUND_KINDS.index(name)).nonzero().squeeze(1)
        if sel.numel():
            out[sel.to(device)] = make(int(sel.numel()), res, generator, device)
    return out


def blur_backgrounds(bg: Tensor, sigma_max: float, generator: torch.Generator) -> Tensor:
    """Gaussian blur with σ ~ U(0, sigma_max) per sample (kernel 9 × 9)."""
    if sigma_max <= 0:
        return bg
    s = (torch.rand(bg.shape[0], generator=generator) * sigma_max).clamp_min(1e-3).to(bg.device)
    return gaussian_blur2d(bg, (9, 9), torch.stack([s, s], 1), border_type="reflect")


class ImageBank:
    """Background photographs held as one uint8 tensor (N, 3, S, S) (centre-cropped, resized to S).

    Args:
        images: (N, 3, S, S) uint8.
        names: Where each came from.
    """

    def __init__(self, images: Tensor, names: Sequence[str]) -> None:
        self.images = images
        self.names = list(names)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def to(self, device: torch.device | str) -> ImageBank:
        return ImageBank(self.images.to(device), self.names)

    @staticmethod
    def _square(arr: np.ndarray, size: int) -> Tensor:
        t = torch.from_numpy(np.array(arr, copy=True))
        if t.dim() == 2:
            t = t[..., None].expand(-1, -1, 3)
        t = t[..., :3].permute(2, 0, 1).float()
        h, w = t.shape[-2:]
        s = min(h, w)
        t = t[:, (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        if t.max() <= 1.0:
            t = t * 255
        t = F.interpolate(t[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]
        return t.round().clamp(0, 255).to(torch.uint8)

    @classmethod
    def from_skimage(cls, names: Sequence[str] = SKIMAGE_SAMPLES, size: int = 384) -> ImageBank | None:
        """The sample photographs bundled with scikit-image; ``None`` if skimage is not installed."""
        try:
            import skimage.data as skd
        except ImportError:
            logger.warning("scikit-image is not installed: no sample-photo backgrounds "
                           "(pip install scikit-image).")
            return None
        imgs, ok = [], []
        for name in names:
            try:
                imgs.append(cls._square(np.asarray(getattr(skd, name)()), size))
                ok.append(f"skimage.data.{name}")
            except Exception as e:  # noqa: BLE001 - a sample that needs a download or is missing is skipped
                logger.debug("skimage.data.%s unavailable: %s", name, e)
        return cls(torch.stack(imgs), ok) if imgs else None

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, size: int = 384, limit: int = 512) -> ImageBank:
        """Images (jpg, jpeg, png) of a folder (recursively, at most ``limit``, sorted by path)."""
        from PIL import Image

        folder = Path(folder)
        if not folder.is_dir():
            raise MissingFileError(f"ImageBank.from_folder: background folder '{folder}' does not exist.")
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:limit]
        if not files:
            raise MissingFileError(f"ImageBank.from_folder: no .jpg/.jpeg/.png files in '{folder}'.")
        imgs = [cls._square(np.asarray(Image.open(p).convert("RGB")), size) for p in files]
        return cls(torch.stack(imgs), [str(p) for p in files])

    def sample(self, n: int, res: int, generator: torch.Generator, device: torch.device | str) -> Tensor:
        """Random crops (n, 3, res, res) in [0, 1]: scale 35–100 % of the side, random place, mirror."""
        g = generator
        idx = torch.randint(len(self), (n,), generator=g)
        src = self.images[idx.to(self.images.device)].to(device).float() / 255.0
        scale = 0.35 + 0.65 * torch.rand(n, generator=g)
        off = (torch.rand(n, 2, generator=g) * 2 - 1) * (1 - scale[:, None])
        mirror = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0], theta[:, 1, 1] = scale * mirror, scale
        theta[:, :, 2] = off
        grid = F.affine_grid(theta.to(device), [n, 3, res, res], align_corners=False)
        return F.grid_sample(src, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
