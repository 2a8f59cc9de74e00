"""Exact resume: N steps straight vs. N/2 steps, a real SIGKILL of the training process while it goes on,
and a restart that resumes from the step-N/2 checkpoint → bitwise identical weights and optimizer state."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from recipe_helpers import RECIPE, REPO, SMOKE

from hpskit.engine import CheckpointManager, read_jsonl

pytestmark = pytest.mark.slow  # runs the recipe in subprocesses


def _equal_states(a, b, path="") -> list[str]:
    """Paths where two nested state dicts differ (tensors compared bitwise)."""
    if isinstance(a, torch.Tensor):
        return [] if isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b) else [path]
    if isinstance(a, dict):
        if set(a) != set(b):
            return [f"{path} keys"]
        return [d for k in a for d in _equal_states(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, (list, tuple)):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _equal_states(x, y, f"{path}[{i}]")]
    return [] if a == b else [path]


def test_sigkill_and_resume_is_bitwise_identical(smoke_run, tmp_path):
    # The smoke run is the uninterrupted reference: 4 steps, checkpoints at 2 and 4.
    out = tmp_path / "killed"
    cmd = [sys.executable, str(RECIPE / "train.py"), "--config", str(SMOKE), f"output_dir={out}",
           "log.progress=false"]
    env = {**os.environ, **smoke_run.env}
    ckpt = CheckpointManager(out / "checkpoints")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 240
        while ckpt.latest() is None:
            assert proc.poll() is None, f"training exited early:\n{proc.stderr.read()[-4000:]}"
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)  # while it trains step 3
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert [s for s,
            _ in ckpt.list()] == [2], "the process got past step 2 before the kill; the test proves nothing"
    assert not (out / "export").exists()

    resumed = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert "resumed from" in resumed.stderr and "at step 2" in resumed.stderr

    ref = CheckpointManager.load(smoke_run.dir / "checkpoints" / "step_00000004.pt")
    got = CheckpointManager.load(ckpt.latest())
    assert got["step"] == ref["step"] == 4
    for key in ("model", "optimizer", "scheduler", "guard"):
        diffs = _equal_states(ref[key], got[key], key)
        assert not diffs, f"resumed run differs from the straight run in {diffs[:10]}"
    assert got["ranks"][0]["data"] == ref["ranks"][0]["data"]
    # The resumed run's log has each step once, with the straight run's losses.
    def losses(d):
        return [(r["step"], r["loss"]) for r in read_jsonl(d / "metrics.jsonl") if r["kind"] == "train"]

    assert losses(out) == losses(smoke_run.dir)
