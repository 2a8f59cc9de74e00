"""recipes/dpose/score_pool.py: an overfit run's pool rescored from its checkpoint in both BatchNorm modes."""

from __future__ import annotations

import math

import pytest
from recipe_helpers import FAST, SMOKE, import_recipe, run_script

from hpskit.core import ConfigError
from hpskit.engine import read_jsonl

pytestmark = pytest.mark.slow  # trains the smoke config in a subprocess first


@pytest.fixture(scope="module")
def score_pool():
    import_recipe()  # puts recipes/dpose on sys.path
    import score_pool  # noqa: PLC0415

    return score_pool


def test_eval_mode_reproduces_the_logged_pool_record(score_pool, tmp_path):
    run = tmp_path / "overfit"
    run_script("train.py", ["--config", str(SMOKE), f"output_dir={run}", *FAST, "data.overfit_batches=2",
                            "runtime.max_steps=3", "log.image_every=0", "checkpoint.every=0",
                            "checkpoint.export=false"])
    logged = [r for r in read_jsonl(run / "metrics.jsonl") if r["kind"] == "eval_pool"][-1]
    before = (run / "metrics.jsonl").read_bytes()
    res = score_pool.score_pool(run)
    assert res["step"] == logged["step"] == 3
    for k in score_pool.KEYS:  # the same checkpoint, pool and code path as the recipe's evaluate()
        assert res["eval"][k] == pytest.approx(logged[k], rel=1e-5, abs=1e-6), k
    assert all(math.isfinite(res["train"][k]) for k in score_pool.KEYS)
    # a different normalisation gives different outputs: the modes really differ
    assert res["train"]["pve"] != pytest.approx(res["eval"]["pve"], rel=1e-4)
    assert (run / "metrics.jsonl").read_bytes() == before  # the run folder is not touched
    no_pool = tmp_path / "plain"
    no_pool.mkdir()
    (no_pool / "config.yaml").write_text((run / "config.yaml").read_text().replace(
        "overfit_batches: 2", "overfit_batches: 0"))
    with pytest.raises(ConfigError, match="did not overfit"):
        score_pool.score_pool(no_pool)


def test_heldout_mode_scores_a_saved_model_in_both_modes(score_pool, tmp_path):
    from hpskit.models import DPoSE, DPoSEConfig  # noqa: PLC0415

    folder = tmp_path / "model"
    DPoSE(DPoSEConfig(encoder="hrnet_w18", body_model="standin")).save_pretrained(folder)
    res = score_pool.score_heldout(str(folder), SMOKE, num_samples=4, batch_size=2)
    assert res["step"] is None and set(res) == {"step", "eval", "train"}
    for mode in ("eval", "train"):
        assert all(math.isfinite(res[mode][k]) for k in score_pool.KEYS)
        assert 0.0 <= res[mode]["part_miou"] <= 1.0
    assert res["train"]["pve"] != pytest.approx(res["eval"]["pve"], rel=1e-4)  # the two normalisations differ
    with pytest.raises(SystemExit):  # run folders and --pretrained are alternatives
        score_pool.main(["some_run", "--pretrained", str(folder)])
    with pytest.raises(SystemExit):
        score_pool.main([])
