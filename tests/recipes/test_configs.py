"""The shipped configs: each loads against its schema, opens with its own launch command, and holds the
numbers it claims (paper §4.2, the authors' released settings of docs/authors-code.md (g)/(h))."""

from __future__ import annotations

import re

import pytest
from recipe_helpers import RECIPE

from hpskit.engine import load_config

CONFIGS = RECIPE / "configs"
TRAIN = ["paper", "reference", "synthetic", "smoke"]
EVAL = ["eval_3dpw", "eval_emdb", "eval_synthetic"]


@pytest.mark.parametrize("name", TRAIN + EVAL)
def test_loads_and_opens_with_its_launch_command(recipe, name):
    from _lib.evaluation import EvalConfig

    path = CONFIGS / f"{name}.yaml"
    schema = EvalConfig if name.startswith("eval") else recipe.TrainConfig
    load_config(schema, path)
    head = path.read_text().split("\n\n")[0] + path.read_text().split("\n\n")[1]
    script = "eval.py" if name.startswith("eval") else "train.py"
    assert f"recipes/dpose/{script} --config recipes/dpose/configs/{name}.yaml" in head
    assert path.read_text().startswith("# ")


def test_paper_and_reference_numbers(recipe):
    from _lib.config import resolved_loss

    paper = load_config(recipe.TrainConfig, CONFIGS / "paper.yaml")
    w, o = resolved_loss(paper.loss)
    lambdas = (w.depth, w.depth_ssim, w.parts_ce, w.pose, w.betas, w.joints3d, w.vertices, w.kp2d)
    assert lambdas == (0.1, 0.02, 0.1, 10, 0.01, 50, 10, 50) and w.overall == 1 and w.cam_scale == 0
    assert (paper.optim.name, paper.optim.lr, paper.optim.grad_clip_norm, paper.optim.scheduler) == (
        "adam", 1e-5, 1.5, "constant")
    assert (paper.data.batch_size, paper.runtime.max_steps, paper.data.res) == (64, 200_000, 224)
    assert (paper.data.source, paper.data.crop.scale_jitter, paper.data.crop.random_crop_prob) == (
        "bedlam_agora", 0.25, 0.2)
    assert paper.model.encoder == "hrnet_w48" and paper.init.coco_hrnet.endswith("pose_hrnet_w48_256x192.pth")

    ref = load_config(recipe.TrainConfig, CONFIGS / "reference.yaml")
    w, o = resolved_loss(ref.loss)
    assert ref.optim.lr == 1e-4 and w.overall == 60 and w.cam_scale == 10 and w.depth == w.depth_ssim == 0
    assert o.exclude_root and o.kp2d_bbox_factor and ref.data.photometric == "authors"
    assert ref.model.use_depth  # the depth branch is built and feeds the regressor, unsupervised


def test_synthetic_fits_the_gpu_budget(recipe):
    cfg = load_config(recipe.TrainConfig, CONFIGS / "synthetic.yaml")
    assert cfg.model.encoder == "hrnet_w48" and cfg.model.body_model == "standin"
    assert 0 < cfg.runtime.max_minutes <= 9 and cfg.data.source == "synthetic" and cfg.log.eval_every > 0
    smoke = load_config(recipe.TrainConfig, CONFIGS / "smoke.yaml")
    assert smoke.runtime.device == "cpu" and smoke.data.batch_size <= 2 and smoke.runtime.max_steps <= 8


def _nested_container_fields(cls, path="", seen=None):
    """Fields typed as a list/tuple of tuples: OmegaConf 2.3 on Python 3.12 rejects tuple items."""
    import dataclasses
    import typing

    seen = set() if seen is None else seen
    if cls in seen:
        return []
    seen.add(cls)
    bad = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        origin = typing.get_origin(tp)
        if origin in (list, tuple):
            for arg in typing.get_args(tp):
                if typing.get_origin(arg) is tuple:
                    bad.append(f"{path}{f.name}: {tp}")
        for arg in (tp, *typing.get_args(tp)):
            if dataclasses.is_dataclass(arg):
                bad += _nested_container_fields(arg, f"{path}{f.name}.", seen)
    return bad


def test_schema_has_no_nested_container_fields(recipe):
    assert _nested_container_fields(recipe.TrainConfig) == []


@pytest.mark.parametrize(("overrides", "error"), [
    (["runtime.compile=true"], None),  # blocks scope, automatic cache
    (["runtime.compile=true", "runtime.cuda_graphs=true"], None),  # blocks compile before the capture
    (["runtime.compile=true", "runtime.compile_scope=model"], None),
    (["runtime.compile=true", "runtime.compile_cache=off"], None),
    (["runtime.compile=true", "runtime.compile_cache={tmp}/cache"], None),
    (["runtime.compile=true", "runtime.compile_scope=model", "runtime.cuda_graphs=true"],
     "cuda_graphs and compile with compile_scope='model' are alternatives"),
    (["runtime.compile_scope=layers"], "compile_scope must be 'blocks' or 'model'; got 'layers'"),
    (["runtime.compile_cache="], "compile_cache must be 'auto', 'off' or a folder"),
    (["runtime.compile_cache={tmp}/file"], "is a file"),
])
def test_runtime_compile_settings(recipe, tmp_path, overrides, error):
    from hpskit.core import ConfigError

    (tmp_path / "file").write_text("not a folder")
    args = [o.format(tmp=tmp_path) for o in overrides]
    if error is None:
        cfg = load_config(recipe.TrainConfig, CONFIGS / "smoke.yaml", args)
        assert cfg.runtime.compile
    else:
        with pytest.raises(ConfigError, match=re.escape(error)):
            load_config(recipe.TrainConfig, CONFIGS / "smoke.yaml", args)
