"""Restricted unpickling of plain numerical data: the one loader for every pickle hpskit reads.

Body-model files (SMPL ``.pkl``, ``smplx2smpl.pkl``, object members of npz archives) and dataset files
(3DPW's Python 2 sequence pickles, EMDB's pickles) arrive as pickles, and ``pickle.load`` on a downloaded
file can run arbitrary code. :func:`restricted_pickle_load` admits only the classes plain numerical data
needs (numpy arrays, dtypes and scalars, scipy.sparse matrices, the builtin containers) and refuses every
other global by name; strings are decoded as latin1, as Python 2 pickles need.
"""

from __future__ import annotations

import codecs
import collections
import copyreg
import os
import pickle
import struct
from typing import IO, Any

import numpy as np

from .errors import CorruptFileError

__all__ = ["restricted_pickle_load"]

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
        if module in ("numpy.core.numeric", "numpy._core.numeric") and name == "_frombuffer":
            return _numpy_core().numeric._frombuffer
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if module == "numpy.dtypes" and name.endswith("DType") and hasattr(np.dtypes, name):
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
            "or dataset file, convert its values to numpy arrays first."
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
            KeyError, UnicodeDecodeError, struct.error) as e:
        raise CorruptFileError(
            f"Cannot read '{src}' as a pickle ({type(e).__name__}: {e}). The file may be truncated or not a "
            "pickle; download it again."
        ) from e
