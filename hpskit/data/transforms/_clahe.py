"""Batched CLAHE (contrast-limited adaptive histogram equalisation) with one clip limit per image.

Why not kornia: ``kornia.enhance.equalize_clahe`` takes one ``float`` clip limit per call (a per-image
limit needs one call per image) and spends many small kernels on mapping its LUTs tile by tile, and
``kornia.augmentation.RandomClahe`` equalises each RGB channel separately. Albumentations' ``CLAHE``
(what the D-PoSE authors use) equalises only the lightness of an RGB image: RGB → LAB, CLAHE on L,
LAB → RGB, which keeps the hues. :func:`clahe_rgb` does that; :func:`clahe_levels` is the single-channel
core, written to follow OpenCV's ``cv::CLAHE`` (``modules/imgproc/src/clahe.cpp``):

* tiles: a ``GH × GW`` grid of ``ceil(H / GH) × ceil(W / GW)`` pixel tiles; an image the grid does not
  divide is reflect-padded (``reflect``, OpenCV's ``BORDER_REFLECT_101``) at its bottom/right end to a
  whole number of tiles, as OpenCV and kornia do; the padding only feeds the histograms;
* clipping: a bin may hold at most ``max(floor(clip · tile_pixels / 256), 1)`` counts (no clipping for
  ``clip ≤ 0``); the clipped excess is spread evenly over the 256 bins (its integer share), and the
  residual ``r`` adds one count to every ``max(256 // r, 1)``-th bin from bin 0 until it is spent;
* LUT: ``round(cdf · 255 / tile_pixels)``;
* mapping: each pixel interpolates bilinearly between the LUTs of the four tiles whose centres surround
  it, at its own level; pixels outside the outer tile centres use the nearest tiles (the weights along
  that axis collapse onto one tile). The interpolation is anchored at the true tile centres
  (``(p + 0.5) / tile − 0.5``), as kornia does; OpenCV's historical phase is half a pixel earlier. The
  output is not rounded to integer levels.

Everything is batched over images and tiles: one ``scatter_add_`` counts the histograms of all tiles of
all images, the clipping and the LUTs are a few element-wise ops and one ``cumsum`` on an
``(N, tiles, 256)`` tensor, and the four neighbour LUTs are read with one ``gather``. The per-pixel
tile offsets and weights depend only on the image size and grid; they are built once on the CPU and
cached per device.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor

from hpskit.core import ShapeError

from ._ops import to_device

__all__ = ["clahe_levels", "clahe_rgb"]

_BINS = 256


def _axis_interp(size: int, tile: int, n_tiles: int) -> tuple[Tensor, Tensor, Tensor]:
    """Per-pixel lower/upper tile index and the upper tile's weight along one axis, shapes (size,)."""
    t = (torch.arange(size, dtype=torch.float64) + 0.5) / tile - 0.5
    lo = torch.floor(t)
    w = t - lo
    lo = lo.long()
    hi = (lo + 1).clamp(0, n_tiles - 1)
    lo = lo.clamp(0, n_tiles - 1)
    return lo, hi, w


