"""hpskit.engine.checkpoint: atomic writes, keep-last-N, RNG capture/restore."""

from __future__ import annotations

import errno
import logging
import os
import random

import numpy as np
import pytest
import torch

from hpskit.core import CorruptFileError, MissingFileError, WriteFailedError, files
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


class _FullDiskFile:
    """A binary file that accepts ``room`` bytes, then fails every write like a full disk."""

    def __init__(self, fh, room: int):
        self._fh, self.room = fh, room

    def write(self, data) -> int:
        n = len(memoryview(data).cast("B"))
        if n > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= n
        return self._fh.write(data)

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()


def test_full_disk_during_checkpoint_says_so_and_keeps_the_previous(tmp_path, monkeypatch):
    """Issue 16, item 12: a clear "no space left on <path>", the previous checkpoint kept, no .tmp left."""
    mgr = CheckpointManager(tmp_path, keep_last=1)
    mgr.save({"step": 1, "w": torch.ones(4)}, 1)
    real_fdopen = os.fdopen
    monkeypatch.setattr(files.os, "fdopen", lambda fd, mode: _FullDiskFile(real_fdopen(fd, mode), 1000))
    with pytest.raises(WriteFailedError) as info:
        mgr.save({"step": 2, "w": torch.zeros(100_000)}, 2)
    monkeypatch.undo()
    msg = str(info.value)
    assert msg.startswith(f"no space left on {tmp_path} while writing step_00000002.pt")
    assert "the previous checkpoint step_00000001.pt is kept" in msg and "enforce fail" not in msg
    assert [p.name for p in tmp_path.iterdir()] == ["step_00000001.pt"]
    assert CheckpointManager.load(mgr.latest())["step"] == 1


def test_orphaned_temp_files_are_removed_on_save(tmp_path, caplog):
    mgr = CheckpointManager(tmp_path, keep_last=2)
    orphan = tmp_path / ".step_00000004.pt.k2j3h.tmp"  # a write killed before its rename
    orphan.write_bytes(b"\0" * 2_000_000)
    other = tmp_path / "notes.tmp"  # not ours: kept
    other.write_text("x")
    with caplog.at_level(logging.WARNING):
        mgr.save({"step": 5}, 5)
    assert not orphan.exists() and other.exists()
    assert any("2.0 MB" in r.getMessage() and orphan.name in r.getMessage() for r in caplog.records)


def test_corrupt_newest_checkpoint_falls_back_to_the_previous(tmp_path, caplog):
    mgr = CheckpointManager(tmp_path, keep_last=3)
    for step in (2, 4):
        mgr.save({"step": step}, step)
    mgr.path_for(6).write_bytes(b"PK\x03\x04 truncated")  # the newest is unreadable
    with caplog.at_level(logging.WARNING):
        path, state = mgr.load_latest()
    assert path == mgr.path_for(4) and state["step"] == 4
    assert any("step_00000006.pt" in r.getMessage() and "falling back" in r.getMessage()
               for r in caplog.records)
    for step in (2, 4):
        mgr.path_for(step).write_bytes(b"garbage")
    with pytest.raises(CorruptFileError, match="no readable checkpoint"):
        mgr.load_latest()
    assert CheckpointManager(tmp_path / "none").load_latest() == (None, None)
