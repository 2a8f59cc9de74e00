"""Per-sample photometric operations, each a handful of batched kernels with parameters drawn on the CPU.

Each op takes images (B, 3, H, W) in [0, 1] and a CPU ``torch.Generator``, draws its parameters per
sample from that generator (no global RNG), and moves them to the images' device with one non-blocking
copy (:func:`to_device`). Nothing here reads a device tensor back on the host, so a CUDA call queues its
kernels and returns without waiting for the GPU. The JPEG operation has its own module,
:mod:`~hpskit.data.transforms._compression`.

Why not the ``kornia.augmentation`` classes: on the two or three images an op gets per batch, their
parameter generation and validation cost more than the op itself, and several of them block on the GPU
(``.tolist()``/``bool()`` of device tensors, blocking host-to-device copies of constants). Where kornia
has a functional op that takes per-sample tensors, it is used (``filter2d_separable``, ``filter2d`` with
``get_motion_kernel2d``); the others are written here because kornia has no per-sample functional form of
them (rain, random erasing, JPEG with a real codec) or because the op is a single expression.

Given the same generator state, an op computes the same parameters on every device; the results then
differ across devices only by floating-point rounding of the kernels.
"""

from __future__ import annotations

import torch
from kornia.filters import filter2d, filter2d_separable, get_motion_kernel2d
from torch import Tensor

__all__ = [
    "to_device", "uniform", "box_blur_per_sample", "random_box_blur", "motion_blur_per_sample",
    "random_motion_blur", "random_downscale", "random_noise_occlusion", "random_erasing", "random_rain",
    "random_multiplicative",
]


