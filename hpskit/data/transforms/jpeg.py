"""Image decoding on the GPU: workers read raw bytes, the main process decodes them in one batch.

A training run that decodes 1280×720 JPEGs with PIL in DataLoader workers is CPU-bound long before an
H100 is busy. Here the workers only read file bytes (:class:`EncodedImageFiles` + :func:`collate_encoded`,
which keeps the bytes as a list), and :func:`decode_images` decodes the batch with
``torchvision.io.decode_jpeg(list, device="cuda")`` (nvJPEG, one batched call). On the CPU the same
function uses torchvision's libjpeg-turbo decoder, whose output equals PIL's; non-JPEG files (PNG, …)
go through ``torchvision.io.decode_image`` on the CPU and are then moved.

torchvision marks its image codecs as deprecated in favour of TorchCodec (not installed here); the
deprecation warning is silenced inside these calls only.

CUDA streams: torchvision's batched nvJPEG decoder allocates its output tensors on the caller's current
stream but writes them on a private stream that does not wait for the caller's. A block the caching
allocator hands out there may still be in use by kernels queued on the caller's stream (a tensor of the
previous batch freed after its last kernel was queued, the normal case in a training loop that does not
synchronise), and those kernels would then race with the decoder. :func:`decode_images` therefore runs the
decoder with a side stream of its own as the current stream, so the outputs come from blocks only the
decoder's outputs use, and marks each output as used on the caller's stream (``record_stream``), so a
block is handed to the decoder again only after the caller's work on it has finished. Neither waits on
the host.

One decoder per process: torchvision keeps a single nvJPEG decoder and builds a new one (hardware
backend set-up, buffers; the old one is not freed) whenever the ``device`` argument differs from the
previous call's, and ``cuda`` differs from ``cuda:0`` there. :func:`decode_images` therefore always passes
the device with its index.

Example:
    >>> import io, numpy as np
    >>> from PIL import Image
    >>> buf = io.BytesIO()
    >>> Image.fromarray(np.full((8, 16, 3), 200, np.uint8)).save(buf, format="JPEG")
    >>> imgs = decode_images([buf.getvalue()], device="cpu")
    >>> imgs[0].shape, imgs[0].dtype
    (torch.Size([3, 8, 16]), torch.uint8)
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
import torchvision.io as tvio
from torch import Tensor

from hpskit.core import CorruptFileError, MissingFileError, ShapeError

__all__ = ["is_jpeg", "decode_images", "decode_batch", "stack_images", "EncodedImageFiles", "PackedBytes",
           "collate_encoded"]

_JPEG_MAGIC = b"\xff\xd8\xff"
_DECODE_STREAMS: dict[torch.device, torch.cuda.Stream] = {}  # one side stream per CUDA device
_STREAMS_LOCK = threading.Lock()


def _decode_stream(device: torch.device) -> torch.cuda.Stream:
    """The side stream :func:`decode_images` allocates nvJPEG's outputs on (made once per device)."""
    with _STREAMS_LOCK:
        if device not in _DECODE_STREAMS:
            _DECODE_STREAMS[device] = torch.cuda.Stream(device)
        return _DECODE_STREAMS[device]


def _decode_jpegs_cuda(data: list[Tensor], device: torch.device,
                       stack: bool = False) -> list[Tensor] | Tensor:
    """Batched nvJPEG decode whose outputs cannot alias memory the caller's queued kernels still use
    (see the module notes on CUDA streams); with ``stack``, stacked on the side stream into one
    (B, 3, H, W) tensor, which is then the only one handed over to the caller's stream."""
    caller = torch.cuda.current_stream(device)
    side = _decode_stream(device)
    with torch.cuda.stream(side):
        dec = tvio.decode_jpeg(data, mode=tvio.ImageReadMode.RGB, device=device)
        out = stack_images(dec) if stack else dec  # on the side stream, where the decoder wrote them
    caller.wait_stream(side)  # torchvision made `side` wait for its decoder; the caller now waits for both
    for img in [out] if stack else out:
        img.record_stream(caller)
    return out


def _cuda_device(device: torch.device | str) -> torch.device:
    """``device`` with its index when it is a GPU: one spelling per GPU (see the module notes)."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def _decode_jpegs(data: list[Tensor], device: torch.device, where: str, stack: bool = False
                  ) -> list[Tensor] | Tensor:
    """All-JPEG ``data`` decoded in one batched call on ``device`` (nvJPEG on CUDA, libjpeg-turbo on the
    CPU): a list, or with ``stack`` one (B, 3, H, W) tensor. Decoding errors become CorruptFileError."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*deprecated.*")
        try:
            if device.type == "cuda":
                return _decode_jpegs_cuda(data, device, stack=stack)
            dec = tvio.decode_jpeg(data, mode=tvio.ImageReadMode.RGB)
        except RuntimeError as e:
            raise CorruptFileError(f"{where}: torchvision could not decode a JPEG of this batch ({e}). "
                                   "Check the files.") from e
    return stack_images(dec) if stack else dec


