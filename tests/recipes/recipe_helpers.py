"""Helpers shared by the recipe tests (importable: ``tests/recipes`` is put on ``sys.path`` by conftest)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from hpskit.engine import TrainingDivergedError, load_config, read_jsonl

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "dpose"
SMOKE = RECIPE / "configs" / "smoke.yaml"
# Quiet, quick variants of the smoke run used by most tests.
FAST = ["log.tensorboard=false", "log.progress=false", "runtime.threads=2"]


def run_script(script: str, args: list[str], timeout: float = 300, check: bool = True,
               env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``recipes/dpose/<script>`` with this interpreter; on failure show its output."""
    proc = subprocess.run([sys.executable, str(RECIPE / script), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} exited with "
                             f"{proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


def import_recipe():
    """The recipe modules (``train``, ``_lib``) importable in-process."""
    if str(RECIPE) not in sys.path:
        sys.path.insert(0, str(RECIPE))
    import train  # noqa: PLC0415

    return train


NAN = float("nan")
# Fields of a train record that depend on wall-clock time, not on the numbers trained.
TIMING = {"time", "images_per_s", "gpu_mem_gb"}


def smoke_train(recipe, out, overrides, bad_steps=()):
    """Train the smoke model with ``overrides``; NaN in the loss at ``bad_steps``. Returns the recipe (after
    cleanup), the raised error (or None), per-step snapshots taken before each step's update (a few
    parameters and their Adam state), each step's host loss, and the pending reads ``(step, count)``."""
    cfg = load_config(recipe.TrainConfig, SMOKE, [
        f"output_dir={out}", "log.image_every=0", "checkpoint.every=0", "checkpoint.export=false",
        "runtime.max_bad_steps=2", *FAST, *overrides])
    rec = recipe.DPoSETrainRecipe(cfg)
    snaps, losses, reads, error = {}, {}, [], None
    try:
        rec.setup()
        forward, read = rec.loss_fn.forward, rec._read_pending
        watched = rec.params[:3] + rec.params[-2:]

        def poisoned(pred, target):
            total, terms = forward(pred, target)
            step = rec.step + 1
            state = [{k: v.clone() for k, v in rec.optimizer.state[p].items()} for p in watched]
            snaps[step] = ([p.detach().clone() for p in watched], state)
            if step in bad_steps:
                terms["weighted/vertices"] = terms["weighted/vertices"] * NAN
                total = total * NAN
            losses[step] = float(total.detach())
            return total, terms

        def counted_read():
            if rec._pending:
                reads.append((rec.step, len(rec._pending)))
            read()

        rec.loss_fn.forward, rec._read_pending = poisoned, counted_read
        try:
            rec.train()
        except TrainingDivergedError as e:
            error = e
    finally:
        rec.cleanup()
    return rec, error, snaps, losses, reads


def same_snapshot(a, b) -> bool:
    (pa, sa), (pb, sb) = a, b
    return all(torch.equal(x, y) for x, y in zip(pa, pb)) and all(
        s.keys() == t.keys() and all(torch.equal(s[k], t[k]) for k in s) for s, t in zip(sa, sb))


def same_optimizer_state(a, b) -> bool:
    sa, sb = a.optimizer.state_dict()["state"], b.optimizer.state_dict()["state"]
    return sa.keys() == sb.keys() and all(
        sa[i].keys() == sb[i].keys() and all(torch.equal(sa[i][k], sb[i][k]) for k in sa[i]) for i in sa)


def train_records(out):
    return [{k: v for k, v in r.items() if k not in TIMING}
            for r in read_jsonl(out / "metrics.jsonl") if r["kind"] == "train"]


def equal_states(a, b, path="") -> list[str]:
    """Paths where two nested state dicts differ (tensors compared bitwise)."""
    if isinstance(a, torch.Tensor):
        return [] if isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b) else [path]
    if isinstance(a, dict):
        if set(a) != set(b):
            return [f"{path} keys"]
        return [d for k in a for d in equal_states(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, (list, tuple)):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in equal_states(x, y, f"{path}[{i}]")]
    return [] if a == b else [path]
