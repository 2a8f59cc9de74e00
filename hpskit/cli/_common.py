"""Helpers shared by the subcommands: errors, devices, model loading, image reading."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hpskit.core import ConfigError, CorruptFileError, HPSKitError, MissingFileError

logger = logging.getLogger("hpskit.cli")


class CLIError(HPSKitError):
    """A command-line usage problem found after argument parsing (printed without a traceback)."""


def add_weights_argument(parser: argparse.ArgumentParser, body_model: bool = True) -> None:
    parser.add_argument("--weights", required=True, metavar="DIR_OR_HUB_ID",
                        help="a folder written by save_pretrained / `hpskit convert`, or a Hub id 'org/name'")
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


def read_rgb(path: Path):
    """An image file → (H, W, 3) uint8 RGB numpy array (EXIF orientation applied)."""
    import numpy as np
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except UnidentifiedImageError:
        raise CorruptFileError(f"{path} is not an image PIL can read (PNG, JPEG, BMP, TIFF, WebP ...).") \
            from None
    except OSError as exc:
        raise CorruptFileError(f"cannot read the image {path}: {exc}") from exc


def write_png(path: Path, rgb) -> None:
    """(H, W, 3) or (H, W) uint8 numpy array → PNG."""
    from PIL import Image

    Image.fromarray(rgb).save(path)