def _as_uint8(data: bytes | bytearray | memoryview | Tensor, i: int) -> Tensor:
    if isinstance(data, Tensor):
        if data.dtype != torch.uint8 or data.dim() != 1:
            raise ShapeError(f"decode_images: item {i} must be a 1D uint8 tensor of encoded bytes; got "
                             f"{data.dtype} with shape {tuple(data.shape)}. Read files with "
                             "torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8).")
        return data.cpu()
    if isinstance(data, (bytes, bytearray, memoryview)):
        return torch.frombuffer(bytearray(data), dtype=torch.uint8)
    raise ShapeError(f"decode_images: item {i} must be bytes or a uint8 tensor; got {type(data).__name__}.")


def is_jpeg(data: Tensor) -> bool:
    """Whether a 1D uint8 tensor starts with the JPEG SOI marker."""
    return data.numel() >= 3 and bytes(data[:3].tolist()) == _JPEG_MAGIC


def decode_images(encoded: Sequence[bytes | Tensor], device: torch.device | str = "cpu") -> list[Tensor]:
    """Decode a batch of encoded images to RGB uint8 tensors on ``device``.

    JPEGs are decoded in one batched ``torchvision.io.decode_jpeg`` call (nvJPEG on CUDA, libjpeg-turbo
    on CPU); other formats are decoded on the CPU with ``decode_image`` and moved. Grey images come back
    with 3 channels. On CUDA the call returns once the images are decoded (nvJPEG synchronises its own
    stream), without waiting for work queued on the caller's stream; the images are ready for that
    stream (see the module notes).

    nvJPEG and libjpeg-turbo may differ by a few levels: their IDCTs round differently, and with 4:2:0
    chroma their upsampling may differ (libjpeg-turbo interpolates the chroma), which shows at sharp
    colour edges; on smooth, photo-like 1280×720 frames the mean difference measured about one level on
    an H100.

    Args:
        encoded: Encoded files, each ``bytes`` or a 1D uint8 CPU tensor.
        device: Where the decoded images live.

    Returns:
        List of images, each (3, H, W) uint8 on ``device``, in the input order.

    Raises:
        ShapeError: If an item is not bytes / a 1D uint8 tensor.
        CorruptFileError: If a file cannot be decoded.
    """
    device = _cuda_device(device)
    data = [_as_uint8(d, i) for i, d in enumerate(encoded)]
    out: list[Tensor | None] = [None] * len(data)
    flags = _jpeg_flags(data)
    jpeg_idx = [i for i, f in enumerate(flags) if f]
    other_idx = [i for i, f in enumerate(flags) if not f]
    if jpeg_idx:
        where = f"decode_images (items {jpeg_idx[:8]}...)"
        for i, img in zip(jpeg_idx, _decode_jpegs([data[i] for i in jpeg_idx], device, where)):
            out[i] = img
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*deprecated.*")
        for i in other_idx:
            try:
                img = tvio.decode_image(data[i], mode=tvio.ImageReadMode.RGB)
            except RuntimeError as e:
                raise CorruptFileError(f"decode_images: item {i} is neither a JPEG nor an image format "
                                       f"torchvision can decode ({e}).") from e
            out[i] = img.to(device)
    return out  # type: ignore[return-value]


def stack_images(images: Sequence[Tensor]) -> Tensor:
    """Stack equally sized (3, H, W) images into (B, 3, H, W).

    Raises:
        ShapeError: If the sizes differ (crop them per size group instead).
    """
    if len(images) == 0:
        raise ShapeError("stack_images: got no images.")
    shape = images[0].shape
    for i, im in enumerate(images):
        if im.shape != shape:
            raise ShapeError(f"stack_images: image {i} has shape {tuple(im.shape)}, image 0 {tuple(shape)}. "
                             "Group images by size before stacking.")
    return torch.stack(list(images))


def _jpeg_flags(data: Sequence[Tensor]) -> list[bool]:
    """:func:`is_jpeg` of every item; for a :class:`PackedBytes` batch in one vectorised check."""
    if isinstance(data, PackedBytes) and len(data):
        lengths = data.lengths
        starts = torch.cumsum(lengths, 0) - lengths
        idx = (starts[:, None] + torch.arange(3)).clamp(max=max(data.data.numel() - 1, 0))
        magic = torch.tensor(list(_JPEG_MAGIC), dtype=torch.uint8)
        return ((data.data[idx] == magic).all(1) & (lengths >= 3)).tolist()
    return [is_jpeg(d) for d in data]


