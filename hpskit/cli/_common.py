"""Helpers shared by the subcommands: errors, devices, model loading, image reading."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hpskit.core import ConfigError, CorruptFileError, HPSKitError, MissingFileError

logger = logging.getLogger("hpskit.cli")


class CLIError(HPSKitError):
    """A command-line usage problem found after argument parsing (printed without a traceback)."""


def add_weights_argument(parser: argparse.ArgumentParser, body_model: bool = True,
                         default: str | None = None) -> None:
    """``--weights``: a built-in weight name, a ``save_pretrained`` folder or a Hub id (required unless a
    ``default`` is given)."""
    from hpskit.models import list_pretrained

    builtin = ", ".join(list_pretrained())
    parser.add_argument("--weights", required=default is None, default=default, metavar="NAME_OR_DIR",
                        help=f"built-in weights ({builtin}), a folder written by save_pretrained / `hpskit "
                             "convert`, or a Hub id 'org/name'"
                             + (f" (default: {default})" if default else ""))
    if not body_model:
        return
    parser.add_argument("--body-model", default=None, metavar="auto|standin|none|PATH",
                        help="override the weights' body model: 'auto' (your SMPL-X file if configured, else "
                             "the stand-in body), 'standin', 'none', or an SMPL-X .npz / folder")


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", metavar="auto|cpu|cuda|cuda:N",
                        help="where the network runs (default: cuda if available, else cpu)")


def resolve_device(name: str):
    """``"auto"`` → cuda if available else cpu; ``"cuda"``/``"cuda:N"`` must exist; returns a torch.device."""
    import torch

    name = str(name).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise CLIError(f"--device: unknown device {name!r} ({exc}); use auto, cpu, cuda or cuda:N.") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise CLIError(f"--device {name}: CUDA is not available here (torch {torch.__version__}, "
                           f"CUDA build {torch.version.cuda or 'none'}); use --device cpu.")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise CLIError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) are visible.")
    elif device.type not in ("cpu", "mps"):
        raise CLIError(f"--device: {name!r} is not supported; use auto, cpu, cuda or cuda:N.")
    return device


def load_model(weights: str, body_model: str | None, device):
    """``DPoSE.from_pretrained`` with errors that name ``--weights``."""
    from hpskit.models import DPoSE

    overrides = {} if body_model is None else {"body_model": body_model}
    try:
        return DPoSE.from_pretrained(weights, map_location=device, **overrides)
    except MissingFileError as exc:
        raise MissingFileError(f"--weights {weights}: {exc}") from exc
    except ConfigError as exc:
        raise ConfigError(f"--weights {weights}: {exc}") from exc


def check_files_exist(paths: list[Path], what: str) -> None:
    """Raise one MissingFileError listing every path in ``paths`` that is not a file."""
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        folder = len(missing) == 1 and Path(missing[0]).is_dir()
        raise MissingFileError(f"{what} not found: {', '.join(missing)}"
                               + (" (it is a folder)" if folder else ""))


def probe_image(path: Path) -> tuple[int, int, str]:
    """Open an image's header only: ``(width, height, Pillow mode)``; refuses what :func:`read_rgb` would.

    Raises:
        CorruptFileError: If it is not an image, or its mode cannot become RGB (see :func:`image_to_rgb8`).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.mode not in _MODES:
                raise CorruptFileError(f"{path}: images of Pillow mode {im.mode!r} are not supported; "
                                       "convert it to 8-bit RGB (PNG or JPEG).")
            return im.width, im.height, im.mode
    except UnidentifiedImageError:
        raise CorruptFileError(f"{path} is not an image PIL can read (PNG, JPEG, BMP, TIFF, WebP ...).") \
            from None
    except OSError as exc:
        raise CorruptFileError(f"cannot read the image {path}: {exc}") from exc


_ALPHA = ("RGBA", "RGBa", "LA", "La", "PA")
_HIGH = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
_MODES = ("1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", *_ALPHA, *_HIGH)


def image_to_rgb8(im, path):
    """A Pillow image → (H, W, 3) uint8 RGB, scaling high-bit-depth data instead of clipping it.

    * 16-bit (``I;16*``) and 32-bit integer (``I``) images with values in [0, 65535] are divided by 257
      (65535 → 255); an ``I`` image with negative values or values above 65535 is refused.
    * Float (``F``) images must hold values in [0, 1] (multiplied by 255); anything else (HDR, NaN) is
      refused: tone-map it to 8 bits first.
    * An alpha channel is dropped (logged): transparent pixels keep the colour stored under them.
    * Every other mode goes through Pillow's ``convert("RGB")``.

    Raises:
        CorruptFileError: For the refused cases, naming the file and the value range found.
    """
    import numpy as np

    mode = im.mode
    if mode in _HIGH:
        arr = np.asarray(im)
        if mode == "F":
            lo, hi = (float(np.nanmin(arr)), float(np.nanmax(arr))) if arr.size else (0.0, 0.0)
            finite = bool(np.isfinite(arr).all())
            if not finite or lo < 0 or hi > 1:
                raise CorruptFileError(f"{path}: a float image (mode F) with values in [{lo:g}, {hi:g}]"
                                       f"{'' if finite else ' and NaN/inf'}; hpskit reads float images in "
                                       "[0, 1] only. Tone-map it to 8-bit RGB first.")
            gray = arr.astype(np.float64) * 255.0
            what = "float [0, 1]"
        else:
            lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
            if lo < 0 or hi > 65535:
                raise CorruptFileError(f"{path}: a 32-bit integer image with values in [{lo}, {hi}]; hpskit "
                                       "reads 8- and 16-bit images. Convert it to 8-bit RGB first.")
            gray = arr.astype(np.float64) / 257.0
            what = "16-bit [0, 65535]"
        logger.info("%s: %s grayscale image scaled to 8 bits (mean %.1f of 255)", path, what, gray.mean())
        gray = np.clip(np.round(gray), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode in _ALPHA or (mode == "P" and "transparency" in im.info):
        logger.warning("%s: the alpha channel is dropped; transparent pixels keep the colour stored under "
                       "them", path)
    return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def read_rgb(path: Path):
    """An image file → (H, W, 3) uint8 RGB numpy array (EXIF orientation applied; see :func:`image_to_rgb8`
    for 16-bit, float and alpha images)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            return image_to_rgb8(im, path)
    except UnidentifiedImageError:
        raise CorruptFileError(f"{path} is not an image PIL can read (PNG, JPEG, BMP, TIFF, WebP ...).") \
            from None
    except OSError as exc:
        raise CorruptFileError(f"cannot read the image {path}: {exc}") from exc


def write_png(path: Path, rgb) -> None:
    """(H, W, 3) or (H, W) uint8 numpy array → PNG, written atomically."""
    from PIL import Image

    from hpskit.core import atomic_write

    image = Image.fromarray(rgb)
    atomic_write(path, lambda fh: image.save(fh, format="PNG"))
