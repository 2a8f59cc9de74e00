"""Square person crops: boxes → (centre, scale), the image → crop affine, cropping by ``grid_sample``
and pasting crop-space maps back into the full image.

Convention (``docs/conventions.md``): pixel centres sit at integer coordinates in both the image and
the crop. A crop of resolution ``res`` covers the continuous square of side ``b = 200·scale``
centred on the box centre ``c``; its pixel edges map to the square's edges, so

    u_crop = (res / b) · (u_img − cx) + (res − 1) / 2        (same for v)

and the box centre lands at ``((res − 1) / 2, (res − 1) / 2)``. This is the exact, continuous crop
(:func:`crop_images`). Regions outside the image are zero.

The authors' crop (docs/authors-code.md (h)) is SPIN's: the window corners are truncated to integers
(:func:`authors_crop_window`) and the integer window is resized with scikit-image's anti-aliased
``resize`` (:func:`resize_like_skimage`); :func:`crop_images_authors` does both. Its crop centre is up to
about a pixel off the box centre, and on a real photo its pixels differ from the continuous crop by a mean
of 7–11/255, which moves the pose noticeably: weights trained on that crop (the authors' checkpoint) want
it. :data:`CROP_MODES` names the two (``"exact"``, ``"authors"``); :func:`crop_square` picks one.

This module is the geometry of one crop (affines, sampling, pasting back). Which box a dataset sample is
cropped at (augmentation, the dataset's box rescale) is decided in :mod:`hpskit.data.crop`.

Example:
    >>> import torch
    >>> center, scale = boxes_xyxy_to_center_scale(torch.tensor([[10.0, 20.0, 110.0, 220.0]]))
    >>> center, scale
    (tensor([[ 60., 120.]]), tensor([1.]))
    >>> apply_affine(crop_affine(center, scale, res=224), center[:, None])
    tensor([[[111.5000, 111.5000]]])
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d
from torch import Tensor

from hpskit.core import ConfigError, ShapeError, check_shape

from .camera import BOX_UNIT

__all__ = [
    "boxes_xyxy_to_center_scale",
    "crop_affine",
    "invert_affine",
    "apply_affine",
    "crop_images",
    "paste_back",
    "CROP_MODES",
    "check_crop_mode",
    "authors_crop_window",
    "resize_like_skimage",
    "crop_images_authors",
    "crop_square",
    "copy_window",
]

#: The crop rules: ``"exact"`` samples the continuous box square (:func:`crop_images`, anti-aliased);
#: ``"authors"`` is the authors' (SPIN's) integer window + skimage resize (:func:`crop_images_authors`).
CROP_MODES = ("exact", "authors")


def boxes_xyxy_to_center_scale(boxes: Tensor, rescale: float = 1.0) -> tuple[Tensor, Tensor]:
    """Turn person boxes into square crops: centre and scale (side = 200·scale pixels).

    Args:
        boxes: Boxes (x0, y0, x1, y1) in image pixels, shape (B, 4).
        rescale: Factor applied to the square side, ``side = rescale · max(w, h)`` (e.g. 1.2 to add
            context around a tight detector box).

    Returns:
        ``(center, scale)``: centres (cx, cy) of shape (B, 2) and scales of shape (B,).
    """
    check_shape(boxes, ("B", 4), "boxes", "boxes_xyxy_to_center_scale",
                hint="Boxes are (x0, y0, x1, y1) pixels; add a batch dim with boxes[None].")
    center = (boxes[:, :2] + boxes[:, 2:]) / 2
    side = rescale * torch.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    return center, side / BOX_UNIT


def _check_center_scale(center: Tensor, scale: Tensor, where: str) -> int:
    dims = check_shape(center, ("B", 2), "center", where)
    check_shape(scale, ("B",), "scale", where, dims=dims,
                hint="Pass one scale per box (side = 200·scale px).")
    return dims["B"]


def crop_affine(center: Tensor, scale: Tensor, res: int = 224) -> Tensor:
    """The affine map from full-image pixels to crop pixels (pixel centres at integers).

    Args:
        center: Box centres (cx, cy) in image pixels, shape (B, 2).
        scale: Box scales (side = 200·scale px), shape (B,).
        res: Crop resolution (square).

    Returns:
        A, shape (B, 2, 3), with ``[u', v'] = A[:, :, :2] @ [u, v] + A[:, :, 2]``.
    """
    B = _check_center_scale(center, scale, "crop_affine")
    k = res / (BOX_UNIT * scale)  # crop px per image px
    A = center.new_zeros(B, 2, 3)
    A[:, 0, 0] = k
    A[:, 1, 1] = k
    A[:, :, 2] = (res - 1) / 2 - k[:, None] * center
    return A


def invert_affine(A: Tensor) -> Tensor:
    """Invert 2D affine maps.

    Args:
        A: Affine maps, shape (B, 2, 3).

    Returns:
        The inverse maps, shape (B, 2, 3).
    """
    check_shape(A, ("B", 2, 3), "A", "invert_affine")
    M_inv = torch.linalg.inv(A[:, :, :2])
    t_inv = -(M_inv @ A[:, :, 2:])
    return torch.cat([M_inv, t_inv], dim=-1)


def apply_affine(A: Tensor, pts: Tensor) -> Tensor:
    """Apply 2D affine maps to points.

    Args:
        A: Affine maps, shape (B, 2, 3).
        pts: Points (u, v), shape (B, N, 2).

    Returns:
        Mapped points, shape (B, N, 2).
    """
    dims = check_shape(A, ("B", 2, 3), "A", "apply_affine")
    check_shape(pts, ("B", "N", 2), "pts", "apply_affine", dims=dims,
                hint="Add a point dim with pts[:, None].")
    return pts @ A[:, :, :2].transpose(-1, -2) + A[:, None, :, 2]


def _pixel_grid(B: int, H: int, W: int, like: Tensor) -> Tensor:
    """Integer pixel centres (u, v) of an H×W image, shape (B, H·W, 2)."""
    v, u = torch.meshgrid(torch.arange(H, device=like.device, dtype=like.dtype),
                          torch.arange(W, device=like.device, dtype=like.dtype), indexing="ij")
    return torch.stack([u, v], dim=-1).reshape(1, H * W, 2).expand(B, -1, -1)


def _sample(src: Tensor, pts: Tensor, out_hw: tuple[int, int], mode: str) -> Tensor:
    """Sample ``src`` (B, C, h, w) at pixel coordinates ``pts`` (B, H·W, 2) with zero padding."""
    h, w = src.shape[-2:]
    # grid_sample with align_corners=False puts pixel i's centre at (2i + 1)/size − 1.
    size = pts.new_tensor([w, h])
    grid = ((2 * pts + 1) / size - 1).reshape(pts.shape[0], *out_hw, 2)
    return F.grid_sample(src, grid.to(src.dtype), mode=mode, padding_mode="zeros", align_corners=False)


def _check_mode(mode: str, where: str) -> None:
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ConfigError(f"{where}: `mode` must be 'bilinear', 'nearest' or 'bicubic'; got {mode!r}.")


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


def crop_images(images: Tensor, center: Tensor, scale: Tensor, res: int = 224,
                mode: str = "bilinear", antialias: bool = False) -> Tensor:
    """Cut square crops out of images with ``grid_sample`` (zero padding outside the image).

    With ``antialias=True`` the images are first blurred per sample with the Gaussian that
    ``skimage.transform.resize(anti_aliasing=True)`` uses when downsampling (the authors' crop path,
    formats.md §8); crops that upsample are not blurred. Off by default. For ``mode="bilinear"`` the
    blur and the sampling are done together as two small matrix products per sample
    (``_crop_separable``): equal to blurring the whole image and then sampling it, but the cost grows
    with res·H·W, not with the blur kernel times the image, and no blurred copy of the image is made.

    Args:
        images: Images, shape (B, C, H, W), float.
        center: Box centres (cx, cy) in image pixels, shape (B, 2).
        scale: Box scales (side = 200·scale px), shape (B,).
        res: Crop resolution.
        mode: ``"bilinear"``, ``"nearest"`` (for label maps) or ``"bicubic"``.
        antialias: Blur before downsampling, as skimage does (not for label maps).

    Returns:
        Crops, shape (B, C, res, res).

    Example:
        >>> img = torch.arange(16.0).view(1, 1, 4, 4)
        >>> crop_images(img, torch.tensor([[1.5, 1.5]]), torch.tensor([4 / 200]), res=4).equal(img)
        True
    """
    where = "crop_images"
    dims = check_shape(images, ("B", "C", "H", "W"), "images", where,
                       hint="Add a batch dim with images[None].")
    check_shape(center, ("B", 2), "center", where, dims=dims)
    _check_center_scale(center, scale, where)
    _check_mode(mode, where)
    if not images.is_floating_point():
        raise ShapeError(f"{where}: `images` must be a float tensor; got dtype {images.dtype}. "
                         "Use images.float() (and mode='nearest' for label maps).")
    coords = center if center.is_floating_point() else center.float()
    A_inv = invert_affine(crop_affine(coords, scale.to(coords.dtype), res))
    pts = apply_affine(A_inv, _pixel_grid(dims["B"], res, res, coords))  # crop px → image px
    if antialias and mode == "bilinear":  # the crop map is axis-aligned: blur + sample are separable
        return _crop_separable(images, pts, scale.to(images.device), res)
    if antialias:
        images = _antialias(images, scale.to(images.device), res)
    return _sample(images, pts, (res, res), mode)


def paste_back(maps: Tensor, center: Tensor, scale: Tensor, out_size: tuple[int, int],
               mode: str = "bilinear") -> Tensor:
    """Paste crop-space maps (depth, part logits, masks) back into full-image coordinates.

    Each full-image pixel samples the crop at ``crop_affine(center, scale, res)`` of its centre;
    pixels outside the crop square get 0. This inverts :func:`crop_images` inside the box, up to
    resampling.

    Args:
        maps: Crop-space maps, shape (B, C, res, res).
        center: Box centres (cx, cy) in image pixels, shape (B, 2).
        scale: Box scales (side = 200·scale px), shape (B,).
        out_size: Full image size (H, W).
        mode: ``"bilinear"``, ``"nearest"`` (for label maps) or ``"bicubic"``.

    Returns:
        Maps in the full image, shape (B, C, H, W).
    """
    where = "paste_back"
    dims = check_shape(maps, ("B", "C", "R", "R"), "maps", where,
                       hint="Maps must be square crops (B, C, res, res).")
    check_shape(center, ("B", 2), "center", where, dims=dims)
    _check_center_scale(center, scale, where)
    _check_mode(mode, where)
    if not maps.is_floating_point():
        raise ShapeError(f"{where}: `maps` must be a float tensor; got dtype {maps.dtype}. "
                         "Use maps.float() with mode='nearest' for label maps, then .long().")
    H, W = (int(x) for x in out_size)
    coords = center if center.is_floating_point() else center.float()
    A = crop_affine(coords, scale.to(coords.dtype), dims["R"])
    pts = apply_affine(A, _pixel_grid(dims["B"], H, W, coords))  # image px → crop px
    return _sample(maps, pts, (H, W), mode)


# ------------------------------------------------------------------------------------ the authors' crop


def check_crop_mode(mode: str, where: str) -> str:
    """Return ``mode`` if it is one of :data:`CROP_MODES`, else raise :class:`ConfigError`."""
    if mode not in CROP_MODES:
        raise ConfigError(f"{where}: crop mode must be one of {CROP_MODES}; got {mode!r}. 'authors' is the "
                          "crop the authors' checkpoint was trained on, 'exact' hpskit's continuous crop.")
    return mode


def authors_crop_window(center: Tensor, scale: Tensor, res: int = 224) -> Tensor:
    """The authors' (SPIN's) integer crop window of each box.

    SPIN maps crop pixels (1, 1) and (res + 1, res + 1) (1-based) to the image through the inverse of its
    box transform, truncates to integers and subtracts one. This is computed as they do, in float64 with
    the inverted 3×3 matrix (numpy), so the truncation lands on the same integer even where the exact
    value is an integer.

    Args:
        center: Box centres (cx, cy) in image pixels, shape (B, 2).
        scale: Box scales (side = 200·scale px), shape (B,).
        res: Crop resolution.

    Returns:
        (B, 4) long windows ``(x0, y0, x1, y1)``: the crop copies image pixels ``[x0, x1) × [y0, y1)``
        (zeros outside the image).

    Example:
        >>> authors_crop_window(torch.tensor([[100.3, 50.7]]), torch.tensor([1.0]), res=224).tolist()
        [[0, -49, 200, 150]]
    """
    _check_center_scale(center, scale, "authors_crop_window")
    c = center.detach().to("cpu", torch.float64).numpy()
    h = BOX_UNIT * scale.detach().to("cpu", torch.float64).numpy()
    out = np.empty((c.shape[0], 4), dtype=np.int64)
    for i in range(c.shape[0]):
        t = np.zeros((3, 3))
        t[0, 0] = t[1, 1] = res / h[i]
        t[0, 2] = res * (-c[i, 0] / h[i] + 0.5)
        t[1, 2] = res * (-c[i, 1] / h[i] + 0.5)
        t[2, 2] = 1.0
        t_inv = np.linalg.inv(t)
        for j, p in enumerate((1.0, res + 1.0)):  # 1-based crop pixel → image, truncated, 1-based → 0-based
            q = t_inv @ np.array([p - 1, p - 1, 1.0])
            out[i, 2 * j: 2 * j + 2] = q[:2].astype(np.int64) + 1 - 1
    return torch.from_numpy(out)


def _mirror_index(n: int, r: int) -> Tensor:
    """Indices of ``range(-r, n + r)`` mirrored at the edge pixels (d c b | a b c d | c b a), any ``r``."""
    idx = torch.arange(-r, n + r)
    if n == 1:
        return torch.zeros_like(idx)
    period = 2 * n - 2
    idx = idx % period
    return torch.where(idx >= n, period - idx, idx)


def _mirror_gaussian(x: Tensor, sigma: float, dim: int) -> Tensor:
    """1D Gaussian along ``dim`` (-1 or -2) of (B, C, H, W): scipy.ndimage's kernel (radius ⌊4σ + 0.5⌋),
    mirrored border (skimage's ``mode="reflect"`` = ndimage ``"mirror"``), for any radius."""
    r = int(4.0 * sigma + 0.5)
    if sigma <= 1e-15 or r == 0:
        return x
    k = torch.arange(-r, r + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (k / sigma) ** 2)
    k = (k / k.sum()).to(device=x.device, dtype=x.dtype)
    xp = x.index_select(dim, _mirror_index(x.shape[dim], r).to(x.device))
    B, C, H, W = xp.shape
    kernel = k.view(1, 1, 1, -1) if dim == -1 else k.view(1, 1, -1, 1)
    out = F.conv2d(xp.reshape(B * C, 1, H, W), kernel)
    return out.reshape(B, C, *out.shape[-2:])


def resize_like_skimage(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize as ``skimage.transform.resize(order=1)`` does with its defaults (``mode="reflect"``).

    When any axis shrinks, each axis is first blurred with a Gaussian of σ = max(0, (d − 1)/2) for its
    factor d = in/out (scipy.ndimage's kernel); then output pixel i samples the input bilinearly at
    ``(i + 0.5)·in/out − 0.5``. Both steps mirror the image at its edge pixels, as skimage does.
    Written here rather than calling skimage so that it runs batched in torch, on any device.

    Args:
        x: Images, shape (B, C, h, w), float.
        size: Output (H, W).

    Returns:
        Resized images, shape (B, C, H, W).
    """
    check_shape(x, ("B", "C", "h", "w"), "x", "resize_like_skimage")
    H, W = (int(v) for v in size)
    h, w = x.shape[-2:]
    if H < h or W < w:  # skimage anti-aliases when any axis shrinks
        x = _mirror_gaussian(x, max(0.0, (h / H - 1) / 2), -2)
        x = _mirror_gaussian(x, max(0.0, (w / W - 1) / 2), -1)

    def axis(n_in: int, n_out: int) -> Tensor:
        pos = (torch.arange(n_out, dtype=torch.float64) + 0.5) * (n_in / n_out) - 0.5
        # align_corners=True: −1 and 1 are the centres of the first and last pixel, and "reflection"
        # padding mirrors at those centres
        return pos * (2 / (n_in - 1)) - 1 if n_in > 1 else torch.zeros_like(pos)

    gy, gx = torch.meshgrid(axis(h, H), axis(w, W), indexing="ij")
    grid = torch.stack([gx, gy], -1).to(device=x.device, dtype=x.dtype)
    grid = grid[None].expand(x.shape[0], -1, -1, -1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=True)


def copy_window(image: Tensor, win: list[int]) -> Tensor:
    """Copy the integer window ``win = [x0, y0, x1, y1]`` (pixels ``[x0, x1) × [y0, y1)``) of an image
    (C, H, W), any dtype, with zeros outside the image → (C, y1 − y0, x1 − x0)."""
    x0, y0, x1, y1 = win
    C, H, W = image.shape
    out = image.new_zeros(C, max(y1 - y0, 1), max(x1 - x0, 1))
    sx0, sx1, sy0, sy1 = max(x0, 0), min(x1, W), max(y0, 0), min(y1, H)
    if sx1 > sx0 and sy1 > sy0:
        out[:, sy0 - y0: sy1 - y0, sx0 - x0: sx1 - x0] = image[:, sy0:sy1, sx0:sx1]
    return out


def crop_images_authors(images: Tensor, center: Tensor, scale: Tensor, res: int = 224) -> Tensor:
    """Crop as the authors (SPIN) do: integer window, zero padding, skimage-style anti-aliased resize.

    Args:
        images: Images, shape (B, C, H, W), float (any range; the resize is linear).
        center: Box centres (cx, cy) in image pixels, shape (B, 2).
        scale: Box scales (side = 200·scale px), shape (B,).
        res: Crop resolution.

    Returns:
        Crops, shape (B, C, res, res).

    Example:
        >>> img = torch.arange(16.0).view(1, 1, 4, 4)
        >>> scale = torch.tensor([4 / 200], dtype=torch.float64)  # float32 0.02 is below 4 / 200: window 3 px
        >>> torch.allclose(crop_images_authors(img, torch.tensor([[2.0, 2.0]]), scale, res=4), img, atol=1e-5)
        True
    """
    where = "crop_images_authors"
    dims = check_shape(images, ("B", "C", "H", "W"), "images", where,
                       hint="Add a batch dim with images[None].")
    check_shape(center, ("B", 2), "center", where, dims=dims)
    if not images.is_floating_point():
        raise ShapeError(f"{where}: `images` must be a float tensor; got dtype {images.dtype}.")
    windows = authors_crop_window(center, scale, res).tolist()
    return torch.cat([resize_like_skimage(copy_window(img, win)[None], (res, res))
                      for img, win in zip(images, windows)])


def crop_square(images: Tensor, center: Tensor, scale: Tensor, res: int = 224, crop_mode: str = "exact",
                antialias: bool = True) -> Tensor:
    """Crop with the rule ``crop_mode`` names (:data:`CROP_MODES`).

    Args:
        images: Images, shape (B, C, H, W), float.
        center: Box centres (cx, cy) in image pixels, shape (B, 2).
        scale: Box scales (side = 200·scale px), shape (B,).
        res: Crop resolution.
        crop_mode: ``"exact"`` (:func:`crop_images`, bilinear) or ``"authors"`` (:func:`crop_images_authors`).
        antialias: For ``"exact"``: skimage's pre-blur when downsampling (the authors' mode always has it).

    Returns:
        Crops, shape (B, C, res, res).
    """
    if check_crop_mode(crop_mode, "crop_square") == "authors":
        return crop_images_authors(images, center, scale, res)
    return crop_images(images, center, scale, res, antialias=antialias)
