"""The one restricted unpickler (hpskit.core.pickles): numerical data in, code out."""

from __future__ import annotations

import io
import os
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import scipy.sparse

from hpskit.core import (
    CorruptFileError,
    RefusedGlobalError,
    RestrictedUnpickler,
    restricted_pickle_load,
    restricted_pickle_module,
)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_numerical_data_round_trips(protocol):
    obj = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "s": np.float64(2.5), "names": ["x", "y"],
           "sp": scipy.sparse.csc_matrix(np.eye(3)), "od": OrderedDict(k=(1, 2)), "b": b"\x00\xff"}
    out = restricted_pickle_load(io.BytesIO(pickle.dumps(obj, protocol=protocol)), "t")
    assert out["a"].dtype == np.float32 and np.array_equal(out["a"], obj["a"])
    assert out["s"] == 2.5 and out["names"] == ["x", "y"] and out["b"] == b"\x00\xff"
    assert (out["sp"] != obj["sp"]).nnz == 0 and out["od"] == obj["od"]


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_code_is_refused_by_name():
    with pytest.raises(CorruptFileError, match=r"Refusing to unpickle '(posix|nt)\.system'"):
        restricted_pickle_load(io.BytesIO(pickle.dumps(_Evil())), "evil")


def test_chumpy_gets_the_clean_ch_hint():
    blob = b"\x80\x02cchumpy.ch\nCh\nq\x00."
    with pytest.raises(CorruptFileError, match="clean_ch.py"):
        restricted_pickle_load(io.BytesIO(blob), "smpl.pkl")


def test_truncated_file_and_directory(tmp_path):
    p = tmp_path / "t.pkl"
    p.write_bytes(pickle.dumps({"a": np.zeros(100)}, protocol=2)[:40])
    with pytest.raises(CorruptFileError, match="truncated"):
        restricted_pickle_load(p)
    with pytest.raises(CorruptFileError, match="directory"):
        restricted_pickle_load(tmp_path)


def test_restricted_pickle_module_admits_only_its_list():
    """The torch.load(pickle_module=...) form: its own allow-list, nothing else, not even numpy."""
    import torch

    allowed = {("collections", "OrderedDict"): OrderedDict}
    module = restricted_pickle_module(lambda m, n: allowed.get((m, n)))
    buf = io.BytesIO()
    torch.save({"od": OrderedDict(a=1)}, buf)
    buf.seek(0)
    assert torch.load(buf, weights_only=False, pickle_module=module) == {"od": OrderedDict(a=1)}
    with pytest.raises(RefusedGlobalError) as info:
        module.load(io.BytesIO(pickle.dumps(_Evil())))
    assert info.value.name == "system"
    with pytest.raises(RefusedGlobalError, match="numpy"):
        RestrictedUnpickler(io.BytesIO(pickle.dumps(np.zeros(2))), lambda m, n: None).load()
