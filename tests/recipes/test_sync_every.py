"""``runtime.sync_every``: the step's numbers read every N steps, bad steps skipped on the device.

Against the step that reads every step (``sync_every=1``), on the CPU with the smoke model: the same weights,
Adam state and logged windows, with and without a NaN step (the schedule is constant, so the one documented
difference, a scheduler that also steps on bad steps, does not show in the weights); the NaN step leaves the
weights and Adam state bit-identical, the guard counts it and the window mean leaves it out; K bad steps in a
row still stop the run, at the next read; a checkpoint between reads reads the pending steps first (the
guard's counters in it are complete) and resuming from it continues bit-identically.
"""

from __future__ import annotations

import logging
import math

import pytest
import torch
from recipe_helpers import (
    same_optimizer_state,
    same_snapshot,
    smoke_train,
    train_records,
)

from hpskit.engine import TrainingDivergedError


@pytest.mark.slow  # two short recipe runs
def test_deferred_reading_trains_exactly_as_reading_every_step(recipe, tmp_path):
    common = ["runtime.max_steps=4", "log.every=2"]
    every, _, _, loss_every, reads_every = smoke_train(recipe, tmp_path / "every",
                                                  [*common, "runtime.sync_every=1"])
    late, _, _, loss_late, reads_late = smoke_train(recipe, tmp_path / "late",
                                                    [*common, "runtime.sync_every=25"])
    assert not every.defer and late.defer and late.sync_every == 25
    assert reads_every == [] and reads_late == [(2, 2), (4, 2)]  # read at the log steps only, 2 steps each
    assert loss_every == loss_late
    sd_every, sd_late = every.net.state_dict(), late.net.state_dict()
    assert all(torch.equal(sd_every[k], sd_late[k]) for k in sd_every)  # weights and BatchNorm statistics
    assert same_optimizer_state(every, late)
    assert every.scheduler.last_epoch == late.scheduler.last_epoch == 4
    recs = train_records(tmp_path / "late")
    assert recs == train_records(tmp_path / "every") and [r["step"] for r in recs] == [2, 4]
    assert recs[0]["loss"] == pytest.approx((loss_late[1] + loss_late[2]) / 2, rel=1e-12)


@pytest.mark.slow  # two short recipe runs
def test_a_nan_step_is_skipped_on_the_device(recipe, tmp_path):
    common = ["runtime.max_steps=4", "log.every=4"]
    every, _, _, _, _ = smoke_train(recipe, tmp_path / "every", [*common, "runtime.sync_every=1"],
                                    bad_steps={2})
    late, err, snaps, losses, reads = smoke_train(recipe, tmp_path / "late",
                                                  [*common, "runtime.sync_every=3"], bad_steps={2})
    assert err is None and late.defer
    assert reads == [(3, 3), (4, 1)]  # every 3 steps, and at the log step
    # Step 2 changed neither the weights nor Adam's moments and step counter; steps 1 and 3 did.
    assert same_snapshot(snaps[2], snaps[3])
    assert not same_snapshot(snaps[1], snaps[2]) and not same_snapshot(snaps[3], snaps[4])
    assert [float(s["step"]) for s in snaps[3][1]] == [1.0] * 5
    assert late.guard.total_skipped == every.guard.total_skipped == 1 and late.guard.consecutive == 0
    # The window (steps 1-4) averages the three finite steps only, as when read every step.
    (rec,) = train_records(tmp_path / "late")
    assert rec["skipped_total"] == 1 and math.isnan(losses[2])
    assert rec["loss"] == pytest.approx((losses[1] + losses[3] + losses[4]) / 3, rel=1e-12)
    assert train_records(tmp_path / "every") == [rec]
    # Constant schedule: the same trajectory, although only the deferred run stepped its scheduler at step 2.
    sd_every, sd_late = every.net.state_dict(), late.net.state_dict()
    assert all(torch.equal(sd_every[k], sd_late[k]) for k in sd_every) and same_optimizer_state(every, late)
    assert (every.scheduler.last_epoch, late.scheduler.last_epoch) == (3, 4)


def test_k_bad_steps_in_a_row_stop_the_run_at_the_next_read(recipe, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    late, err, snaps, _, reads = smoke_train(recipe, tmp_path / "late", [
        "runtime.max_steps=5", "log.every=5", "runtime.sync_every=4"], bad_steps={2, 3})
    assert late.defer and isinstance(err, TrainingDivergedError)
    # Detected when read (after step 4), named at step 3 where the second bad step in a row happened.
    assert reads == [(4, 4)] and late.step == 4
    assert "step 3: 2 consecutive steps" in str(err) and "weighted/vertices" in str(err)
    assert "step 2 skipped" in caplog.text
    assert same_snapshot(snaps[2], snaps[3]) and same_snapshot(snaps[3], snaps[4])  # both skipped
    assert not (tmp_path / "late" / "metrics.jsonl").exists() or train_records(tmp_path / "late") == []


@pytest.mark.slow  # two short recipe runs
def test_a_checkpoint_reads_the_pending_steps_and_resumes_exactly(recipe, tmp_path):
    common = ["runtime.max_steps=4", "log.every=4", "runtime.sync_every=25"]
    straight, _, _, loss_a, reads = smoke_train(recipe, tmp_path / "straight",
                                                [*common, "checkpoint.every=2"], bad_steps={2})
    assert straight.defer and reads == [(2, 2), (4, 2)]  # the step-2 checkpoint read steps 1-2 first
    ckpt = tmp_path / "straight" / "checkpoints" / "step_00000002.pt"
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    assert state["guard"] == {"consecutive": 1, "total_skipped": 1}
    resumed, _, _, loss_b, _ = smoke_train(recipe, tmp_path / "resumed",
                                           [*common, f"checkpoint.resume={ckpt}"])
    assert resumed.defer and resumed.guard.total_skipped == 1
    sd_a, sd_b = straight.net.state_dict(), resumed.net.state_dict()
    assert all(torch.equal(sd_a[k], sd_b[k]) for k in sd_a) and same_optimizer_state(straight, resumed)
    assert loss_b == {3: loss_a[3], 4: loss_a[4]}
    (rec,) = train_records(tmp_path / "resumed")  # the resumed window: steps 3-4
    assert rec["step"] == 4 and rec["skipped_total"] == 1
    assert rec["loss"] == pytest.approx((loss_a[3] + loss_a[4]) / 2, rel=1e-12)
