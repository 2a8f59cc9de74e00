"""The NaN/inf guard in the training loop: a NaN injected into one loss term skips that step (no weight
update), names the term in the log, training recovers, and K bad steps in a row stop the run."""

from __future__ import annotations

import logging

import pytest
import torch
from recipe_helpers import FAST, SMOKE

from hpskit.engine import TrainingDivergedError, load_config, read_jsonl


def test_nan_steps_are_skipped_then_the_run_stops(recipe, tmp_path, caplog):
    cfg = load_config(recipe.TrainConfig, SMOKE, [
        f"output_dir={tmp_path}", "runtime.max_steps=8", "runtime.max_bad_steps=2", "log.image_every=0",
        "checkpoint.every=0", "checkpoint.export=false", *FAST])
    rec = recipe.DPoSETrainRecipe(cfg)
    bad_steps = {2, 4, 5}  # step 2 alone (skipped, then recovery); 4 and 5 in a row → stop at step 5
    snapshots = {}
    try:
        rec.setup()
        forward = rec.loss_fn.forward

        def poisoned(pred, target):
            total, terms = forward(pred, target)
            step = rec.step + 1
            snapshots[step] = [p.detach().clone() for p in rec.params[:3]] + [rec.params[-1].detach().clone()]
            if step in bad_steps:
                terms["weighted/vertices"] = terms["weighted/vertices"] * float("nan")
                total = total * float("nan")
            return total, terms

        rec.loss_fn.forward = poisoned
        with caplog.at_level(logging.WARNING), pytest.raises(TrainingDivergedError) as err:
            rec.train()
    finally:
        rec.cleanup()
    msg = str(err.value)
    assert "step 5: 2 consecutive steps" in msg and "weighted/vertices" in msg and "optim.lr" in msg
    assert "step 2 skipped" in caplog.text and "'weighted/vertices'" in caplog.text

    def same(a, b):
        return all(torch.equal(x, y) for x, y in zip(snapshots[a], snapshots[b]))

    assert not same(1, 2)  # step 1 updated the weights
    assert same(2, 3)  # step 2 (NaN) did not
    assert not same(3, 4)  # step 3 did again: the run recovered
    assert same(4, 5)
    recs = [r for r in read_jsonl(tmp_path / "metrics.jsonl") if r["kind"] == "train"]
    assert [(r["step"], r["skipped_total"]) for r in recs] == [(1, 0), (2, 1), (3, 1), (4, 2)]
    assert recs[1]["loss"] == "nan" and recs[2]["loss"] != "nan"
