"""The BEDLAM + AGORA path of the recipe on the data fixtures: it trains, its data stream resumes exactly
across an epoch boundary (sampler position, crop augmentation, device-side photometric augmentation), and it
refuses the stand-in body for SMPL-X labels."""

from __future__ import annotations

import pytest
import torch
from recipe_helpers import FAST, SMOKE

from hpskit.body import SMPLXBody
from hpskit.core import ConfigError
from hpskit.engine import load_config, read_jsonl
from hpskit.testing.datasets import write_agora, write_bedlam


@pytest.fixture(scope="module")
def real_data(tmp_path_factory, body_root):
    smplx = body_root / "smplx" / "SMPLX_NEUTRAL.npz"
    body = SMPLXBody(smplx)
    bedlam = write_bedlam(tmp_path_factory.mktemp("bedlam"), body_model=body, frames=2)
    agora = write_agora(tmp_path_factory.mktemp("agora"), body_model=body)
    return {"data.source": "bedlam_agora", "data.bedlam_root": bedlam, "data.agora_root": agora,
            "model.body_model": smplx, "data.num_workers": 0}, body


def _cfg(recipe, tmp_path, data, *more):
    args = [f"output_dir={tmp_path}", *[f"{k}={v}" for k, v in data.items()], "checkpoint.export=false",
            "log.image_every=0", *FAST, *more]
    return load_config(recipe.TrainConfig, SMOKE, args)


def test_trains_on_bedlam_and_agora(recipe, tmp_path, real_data):
    data, _ = real_data
    rec = recipe.DPoSETrainRecipe(_cfg(recipe, tmp_path, data, "runtime.max_steps=2"))
    rec.run()
    recs = [r for r in read_jsonl(tmp_path / "metrics.jsonl") if r["kind"] == "train"]
    assert [r["step"] for r in recs] == [1, 2] and all(isinstance(r["loss"], float) for r in recs)
    assert rec.stream.state_dict()["kind"] == "loader" and not rec.heldout  # no synthetic split to score


def test_loader_stream_resumes_exactly_across_epochs(recipe, tmp_path, real_data):
    from _lib.data import build_train_stream

    data, body = real_data
    cfg = _cfg(recipe, tmp_path, data).data
    make = lambda: build_train_stream(cfg, body, seed=3, rank=0, world_size=1, device=torch.device("cpu"))  # noqa: E731
    a = make()
    per_epoch = a.batches_per_epoch
    assert per_epoch >= 2
    ref = [a.next() for _ in range(per_epoch + 2)]  # into the second epoch
    b = make()
    for _ in range(per_epoch - 1):
        b.next()
    state = b.state_dict()
    c = make()
    c.load_state_dict(state)
    for got, want in zip([c.next() for _ in range(3)], ref[per_epoch - 1:]):
        assert torch.equal(got.index, want.index) and got.dataset == want.dataset
        assert torch.equal(got.img, want.img) and torch.equal(got.center, want.center)
    assert c.state_dict() == {"kind": "loader", "epoch": 1, "in_epoch": 2, "position": per_epoch + 2}
    # A new epoch reshuffles.
    assert [r.index.tolist() for r in ref[:2]] != [r.index.tolist() for r in ref[per_epoch:per_epoch + 2]]


def test_refuses_the_standin_body_for_smplx_labels(recipe, tmp_path, real_data):
    data, _ = real_data
    rec = recipe.DPoSETrainRecipe(_cfg(recipe, tmp_path, {**data, "model.body_model": "standin"}))
    with pytest.raises(ConfigError, match="stand-in"):
        rec.run()
