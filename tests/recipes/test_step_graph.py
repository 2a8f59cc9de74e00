"""``runtime.graph_scope=step``: the whole training step from one CUDA graph (eager on the CPU).

On the CPU the step scope runs :class:`hpskit.engine.TrainStep` eagerly through
:class:`hpskit.engine.GraphedTrainStep`, with the learning rate in a tensor: it must train bit-for-bit as the
deferred network-scope step (``_train_step`` with ``sync_every`` > 1) — weights, BatchNorm statistics, Adam
state, logged windows — with a warm-up + cosine schedule and a non-finite step skipped on the device; its
checkpoints (float learning rates) are the network scope's, bit for bit, and resume exactly in either scope.
Every conflicting setting is a ConfigError. The GPU twin compares replayed steps with eager ones.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from recipe_helpers import (
    FAST,
    SMOKE,
    equal_states,
    same_optimizer_state,
    same_snapshot,
    smoke_train,
    train_records,
)

from hpskit.core import ConfigError
from hpskit.engine import CheckpointManager, load_config, read_jsonl

STEP = ["runtime.cuda_graphs=true", "runtime.graph_scope=step"]
SCHEDULE = ["optim.scheduler=cosine", "optim.warmup_steps=2"]  # the learning rate changes every step


@pytest.mark.slow  # two short recipe runs with a NaN step
def test_step_scope_trains_exactly_as_the_deferred_network_step(recipe, tmp_path):
    common = ["runtime.max_steps=4", "log.every=4", "runtime.sync_every=3", *SCHEDULE]
    net, _, net_snaps, net_losses, net_reads = smoke_train(recipe, tmp_path / "network", common,
                                                           bad_steps={2})
    step, err, snaps, losses, reads = smoke_train(recipe, tmp_path / "step", [*common, *STEP], bad_steps={2})
    assert err is None and net.defer and step.defer and step.step_graph and not net.step_graph
    assert isinstance(step.optimizer.param_groups[0]["lr"], torch.Tensor)
    assert step.graphed_step.eager_calls == 4 and not step.graphed_step.captured  # the CPU: eager
    assert reads == net_reads == [(3, 3), (4, 1)]
    assert math.isnan(losses[2]) and {k: v for k, v in losses.items() if k != 2} == {
        k: v for k, v in net_losses.items() if k != 2}
    # Step 2 was skipped on the device in both: weights and Adam state unchanged by it.
    assert same_snapshot(snaps[2], snaps[3]) and not same_snapshot(snaps[3], snaps[4])
    assert all(same_snapshot(snaps[k], net_snaps[k]) for k in snaps)
    sd, net_sd = step.net.state_dict(), net.net.state_dict()
    assert all(torch.equal(sd[k], net_sd[k]) for k in sd) and same_optimizer_state(step, net)
    assert float(step.optimizer.param_groups[0]["lr"]) == net.optimizer.param_groups[0]["lr"]
    assert step.guard.total_skipped == net.guard.total_skipped == 1
    (rec,) = train_records(tmp_path / "step")
    assert train_records(tmp_path / "network") == [rec] and rec["skipped_total"] == 1


def _checkpoint_run(recipe, out, overrides):
    return smoke_train(recipe, out, ["runtime.max_steps=4", "log.every=2", "runtime.sync_every=25", *SCHEDULE,
                                     *overrides])[0]


@pytest.mark.slow  # four short recipe runs
def test_checkpoints_are_the_network_scopes_and_resume_in_either_scope(recipe, tmp_path):
    straight = _checkpoint_run(recipe, tmp_path / "straight", [*STEP, "checkpoint.every=2"])
    ckpt = tmp_path / "straight" / "checkpoints" / "step_00000002.pt"
    state = CheckpointManager.load(ckpt)
    group = state["optimizer"]["param_groups"][0]
    assert type(group["lr"]) is float and group["capturable"] is False
    assert all(type(v) is float for v in state["scheduler"]["_last_lr"])
    # The network scope's checkpoint of the same step is the same, bit for bit (so either loads the other's).
    _checkpoint_run(recipe, tmp_path / "network", ["checkpoint.every=2"])
    other = CheckpointManager.load(tmp_path / "network" / "checkpoints" / "step_00000002.pt")
    for key in ("model", "optimizer", "scheduler", "guard"):
        assert not equal_states(state[key], other[key], key), key
    final = straight.net.state_dict()
    for scope in (["runtime.graph_scope=network"], STEP):
        resumed = _checkpoint_run(recipe, tmp_path / scope[-1].replace("=", "_"),
                                  [*scope, f"checkpoint.resume={ckpt}"])
        assert resumed.step_graph == (scope == STEP)
        sd = resumed.net.state_dict()
        assert all(torch.equal(final[k], sd[k]) for k in final) and same_optimizer_state(straight, resumed)
        lr, want = resumed.optimizer.param_groups[0]["lr"], straight.optimizer.param_groups[0]["lr"]
        assert float(lr) == float(want)


@pytest.mark.parametrize("overrides, message", [
    (["runtime.graph_scope=whole"], "graph_scope must be 'network' or 'step'"),
    (["runtime.graph_scope=step", "runtime.sync_every=4"], "needs cuda_graphs=true"),
    ([*STEP, "runtime.sync_every=1"], "runtime.sync_every > 1"),
    ([*STEP, "runtime.sync_every=0", "log.every=1"], "runtime.sync_every > 1"),
    ([*STEP, "runtime.sync_every=4", "optim.fused=false"], "needs optim.fused=true"),
    ([*STEP, "runtime.sync_every=4", "optim.clip_mode=per_module"], "needs optim.clip_mode=global"),
    ([*STEP, "runtime.sync_every=4", "log.grad_stats=true"], "cannot record log.grad_stats"),
])
def test_conflicting_settings_are_config_errors(recipe, tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(recipe.TrainConfig, SMOKE, [f"output_dir={tmp_path}", *overrides])


def test_every_conflict_is_listed_at_once_and_a_valid_setting_loads(recipe, tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(recipe.TrainConfig, SMOKE, [f"output_dir={tmp_path}", *STEP, "runtime.sync_every=1",
                                                "optim.fused=false", "optim.clip_mode=per_module",
                                                "log.grad_stats=true"])
    for part in ("sync_every > 1", "optim.fused=true", "clip_mode=global", "log.grad_stats"):
        assert part in str(e.value)
    cfg = load_config(recipe.TrainConfig, SMOKE, [f"output_dir={tmp_path}", *STEP, "runtime.sync_every=4"])
    assert cfg.runtime.graph_scope == "step"
    assert load_config(recipe.TrainConfig, SMOKE, [f"output_dir={tmp_path}"]).runtime.graph_scope == "network"


def test_step_scope_is_single_process(recipe, tmp_path):
    cfg = load_config(recipe.TrainConfig, SMOKE, [f"output_dir={tmp_path}", *STEP, "runtime.sync_every=4",
                                                  *FAST])
    rec = recipe.DPoSETrainRecipe(cfg)
    rec._init_runtime()
    rec.dist = dataclasses.replace(rec.dist, world_size=2)  # as under torchrun (no process group needed)
    rec._build_model()
    rec._build_optimizer()
    with pytest.raises(ConfigError, match="single-process only"):
        rec._wrap_model()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_replayed_whole_steps_match_eager_steps(recipe, tmp_path):
    """Steps 1-3 run eagerly (warm-up), step 4 captures, 5-6 replay; the network-scope run without graphs is
    the reference. TF32 off, so both compute in float32: step 1 tightly, later steps loosely (Adam's first
    updates are about lr·sign(g): rounding moves the weights differently, see test_train.py)."""
    losses, recs = {}, {}
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        for scope in ("eager", "step"):
            out = tmp_path / scope
            extra = STEP if scope == "step" else ["runtime.cuda_graphs=false"]
            cfg = load_config(recipe.TrainConfig, SMOKE, [
                f"output_dir={out}", "runtime.max_steps=6", "runtime.device=cuda", "log.every=1",
                "runtime.sync_every=6", "runtime.cudnn_benchmark=false", "log.image_every=5",
                "log.eval_every=0", "checkpoint.export=false", *SCHEDULE, *FAST, *extra])
            rec = recipe.DPoSETrainRecipe(cfg)
            rec.run()
            recs[scope] = rec
            losses[scope] = [r["loss"] for r in read_jsonl(out / "metrics.jsonl") if r["kind"] == "train"]
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
    g = recs["step"].graphed_step
    assert g.captured and g.eager_calls == 3 and g.replays == 3
    assert (tmp_path / "step" / "panels" / "train_00000005.png").exists()  # a panel from a replayed step
    assert len(losses["step"]) == 6 and all(math.isfinite(v) for v in losses["step"])
    assert losses["step"][0] == pytest.approx(losses["eager"][0], rel=1e-5)
    assert losses["step"][3:] == pytest.approx(losses["eager"][3:], rel=5e-2)
    assert float(recs["step"].optimizer.param_groups[0]["lr"]) == pytest.approx(
        recs["eager"].optimizer.param_groups[0]["lr"], rel=1e-6)  # float32 on CUDA
