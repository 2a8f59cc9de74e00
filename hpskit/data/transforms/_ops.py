"""Per-sample photometric operations that kornia does not have in the form Albumentations uses them.

Each takes images (B, 3, H, W) in [0, 1] and a CPU ``torch.Generator`` and draws its parameters per
sample (kornia draws some of these once per batch, e.g. the box-blur kernel size). All of them are
vectorised over the batch: no Python loop over samples or pixels.
"""

from __future__ import annotations

import torch
from kornia.filters import box_blur
from torch import Tensor

__all__ = ["random_box_blur", "random_downscale", "random_noise_occlusion", "random_multiplicative"]


def _uniform(n: int, lo: float, hi: float, generator: torch.Generator, like: Tensor) -> Tensor:
    """(n,) uniform draws in [lo, hi] made on the CPU generator, moved to ``like``'s device/dtype."""
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    return (lo + (hi - lo) * u).to(device=like.device, dtype=like.dtype)


def random_box_blur(images: Tensor, kernel: tuple[int, int], generator: torch.Generator) -> Tensor:
    """Box blur with a random odd kernel size per sample (Albumentations ``Blur(blur_limit)``).

    Args:
        images: (B, 3, H, W) in [0, 1].
        kernel: Inclusive range of kernel sizes; the odd sizes inside it are drawn uniformly.
        generator: CPU generator.

    Returns:
        Blurred images, (B, 3, H, W).
    """
    sizes = [k for k in range(int(kernel[0]), int(kernel[1]) + 1) if k % 2 == 1] or [3]
    pick = torch.randint(len(sizes), (images.shape[0],), generator=generator)
    out = images.clone()
    for i, k in enumerate(sizes):  # one batched blur per kernel size (at most a handful)
        sel = (pick == i).nonzero().squeeze(1)  # on the CPU: no device sync
        if sel.numel():
            sel = sel.to(images.device)
            out[sel] = box_blur(images[sel], (k, k), border_type="reflect")
    return out


def random_downscale(images: Tensor, scale: tuple[float, float], generator: torch.Generator) -> Tensor:
    """Nearest-neighbour down- then up-scaling by a random factor per sample (``Downscale``).

    With factor s, output pixel i takes the input pixel ``floor(floor(i·s)/s)``: the pixel a nearest
    downscale to ``s·H`` keeps for the coarse pixel that a nearest upscale maps back to i. Done as two
    gathers with per-sample index maps.

    Args:
        images: (B, 3, H, W).
        scale: Range of the factor s in (0, 1].
        generator: CPU generator.

    Returns:
        Pixelated images, (B, 3, H, W).
    """
    B, C, H, W = images.shape
    s = _uniform(B, scale[0], scale[1], generator, images).float()[:, None]
    iy = torch.floor(torch.floor(torch.arange(H, device=images.device) * s) / s).long().clamp(0, H - 1)
    ix = torch.floor(torch.floor(torch.arange(W, device=images.device) * s) / s).long().clamp(0, W - 1)
    rows = torch.gather(images, 2, iy[:, None, :, None].expand(B, C, H, W))
    return torch.gather(rows, 3, ix[:, None, None, :].expand(B, C, H, W))


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
    w = _uniform(B, size[0] * k, size[1] * k, generator, images).clamp(max=W)
    h = _uniform(B, size[0] * k, size[1] * k, generator, images).clamp(max=H)
    x0 = _uniform(B, 0.0, 1.0, generator, images) * (W - w)
    y0 = _uniform(B, 0.0, 1.0, generator, images) * (H - h)
    xs = torch.arange(W, device=images.device, dtype=images.dtype)
    ys = torch.arange(H, device=images.device, dtype=images.dtype)
    inside = (((xs[None] >= x0[:, None]) & (xs[None] < (x0 + w)[:, None]))[:, None, :]
              & ((ys[None] >= y0[:, None]) & (ys[None] < (y0 + h)[:, None]))[:, :, None])
    if noise is None:
        dev_gen = torch.Generator(device=images.device)
        dev_gen.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
        noise = torch.rand(images.shape, generator=dev_gen, device=images.device, dtype=images.dtype)
    return torch.where(inside[:, None], noise, images)


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
    m = _uniform(images.shape[0], multiplier[0], multiplier[1], generator, images)
    return (images * m[:, None, None, None]).clamp(0, 1)
