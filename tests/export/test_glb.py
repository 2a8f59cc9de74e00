"""hpskit.export.glb: packing, reading back, and errors."""

import numpy as np
import pytest

from hpskit.core import CorruptFileError, ShapeError
from hpskit.export import GLBBuilder, accessor_array, read_glb


def test_round_trip_of_every_accessor_kind(tmp_path):
    rng = np.random.default_rng(0)
    b = GLBBuilder()
    arrays = {"VEC3": rng.normal(size=(5, 3)).astype(np.float32),
              "SCALAR": np.arange(7, dtype=np.uint32),
              "VEC4": rng.integers(0, 255, (3, 4)).astype(np.uint8),  # 12 bytes: padding follows
              "MAT4": rng.normal(size=(2, 4, 4)).astype(np.float32)}
    idx = {k: b.add_accessor(v, k) for k, v in arrays.items()}
    path = b.write(tmp_path / "x.glb")
    gltf, binary = read_glb(path)
    for k, v in arrays.items():
        np.testing.assert_array_equal(accessor_array(gltf, binary, idx[k]), v)
    for view in gltf["bufferViews"]:
        assert view["byteOffset"] % 4 == 0
    assert gltf["accessors"][idx["VEC3"]]["min"] == pytest.approx(arrays["VEC3"].min(0).tolist())
    assert path.stat().st_size % 4 == 0
    assert not list(tmp_path.glob(".*tmp"))  # the temporary file was renamed


def test_mat4_is_stored_column_major():
    b = GLBBuilder()
    M = np.eye(4, dtype=np.float32)
    M[:3, 3] = [1, 2, 3]  # a translation sits at elements 12..14 of glTF's column-major array
    b.add_accessor(M[None], "MAT4", bounds=False)
    gltf, binary = read_glb(b.to_bytes())
    raw = np.frombuffer(binary, np.float32)
    assert raw[12:15].tolist() == [1, 2, 3]


def test_errors(tmp_path):
    b = GLBBuilder()
    with pytest.raises(ShapeError, match="float32"):
        b.add_accessor(np.zeros((2, 3)), "VEC3")  # float64
    with pytest.raises(ShapeError, match="VEC4 accessor needs 4"):
        b.add_accessor(np.zeros((2, 3), np.float32), "VEC4")
    bad = tmp_path / "bad.glb"
    bad.write_bytes(b"not a glb file at all")
    with pytest.raises(CorruptFileError, match="not a binary glTF 2.0"):
        read_glb(bad)
