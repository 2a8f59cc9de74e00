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


#: Stands in for python (train.py): echoes its arguments into the run's log, counts how many runs are alive at
#: once (in $STUB_DIR), fails like a CUDA OOM when its output_dir contains $STUB_FAIL, else writes one train
#: record at half the steps (a run stopped by its time budget).
STUB = r"""#!/usr/bin/env bash
echo "$@"
for a in "$@"; do
    case $a in output_dir=*) d=${a#output_dir=} ;; runtime.max_steps=*) n=${a#runtime.max_steps=} ;; esac
done
touch "$STUB_DIR/alive.$$"
ls "$STUB_DIR" 2>/dev/null | grep -c "^alive\." >> "$STUB_DIR/concurrent"
sleep "${STUB_SLEEP:-0}"
rm -f "$STUB_DIR/alive.$$"
if [[ -n "${STUB_FAIL:-}" && "$d" == *"$STUB_FAIL"* ]]; then
    echo "torch.OutOfMemoryError: CUDA out of memory"; exit 1
fi
echo "{\"kind\": \"train\", \"step\": $(( n / 2 ))}" >> "$d/metrics.jsonl"
"""


def _run(tmp_path, env_extra, *args, free_mib=None):
    stub = tmp_path / "bin"
    stub.mkdir(exist_ok=True)
    (stub / "python").write_text(STUB)
    (stub / "python").chmod(0o755)
    if free_mib is not None:  # a GPU with this much free memory
        (stub / "nvidia-smi").write_text(f"#!/usr/bin/env bash\necho {free_mib}\n")
        (stub / "nvidia-smi").chmod(0o755)
    (tmp_path / "stub").mkdir(exist_ok=True)
    path = os.environ["PATH"]
    if free_mib is None:  # hide a real nvidia-smi: all runs at once
        path = os.pathsep.join(p for p in path.split(os.pathsep) if not (Path(p) / "nvidia-smi").exists())
    env = {**os.environ, "PATH": f"{stub}:{path}", "SEEDS": "0 1", "STUB_DIR": str(tmp_path / "stub"),
           **env_extra}
    return subprocess.run(["bash", str(SCRIPT), str(tmp_path / "out"), *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_rows_times_seeds_with_extra_rows(tmp_path):
    res = _run(tmp_path, {"EXTRA_ROWS": "dense5=loss.weights.parts_ce=5.0 loss.weights.depth=5.0;",
                          "STEPS": "40"}, "model.encoder=efficientnet_lite0")
    assert res.returncode == 0, res.stderr
    assert "8 runs, 8 in parallel" in res.stdout
    out = tmp_path / "out"
    logs = sorted(p.name for p in out.glob("*.log"))
    assert logs == sorted(f"{r}.seed{s}.log" for r in ("no_depth", "depth_unsupervised", "depth_supervised",
                                                          "dense5") for s in (0, 1))
    cmd = (out / "dense5.seed1.log").read_text().split()
    assert "loss.weights.parts_ce=5.0" in cmd and "loss.weights.depth=5.0" in cmd
    assert f"output_dir={out}/dense5/seed1" in cmd and "runtime.seed=1" in cmd
    assert "runtime.max_steps=40" in cmd and cmd[-1] == "model.encoder=efficientnet_lite0"
    assert "model.use_depth=false" in (out / "no_depth.seed0.log").read_text().split()
    # the stub stops every run at half its steps: each is reported as stopped short
    assert res.stdout.count("NOTE:") == 8 and "at step 20 of 40" in res.stdout and "FAILED" not in res.stdout


def test_parallel_runs_capped_by_free_gpu_memory(tmp_path):
    # 23,000 MiB free / 11 GiB per run -> 2 at once; all 6 runs still happen
    res = _run(tmp_path, {"STEPS": "40", "STUB_SLEEP": "0.4"}, free_mib=23000)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "6 runs, 2 in parallel" in res.stdout and "4 runs wait for a free slot" in res.stdout
    concurrent = [int(x) for x in (tmp_path / "stub" / "concurrent").read_text().split()]
    assert len(concurrent) == 6 and max(concurrent) <= 2
    res = _run(tmp_path, {"STEPS": "40", "MAX_PARALLEL": "0"})
    assert res.returncode == 2 and "MAX_PARALLEL" in res.stdout


def test_full_model_runs_get_more_memory_per_run(tmp_path):
    # 46,000 MiB free: 4 compact runs (11 GiB each) but 2 full HRNet-W48 runs (20 GiB each) at once
    res = _run(tmp_path, {"STEPS": "40"}, free_mib=46000)
    assert "6 runs, 4 in parallel" in res.stdout, res.stdout
    full = "recipes/dpose/configs/synthetic.yaml"
    res = _run(tmp_path, {"STEPS": "40", "CONFIG": full}, free_mib=46000)
    assert res.returncode == 0 and "6 runs, 2 in parallel" in res.stdout, res.stdout
    res = _run(tmp_path, {"STEPS": "40", "CONFIG": full, "GIB_PER_RUN": "15"}, free_mib=46000)
    assert "6 runs, 2 in parallel" in res.stdout  # 46,000 MiB / 15 GiB = 2.99 -> 2


def test_a_crashed_run_is_reported_failed(tmp_path):
    res = _run(tmp_path, {"STEPS": "40", "STUB_FAIL": "depth_supervised/seed1"})
    assert res.returncode == 1
    assert "FAILED: depth_supervised seed 1 exited 1" in res.stdout
    assert "FAILED: depth_supervised seed 1 trained no step" in res.stdout
    assert "CUDA out of memory" in res.stdout  # the end of its log
    assert res.stdout.count("FAILED: ") == 2 and res.stdout.count("NOTE:") == 5


@pytest.mark.parametrize("spec", ["no_depth=model.use_depth=true", "bad name=x", "noequals"])
def test_bad_extra_rows_are_refused(tmp_path, spec):
    res = _run(tmp_path, {"EXTRA_ROWS": spec})
    assert res.returncode == 2 and "EXTRA_ROWS" in res.stdout
    assert not list((tmp_path / "out").glob("*.log"))
