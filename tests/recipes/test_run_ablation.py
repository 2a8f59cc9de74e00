"""recipes/dpose/run_ablation.sh: which train.py command each row × seed gets (train.py replaced by a stub
that records its arguments, so the test checks the script's plumbing, not training)."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "recipes" / "dpose" / "run_ablation.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _run(tmp_path, env_extra, *args):
    stub = tmp_path / "bin"
    stub.mkdir(exist_ok=True)
    (stub / "python").write_text('#!/usr/bin/env bash\necho "$@"\n')
    (stub / "python").chmod(0o755)
    env = {**os.environ, "PATH": f"{stub}:{os.environ['PATH']}", "SEEDS": "0 1", **env_extra}
    return subprocess.run(["bash", str(SCRIPT), str(tmp_path / "out"), *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_rows_times_seeds_with_extra_rows(tmp_path):
    res = _run(tmp_path, {"EXTRA_ROWS": "dense5=loss.weights.parts_ce=5.0 loss.weights.depth=5.0;",
                          "STEPS": "40"}, "model.encoder=efficientnet_lite0")
    assert res.returncode == 0, res.stderr
    assert "8 runs in parallel" in res.stdout
    out = tmp_path / "out"
    logs = sorted(p.name for p in out.glob("*.log"))
    assert logs == sorted(f"{r}.seed{s}.log" for r in ("no_depth", "depth_unsupervised", "depth_supervised",
                                                          "dense5") for s in (0, 1))
    cmd = (out / "dense5.seed1.log").read_text().split()
    assert "loss.weights.parts_ce=5.0" in cmd and "loss.weights.depth=5.0" in cmd
    assert f"output_dir={out}/dense5/seed1" in cmd and "runtime.seed=1" in cmd
    assert "runtime.max_steps=40" in cmd and cmd[-1] == "model.encoder=efficientnet_lite0"
    assert "model.use_depth=false" in (out / "no_depth.seed0.log").read_text().split()
    # the stub trains nothing: every run is reported as stopped short of its steps
    assert res.stdout.count("NOTE:") == 8


@pytest.mark.parametrize("spec", ["no_depth=model.use_depth=true", "bad name=x", "noequals"])
def test_bad_extra_rows_are_refused(tmp_path, spec):
    res = _run(tmp_path, {"EXTRA_ROWS": spec})
    assert res.returncode == 2 and "EXTRA_ROWS" in res.stdout
    assert not list((tmp_path / "out").glob("*.log"))
