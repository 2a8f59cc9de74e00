"""``recipes/dpose/train.py`` through its CLI on the smoke config (torchtune-style): logged losses against
stored values, and everything a run leaves behind (resolved config, metrics, panels, checkpoints, export)."""

from __future__ import annotations

import json
import math

import pytest
import torch
import yaml
from recipe_helpers import FAST, REPO, SMOKE, import_recipe, run_script

from hpskit.engine import CheckpointManager, load_config, read_jsonl
from hpskit.models import DPoSE

pytestmark = pytest.mark.slow  # runs the recipe in subprocesses

# Total loss of steps 1..4 of `train.py --config smoke.yaml` (CPU, float32, 2 threads). They change whenever
# the model, the loss, the synthetic engine's distributions or the smoke config change on purpose; then
# rerun the smoke config and copy the "loss" column of <output_dir>/metrics.jsonl here.
# Re-recorded when the depth SSIM stopped calling kornia (no host copy; the same map to float32 rounding):
# step 1 is unchanged, the rounding difference in its gradient grows to 0.6 % by step 3 in this tiny run.
STORED_LOSSES = [8.590534210205078, 13.499361038208008, 25.505573272705078, 20.967750549316406]


STORED_WITH_TORCH = "2.14"  # the torch (major.minor) the values were recorded with


def test_smoke_losses_match_stored(smoke_run):
    recs = [r for r in read_jsonl(smoke_run.dir / "metrics.jsonl") if r["kind"] == "train"]
    assert [r["step"] for r in recs] == [1, 2, 3, 4]
    losses = [r["loss"] for r in recs]
    # Another torch release rounds differently and the tiny smoke run amplifies it (2.11 on the GPU machine:
    # up to 4 % by step 3), so there only step 1 is held to the stored value tightly.
    same_torch = torch.__version__.startswith(STORED_WITH_TORCH + ".")
    tol = [1e-3] * 4 if same_torch else [1e-3, 0.1, 0.1, 0.1]
    for step, (got, want, rel) in enumerate(zip(losses, STORED_LOSSES, tol), 1):
        assert got == pytest.approx(want, rel=rel), (
            f"step {step}: logged losses {losses} differ from the stored ones {STORED_LOSSES}; if intended, "
            "update STORED_LOSSES")
    first = recs[0]
    # Every term of the paper preset is logged, raw and weighted, and the weighted ones sum to the total.
    terms = ["depth", "depth_ssim", "parts_ce", "pose", "betas", "joints3d", "vertices", "kp2d"]
    assert all(f"raw/{t}" in first and f"weighted/{t}" in first for t in terms)
    assert sum(first[f"weighted/{t}"] for t in terms) == pytest.approx(first["loss"], rel=1e-5)
    assert first["lr"] == 1e-4 and first["images_per_s"] > 0 and first["grad_norm"] > 0
    assert first["skipped_total"] == 0 and [r["data_position"] for r in recs] == [1, 2, 3, 4]


def test_smoke_run_outputs(smoke_run, recipe):
    out = smoke_run.dir
    # The resolved config reloads to the same config as the YAML with the command-line override.
    cfg = load_config(recipe.TrainConfig, SMOKE, [f"output_dir={out}", "log.progress=false"])
    assert load_config(recipe.TrainConfig, out / "config.yaml") == cfg
    # Held-out evaluation and the mean-pose baseline at the end, in mm.
    ev = [r for r in read_jsonl(out / "metrics.jsonl") if r["kind"] == "eval"]
    assert len(ev) == 1 and ev[0]["step"] == 4 and ev[0]["count"] == 4
    for k in ("mpjpe", "pa_mpjpe", "pve"):
        assert 0 < ev[0][k] < 2000 and 0 < ev[0][f"baseline_{k}"] < 2000
    assert ev[0]["pa_mpjpe"] <= ev[0]["mpjpe"] + 1e-6
    # Panels every 2 steps, TensorBoard events, keep-last-2 checkpoints.
    assert sorted(p.name for p in (out / "panels").iterdir()) == ["train_00000002.png", "train_00000004.png"]
    assert any(p.name.startswith("events.out.tfevents") for p in (out / "tb").iterdir())
    ckpts = CheckpointManager(out / "checkpoints").list()
    assert [s for s, _ in ckpts] == [2, 4]
    state = CheckpointManager.load(ckpts[-1][1])
    assert {"model", "optimizer", "scheduler", "scaler", "guard", "ranks", "config", "step"} <= set(state)
    assert state["ranks"][0]["data"] == {"kind": "synthetic", "position": 4}
    assert {"python", "numpy", "torch_cpu"} <= set(state["ranks"][0]["rng"])
    assert yaml.safe_load(state["config"])["runtime"]["max_steps"] == 4
    # The export is a DPoSE.from_pretrained folder holding the final weights.
    net = DPoSE.from_pretrained(out / "export")
    sd = net.state_dict()
    assert all(torch.equal(sd[k], v) for k, v in state["model"].items())
    assert json.loads((out / "export" / "config.json").read_text())["encoder"] == "hrnet_w18"


