"""Multi-process training on the CPU: ``torchrun --nproc_per_node 2`` with the gloo backend runs the recipe's
DDP path (rank-seeded synthetic streams, rank-0 logging / evaluation / checkpoints / export), and after a few
steps both ranks hold identical weights."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from recipe_helpers import FAST, RECIPE, REPO, SMOKE

from hpskit.engine import CheckpointManager, read_jsonl

pytestmark = pytest.mark.slow  # runs the recipe in subprocesses

WORKER = textwrap.dedent("""
    import os, sys, torch
    sys.path.insert(0, {recipe!r})
    import train
    from hpskit.engine import load_config
    cfg = load_config(train.TrainConfig, {config!r}, sys.argv[2:])
    rec = train.DPoSETrainRecipe(cfg)
    try:
        rec.setup()
        init = {{k: v.detach().clone() for k, v in rec.net.state_dict().items()}}
        rec.train()
        rec.finish()
        rank = rec.dist.rank
        torch.save({{"model": rec.net.state_dict(), "init": init, "data": rec.stream.state_dict(),
                    "first_index": int(rec.stream._make(0).index[0]), "img0": rec.stream._make(0).img,
                    "defer": rec.defer}},
                   os.path.join(sys.argv[1], f"rank{{rank}}.pt"))
    finally:
        rec.cleanup()
""")


# Read every step (the guard's host all-reduce), or once at the end (the bad-step flag all-reduced on the
# device, the update skipped there).
@pytest.mark.parametrize("reads", [
    pytest.param(([], [1, 2, 3]), id="every_step"),
    pytest.param((["runtime.sync_every=3", "log.every=3"], [3]), id="deferred"),
])
def test_two_cpu_processes_hold_identical_weights(tmp_path, smoke_run, reads):
    overrides, logged = reads
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(recipe=str(RECIPE), config=str(SMOKE)))
    out = tmp_path / "run"
    # Depth unsupervised: the depth head gets no gradient, which DDP only accepts with
    # find_unused_parameters (chosen automatically).
    args = [f"output_dir={out}", "runtime.max_steps=3", "log.image_every=0", "checkpoint.every=0",
            "log.eval_samples=2", "loss.supervise_depth=false", *FAST,
            "runtime.threads=1",  # 2 processes × 1 thread on CI's 2 cores (oversubscribed threads crawl)
            *overrides]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(script), str(tmp_path), *args]
    env = {**os.environ, **smoke_run.env, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]

    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    assert r0["defer"] == r1["defer"] == bool(overrides)
    assert set(r0["model"]) == set(r1["model"])
    different = [k for k in r0["model"] if not torch.equal(r0["model"][k], r1["model"][k])]
    assert not different, f"ranks disagree on {different[:10]}"
    # The ranks trained on different people (rank-seeded streams) and both drew 3 batches.
    assert not torch.equal(r0["img0"], r1["img0"])
    assert r0["data"] == r1["data"] == {"kind": "synthetic", "position": 3}
    # Both ranks started from the same weights and training changed them (against this run's own initial
    # weights); rank 0 alone logged, evaluated, checkpointed and exported.
    assert all(torch.equal(r0["init"][k], r1["init"][k]) for k in r0["init"])
    changed = [k for k in r0["init"] if not torch.equal(r0["model"][k], r0["init"][k])]
    assert len(changed) > len(r0["init"]) // 2, f"only {len(changed)} of {len(r0['init'])} tensors changed"
    recs = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in recs if r["kind"] == "train"] == logged
    assert [r["kind"] for r in recs].count("eval") == 1
    state = CheckpointManager.load(CheckpointManager(out / "checkpoints").latest())
    assert state["world_size"] == 2 and len(state["ranks"]) == 2
    assert all(torch.equal(state["model"][k], r0["model"][k]) for k in state["model"])
    assert (out / "export" / "model.safetensors").is_file()
