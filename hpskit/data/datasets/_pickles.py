"""Safe reading of the datasets' pickles (3DPW, EMDB), and a Python-2-style pickle writer for fixtures.

3DPW's sequence files are Python 2 pickles: their byte strings must be decoded as latin1, and
``pickle.load`` on a downloaded file could run arbitrary code. :func:`load_data_pickle` therefore reads them
with :func:`hpskit.core.pickles.restricted_pickle_load`, which admits only plain numerical data and refuses
every other global by name.

:func:`dump_py2_pickle` writes the byte stream a Python 2 ``cPickle.dump(obj, f, 2)`` writes for dicts,
lists, strings, numbers and numpy arrays (array data as a Python 2 ``str``, numpy globals under
``numpy.core.multiarray``), so the fixtures exercise the real latin1 path. The standard library cannot
produce that stream: Python 3 pickles ``bytes`` as ``_codecs.encode`` calls or ``BINBYTES``.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from hpskit.core.pickles import restricted_pickle_load

__all__ = ["load_data_pickle", "dump_py2_pickle"]


def load_data_pickle(path: str | os.PathLike) -> Any:
    """Load a dataset pickle (Python 2 or 3) holding only builtins and numpy data.

    Uses :func:`hpskit.core.pickles.restricted_pickle_load`, the one restricted unpickler of hpskit.

    Args:
        path: The ``.pkl`` file.

    Returns:
        The unpickled object (Python 2 byte strings arrive as latin1-decoded ``str``).

    Raises:
        CorruptFileError: If the file needs another class, or is truncated / not a pickle.

    Examples:
        >>> import io, tempfile, numpy as np
        >>> p = Path(tempfile.mkdtemp()) / "seq.pkl"
        >>> dump_py2_pickle({"genders": ["m"], "trans": [np.zeros((2, 3))]}, p)
        >>> d = load_data_pickle(p)
        >>> d["genders"], d["trans"][0].shape
        (['m'], (2, 3))
    """
    return restricted_pickle_load(Path(path))


# --------------------------------------------------------------------------- Python 2 pickle writer
def _py2_str(data: bytes, out: bytearray) -> None:
    if len(data) < 256:
        out += b"U" + bytes([len(data)]) + data  # SHORT_BINSTRING
    else:
        out += b"T" + struct.pack("<i", len(data)) + data  # BINSTRING


def _py2_int(x: int, out: bytearray) -> None:
    if 0 <= x < 256:
        out += b"K" + bytes([x])  # BININT1
    elif -(2**31) <= x < 2**31:
        out += b"J" + struct.pack("<i", x)  # BININT
    else:
        n = (x.bit_length() + 8) // 8
        out += b"\x8a" + bytes([n]) + x.to_bytes(n, "little", signed=True)  # LONG1


def _py2_dtype(dt: np.dtype, out: bytearray) -> None:
    out += b"cnumpy\ndtype\n("
    _py2_str(dt.str[1:].encode(), out)  # e.g. 'f8'
    out += b"K\x00K\x01tR("  # dtype('f8', 0, 1) then BUILD state
    _py2_int(3, out)
    _py2_str(b"|" if dt.itemsize == 1 else b"<", out)
    out += b"NNN"
    _py2_int(-1, out)
    _py2_int(-1, out)
    _py2_int(0, out)
    out += b"tb"


def _emit(obj: Any, out: bytearray) -> None:
    if obj is None:
        out += b"N"
    elif isinstance(obj, (bool, np.bool_)):
        out += b"\x88" if obj else b"\x89"
    elif isinstance(obj, (int, np.integer)):
        _py2_int(int(obj), out)
    elif isinstance(obj, (float, np.floating)):
        out += b"G" + struct.pack(">d", float(obj))
    elif isinstance(obj, str):
        _py2_str(obj.encode("latin1"), out)
    elif isinstance(obj, bytes):
        _py2_str(obj, out)
    elif isinstance(obj, list):
        out += b"]"
        if obj:
            out += b"("
            for v in obj:
                _emit(v, out)
            out += b"e"
    elif isinstance(obj, tuple):
        out += b"("
        for v in obj:
            _emit(v, out)
        out += b"t"
    elif isinstance(obj, dict):
        out += b"}"
        if obj:
            out += b"("
            for k, v in obj.items():
                _emit(k, out)
                _emit(v, out)
            out += b"u"
    elif isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biuf":
            raise TypeError(f"dump_py2_pickle: only numeric arrays are supported; got dtype {obj.dtype}.")
        a = np.ascontiguousarray(obj.astype(obj.dtype.newbyteorder("<")))
        out += b"cnumpy.core.multiarray\n_reconstruct\n(cnumpy\nndarray\n(K\x00tU\x01btR("
        _py2_int(1, out)
        out += b"("
        for s in a.shape:
            _py2_int(int(s), out)
        out += b"t"
        _py2_dtype(a.dtype, out)
        out += b"\x89"  # not Fortran-ordered
        _py2_str(a.tobytes(), out)
        out += b"tb"
    else:
        raise TypeError(f"dump_py2_pickle: cannot write a {type(obj).__name__}.")


def dump_py2_pickle(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` as a Python 2 protocol-2 pickle (what the 3DPW sequence files are).

    Args:
        obj: Nested dicts / lists / tuples of str, numbers, None and numeric numpy arrays.
        path: Output file.

    Raises:
        TypeError: For any other value type.
    """
    out = bytearray(b"\x80\x02")
    _emit(obj, out)
    out += b"."
    Path(path).write_bytes(bytes(out))
