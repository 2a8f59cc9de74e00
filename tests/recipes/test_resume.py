"""Exact resume: N steps straight vs. N/2 steps, a real SIGKILL of the training process while it goes on,
and a restart that resumes from the step-N/2 checkpoint → bitwise identical weights and optimizer state.

Where the kill lands is fixed, not raced: the killed run is ``train.py`` started through a small launcher
that, once the step-2 checkpoint is written, registers a global optimizer-step pre-hook
(``torch.optim.optimizer.register_optimizer_step_pre_hook``) which writes a marker file and blocks. The
test kills the process when the marker appears: inside step 3, after its forward and backward pass and
before its update, on any machine speed. ``train.py`` itself is untouched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from recipe_helpers import RECIPE, REPO, SMOKE, equal_states

from hpskit.engine import CheckpointManager, read_jsonl

pytestmark = pytest.mark.slow  # runs the recipe in subprocesses

# Runs train.py as __main__ with the hooks described in the module docstring; argv[1] is the marker file.
LAUNCHER = textwrap.dedent("""
    import os, runpy, sys, time
    from pathlib import Path
    from torch.optim.optimizer import register_optimizer_step_pre_hook
    from hpskit.engine import CheckpointManager

    marker = Path(sys.argv.pop(1))
    saves = []
    original_save = CheckpointManager.save

    def block(*_):
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(str(saves))
        os.replace(tmp, marker)  # the marker appears complete
        while True:  # until SIGKILL
            time.sleep(60)

    def save(self, state, step):
        if saves:  # a second checkpoint: never written (fallback if no optimizer step ran in between)
            block()
        path = original_save(self, state, step)
        saves.append(step)
        register_optimizer_step_pre_hook(block)  # the next update (step 3) blocks
        return path

    CheckpointManager.save = save
    sys.argv[0] = {train!r}
    runpy.run_path(sys.argv[0], run_name="__main__")
""")


def test_sigkill_and_resume_is_bitwise_identical(smoke_run, tmp_path):
    # The smoke run is the uninterrupted reference: 4 steps, checkpoints at 2 and 4.
    out = tmp_path / "killed"
    args = ["--config", str(SMOKE), f"output_dir={out}", "log.progress=false"]
    launcher, marker = tmp_path / "launch_train.py", tmp_path / "blocked_in_step_3"
    launcher.write_text(LAUNCHER.format(train=str(RECIPE / "train.py")))
    env = {**os.environ, **smoke_run.env}
    ckpt = CheckpointManager(out / "checkpoints")
    proc = subprocess.Popen([sys.executable, str(launcher), str(marker), *args], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240  # only against a hung run; where the kill lands is set by the hook
        while not marker.exists():
            assert proc.poll() is None, f"training exited early:\n{proc.stderr.read()[-4000:]}"
            assert time.monotonic() < deadline, "the run did not reach step 3 within 240 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)  # blocked inside step 3, before its optimizer update
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert marker.read_text() == "[2]"
    assert [s for s, _ in ckpt.list()] == [2]
    assert not (out / "export").exists()

    resumed = subprocess.run([sys.executable, str(RECIPE / "train.py"), *args], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert "resumed from" in resumed.stderr and "at step 2" in resumed.stderr

    ref = CheckpointManager.load(smoke_run.dir / "checkpoints" / "step_00000004.pt")
    got = CheckpointManager.load(ckpt.latest())
    assert got["step"] == ref["step"] == 4
    for key in ("model", "optimizer", "scheduler", "guard"):
        diffs = equal_states(ref[key], got[key], key)
        assert not diffs, f"resumed run differs from the straight run in {diffs[:10]}"
    assert got["ranks"][0]["data"] == ref["ranks"][0]["data"]
    # The resumed run's log has each step once, with the straight run's losses.
    def losses(d):
        return [(r["step"], r["loss"]) for r in read_jsonl(d / "metrics.jsonl") if r["kind"] == "train"]

    assert losses(out) == losses(smoke_run.dir)
