"""A small binary glTF 2.0 (``.glb``) builder and reader.

Why our own: trimesh writes static meshes to ``.glb`` but neither skins, animations nor a camera with a
given field of view and aspect ratio, which hpskit's scene and animation exports need; pygltflib is only a
typed mirror of the JSON and leaves buffer packing, alignment and accessor bounds to the caller, which is
all this module does. The layout follows the glTF 2.0 specification: a 12-byte header, a JSON chunk padded
with spaces and a BIN chunk padded with zeros, every buffer view 4-byte aligned (the validator checks that
accessor offsets are multiples of the component size).

Example:
    >>> b = GLBBuilder()
    >>> acc = b.add_accessor(np.zeros((3, 3), np.float32), "VEC3", target="ARRAY_BUFFER")
    >>> gltf, binary = read_glb(b.to_bytes())
    >>> accessors = gltf["accessors"]
    >>> accessors[acc].get("count"), len(binary)
    (3, 36)
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np

from hpskit.core import CorruptFileError, ShapeError
from hpskit.core.files import atomic_write_bytes  # re-exported: hpskit.export's public name (fsynced)

__all__ = ["GLBBuilder", "read_glb", "accessor_array", "atomic_write_bytes"]

_MAGIC, _JSON, _BIN = 0x46546C67, 0x4E4F534A, 0x004E4942
_COMPONENT = {np.dtype(np.float32): 5126, np.dtype(np.uint32): 5125, np.dtype(np.uint16): 5123,
              np.dtype(np.uint8): 5121}
_DTYPE = {v: k for k, v in _COMPONENT.items()}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}
_TARGET = {"ARRAY_BUFFER": 34962, "ELEMENT_ARRAY_BUFFER": 34963}


class GLBBuilder:
    """Collect glTF JSON objects and binary data; :meth:`to_bytes` packs one ``.glb``.

    The JSON is a plain dict (``self.gltf``): append nodes, meshes, materials, cameras, skins and
    animations to its lists directly; binary arrays go through :meth:`add_accessor`, which writes the
    buffer view and the accessor (with ``min``/``max`` where the specification asks for them).
    """

    def __init__(self, generator: str = "hpskit") -> None:
        self.gltf: dict = {"asset": {"version": "2.0", "generator": generator}, "scenes": [{"nodes": []}],
                           "scene": 0, "nodes": [], "buffers": [], "bufferViews": [], "accessors": []}
        self._chunks: list[bytes] = []
        self._size = 0

    def add_node(self, node: dict, root: bool = False) -> int:
        """Append a node (a glTF node dict); ``root=True`` also lists it in the scene. Returns its index."""
        self.gltf["nodes"].append(node)
        index = len(self.gltf["nodes"]) - 1
        if root:
            self.gltf["scenes"][0]["nodes"].append(index)
        return index

    def add(self, kind: str, obj: dict) -> int:
        """Append ``obj`` to the top-level list ``kind`` (``"meshes"``, ``"materials"``, …); its index."""
        self.gltf.setdefault(kind, []).append(obj)
        return len(self.gltf[kind]) - 1

    def add_accessor(self, array: np.ndarray, type_: str, target: str | None = None,
                     bounds: bool = True, normalized: bool = False) -> int:
        """Store ``array`` and add an accessor over it.

        Args:
            array: (count, width) or (count,) array of float32, uint32, uint16 or uint8; for MAT4,
                (count, 4, 4) matrices (written column-major, as glTF stores them).
            type_: ``"SCALAR"``, ``"VEC2"``, ``"VEC3"``, ``"VEC4"`` or ``"MAT4"``.
            target: ``"ARRAY_BUFFER"`` (vertex attributes) or ``"ELEMENT_ARRAY_BUFFER"`` (indices), else
                none (animation and skin data).
            bounds: Write ``min``/``max`` (required for POSITION and animation inputs).
            normalized: The glTF ``normalized`` flag (integer colours or weights).

        Returns:
            The accessor index.

        Raises:
            ShapeError: For an unsupported dtype or a width that does not fit ``type_``.
        """
        array = np.asarray(array)
        if array.dtype not in _COMPONENT:
            raise ShapeError(f"GLBBuilder.add_accessor: dtype {array.dtype} is not a glTF component type "
                             "(use float32, uint32, uint16 or uint8).")
        width = _WIDTH[type_]
        if type_ == "MAT4":
            array = np.ascontiguousarray(np.swapaxes(array.reshape(-1, 4, 4), 1, 2)).reshape(-1, 16)
        flat = array.reshape(len(array), -1) if array.ndim > 1 else array.reshape(-1, 1)
        if flat.shape[1] != width:
            raise ShapeError(f"GLBBuilder.add_accessor: a {type_} accessor needs {width} values per element; "
                             f"got array shape {tuple(array.shape)}.")
        data = np.ascontiguousarray(flat).tobytes()
        view: dict = {"buffer": 0, "byteOffset": self._size, "byteLength": len(data)}
        if target is not None:
            view["target"] = _TARGET[target]
        self._chunks.append(data + b"\0" * (-len(data) % 4))
        self._size += len(data) + (-len(data) % 4)
        self.gltf["bufferViews"].append(view)
        acc: dict = {"bufferView": len(self.gltf["bufferViews"]) - 1,
                     "componentType": _COMPONENT[array.dtype], "count": int(len(flat)), "type": type_}
        if normalized:
            acc["normalized"] = True
        if bounds and len(flat):
            cast = float if array.dtype.kind == "f" else int
            acc["min"] = [cast(v) for v in flat.min(0)]
            acc["max"] = [cast(v) for v in flat.max(0)]
        self.gltf["accessors"].append(acc)
        return len(self.gltf["accessors"]) - 1

    def to_bytes(self) -> bytes:
        """The packed ``.glb`` file."""
        binary = b"".join(self._chunks)
        gltf = dict(self.gltf)
        gltf["buffers"] = [{"byteLength": len(binary)}] if binary else []
        gltf = {k: v for k, v in gltf.items() if not (isinstance(v, list) and not v)}  # no empty arrays
        text = json.dumps(gltf, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 4)
        total = 12 + 8 + len(text) + (8 + len(binary) if binary else 0)
        out = [struct.pack("<III", _MAGIC, 2, total), struct.pack("<II", len(text), _JSON), text]
        if binary:
            out += [struct.pack("<II", len(binary), _BIN), binary]
        return b"".join(out)

    def write(self, path: str | os.PathLike) -> Path:
        """Write the ``.glb`` atomically (temporary file, then rename)."""
        return atomic_write_bytes(self.to_bytes(), path)


def read_glb(source: str | os.PathLike | bytes) -> tuple[dict, bytes]:
    """Split a ``.glb`` (a path or its bytes) into its JSON (a dict) and its BIN chunk.

    Raises:
        CorruptFileError: If the header, version or chunk layout is not that of a binary glTF 2.0 file.
    """
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    name = "<bytes>" if isinstance(source, bytes) else str(source)
    if len(data) < 20:
        raise CorruptFileError(f"{name}: {len(data)} bytes is too short for a .glb file.")
    magic, version, total = struct.unpack_from("<III", data, 0)
    if magic != _MAGIC or version != 2 or total != len(data):
        raise CorruptFileError(f"{name}: not a binary glTF 2.0 file (magic {magic:#x}, version {version}, "
                               f"length {total} vs {len(data)} bytes).")
    length, kind = struct.unpack_from("<II", data, 12)
    if kind != _JSON:
        raise CorruptFileError(f"{name}: the first chunk must be JSON.")
    gltf = json.loads(data[20:20 + length])
    binary = b""
    offset = 20 + length
    if offset + 8 <= len(data):
        blen, kind = struct.unpack_from("<II", data, offset)
        if kind != _BIN:
            raise CorruptFileError(f"{name}: the second chunk must be BIN.")
        binary = data[offset + 8:offset + 8 + blen]
    return gltf, binary


def accessor_array(gltf: dict, binary: bytes, index: int) -> np.ndarray:
    """The data of accessor ``index`` as an array: (count,) for SCALAR, (count, n) for VECn, (count, 4, 4)
    matrices for MAT4 (column-major storage undone). Tightly packed views only (what :class:`GLBBuilder`
    writes)."""
    acc = gltf["accessors"][index]
    view = gltf["bufferViews"][acc["bufferView"]]
    dtype = _DTYPE[acc["componentType"]]
    width = _WIDTH[acc["type"]]
    start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    arr = np.frombuffer(binary, dtype=dtype, count=acc["count"] * width, offset=start)
    if acc["type"] == "SCALAR":
        return arr.copy()
    arr = arr.reshape(acc["count"], width)
    if acc["type"] == "MAT4":
        return np.swapaxes(arr.reshape(-1, 4, 4), 1, 2).copy()
    return arr.copy()
