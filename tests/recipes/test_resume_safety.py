"""Issue 16, items 5 and 11: a run killed before its first checkpoint is logged once per step when run again,
and resuming with a changed architecture is refused before anything in the run folder changes."""

from __future__ import annotations

import shutil

import pytest
from recipe_helpers import FAST, SMOKE

from hpskit.core import ConfigError
from hpskit.engine import CheckpointManager, load_config, read_jsonl


def _cfg(recipe, out, *extra):
    from _lib.config import TrainConfig

    return load_config(TrainConfig, SMOKE, [f"output_dir={out}", *FAST, "log.image_every=0",
                                            "checkpoint.export=false", *extra])


@pytest.fixture(scope="module")
def killed_then_rerun(recipe, tmp_path_factory):
    """The smoke run killed while its first checkpoint (step 2) is written, then run again to the end."""
    out = tmp_path_factory.mktemp("killed_first_ckpt")
    real_save = CheckpointManager.save

    def killed(self, state, step):
        raise KeyboardInterrupt  # the process dies inside the first checkpoint write

    CheckpointManager.save = killed
    try:
        with pytest.raises(KeyboardInterrupt):
            recipe.DPoSETrainRecipe(_cfg(recipe, out)).run()
    finally:
        CheckpointManager.save = real_save
    first = [r["step"] for r in read_jsonl(out / "metrics.jsonl") if r["kind"] == "train"]
    assert first == [1, 2] and CheckpointManager(out / "checkpoints").latest() is None
    recipe.DPoSETrainRecipe(_cfg(recipe, out)).run()
    return out


def test_every_step_logged_once_after_a_kill_before_the_first_checkpoint(killed_then_rerun):
    steps = [r["step"] for r in read_jsonl(killed_then_rerun / "metrics.jsonl") if r["kind"] == "train"]
    assert steps == [1, 2, 3, 4]


def test_changed_architecture_is_refused_before_the_config_is_rewritten(recipe, killed_then_rerun, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(killed_then_rerun, out)
    saved = (out / "config.yaml").read_bytes()
    log = (out / "metrics.jsonl").read_bytes()
    with pytest.raises(ConfigError) as info:
        recipe.DPoSETrainRecipe(_cfg(recipe, out, "model.head_hidden=64", "runtime.max_steps=6")).run()
    msg = str(info.value)
    assert "model.head_hidden: 32 in" in msg and "64 now" in msg and "step_00000004.pt" in msg
    assert "max_steps" not in msg  # a longer run is a legitimate change, not a refusal
    assert (out / "config.yaml").read_bytes() == saved and (out / "metrics.jsonl").read_bytes() == log