def to_device(t: Tensor, like: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    """Move a host tensor to ``like``'s device (and ``dtype``) without waiting for the GPU.

    A blocking host-to-device copy ends in ``cudaStreamSynchronize`` (the host waits for every queued
    kernel). ``non_blocking=True`` from *pageable* host memory is safe to use on a temporary: CUDA copies
    the source into its own staging buffer before ``cudaMemcpyAsync`` returns, so the source may be freed
    or changed right after. From *pinned* memory the copy reads the source later, when the stream gets to
    it; a pinned source is therefore copied blocking here (the ops only pass fresh pageable tensors).
    """
    t = t.to(dtype or t.dtype)
    if t.device == like.device:
        return t
    async_ok = t.device.type == "cpu" and like.device.type == "cuda" and not t.is_pinned()
    return t.to(like.device, non_blocking=async_ok)


def uniform(n: int, lo: float, hi: float, generator: torch.Generator) -> Tensor:
    """(n,) float64 uniform draws in [lo, hi] from the CPU generator (kept on the CPU)."""
    return lo + (hi - lo) * torch.rand(n, generator=generator, dtype=torch.float64)


def _odd_sizes(lo: int, hi: int) -> list[int]:
    return [k for k in range(int(lo), int(hi) + 1) if k % 2 == 1] or [max(3, int(lo) | 1)]


def box_blur_per_sample(images: Tensor, sizes: Tensor) -> Tensor:
    """Box blur of sample i with an odd ``sizes[i] × sizes[i]`` box, reflect border, in one separable pass.

    :func:`kornia.filters.filter2d_separable` with per-sample kernels: sample i's 1D box is centred in a
    kernel of the largest size with zero taps around it, which is the same filter as its own box
    (reflect padding gives the same pixels whatever its width).

    Args:
        images: (B, 3, H, W).
        sizes: (B,) odd kernel sizes, a CPU integer tensor.

    Returns:
        Blurred images, (B, 3, H, W).
    """
    sizes = sizes.long().cpu()
    K = int(sizes.max())
    taps = (torch.arange(K) - K // 2).abs()
    w = (taps[None] <= (sizes // 2)[:, None]).float() / sizes[:, None].float()  # (B, K)
    w = to_device(w, images, images.dtype)
    return filter2d_separable(images, w, w, border_type="reflect")


def random_box_blur(images: Tensor, kernel: tuple[int, int], generator: torch.Generator) -> Tensor:
    """Box blur with a random odd kernel size per sample (Albumentations ``Blur(blur_limit)``).

    Args:
        images: (B, 3, H, W) in [0, 1].
        kernel: Inclusive range of kernel sizes; the odd sizes inside it are drawn uniformly.
        generator: CPU generator.

    Returns:
        Blurred images, (B, 3, H, W) (:func:`box_blur_per_sample`).
    """
    sizes = torch.tensor(_odd_sizes(*kernel))
    pick = torch.randint(len(sizes), (images.shape[0],), generator=generator)
    return box_blur_per_sample(images, sizes[pick])


def motion_blur_per_sample(images: Tensor, kernel_size: int, angle: Tensor, direction: Tensor) -> Tensor:
    """:func:`kornia.filters.motion_blur` (nearest-rotated line kernel, zero border) with the kernels built
    on the CPU and copied once, instead of on the device from host scalars.

    Args:
        images: (B, 3, H, W).
        kernel_size: Odd kernel size.
        angle: (B,) angles in degrees, CPU.
        direction: (B,) directions in [−1, 1], CPU.

    Returns:
        Blurred images, (B, 3, H, W).
    """
    angle, direction = angle.float().cpu(), direction.float().cpu()
    weights = get_motion_kernel2d(int(kernel_size), angle, direction, mode="nearest")  # (B, k, k)
    return filter2d(images, to_device(weights, images, images.dtype), border_type="constant")


def random_motion_blur(images: Tensor, kernel: tuple[int, int], generator: torch.Generator) -> Tensor:
    """Motion blur (kornia ``RandomMotionBlur(kernel, angle=180, direction=1)`` semantics).

    One odd kernel size per call (as kornia draws it), a per-sample angle in [−180°, 180°] and direction
    in [−1, 1]; see :func:`motion_blur_per_sample`.

    Args:
        images: (B, 3, H, W).
        kernel: Inclusive range of kernel sizes (odd sizes inside it).
        generator: CPU generator.

    Returns:
        Blurred images, (B, 3, H, W).
    """
    B = images.shape[0]
    sizes = _odd_sizes(*kernel)
    k = sizes[int(torch.randint(len(sizes), (1,), generator=generator))]
    angle = uniform(B, -180.0, 180.0, generator)
    direction = uniform(B, -1.0, 1.0, generator)
    return motion_blur_per_sample(images, k, angle, direction)


def random_downscale(images: Tensor, scale: tuple[float, float], generator: torch.Generator) -> Tensor:
    """Nearest-neighbour down- then up-scaling by a random factor per sample (``Downscale``).

    With factor s, output pixel i takes the input pixel ``floor(floor(i·s)/s)``: the pixel a nearest
    downscale to ``s·H`` keeps for the coarse pixel that a nearest upscale maps back to i. The row and
    column maps of all samples go to the device in one copy; there they are combined into one flat
    source-pixel index per output pixel, read with a single gather shared by the three channels.

    Args:
        images: (B, 3, H, W).
        scale: Range of the factor s in (0, 1].
        generator: CPU generator.

    Returns:
        Pixelated images, (B, 3, H, W).
    """
    B, C, H, W = images.shape
    s = uniform(B, scale[0], scale[1], generator).float()[:, None]
    iy = torch.floor(torch.floor(torch.arange(H) * s) / s).long().clamp(0, H - 1)
    ix = torch.floor(torch.floor(torch.arange(W) * s) / s).long().clamp(0, W - 1)
    maps = to_device(torch.cat([iy * W, ix], 1), images)  # (B, H + W): one copy for both maps
    flat = (maps[:, :H, None] + maps[:, None, H:]).view(B, 1, H * W)  # source pixel y·W + x
    return images.reshape(B, C, H * W).gather(2, flat.expand(B, C, H * W)).view(B, C, H, W)


def _box_mask(images: Tensor, x0: Tensor, y0: Tensor, w: Tensor, h: Tensor) -> Tensor:
    """(B, 1, H, W) bool mask of the boxes ``[x0, x0 + w) × [y0, y0 + h)`` given as (B,) host tensors."""
    B, _, H, W = images.shape
    box = to_device(torch.stack([x0, x0 + w, y0, y0 + h], 1).float(), images)  # (B, 4), one copy
    xs = torch.arange(W, device=images.device, dtype=torch.float32)
    ys = torch.arange(H, device=images.device, dtype=torch.float32)
    inside_x = (xs >= box[:, 0:1]) & (xs < box[:, 1:2])  # (B, W)
    inside_y = (ys >= box[:, 2:3]) & (ys < box[:, 3:4])  # (B, H)
    return (inside_y[:, :, None] & inside_x[:, None, :])[:, None]


def random_noise_occlusion(images: Tensor, size: tuple[float, float], generator: torch.Generator,
                           noise: Tensor | None = None) -> Tensor:
    """Paste a rectangle of uniform noise at a random place (the authors' random-noise occluder).

    Args:
        images: (B, 3, H, W).
        size: Range of the rectangle's width and height in pixels *at 224 × 224* (drawn independently,
            scaled by ``min(H, W) / 224``).
        generator: CPU generator.
        noise: Optional fill (B, 3, H, W); default: uniform noise drawn on the images' device from a
            seed taken from ``generator``.

    Returns:
        Occluded images, (B, 3, H, W).
    """
    B, _, H, W = images.shape
    k = min(H, W) / 224.0
    w = uniform(B, size[0] * k, size[1] * k, generator).clamp(max=W)
    h = uniform(B, size[0] * k, size[1] * k, generator).clamp(max=H)
    x0 = uniform(B, 0.0, 1.0, generator) * (W - w)
    y0 = uniform(B, 0.0, 1.0, generator) * (H - h)
    inside = _box_mask(images, x0, y0, w, h)
    if noise is None:
        dev_gen = torch.Generator(device=images.device)
        dev_gen.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
        noise = torch.rand(images.shape, generator=dev_gen, device=images.device, dtype=images.dtype)
    return torch.where(inside, noise, images)


def random_erasing(images: Tensor, scale: tuple[float, float], ratio: tuple[float, float],
                   generator: torch.Generator, value: float = 0.0) -> Tensor:
    """Random erasing (kornia ``RandomErasing(scale, ratio, value)`` semantics), per sample.

    Area ``a ~ U(scale) · H · W``; aspect ratio ``r`` uniform in ``[ratio[0], 1]`` or ``[1, ratio[1]]``
    (a fair coin, when the range straddles 1; else uniform in the range); box height
    ``round(sqrt(a · r))`` and width ``round(sqrt(a / r))`` clamped to the image; top-left corner uniform
    over the positions that keep the box inside.

    Args:
        images: (B, 3, H, W).
        scale: Range of the erased area fraction.
        ratio: Range of the box aspect ratio (height / width).
        generator: CPU generator.
        value: Fill value.

    Returns:
        Images with one box set to ``value``, (B, 3, H, W).
    """
    B, _, H, W = images.shape
    area = uniform(B, scale[0], scale[1], generator) * (H * W)
    lo, hi = float(ratio[0]), float(ratio[1])
    if lo < 1.0 < hi:
        below, above = uniform(B, lo, 1.0, generator), uniform(B, 1.0, hi, generator)
        r = torch.where(torch.rand(B, generator=generator) < 0.5, below, above)
    else:
        r = uniform(B, lo, hi, generator)
    h = torch.round(torch.sqrt(area * r)).clamp(1, H)
    w = torch.round(torch.sqrt(area / r)).clamp(1, W)
    x0 = torch.floor(uniform(B, 0.0, 1.0, generator) * (W - w + 1)).clamp(max=W - w)
    y0 = torch.floor(uniform(B, 0.0, 1.0, generator) * (H - h + 1)).clamp(max=H - h)
    inside = _box_mask(images, x0, y0, w, h)
    return images.masked_fill(inside, value)


def random_rain(images: Tensor, drops: tuple[int, int], generator: torch.Generator,
                drop_height: tuple[int, int] = (5, 20), drop_width: tuple[int, int] = (-5, 5),
                value: float = 200.0 / 255.0) -> Tensor:
    """Rain streaks (kornia ``RandomRain`` semantics), all samples in three kernels and one copy.

    Per sample: a number of drops in ``drops``, a drop height in ``drop_height`` and a signed width in
    ``drop_width`` (closed integer ranges; clamped to the image). A drop is a 1-pixel line of
    ``max(height, |width|)`` steps from its start down ``height − 1`` rows and across ``|width| − 1``
    columns (to the left for a negative width), written as the constant ``value``; starts are uniform
    over the positions that keep the whole line inside the image. The line pixels of all drops are
    computed on the CPU and set in one indexed write of a mask.

    Why not kornia's ``RandomRain``: it exists only as an augmentation class, whose parameter generation
    reads device tensors back (``.tolist()``, ``bool()`` checks), i.e. waits for the GPU each call.

    Args:
        images: (B, 3, H, W).
        drops: Inclusive range of the number of drops per image.
        generator: CPU generator.
        drop_height: Inclusive range of the drop height (rows), ≥ 1.
        drop_width: Inclusive range of the signed drop width (columns).
        value: Value written on the drops.

    Returns:
        Rainy images, (B, 3, H, W).
    """
    B, _, H, W = images.shape
    def draw(lo: int, hi: int) -> Tensor:
        return torch.randint(int(lo), int(hi) + 1, (B,), generator=generator)

    n = draw(*drops)
    dh = draw(*drop_height).clamp(1, H - 1)
    dw = draw(*drop_width).clamp(1 - W, W - 1)
    length = torch.maximum(dh, dw.abs())  # steps per line
    last_dy = dh - 1
    last_dx = torch.where(dw > 0, dw - 1, torch.where(dw < 0, dw + 1, torch.zeros_like(dw)))
    L, N = int(length.max()), int(n.max())
    frac = torch.arange(L, dtype=torch.float64)[None] / (length - 1).clamp(min=1)[:, None].double()  # (B, L)
    line_y = (frac * last_dy[:, None]).long()  # truncation, as an integer linspace
    line_x = (frac * last_dx[:, None]).long()
    u = torch.rand(B, N, 2, generator=generator, dtype=torch.float64)
    y0 = (u[..., 0] * (H - last_dy)[:, None]).long()
    x0 = (u[..., 1] * (W - last_dx.abs())[:, None]).long() + (-last_dx).clamp(min=0)[:, None]
    ys = y0[:, :, None] + line_y[:, None, :]  # (B, N, L)
    xs = x0[:, :, None] + line_x[:, None, :]
    valid = ((torch.arange(N)[None, :, None] < n[:, None, None])
             & (torch.arange(L)[None, None, :] < length[:, None, None]))
    flat = (torch.arange(B)[:, None, None] * (H * W) + ys * W + xs)[valid]
    mask = torch.zeros(B * H * W, dtype=torch.bool, device=images.device)
    mask.index_fill_(0, to_device(flat, images), True)
    return images.masked_fill(mask.view(B, 1, H, W), value)


def random_multiplicative(images: Tensor, multiplier: tuple[float, float],
                          generator: torch.Generator) -> Tensor:
    """Multiply each image by one random factor (``MultiplicativeNoise`` with its defaults), clipped.

    Args:
        images: (B, 3, H, W).
        multiplier: Range of the factor.
        generator: CPU generator.

    Returns:
        Scaled images clipped to [0, 1], (B, 3, H, W).
    """
    m = to_device(uniform(images.shape[0], multiplier[0], multiplier[1], generator), images, images.dtype)
    return (images * m[:, None, None, None]).clamp(0, 1)
