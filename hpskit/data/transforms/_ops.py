"""Per-sample photometric operations, each a handful of batched kernels with parameters drawn on the CPU.

Each op takes images (B, 3, H, W) in [0, 1] and a CPU ``torch.Generator``, draws its parameters per
sample from that generator (no global RNG), and moves them to the images' device with one non-blocking
copy (:func:`to_device`). Nothing here reads a device tensor back on the host, so a CUDA call queues its
kernels and returns without waiting for the GPU — except :func:`jpeg_roundtrip` (``random_jpeg(...,
codec="libjpeg")``), whose real codec runs on the CPU (one device-to-host copy, which waits).

Why not the ``kornia.augmentation`` classes: on the two or three images an op gets per batch, their
parameter generation and validation cost more than the op itself, and several of them block on the GPU
(``.tolist()``/``bool()`` of device tensors, blocking host-to-device copies of constants). Where kornia
has a functional op that takes per-sample tensors, it is used (``filter2d_separable``, ``filter2d`` with
``get_motion_kernel2d``); the others are written here because kornia has no per-sample functional form of
them (rain, random erasing, JPEG with a real codec) or because the op is a single expression.

Given the same generator state, an op computes the same parameters on every device; the results then
differ across devices only by floating-point rounding of the kernels (the libjpeg JPEG: not at all, see
:func:`jpeg_roundtrip`).
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import torch
import torch.nn.functional as F
import torchvision.io as tvio
from kornia.filters import filter2d, filter2d_separable, get_motion_kernel2d
from torch import Tensor

__all__ = [
    "to_device", "uniform", "box_blur_per_sample", "random_box_blur", "motion_blur_per_sample",
    "random_motion_blur", "random_downscale", "random_noise_occlusion", "random_erasing", "random_rain",
    "random_multiplicative", "JPEG_CODECS", "random_jpeg", "jpeg_roundtrip", "jpeg_simulated",
    "jpeg_quant_tables",
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


@lru_cache(maxsize=16)
def _levels(device: torch.device, dtype: torch.dtype) -> Tensor:
    """(256,) table ``v / 255`` in ``dtype`` on ``device`` (computed in float64 on the CPU, copied once).

    Reading decoded 8-bit values through this table gives the same floats on every device: ``u8 / 255``
    on a CUDA tensor is computed as ``u8 · (1 / 255)`` (PyTorch's division by a host scalar), which is
    one ulp off the CPU's quotient for about half of the 256 levels.
    """
    return (torch.arange(256, dtype=torch.float64) / 255.0).to(dtype).to(device)


def jpeg_roundtrip(images: Tensor, quality: list[int]) -> Tensor:
    """Compress and decompress images as JPEG (a real codec) at one integer quality per image.

    The float images are quantised as an 8-bit pipeline holds them (``round(x · 255)``, clipped, on the
    images' device), copied to the host in one transfer (channels last, the layout libjpeg reads),
    encoded and decoded there with ``torchvision.io``'s libjpeg-turbo (4:2:0 chroma, the bytes PIL and
    OpenCV write), copied back as uint8 and read through a table of ``v / 255``. The result is the same
    on every device, bit for bit.

    Why the CPU codec also for CUDA images: the op gets a few 224² crops per batch, and libjpeg encodes
    and decodes one in about 0.3 ms (3 crops: 0.8 ms, 64: 19 ms of host time on a 2-core VM, one
    thread); the device-to-host copy waits for the GPU, but so did the nvJPEG round trip, whose encoder
    also synchronises the host once per image, encodes 4:4:4 (not what the Albumentations reference
    does), and reads its input on its own CUDA stream without waiting for the caller's.

    Args:
        images: (B, 3, H, W) in [0, 1].
        quality: B integer qualities in [1, 100].

    Returns:
        (B, 3, H, W) decoded images in [0, 1], same dtype and device.

    Raises:
        ValueError: If the number of qualities is not B, or a quality is outside [1, 100].
    """
    B = images.shape[0]
    if len(quality) != B:
        raise ValueError(f"jpeg_roundtrip: {B} images but {len(quality)} qualities.")
    quality = [int(q) for q in quality]
    if any(not 1 <= q <= 100 for q in quality):
        raise ValueError(f"jpeg_roundtrip: qualities must be in [1, 100]; got {quality}.")
    if B == 0:
        return images.clone()
    u8 = (images * 255.0).round_().clamp_(0, 255).to(torch.uint8)
    hwc = u8.permute(0, 2, 3, 1).contiguous().cpu()  # (B, H, W, 3): libjpeg reads rows of RGB triplets
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*deprecated.*")
        # a CHW view of HWC memory: encode_jpeg's own permute(1, 2, 0).contiguous() is then a no-op
        encoded = [tvio.encode_jpeg(img.permute(2, 0, 1), quality=q) for img, q in zip(hwc, quality)]
        decoded = tvio.decode_jpeg(encoded, mode=tvio.ImageReadMode.RGB)  # CHW views of HWC buffers
    out = torch.stack([d.permute(1, 2, 0) for d in decoded])  # (B, H, W, 3) uint8, host
    if images.device.type == "cpu" and images.dtype in (torch.float32, torch.float64):
        # the CPU divides exactly (correctly rounded), as the table holds it; faster than a lookup here
        flt = torch.empty((B, 3, *out.shape[1:3]), dtype=images.dtype)
        return flt.copy_(out.permute(0, 3, 1, 2)).div_(255)
    out = to_device(out, images).permute(0, 3, 1, 2).contiguous()  # one copy, then NCHW on the device
    return _levels(images.device, images.dtype)[out.long()]


# The IJG / JPEG Annex K base quantisation tables (natural row-major order: row = vertical frequency).
_LUMA_TABLE = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
               14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
               18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
               49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
_CHROMA_TABLE = (17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
                 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99) + (99,) * 32


def jpeg_quant_tables(quality: Tensor) -> Tensor:
    """libjpeg's quantisation tables for integer qualities (``jpeg_set_quality``, baseline).

    ``scale = 5000 / q`` (integer division) below quality 50, else ``200 − 2q``; each entry
    ``(base · scale + 50) / 100`` (integer division), clipped to [1, 255].

    Args:
        quality: (B,) integer qualities in [1, 100], CPU.

    Returns:
        (B, 2, 64) int64: the luma and the chroma table of each quality, row-major 8 × 8.
    """
    q = quality.long().clamp(1, 100)
    scale = torch.where(q < 50, 5000 // q, 200 - 2 * q)
    base = torch.tensor([_LUMA_TABLE, _CHROMA_TABLE], dtype=torch.long)  # (2, 64)
    return torch.div(base[None] * scale[:, None, None] + 50, 100, rounding_mode="floor").clamp(1, 255)


@lru_cache(maxsize=16)
def _jpeg_constants(device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """float32 on ``device``: the (64, 64) orthonormal 8 × 8 DCT-II basis (row k = u·8 + v, column
    y·8 + x), the RGB → YCbCr matrix and the YCbCr → RGB matrix (JFIF, full range)."""
    n = torch.arange(8, dtype=torch.float64)
    a = torch.full((8,), 0.5, dtype=torch.float64)
    a[0] = 0.125 ** 0.5
    c = a[:, None] * torch.cos((2 * n[None] + 1) * n[:, None] * torch.pi / 16)  # (u, y)
    basis = torch.einsum("uy,vx->uvyx", c, c).reshape(64, 64)
    rgb_to_ycc = torch.tensor([[0.299, 0.587, 0.114], [-0.168735892, -0.331264108, 0.5],
                               [0.5, -0.418687589, -0.081312411]], dtype=torch.float64)
    ycc_to_rgb = torch.tensor([[1.0, 0.0, 1.402], [1.0, -0.344136286, -0.714136286], [1.0, 1.772, 0.0]],
                              dtype=torch.float64)
    return tuple(t.float().to(device) for t in (basis, rgb_to_ycc, ycc_to_rgb))  # type: ignore[return-value]


def _to_blocks(planes: Tensor) -> Tensor:
    """(N, h, w) → (N, h/8 · w/8, 64): the 8 × 8 blocks in raster order, each row-major."""
    N, h, w = planes.shape
    return planes.view(N, h // 8, 8, w // 8, 8).transpose(2, 3).reshape(N, -1, 64)


def _from_blocks(blocks: Tensor, h: int, w: int) -> Tensor:
    """Inverse of :func:`_to_blocks`: (N, h/8 · w/8, 64) → (N, h, w)."""
    N = blocks.shape[0]
    return blocks.view(N, h // 8, w // 8, 8, 8).transpose(2, 3).reshape(N, h, w)


def jpeg_simulated(images: Tensor, quality: Tensor) -> Tensor:
    """A baseline JPEG round trip (4:2:0) computed in tensor kernels on the images' device.

    The codec's lossy steps as libjpeg takes them, each rounded to integers where libjpeg holds
    integers: 8-bit RGB → YCbCr (JFIF), chroma averaged over 2 × 2, 8 × 8 blocks (edges replicated to a
    multiple of 16) level-shifted by 128, DCT, quantisation with libjpeg's tables for the quality
    (:func:`jpeg_quant_tables`), dequantisation, inverse DCT, clipped to [0, 255], chroma upsampled by
    libjpeg's "fancy" triangle filter (= bilinear ×2, half-pixel centres), back to RGB. The entropy coding
    is lossless and skipped. libjpeg's fixed-point arithmetic rounds differently in places, so the result
    is a level or so from libjpeg's (tests hold it to :func:`jpeg_roundtrip` and to kornia's
    differentiable codec).

    Why not :func:`kornia.enhance.jpeg_codec_differentiable`: it models the same steps differentiably,
    with about five times the kernels and host-side checks, and on an H100 it cost 5.5 ms of host time per
    call on 3 crops (the whole rest of a batch's augmentation takes about 7 ms); this takes ~20 kernels.
    Why not the real codec (:func:`jpeg_roundtrip`): on a CUDA tensor its device-to-host copy makes the host
    wait for the GPU once per batch.

    Computed in float32 with autocast off. With TF32 matrix products switched on globally
    (``torch.backends.cuda.matmul.allow_tf32``), a DCT coefficient may land one quantisation step off at
    the highest qualities (tables of ones); the defaults are full float32.

    Args:
        images: (B, 3, H, W) in [0, 1].
        quality: (B,) integer qualities in [1, 100], a CPU tensor.

    Returns:
        (B, 3, H, W) in [0, 1], 8-bit levels, same dtype and device.

    Raises:
        ValueError: If ``quality`` is not a (B,) CPU tensor of values in [1, 100].
    """
    B, _, H, W = images.shape
    if quality.shape != (B,) or quality.device.type != "cpu":
        raise ValueError(f"jpeg_simulated: `quality` must be a (B,) = ({B},) CPU tensor; got shape "
                         f"{tuple(quality.shape)} on {quality.device}.")
    if B and not bool(((quality >= 1) & (quality <= 100)).all()):
        raise ValueError(f"jpeg_simulated: qualities must be in [1, 100]; got {quality.tolist()}.")
    if B == 0:
        return images.clone()
    # the integer steps need float32 products: a caller's autocast would run the matrix products in 16 bits
    with torch.autocast(images.device.type, enabled=False):
        return _jpeg_simulated(images, quality)


def _jpeg_simulated(images: Tensor, quality: Tensor) -> Tensor:
    B, _, H, W = images.shape
    basis, rgb_to_ycc, ycc_to_rgb = _jpeg_constants(images.device)
    tables = to_device(jpeg_quant_tables(quality).float(), images, torch.float32)  # (B, 2, 64), one copy
    x = (images.float() * 255).round_().clamp_(0, 255)
    ph, pw = -H % 16, -W % 16
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    Hp, Wp = H + ph, W + pw
    ycc = torch.matmul(rgb_to_ycc, x.view(B, 3, Hp * Wp)).view(B, 3, Hp, Wp)
    ycc[:, 1:] += 128.0
    ycc.round_()
    chroma = F.avg_pool2d(ycc[:, 1:], 2).round_()  # (B, 2, Hp/2, Wp/2)
    ny, nc = Hp * Wp // 64, Hp * Wp // 256
    chroma_blocks = _to_blocks(chroma.reshape(B * 2, Hp // 2, Wp // 2)).view(B, 2 * nc, 64)
    blocks = torch.cat([_to_blocks(ycc[:, 0]), chroma_blocks], 1)  # (B, ny + 2 nc, 64): one DCT for all
    q = torch.cat([tables[:, :1].expand(B, ny, 64), tables[:, 1:].expand(B, 2 * nc, 64)], 1)
    coef = torch.matmul(blocks - 128.0, basis.T)
    coef = coef.div_(q).round_().mul_(q)
    rec = torch.matmul(coef, basis).add_(128.0).round_().clamp_(0, 255)
    y = _from_blocks(rec[:, :ny], Hp, Wp)
    chroma = _from_blocks(rec[:, ny:].reshape(B * 2, nc, 64), Hp // 2, Wp // 2).view(B, 2, Hp // 2, Wp // 2)
    chroma = F.interpolate(chroma, scale_factor=2, mode="bilinear", align_corners=False).round_() - 128.0
    rgb = torch.matmul(ycc_to_rgb, torch.cat([y[:, None], chroma], 1).view(B, 3, Hp * Wp))
    rgb = rgb.view(B, 3, Hp, Wp)[:, :, :H, :W].round_().clamp_(0, 255).div_(255)
    return rgb.to(images.dtype)


JPEG_CODECS = ("torch", "libjpeg")
"""``codec`` values of :func:`random_jpeg`."""


def random_jpeg(images: Tensor, quality: tuple[float, float], generator: torch.Generator,
                codec: str = "torch") -> Tensor:
    """JPEG compression at a random integer quality per sample in ``[quality[0], quality[1]]``
    (Albumentations ``ImageCompression``).

    Args:
        images: (B, 3, H, W) in [0, 1].
        quality: Inclusive quality range (clipped to [1, 100]).
        generator: CPU generator.
        codec: ``"torch"``: the codec's lossy steps in tensor kernels on the images' device
            (:func:`jpeg_simulated`; no host round trip); ``"libjpeg"``: the real codec on the CPU
            (:func:`jpeg_roundtrip`; bit-exact, but a CUDA call waits for the GPU).

    Returns:
        (B, 3, H, W) in [0, 1].

    Raises:
        ValueError: If ``codec`` is not one of :data:`JPEG_CODECS`.
    """
    if codec not in JPEG_CODECS:
        raise ValueError(f"random_jpeg: codec must be one of {JPEG_CODECS}; got {codec!r}.")
    lo, hi = max(1, round(quality[0])), min(100, round(quality[1]))
    q = torch.randint(lo, hi + 1, (images.shape[0],), generator=generator)
    if codec == "torch":
        return jpeg_simulated(images, q)
    return jpeg_roundtrip(images, q.tolist())
