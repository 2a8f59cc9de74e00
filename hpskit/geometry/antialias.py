"""skimage-style anti-aliasing for the exact crop: the Gaussian pre-blur that
``skimage.transform.resize(anti_aliasing=True)`` applies before downsampling, per sample.

Two equal paths (to rounding): :func:`_antialias` blurs the whole image with kornia's Gaussian (reflected
border), then the crop samples it; :func:`_crop_separable` does blur and bilinear sampling together as two
small matrix products per sample (the fast path of :func:`hpskit.geometry.crop_images` with
``antialias=True``). :func:`_mirror_index` is the mirrored-border index both this blur and the authors'
resize (:mod:`hpskit.geometry.crop_authors`) use. Helpers of :mod:`hpskit.geometry.crop`, not public API.
"""

from __future__ import annotations

import torch
from kornia.filters import gaussian_blur2d
from torch import Tensor

from .camera import BOX_UNIT

__all__: list[str] = []


def _blur_sigma(scale: Tensor, res: int, dtype: torch.dtype) -> Tensor:
    """skimage's anti-aliasing sigma, max(0, (d − 1)/2) for the downsampling factor d, shape (B,)."""
    factor = (BOX_UNIT * scale / res).to(dtype)
    return ((factor - 1) / 2).clamp_min(0)


def _blur_radius(sigma: Tensor, hw: tuple[int, int]) -> int:
    """The shared kernel radius ⌊4·max σ + 0.5⌋, capped below the image size (``reflect`` needs r < n)."""
    return min(int(4 * float(sigma.max()) + 0.5), min(hw) - 1)


def _antialias(images: Tensor, scale: Tensor, res: int) -> Tensor:
    """Gaussian pre-blur with skimage's ``resize(anti_aliasing=True)`` sigma, per sample.

    skimage uses sigma = max(0, (d − 1)/2) for a downsampling factor d and truncates the kernel at
    4 sigma; the blur here runs on the full image with reflected borders (skimage blurs the
    zero-padded crop window), so the two agree away from the image border.
    """
    sigma = _blur_sigma(scale, res, images.dtype)
    if float(sigma.max()) <= 0:
        return images
    radius = _blur_radius(sigma, images.shape[-2:])
    # A tiny sigma gives a delta kernel for the samples that are not downsampled.
    sig = sigma.clamp_min(1e-3)[:, None].expand(-1, 2)
    return gaussian_blur2d(images, (2 * radius + 1, 2 * radius + 1), sig, border_type="reflect")


def _mirror_index(n: int, r: int) -> Tensor:
    """Indices of ``range(-r, n + r)`` mirrored at the edge pixels (d c b | a b c d | c b a), any ``r``."""
    idx = torch.arange(-r, n + r)
    if n == 1:
        return torch.zeros_like(idx)
    period = 2 * n - 2
    idx = idx % period
    return torch.where(idx >= n, period - idx, idx)


def _axis_operator(pos: Tensor, n: int, sigma: Tensor, radius: int) -> Tensor:
    """One axis of the separable blur-then-bilinear crop: rows ``L`` (B, R, n), float64.

    ``L[b, i] · x`` is the Gaussian-blurred (reflected border) signal ``x`` (n,) sampled linearly at
    ``pos[b, i]`` with zero padding: the bilinear row weights (taps ⌊p⌋, ⌊p⌋ + 1, each dropped when outside
    ``[0, n)``) times kornia's normalised kernel exp(−t²/2σ²), |t| ≤ radius, folded through the mirror.

    Args:
        pos: Sample positions in pixels (pixel centres at integers), shape (B, R), float64.
        n: Signal length (image height or width).
        sigma: Blur sigma per sample, shape (B,), float64 (ignored when ``radius`` is 0).
        radius: Kernel radius shared by the batch (0: no blur).
    """
    B, R = pos.shape
    p0 = pos.floor()
    frac = pos - p0
    taps = torch.stack([p0, p0 + 1], -1).long()  # (B, R, 2)
    w = torch.stack([1 - frac, frac], -1) * ((taps >= 0) & (taps < n))
    taps = taps.clamp(0, n - 1)  # dropped taps have weight 0
    if radius > 0:
        t = torch.arange(-radius, radius + 1, device=pos.device, dtype=pos.dtype)
        k = torch.exp(-t**2 / (2 * sigma[:, None] ** 2))
        k = k / k.sum(-1, keepdim=True)  # (B, K)
        mirror = _mirror_index(n, radius).to(pos.device)  # index of position j − radius, j < n + 2·radius
        cols = mirror[taps[..., None] + radius + t.long()]  # (B, R, 2, K)
        w = w[..., None] * k[:, None, None, :]
    else:
        cols = taps
    L = pos.new_zeros(B, R, n)
    return L.scatter_add_(2, cols.reshape(B, R, -1), w.reshape(B, R, -1))


