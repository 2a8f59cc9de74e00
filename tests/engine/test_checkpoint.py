"""hpskit.engine.checkpoint: atomic writes, keep-last-N, RNG capture/restore."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from hpskit.core import CorruptFileError, MissingFileError
from hpskit.engine import CheckpointManager, atomic_torch_save, capture_rng_state, restore_rng_state
from hpskit.engine import checkpoint as ck


def test_keep_last_and_latest(tmp_path):
    mgr = CheckpointManager(tmp_path / "ckpt", keep_last=2)
    assert mgr.latest() is None and mgr.list() == []
    for step in (5, 10, 15):
        mgr.save({"step": step}, step)
    assert [s for s, _ in mgr.list()] == [10, 15]
    assert mgr.latest().name == "step_00000015.pt"
    (tmp_path / "ckpt" / ".step_00000020.pt.abc.tmp").write_bytes(b"half")  # a write that never finished
    assert mgr.latest().name == "step_00000015.pt"
    assert CheckpointManager.load(mgr.latest())["step"] == 15


def test_interrupted_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    atomic_torch_save({"v": 1}, path)

    def boom(obj, fh):
        fh.write(b"partial bytes")
        raise KeyboardInterrupt  # a kill in the middle of torch.save

    monkeypatch.setattr(ck.torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_torch_save({"v": 2}, path)
    monkeypatch.undo()
    assert torch.load(path)["v"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]


def test_load_errors(tmp_path):
    with pytest.raises(MissingFileError, match="not found"):
        CheckpointManager.load(tmp_path / "none.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CorruptFileError, match="could not be read"):
        CheckpointManager.load(bad)
    with pytest.raises(ValueError, match="keep_last"):
        CheckpointManager(tmp_path, keep_last=0)


def test_rng_round_trip(tmp_path):
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    state = capture_rng_state()
    atomic_torch_save(state, tmp_path / "rng.pt")
    first = (torch.rand(3), np.random.rand(3), random.random())
    restore_rng_state(torch.load(tmp_path / "rng.pt", weights_only=False))
    second = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(first[0], second[0]) and np.array_equal(first[1], second[1]) and first[2] == second[2]
