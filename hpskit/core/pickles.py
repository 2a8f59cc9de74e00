"""Restricted unpickling of plain numerical data: the one loader for every pickle hpskit reads.

Body-model files (SMPL ``.pkl``, ``smplx2smpl.pkl``, object members of npz archives) and dataset files
(3DPW's Python 2 sequence pickles, EMDB's pickles) arrive as pickles, and ``pickle.load`` on a downloaded
file can run arbitrary code. :func:`restricted_pickle_load` admits only the classes plain numerical data
needs (numpy arrays, dtypes and scalars, scipy.sparse matrices, the builtin containers) and refuses every
other global by name; strings are decoded as latin1, as Python 2 pickles need.

:class:`RestrictedUnpickler` is the one unpickler class behind every pickle hpskit reads: its ``find_class``
resolves a global only through an allow-list function. :func:`restricted_pickle_load` uses it with
:func:`data_only_global` (the list above); the converter of the authors' Lightning checkpoint
(:mod:`hpskit.models.convert_dpose`) uses it with its own list (torch's tensor-rebuild functions and a
plain-dict stand-in for yacs ``CfgNode``) through :func:`restricted_pickle_module`, which wraps it as the
``pickle_module`` that ``torch.load`` takes.
"""

from __future__ import annotations

import codecs
import collections
import copyreg
import os
import pickle
import struct
import types
from collections.abc import Callable
from typing import IO, Any

import numpy as np

from .errors import CorruptFileError

__all__ = [
    "GlobalResolver",
    "RefusedGlobalError",
    "RestrictedUnpickler",
    "data_only_global",
    "restricted_pickle_load",
    "restricted_pickle_module",
]

#: ``(module, name) -> object``, or ``None`` to refuse the global.
GlobalResolver = Callable[[str, str], Any]

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


def data_only_global(module: str, name: str) -> Any:
    """Resolve the globals plain numerical data needs (numpy, scipy.sparse, builtin containers); else None.

    Example:
        >>> data_only_global("numpy", "ndarray") is np.ndarray, data_only_global("os", "system")
        (True, None)
    """
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
    return None


class RefusedGlobalError(pickle.UnpicklingError):
    """A pickle asked for a global its allow-list does not admit; nothing of it was called.

    Attributes:
        module: The global's module (e.g. ``"posix"``).
        name: The global's name (e.g. ``"system"``).
    """

    def __init__(self, module: str, name: str):
        super().__init__(f"{module}.{name}")
        self.module, self.name = module, name


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose ``find_class`` admits only what ``resolve`` returns; any other global raises
    :class:`RefusedGlobalError` before it is called.

    Args:
        file: An open binary file.
        resolve: The allow-list, ``(module, name) -> object or None`` (default :func:`data_only_global`).
        **kwargs: ``pickle.Unpickler`` options; ``encoding`` defaults to ``"latin1"`` (Python 2 pickles).
    """

    def __init__(self, file: IO[bytes], resolve: GlobalResolver = data_only_global, **kwargs: Any):
        kwargs.setdefault("encoding", "latin1")
        super().__init__(file, **kwargs)
        self._resolve = resolve

    def find_class(self, module: str, name: str) -> Any:  # noqa: D102 - pickle API
        obj = self._resolve(module, name)
        if obj is None:
            raise RefusedGlobalError(module, name)
        return obj


def restricted_pickle_module(resolve: GlobalResolver,
                             name: str = "hpskit_restricted_pickle") -> types.ModuleType:
    """A module with ``Unpickler`` and ``load`` bound to ``resolve``: the ``pickle_module`` of ``torch.load``.

    Args:
        resolve: The allow-list, ``(module, name) -> object or None``.
        name: The module's name (shown in tracebacks).

    Returns:
        A module object whose ``Unpickler(file, **kw)`` is a :class:`RestrictedUnpickler` over ``resolve``.
    """

    class _Unpickler(RestrictedUnpickler):
        def __init__(self, file: IO[bytes], **kwargs: Any):
            super().__init__(file, resolve, **kwargs)

    module = types.ModuleType(name)
    module.Unpickler = _Unpickler
    module.load = lambda file, **kwargs: _Unpickler(file, **kwargs).load()
    return module


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
        return RestrictedUnpickler(file, data_only_global).load()
    except RefusedGlobalError as e:
        if e.module.startswith("chumpy"):
            raise CorruptFileError(f"Cannot load '{src}': {_CLEAN_CH}") from None
        raise CorruptFileError(
            f"Refusing to unpickle '{e.module}.{e.name}' from '{src}': hpskit only loads plain numpy / "
            "scipy.sparse data from pickles (arbitrary classes could run code). If this is a genuine model "
            "or dataset file, convert its values to numpy arrays first."
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, UnicodeDecodeError, struct.error) as e:
        raise CorruptFileError(
            f"Cannot read '{src}' as a pickle ({type(e).__name__}: {e}). The file may be truncated or not a "
            "pickle; download it again."
        ) from e
