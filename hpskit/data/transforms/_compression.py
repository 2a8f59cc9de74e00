"""The JPEG operation of the photometric augmentation (Albumentations ``ImageCompression``), two codecs.

* :func:`jpeg_simulated` (``codec="torch"``, the default): libjpeg's lossy steps in tensor kernels on the
  images' device; a CUDA call queues its kernels and returns without waiting for the GPU.
* :func:`jpeg_roundtrip` (``codec="libjpeg"``): the real codec on the CPU, bit-exact on every device; its
  device-to-host copy makes a CUDA call wait for the GPU.

:func:`random_jpeg` draws one integer quality per sample from a CPU generator and calls either (same
contract as :mod:`~hpskit.data.transforms._ops`).
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import torch
import torch.nn.functional as F
import torchvision.io as tvio
from torch import Tensor

from ._ops import to_device

__all__ = ["JPEG_CODECS", "random_jpeg", "jpeg_roundtrip", "jpeg_simulated", "jpeg_quant_tables"]


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
