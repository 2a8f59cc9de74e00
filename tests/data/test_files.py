"""File readers: depth EXR, Python 2 pickles, missing-file messages."""

from __future__ import annotations

import pickle
import pickletools

import numpy as np
import pytest

from hpskit.core import CorruptFileError, MissingFileError
from hpskit.data.datasets import (
    DATASET_URLS,
    dump_py2_pickle,
    load_data_pickle,
    read_exr_channel,
    write_exr_channel,
)


def test_exr_round_trip_is_a_real_zip_exr(tmp_path):
    import OpenEXR

    d = (np.random.default_rng(0).random((7, 11)) * 1000).astype(np.float32)
    p = tmp_path / "x_depth.exr"
    write_exr_channel(p, d, "Depth")
    assert p.read_bytes()[:4] == b"\x76\x2f\x31\x01"  # EXR magic number
    with OpenEXR.File(str(p)) as f:
        hdr = f.header()
        assert list(f.channels()) == ["Depth"]
        assert hdr["compression"] == OpenEXR.ZIP_COMPRESSION
        assert f.channels()["Depth"].pixels.dtype == np.float32
    np.testing.assert_array_equal(read_exr_channel(p), d)
    with pytest.raises(CorruptFileError, match="no channel 'R'"):
        read_exr_channel(p, channel="R")
    (tmp_path / "bad.exr").write_bytes(b"not an exr")
    with pytest.raises(CorruptFileError, match="cannot read EXR"):
        read_exr_channel(tmp_path / "bad.exr")
    with pytest.raises(MissingFileError, match=r"BEDLAM: depth EXR not found.*bedlam\.is\.tue\.mpg\.de"):
        read_exr_channel(tmp_path / "absent.exr")


def test_py2_pickle_bytes_and_round_trip(tmp_path):
    obj = {
        "sequence": "s",
        "genders": ["m", "f"],
        "poses": [np.arange(6.0).reshape(2, 3)],
        "campose_valid": [np.array([1, 0], np.uint8)],
        "n": 3,
        "K": np.eye(3, dtype=np.float32),
    }
    p = tmp_path / "seq.pkl"
    dump_py2_pickle(obj, p)
    raw = p.read_bytes()
    ops = {op.name for op, _, _ in pickletools.genops(raw)}
    assert "SHORT_BINSTRING" in ops or "BINSTRING" in ops  # Python 2 str, not bytes
    assert not ops & {"BINBYTES", "SHORT_BINBYTES", "BINUNICODE", "SHORT_BINUNICODE"}
    assert b"numpy.core.multiarray" in raw and b"_codecs" not in raw
    ref = pickle.loads(raw, encoding="latin1")  # what every 3DPW loader does
    ours = load_data_pickle(p)
    for d in (ref, ours):
        assert d["genders"] == ["m", "f"] and d["sequence"] == "s" and d["n"] == 3
        np.testing.assert_array_equal(d["poses"][0], obj["poses"][0])
        assert d["K"].dtype == np.float32 and d["campose_valid"][0].dtype == np.uint8


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_python3_pickles_load(tmp_path, protocol):
    p = tmp_path / "x.pkl"
    with open(p, "wb") as fh:
        pickle.dump(
            {"a": np.arange(4, dtype=np.float32), "b": np.float64(2.5), "c": b"raw"}, fh, protocol=protocol
        )
    d = load_data_pickle(p)
    assert d["a"].tolist() == [0, 1, 2, 3] and float(d["b"]) == 2.5


def test_unsafe_and_truncated_pickles(tmp_path):
    class Evil:
        def __reduce__(self):
            return (eval, ("1 + 1",))

    p = tmp_path / "evil.pkl"
    p.write_bytes(pickle.dumps([Evil()]))
    with pytest.raises(CorruptFileError, match="builtins.eval"):
        load_data_pickle(p)
    p.write_bytes(pickle.dumps({"a": np.zeros(100)})[:50])
    with pytest.raises(CorruptFileError, match="truncated"):
        load_data_pickle(p)


def test_every_dataset_has_its_url():
    assert set(DATASET_URLS) == {"BEDLAM", "AGORA", "3DPW", "EMDB"}
