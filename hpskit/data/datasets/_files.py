"""File readers shared by the datasets: images, masks, label npz files and BEDLAM's depth EXR, plus the
"file is missing" message every dataset raises.

Depth EXR files are read and written with the ``OpenEXR`` package from PyPI (the Academy Software
Foundation's bindings, the same library the D-PoSE authors read them with). It is imported on first use.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from hpskit.core import CorruptFileError, MissingFileError

__all__ = [
    "DATASET_URLS",
    "missing_file_error",
    "require_file",
    "require_dir",
    "read_rgb",
    "read_mask",
    "image_size",
    "load_npz",
    "read_exr_channel",
    "write_exr_channel",
]

DATASET_URLS = {
    "BEDLAM": "https://bedlam.is.tue.mpg.de",
    "AGORA": "https://agora.is.tue.mpg.de",
    "3DPW": "https://virtualhumans.mpi-inf.mpg.de/3DPW",
    "EMDB": "https://emdb.ait.ethz.ch",
}


def missing_file_error(dataset: str, what: str, path: str | os.PathLike, hint: str = "") -> MissingFileError:
    """Build the error for a missing dataset file: which file, which dataset, where it comes from."""
    url = DATASET_URLS.get(dataset, "")
    msg = f"{dataset}: {what} not found at '{path}'."
    if hint:
        msg += f" {hint}"
    if url:
        msg += (
            f" {dataset} is licence-gated: register and download it at {url}, then pass its folder as `root`."
        )
    return MissingFileError(msg)


def require_file(dataset: str, what: str, path: Path, hint: str = "") -> Path:
    """Return ``path`` if it is a file, else raise :func:`missing_file_error`."""
    if not path.is_file():
        raise missing_file_error(dataset, what, path, hint)
    return path


def require_dir(dataset: str, what: str, path: Path, hint: str = "") -> Path:
    """Return ``path`` if it is a directory, else raise :func:`missing_file_error`."""
    if not path.is_dir():
        raise missing_file_error(dataset, what, path, hint)
    return path


def read_rgb(path: Path, dataset: str) -> np.ndarray:
    """Read an 8-bit image as RGB, shape (H, W, 3), uint8."""
    from PIL import Image, UnidentifiedImageError

    require_file(dataset, "image", path)
    try:
        with Image.open(path) as im:
            return np.array(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise CorruptFileError(f"{dataset}: cannot decode image '{path}' ({e}).") from e


def read_mask(path: Path, dataset: str) -> np.ndarray:
    """Read an 8-bit greyscale mask PNG as bool (pixel > 127), shape (H, W)."""
    from PIL import Image, UnidentifiedImageError

    require_file(dataset, "mask", path)
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("L")) > 127
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise CorruptFileError(f"{dataset}: cannot decode mask '{path}' ({e}).") from e


def image_size(path: Path, dataset: str) -> tuple[int, int]:
    """(W, H) of an image, read from its header only."""
    from PIL import Image, UnidentifiedImageError

    require_file(dataset, "image", path)
    try:
        with Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise CorruptFileError(f"{dataset}: cannot read the header of image '{path}' ({e}).") from e


def load_npz(path: Path, dataset: str, required: tuple[str, ...], what: str = "label file") -> dict:
    """Load a label npz (no pickles) and check that ``required`` keys are present.

    Raises:
        MissingFileError: If the file is missing.
        CorruptFileError: If it is unreadable or lacks a key (all missing keys are listed).
    """
    require_file(dataset, what, path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise CorruptFileError(
            f"{dataset}: cannot read {what} '{path}' ({type(e).__name__}: {e}). String arrays must be "
            "unicode/bytes dtype (not object); otherwise the file is truncated: download it again."
        ) from e
    absent = [k for k in required if k not in data]
    if absent:
        raise CorruptFileError(f"{dataset}: {what} '{path}' lacks key(s) {absent}; it has {sorted(data)}.")
    return data


def _openexr():
    try:
        import OpenEXR
    except ImportError as e:  # pragma: no cover - dependency of hpskit
        raise MissingFileError(
            "Reading BEDLAM depth EXR files needs the OpenEXR package: pip install OpenEXR."
        ) from e
    return OpenEXR


def read_exr_channel(path: Path, dataset: str = "BEDLAM", channel: str = "Depth") -> np.ndarray:
    """Read one channel of a scanline EXR file as float32, shape (H, W).

    Args:
        path: The ``.exr`` file.
        dataset: Dataset name for messages.
        channel: Channel name (BEDLAM: ``"Depth"``, Unreal units = cm).

    Returns:
        The channel, shape (H, W) of the data window, float32.

    Raises:
        MissingFileError: If the file is missing.
        CorruptFileError: If it is not a readable EXR or lacks the channel.
    """
    require_file(dataset, "depth EXR", path)
    OpenEXR = _openexr()
    try:
        with OpenEXR.File(str(path)) as f:
            chans = f.channels()
            if channel not in chans:
                raise CorruptFileError(
                    f"{dataset}: EXR '{path}' has no channel {channel!r}; it has {sorted(chans)}."
                )
            return np.asarray(chans[channel].pixels, dtype=np.float32)
    except CorruptFileError:
        raise
    except Exception as e:  # OpenEXR raises plain RuntimeError/OSError subclasses on bad files
        raise CorruptFileError(f"{dataset}: cannot read EXR '{path}' ({type(e).__name__}: {e}).") from e


def write_exr_channel(path: Path, data: np.ndarray, channel: str = "Depth") -> None:
    """Write a single-channel FLOAT32, ZIP-compressed scanline EXR (BEDLAM's depth layout).

    Args:
        path: Output ``.exr`` file.
        data: The channel, shape (H, W).
        channel: Channel name.
    """
    OpenEXR = _openexr()
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    arr = np.ascontiguousarray(data, dtype=np.float32)
    with OpenEXR.File(header, {channel: arr}) as f:
        f.write(str(path))