def decode_batch(encoded: Sequence[bytes | Tensor], device: torch.device | str = "cpu") -> Tensor:
    """Decode equally sized encoded images into one (B, 3, H, W) uint8 batch on ``device``.

    The same decoders as :func:`decode_images`, with less work per image on the host: a
    :class:`PackedBytes` batch (what :func:`collate_encoded` gives) is checked for JPEGs in one vectorised
    step, and on CUDA the batch is stacked on the decoder's side stream, so only the stacked tensor is
    handed over to the caller's stream (one ``record_stream`` instead of one per image). This matters when
    the batch is decoded in a background thread (:class:`hpskit.data.BackgroundBatches`): every Python step
    of that thread competes with the training loop for the GIL.

    Args:
        encoded: Encoded files, each ``bytes`` or a 1D uint8 CPU tensor, or a :class:`PackedBytes`.
        device: Where the batch lives.

    Returns:
        (B, 3, H, W) uint8 on ``device``.

    Raises:
        ShapeError: If the images differ in size (decode them with :func:`decode_images` and crop each),
            if the batch is empty, or an item is not bytes / a 1D uint8 tensor.
        CorruptFileError: If a file cannot be decoded.
    """
    device = _cuda_device(device)
    if len(encoded) == 0:
        raise ShapeError("decode_batch: got no images.")
    data = encoded if isinstance(encoded, PackedBytes) else [_as_uint8(d, i) for i, d in enumerate(encoded)]
    if device.type != "cuda" or not all(_jpeg_flags(data)):
        return stack_images(decode_images(data, device))
    return _decode_jpegs(list(data), device, "decode_batch", stack=True)


class EncodedImageFiles(torch.utils.data.Dataset):
    """A list of image files whose items are ``(index, raw bytes as a 1D uint8 tensor)``.

    Use with ``DataLoader(..., collate_fn=collate_encoded)`` so workers only read files, then decode the
    batch with :func:`decode_images` on the GPU in the main process.

    Args:
        paths: Image files.

    Raises:
        MissingFileError: If a path does not exist (checked at construction).
    """

    def __init__(self, paths: Sequence[str | os.PathLike]) -> None:
        self.paths = [Path(p) for p in paths]
        missing = [str(p) for p in self.paths if not p.is_file()]
        if missing:
            raise MissingFileError(f"EncodedImageFiles: {len(missing)} of {len(self.paths)} files do not "
                                   f"exist, e.g. {missing[:3]}.")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[int, Tensor]:
        # Plain Python read into an ordinary tensor: torchvision's read_file returns a storage that
        # DataLoader workers cannot hand to the main process ("Bad file descriptor").
        return index, torch.frombuffer(bytearray(self.paths[index].read_bytes()), dtype=torch.uint8)


class PackedBytes(Sequence):
    """B byte strings packed into one 1D uint8 tensor, readable as a sequence of B tensors (views).

    A DataLoader worker hands each tensor of a batch to the main process through its own shared-memory
    segment, and the main process maps them one by one: for 64 small files that costs far more than reading
    them (on an H100 machine the loader fell behind the GPU at ~20 ms per batch). Packed, a batch crosses as
    two tensors.

    Args:
        chunks: The byte strings, each a 1D uint8 tensor.

    Example:
        >>> p = PackedBytes([torch.tensor([1, 2], dtype=torch.uint8), torch.tensor([3], dtype=torch.uint8)])
        >>> len(p), [t.tolist() for t in p]
        (2, [[1, 2], [3]])
    """

    def __init__(self, chunks: Sequence[Tensor]) -> None:
        flat = [c.reshape(-1) for c in chunks]
        self.data = torch.cat(flat) if flat else torch.zeros(0, dtype=torch.uint8)
        self.lengths = torch.tensor([c.numel() for c in chunks], dtype=torch.long)
        self._views: list[Tensor] | None = None

    def _split(self) -> list[Tensor]:
        if self._views is None:
            self._views = list(self.data.split(self.lengths.tolist()))
        return self._views

    def __len__(self) -> int:
        return int(self.lengths.numel())

    def __getitem__(self, i):
        return self._split()[i]

    def __iter__(self):
        return iter(self._split())

    def __getstate__(self) -> dict:
        return {"data": self.data, "lengths": self.lengths}

    def __setstate__(self, state: dict) -> None:
        self.data, self.lengths, self._views = state["data"], state["lengths"], None


def collate_encoded(items: Sequence[tuple[int, Tensor]]) -> tuple[Tensor, PackedBytes]:
    """Batch ``(index, bytes)`` items without decoding: ``(indices (B,) long, B byte tensors)``.

    The byte tensors come as a :class:`PackedBytes` (one tensor underneath, so a worker's batch crosses to
    the main process as one shared-memory segment); index or iterate it like a list.
    """
    return torch.tensor([int(i) for i, _ in items], dtype=torch.long), PackedBytes([b for _, b in items])