@lru_cache(maxsize=32)
def _geometry(H: int, W: int, gh: int, gw: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Cached index maps for an ``H × W`` image on a ``gh × gw`` grid.

    Returns:
        tile_of: (Hp, Wp) long, ``tile index · 256`` of each pixel of the padded image.
        neighbours: (4, H, W) long, ``tile index · 256`` of the top-left, top-right, bottom-left and
            bottom-right neighbour tiles of each output pixel.
        weights: (4, H, W) float32 bilinear weights of those four tiles (they sum to 1).
    """
    th, tw = math.ceil(H / gh), math.ceil(W / gw)
    rows = torch.arange(th * gh) // th
    cols = torch.arange(tw * gw) // tw
    tile_of = (rows[:, None] * gw + cols[None, :]) * _BINS
    y0, y1, wy = _axis_interp(H, th, gh)
    x0, x1, wx = _axis_interp(W, tw, gw)
    neighbours = torch.stack([(y[:, None] * gw + x[None, :]) * _BINS
                              for y, x in ((y0, x0), (y0, x1), (y1, x0), (y1, x1))])
    wy, wx = wy[:, None], wx[None, :]
    weights = torch.stack([(1 - wy) * (1 - wx), (1 - wy) * wx, wy * (1 - wx), wy * wx]).float()
    return tile_of.to(device), neighbours.to(device), weights.to(device)


@lru_cache(maxsize=8)
def _residual_table(device: torch.device) -> Tensor:
    """(256, 256) float32: row ``r`` holds the counts OpenCV adds for a clip residual of ``r``.

    OpenCV adds one count to bins ``0, step, 2·step, …`` with ``step = max(256 // r, 1)`` until ``r``
    counts are spent. Tabulating it turns the spreading into one row lookup per tile.
    """
    r = torch.arange(_BINS)[:, None]
    b = torch.arange(_BINS)[None, :]
    step = (_BINS // r.clamp(min=1)).clamp(min=1)
    return ((b % step == 0) & (b // step < r)).float().to(device)


def _clip_limits(clip: Tensor | float, n: int, pixels: int, like: Tensor) -> Tensor:
    """(n, 1, 1) float32 bin limits ``max(floor(clip · pixels / 256), 1)`` (inf where ``clip ≤ 0``), in
    double as OpenCV computes them; on the CPU when ``clip`` is there (then one copy)."""
    if not isinstance(clip, Tensor):
        clip = torch.full((n,), float(clip), dtype=torch.float64)
    clip = clip.double()
    limit = torch.where(clip > 0, torch.floor(clip * pixels / _BINS).clamp(min=1.0), torch.inf)
    return to_device(limit, like, torch.float32)[:, None, None]


def clahe_levels(levels: Tensor, clip: Tensor | float, grid: tuple[int, int] = (8, 8)) -> Tensor:
    """CLAHE of single-channel images given as integer levels 0–255.

    Args:
        levels: (N, H, W) float tensor holding integer levels in [0, 255] (values are truncated to
            integers; the histogram bin and the LUT entry of a pixel is its level).
        clip: Clip limit per image, (N,) tensor (best on the CPU: the bin limits are then computed
            there and copied once), or one float for all; ``≤ 0`` disables clipping (plain per-tile
            histogram equalisation, interpolated).
        grid: Tile grid ``(GH, GW)``.

    Returns:
        (N, H, W) float32 equalised levels in [0, 255] (bilinearly interpolated, not rounded).

    Raises:
        ShapeError: If ``levels`` is not 3D, or an axis is too small for the grid (reflect padding needs
            the padding to be shorter than the axis).
    """
    if levels.dim() != 3:
        raise ShapeError(f"clahe_levels: `levels` must be (N, H, W); got shape {tuple(levels.shape)}.")
    N, H, W = levels.shape
    gh, gw = int(grid[0]), int(grid[1])
    if gh < 1 or gw < 1:
        raise ShapeError(f"clahe_levels: the grid must be positive; got {grid!r}.")
    th, tw = math.ceil(H / gh), math.ceil(W / gw)
    pad_h, pad_w = th * gh - H, tw * gw - W
    if pad_h >= H or pad_w >= W:
        raise ShapeError(f"clahe_levels: a {H}×{W} image is too small for a {gh}×{gw} grid (needs "
                         f"{pad_h}×{pad_w} of reflect padding).")
    device = levels.device
    tile_of, neighbours, weights = _geometry(H, W, gh, gw, device)
    pixels = th * tw
    T = gh * gw

    lv = levels.float()
    if pad_h or pad_w:
        lv = F.pad(lv[:, None], (0, pad_w, 0, pad_h), mode="reflect")[:, 0]
    idx = lv.long().clamp_(0, _BINS - 1)  # (N, Hp, Wp)

    # histograms of all tiles of all images: one scatter into (N, T·256)
    hist = torch.zeros(N, T * _BINS, device=device)
    hist.scatter_add_(1, (idx + tile_of).view(N, -1), torch.ones(N, idx[0].numel(), device=device))

    # clip, spread the excess evenly, then the residual the OpenCV way (table lookup)
    clipped = torch.minimum(hist.view(N, T, _BINS), _clip_limits(clip, N, pixels, levels))
    excess = pixels - clipped.sum(-1)  # (N, T), integer counts held exactly in float32
    residual = torch.remainder(excess, _BINS)
    share = torch.div(excess, _BINS, rounding_mode="floor")
    clipped += _residual_table(device)[residual.long()]
    clipped += share[..., None]
    # LUT = round(cdf · 255 / pixels), ≤ 255 without a clamp: the cdf ends at exactly `pixels`
    lut = torch.round(clipped.cumsum(-1) * ((_BINS - 1) / pixels)).view(N, T * _BINS)

    # one gather reads the four neighbour LUTs of every pixel at the pixel's level
    own = idx[:, :H, :W]
    vals = lut.gather(1, (own[:, None] + neighbours).view(N, -1)).view(N, 4, H, W)
    return (vals * weights).sum(1)


# sRGB (D65) ↔ XYZ, the constants kornia.color uses; the XYZ rows/columns are folded with the white point
_RGB_TO_XYZ = ((0.412453, 0.357580, 0.180423), (0.212671, 0.715160, 0.072169), (0.019334, 0.119193, 0.950227))
_XYZ_TO_RGB = ((3.2404813432005266, -1.5371515162713185, -0.4985363261688878),
               (-0.9692549499965682, 1.8759900014898907, 0.0415559265582928),
               (0.0556466391351772, -0.2040413383665112, 1.0573110696453443))
_WHITE = (0.95047, 1.0, 1.08883)


@lru_cache(maxsize=8)
def _lab_matrices(device: torch.device) -> tuple[Tensor, Tensor]:
    """(1, 3, 3, 1, 1) linear-RGB → white-normalised XYZ and back, float32 on ``device`` (made once)."""
    fwd = torch.tensor(_RGB_TO_XYZ, dtype=torch.float64) / torch.tensor(_WHITE, dtype=torch.float64)[:, None]
    inv = torch.tensor(_XYZ_TO_RGB, dtype=torch.float64) * torch.tensor(_WHITE, dtype=torch.float64)[None, :]
    return (fwd.float()[None, :, :, None, None].to(device), inv.float()[None, :, :, None, None].to(device))


def _mix(m: Tensor, x: Tensor) -> Tensor:
    """Per-pixel 3 × 3 colour matrix, (1, 3, 3, 1, 1) × (B, 3, H, W) → (B, 3, H, W), in plain float32
    (a 1 × 1 convolution or matmul may run in TF32 on recent GPUs)."""
    return (m * x[:, None]).sum(2)


def clahe_rgb(images: Tensor, clip: Tensor | float, grid: tuple[int, int] = (8, 8)) -> Tensor:
    """CLAHE on the lightness of RGB images (Albumentations ``CLAHE`` on an RGB image).

    RGB → CIE LAB (sRGB, D65: the formulas and constants of :func:`kornia.color.rgb_to_lab`); L (0–100)
    is quantised to the 8-bit levels of OpenCV's 8-bit LAB (``round(L · 255 / 100)``), equalised with
    :func:`clahe_levels`, mapped back to 0–100, and converted back with a, b unchanged (as
    :func:`kornia.color.lab_to_rgb`, clipped to [0, 1]). The conversion is written out here rather than
    calling kornia's because only L changes: with a, b fixed, the three ``f(X/Xn), f(Y/Yn), f(Z/Zn)`` of
    the inverse all move by the same ``ΔL / 116``, so a and b never need to be formed (and kornia builds
    its constant tensors from Python lists on every call, which on CUDA is a blocking host-to-device copy).

    Args:
        images: (B, 3, H, W) RGB in [0, 1].
        clip: Clip limit per image, (B,) tensor, or one float.
        grid: Tile grid ``(GH, GW)``.

    Returns:
        (B, 3, H, W) RGB in [0, 1].
    """
    fwd, inv = _lab_matrices(images.device)
    x = images.float()
    lin = torch.where(x > 0.04045, ((x + 0.055) / 1.055).pow(2.4), x / 12.92)  # x ≥ 0 here
    t = _mix(fwd, lin)  # XYZ / white
    f = torch.where(t > 0.008856, t.clamp(min=0.008856).pow(1.0 / 3.0), 7.787 * t + 4.0 / 29.0)
    # L = 116·f_y − 16 in 0–100 → 8-bit level round(L · 255 / 100)
    levels = (f[:, 1] * (116.0 * 2.55) - 16.0 * 2.55).round_().clamp_(0, 255)
    # back: f_y' = (L' + 16) / 116 with L' = level' · 100 / 255; f_x, f_z move by the same amount
    delta = clahe_levels(levels, clip, grid).mul_(100.0 / 255.0 / 116.0).add_(16.0 / 116.0).sub_(f[:, 1])
    f += delta[:, None]
    f[:, 2].clamp_(min=0.0)
    t = torch.where(f > 0.2068966, f.pow(3.0), (f - 4.0 / 29.0) / 7.787)
    lin = _mix(inv, t)
    rgb = torch.where(lin > 0.0031308, 1.055 * lin.clamp(min=0.0031308).pow(1.0 / 2.4) - 0.055, 12.92 * lin)
    return rgb.clamp_(0.0, 1.0).to(images.dtype)
