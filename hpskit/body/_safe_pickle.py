"""Header-only npz inspection for body-model files, whose object members are read with the restricted
unpickler of :mod:`hpskit.core.pickles` (re-exported here as :func:`restricted_pickle_load`).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..core import CorruptFileError
from ..core.pickles import restricted_pickle_load

__all__ = ["restricted_pickle_load", "npz_member_shapes", "read_npz_member"]  # the first lives in core

def _open_npz(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise CorruptFileError(
            f"'{path}' is not a readable npz (zip) archive ({type(e).__name__}: {e}). The download is "
            "probably truncated or the file is not an npz; download it again."
        ) from e


def _read_header(fp: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fp)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(fp)
    return np.lib.format._read_array_header(fp, version)  # (3, 0): no public reader


def npz_member_shapes(path: str | os.PathLike) -> dict[str, tuple[int, ...]]:
    """Shapes of every array in an npz archive, read from the npy headers only (no bulk data).

    Object members (pickled, e.g. a scipy.sparse regressor or a dict) are unpickled with
    :func:`restricted_pickle_load`, which also screens them before anyone loads the file with
    ``allow_pickle=True``; their shape is the object's ``.shape`` (``()`` for a dict).

    Args:
        path: The ``.npz`` file.

    Returns:
        Mapping from member name (without ``.npy``) to shape.

    Raises:
        CorruptFileError: If the archive or a member header is unreadable, or a member is unsafe.
    """
    path = Path(path)
    out: dict[str, tuple[int, ...]] = {}
    with _open_npz(path) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            key = info.filename[: -len(".npy")]
            try:
                with zf.open(info) as fp:
                    shape, _, dtype = _read_header(fp)
                    if dtype.hasobject:
                        obj = restricted_pickle_load(fp, f"{path}:{key}")
                        if isinstance(obj, np.ndarray) and obj.dtype.hasobject and obj.shape == ():
                            obj = obj.item()
                        shape = tuple(getattr(obj, "shape", ()))
            except CorruptFileError:
                raise
            except (zipfile.BadZipFile, ValueError, EOFError, OSError) as e:
                raise CorruptFileError(
                    f"'{path}': member '{key}' is unreadable ({type(e).__name__}: {e}). The file is probably "
                    "truncated or damaged; download it again."
                ) from e
            out[key] = tuple(int(s) for s in shape)
    return out


def read_npz_member(path: str | os.PathLike, key: str) -> Any:
    """Read one member of an npz archive; object members go through :func:`restricted_pickle_load`.

    Args:
        path: The ``.npz`` file.
        key: Member name without ``.npy``.

    Returns:
        The array (or, for a pickled 0-d object member, the object it holds, e.g. a scipy.sparse matrix).

    Raises:
        CorruptFileError: If the member is unreadable or unsafe.
    """
    path = Path(path)
    with _open_npz(path) as zf:
        try:
            with zf.open(f"{key}.npy") as fp:
                _, _, dtype = _read_header(fp)
                if dtype.hasobject:
                    obj = restricted_pickle_load(fp, f"{path}:{key}")
                    if isinstance(obj, np.ndarray) and obj.dtype.hasobject and obj.shape == ():
                        obj = obj.item()
                    return obj
            with zf.open(f"{key}.npy") as fp:
                return np.lib.format.read_array(fp, allow_pickle=False)
        except CorruptFileError:
            raise
        except (zipfile.BadZipFile, ValueError, EOFError, OSError, KeyError) as e:
            raise CorruptFileError(
                f"'{path}': member '{key}' is unreadable ({type(e).__name__}: {e}). The file is probably "
                "truncated or damaged; download it again."
            ) from e
