"""safetensors I/O helpers: aliases, overlaps, strict checks."""

from __future__ import annotations

import pytest
import torch

from hpskit.core import CorruptFileError
from hpskit.hub import dedupe_state_dict, load_weights, save_weights, shared_tensor_aliases


def test_aliases_and_partial_overlap(tmp_path):
    base = torch.arange(12.0)
    sd = {"a": base.view(3, 4), "b": base.view(3, 4), "c": base[:4]}
    sd.update(e1=torch.zeros(0), e2=torch.zeros(0))
    assert shared_tensor_aliases(sd) == {"b": "a"}  # empty tensors never alias
    tensors, aliases = dedupe_state_dict(sd)
    assert aliases == {"b": "a"} and sorted(tensors) == ["a", "c", "e1", "e2"]
    assert tensors["c"].data_ptr() != tensors["a"].data_ptr()  # partial overlap saved as a copy
    save_weights(sd, tmp_path / "w.safetensors", metadata={"k": "v"})
    back = load_weights(tmp_path / "w.safetensors")
    assert torch.equal(back["a"], sd["a"]) and torch.equal(back["c"], sd["c"])


def test_corrupt_file(tmp_path):
    (tmp_path / "w.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(CorruptFileError):
        load_weights(tmp_path / "w.safetensors")