def test_cli_reports_every_config_problem(tmp_path):
    proc = run_script("train.py", ["--config", str(SMOKE), f"output_dir={tmp_path}", "optim.lrr=1",
                                   "data.batch_size=two", "model.use_depth=false", *FAST], check=False)
    assert proc.returncode == 2
    err = proc.stderr
    assert "unknown key 'optim.lrr'; did you mean 'optim.lr'" in err
    assert "data.batch_size" in err and "two" in err
    assert not (tmp_path / "config.yaml").exists()


def test_max_minutes_stops_cleanly(tmp_path):
    """A wall-clock budget ends the loop early, then the run still evaluates, checkpoints and exports."""
    train = import_recipe()
    cfg = load_config(train.TrainConfig, SMOKE, [f"output_dir={tmp_path}", "runtime.max_steps=1000",
                                                  "runtime.max_minutes=0.0001", "log.image_every=0", *FAST])
    rec = train.DPoSETrainRecipe(cfg)
    rec.run()
    assert rec.stopped_early and 0 <= rec.step < 1000
    assert [r["kind"] for r in read_jsonl(tmp_path / "metrics.jsonl")][-1] == "eval"
    assert (tmp_path / "export" / "model.safetensors").is_file()
    assert CheckpointManager(tmp_path / "checkpoints").list()[-1][0] == rec.step


def test_bf16_autocast_and_channels_last_steps(recipe, tmp_path):
    """The GPU speed switches run on the CPU too: the network under bf16 autocast in channels-last layout,
    the body model and the losses in float32."""
    cfg = load_config(recipe.TrainConfig, SMOKE, [f"output_dir={tmp_path}", "runtime.max_steps=2",
                                                  "runtime.bf16=true",
                                                  "runtime.channels_last=true", "log.image_every=0",
                                                  "checkpoint.export=false", *FAST])
    rec = recipe.DPoSETrainRecipe(cfg)
    rec.run()
    conv = rec.net.encoder.trunk.conv1.weight
    assert conv.dtype == torch.float32 and conv.is_contiguous(memory_format=torch.channels_last)
    recs = read_jsonl(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in recs if r["kind"] == "train"] == [1, 2]
    assert all(isinstance(r["loss"], float) for r in recs if r["kind"] == "train")
    assert recs[-1]["kind"] == "eval" and isinstance(recs[-1]["mpjpe"], float)


def test_startup_is_logged(smoke_run):
    """One ``startup`` record at the first step: seconds from the process start, from the recipe's start, in
    setup and from the end of setup to the end of the first step."""
    recs = [r for r in read_jsonl(smoke_run.dir / "metrics.jsonl") if r["kind"] == "startup"]
    assert len(recs) == 1 and recs[0]["step"] == 1
    s = recs[0]
    assert 0 < s["setup_s"] and 0 < s["first_step_s"]
    assert s["setup_s"] + s["first_step_s"] <= s["startup_s"] + 1e-3
    assert s["startup_s"] <= s["time_to_first_step_s"] + 0.05  # /proc's clock has 10 ms ticks
    assert "startup: first step done" in smoke_run.proc.stderr


