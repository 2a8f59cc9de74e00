"""Restricted unpickling and header-only npz inspection for body-model files.

Body-model files arrive as pickles (SMPL ``.pkl``, ``smplx2smpl.pkl``) or as npz archives whose object
members are pickles too. ``pickle.load`` on a downloaded file can run arbitrary code, so hpskit reads
them with an unpickler that only admits the classes plain numerical data needs: numpy arrays, dtypes
and scalars, and scipy.sparse matrices. Anything else is refused with a message that names it.
"""

from __future__ import annotations

import codecs
import collections
import copyreg
import os
import pickle
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..core import CorruptFileError

__all__ = ["restricted_pickle_load", "npz_member_shapes", "read_npz_member"]

_CLEAN_CH = (
    "It holds chumpy objects (the official SMPL pickles do). Convert it once with smplx's "
    "tools/clean_ch.py (https://github.com/vchoutas/smplx/tree/main/tools), which rewrites every chumpy "
    "value as a numpy array, and point hpskit at the cleaned file."
)

# Plain value types (no callables that touch the system): bytes() appears in protocol-2 pickles.
_BUILTINS = {t.__name__: t for t in (object, bytes, bytearray, set, frozenset, complex, slice)}
_SPARSE_NAMES = {"csc_matrix", "csr_matrix", "coo_matrix", "csc_array", "csr_array", "coo_array"}


def _numpy_core():
    return getattr(np, "_core", None) or np.core


class _DataOnlyUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy / scipy.sparse data and refuses every other global."""

    def __init__(self, file: IO[bytes], source: str):
        super().__init__(file, encoding="latin1")
        self._source = source

    def find_class(self, module: str, name: str) -> Any:  # noqa: D102 - pickle API
        if module.startswith("chumpy"):
            raise CorruptFileError(f"Cannot load '{self._source}': {_CLEAN_CH}")
        numpy_mods = ("numpy.core.multiarray", "numpy._core.multiarray")
        if module in numpy_mods and name in ("_reconstruct", "scalar"):
            return getattr(_numpy_core().multiarray, name)
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if module == "numpy.dtypes" and name.endswith("DType"):
            return getattr(np.dtypes, name)
        if module.startswith("scipy.sparse") and name in _SPARSE_NAMES:
            import scipy.sparse

            return getattr(scipy.sparse, name)
        if (module, name) in {("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor")}:
            return copyreg._reconstructor  # builds an *allowed* class: cls comes through find_class too
        if (module, name) in {("_codecs", "encode"), ("codecs", "encode")}:
            return codecs.encode  # protocol-2 pickles from Python 3 spell bytes as encode(str, "latin1")
        if module in ("builtins", "__builtin__") and name in _BUILTINS:
            return _BUILTINS[name]
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        raise CorruptFileError(
            f"Refusing to unpickle '{module}.{name}' from '{self._source}': hpskit only loads plain numpy / "
            "scipy.sparse data from pickles (arbitrary classes could run code). If this is a genuine model "
            "file, convert its values to numpy arrays first."
        )


def restricted_pickle_load(file: str | os.PathLike | IO[bytes], source: str | None = None) -> Any:
    """Unpickle plain numerical data (Python 2 pickles included) without running arbitrary code.

    Only numpy arrays, dtypes and scalars, scipy.sparse matrices and the builtin containers are
    admitted; strings are decoded as latin1, as smplx does for the SMPL pickles.

    Args:
        file: A path or an open binary file.
        source: Name used in error messages (defaults to the path).

    Returns:
        The unpickled object.

    Raises:
        CorruptFileError: If the pickle needs any other class (chumpy gets a hint to run
            ``clean_ch.py``) or cannot be read (truncated, not a pickle).

    Example:
        >>> import io, pickle, numpy as np
        >>> buf = io.BytesIO(pickle.dumps({"a": np.arange(3)}, protocol=2))
        >>> restricted_pickle_load(buf, "demo")["a"].tolist()
        [0, 1, 2]
    """
    if isinstance(file, (str, os.PathLike)):
        src = source or str(file)
        try:
            with open(file, "rb") as fh:
                return restricted_pickle_load(fh, src)
        except IsADirectoryError as e:
            raise CorruptFileError(f"'{src}' is a directory, not a pickle file.") from e
    src = source or getattr(file, "name", "<pickle>")
    try:
        return _DataOnlyUnpickler(file, src).load()
    except CorruptFileError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, UnicodeDecodeError) as e:
        raise CorruptFileError(
            f"Cannot read '{src}' as a pickle ({type(e).__name__}: {e}). The file may be truncated or not a "
            "pickle; download it again."
        ) from e


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