def _crop_separable(images: Tensor, pts: Tensor, scale: Tensor, res: int) -> Tensor:
    """Anti-aliased bilinear crops as two small matrix products, ``crop[c] = Ly · I[c] · Lxᵀ``.

    Equal (to rounding) to blurring the whole image with :func:`_antialias` and then sampling it with
    ``grid_sample`` (bilinear, zeros outside, ``align_corners=False``), because without rotation both the
    blur and the bilinear weights are separable: ``Ly`` (res × H) is the bilinear row weights times the
    Gaussian's row operator with the reflected border folded in (:func:`_axis_operator`), ``Lx`` likewise.
    Only the rows and columns with a non-zero weight are read, and nothing of the image's size is
    allocated: a 4500-px window costs ~res·H·W multiply-adds instead of a 93-tap blur of every pixel.
    Written here because kornia/torch have no fused blur-and-resample with this border rule.

    Args:
        images: Images, shape (B, C, H, W), float.
        pts: Crop pixel centres in image pixels, shape (B, res·res, 2), row-major (axis-aligned map).
        scale: Box scales, shape (B,).
        res: Crop resolution.

    Returns:
        Crops, shape (B, C, res, res), in the images' dtype.
    """
    B, C, H, W = images.shape
    sigma = _blur_sigma(scale, res, images.dtype)
    radius = _blur_radius(sigma, (H, W)) if float(sigma.max()) > 0 else 0
    sigma = sigma.clamp_min(1e-3).to(torch.float64)  # kornia's delta kernel for the upsampling samples
    # the positions grid_sample would see: normalised in the images' dtype, then un-normalised as it does
    size = pts.new_tensor([W, H])
    grid = ((2 * pts + 1) / size - 1).to(images.dtype).reshape(B, res, res, 2)
    u = ((grid[:, 0, :, 0] + 1) * (W / 2) - 0.5).to(torch.float64)  # (B, res) along the crop's columns
    v = ((grid[:, :, 0, 1] + 1) * (H / 2) - 0.5).to(torch.float64)  # (B, res) along its rows
    Ly = _axis_operator(v, H, sigma, radius).to(images.dtype)
    Lx = _axis_operator(u, W, sigma, radius).to(images.dtype)
    out = []
    for b in range(B):
        rows = Ly[b].abs().sum(0).nonzero()
        cols = Lx[b].abs().sum(0).nonzero()
        if len(rows) == 0 or len(cols) == 0:  # the crop lies entirely outside the image
            out.append(images.new_zeros(C, res, res))
            continue
        y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        ly, lx, img = Ly[b, :, y0:y1], Lx[b, :, x0:x1], images[b, :, y0:y1, x0:x1]
        if (y1 - y0) * (x1 - x0 + res) <= (x1 - x0) * (y1 - y0 + res):  # contract the cheaper side first
            out.append((ly @ img) @ lx.T)
        else:
            out.append(ly @ (img @ lx.T))
    return torch.stack(out)