def test_compiled_blocks_first_step_matches_eager(recipe, tmp_path, monkeypatch):
    """``runtime.compile=true`` (block scope) on the CPU: the smoke network's 134 repeated blocks are
    compiled, the first step's loss is the stored eager loss (float32, 1e-4), and the compiled kernels land
    in the folder ``runtime.compile_cache`` names. Compiles 13 graphs, forward and backward: ~2 min cold on
    2 cores."""
    cache = tmp_path / "inductor"
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "elsewhere"))  # restored afterwards
    cfg = load_config(recipe.TrainConfig, SMOKE, [
        f"output_dir={tmp_path / 'run'}", "runtime.max_steps=1", "runtime.compile=true",
        f"runtime.compile_cache={cache}", "log.image_every=0", "checkpoint.export=false", *FAST])
    rec = recipe.DPoSETrainRecipe(cfg)
    try:
        rec.setup()
        names = rec.compiled_regions
        kinds = {type(rec.net.get_submodule(n)).__name__ for n in names}
        assert len(names) == 134 and kinds == {"BasicBlock", "Bottleneck", "ResidualBlock", "Upscaler"}
        rec.train()  # no finish(): the final evaluation would compile the eval-mode graphs too
    finally:
        rec.cleanup()
    recs = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    loss = [r["loss"] for r in recs if r["kind"] == "train"]
    assert loss[0] == pytest.approx(STORED_LOSSES[0], rel=1e-4)
    assert [r["kind"] for r in recs].count("startup") == 1
    assert any(cache.iterdir()) and not (tmp_path / "elsewhere").exists()


def test_cuda_graphs_and_whole_model_compile_are_exclusive(recipe, tmp_path):
    with pytest.raises(Exception, match="cuda_graphs and compile with compile_scope='model'"):
        load_config(recipe.TrainConfig, SMOKE, [f"output_dir={tmp_path}", "runtime.cuda_graphs=true",
                                                "runtime.compile=true", "runtime.compile_scope=model"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graph_steps_match_eager_steps(recipe, tmp_path):
    """The first step with the network replayed from CUDA graphs logs the loss of an eager step (TF32 off,
    so both paths compute in full float32). Only step 1 is compared tightly: Adam's first update is about
    lr·sign(g), so gradients that are numerically zero (sign decided by rounding) already move the weights
    differently; gradient equality is tested on a small network in tests/engine/test_graphs.py."""
    losses = {}
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        for graphs in (False, True):
            out = tmp_path / f"graphs_{graphs}"
            cfg = load_config(recipe.TrainConfig, SMOKE, [
                f"output_dir={out}", "runtime.max_steps=2", "runtime.device=cuda", "log.every=1",
                f"runtime.cuda_graphs={str(graphs).lower()}", "runtime.cudnn_benchmark=false",
                "log.image_every=0", "log.eval_every=0", "checkpoint.export=false", *FAST])
            rec = recipe.DPoSETrainRecipe(cfg)
            rec.run()
            if graphs:
                assert rec.model.captured and rec.model.replays == 2
            losses[graphs] = [r["loss"] for r in read_jsonl(out / "metrics.jsonl") if r["kind"] == "train"]
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
    assert len(losses[True]) == 2 and all(math.isfinite(v) for v in losses[True])
    assert losses[True][0] == pytest.approx(losses[False][0], rel=1e-5)
    assert losses[True][1] == pytest.approx(losses[False][1], rel=5e-2)


@pytest.mark.slow
def test_init_from_pretrained_takes_a_builtin_name(recipe, tmp_path):
    """``init.from_pretrained`` starts from saved weights: a built-in name (the shipped model, stored as
    float16 shards) loads strictly into the recipe's network of the same architecture."""
    compact = REPO / "recipes" / "dpose" / "configs" / "synthetic_compact.yaml"
    name = "dpose_efficientnet_lite0.synthetic"
    cfg = load_config(recipe.TrainConfig, compact, [
        f"output_dir={tmp_path}", "model.encoder=efficientnet_lite0", f"init.from_pretrained={name}",
        "runtime.device=cpu", "runtime.bf16=false", "runtime.cuda_graphs=false",
        "data.backgrounds=procedural", "data.batch_size=2", *FAST])
    rec = recipe.DPoSETrainRecipe(cfg)
    try:
        rec.setup()
        ref = DPoSE.from_pretrained(name).state_dict()
        got = rec.net.state_dict()
        assert got.keys() == ref.keys() and all(torch.equal(got[k].cpu(), ref[k]) for k in ref)
    finally:
        rec.cleanup()
    bad = load_config(recipe.TrainConfig, compact, [f"output_dir={tmp_path / 'b'}",
                                                    f"init.from_pretrained={name}",
                                                    "runtime.device=cpu", "runtime.cuda_graphs=false",
                                                    "data.backgrounds=procedural", *FAST])
    rec = recipe.DPoSETrainRecipe(bad)  # HRNet-W18 network, Lite0 weights: a strict-load error
    try:
        with pytest.raises(Exception, match="(?i)unexpected|missing|shape"):
            rec.setup()
    finally:
        rec.cleanup()
