"""Sharded float16 weight folders (model.safetensors.index.json): written, read back, refused when broken."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from hpskit.core import CorruptFileError, MissingFileError
from hpskit.hub import WEIGHTS_INDEX_NAME, WEIGHTS_NAME, load_sharded_weights, save_weights_sharded


def _sd():
    g = torch.Generator().manual_seed(0)
    return {"a.weight": torch.randn(300, 100, generator=g), "b.weight": torch.randn(200, 100, generator=g),
            "b.bias": torch.randn(200, generator=g), "steps": torch.tensor(7)}


def test_round_trip_in_float16_with_shards(tmp_path):
    sd = _sd()
    files = save_weights_sharded(sd, tmp_path, max_shard_bytes=70_000, dtype=torch.float16)
    index = json.loads((tmp_path / WEIGHTS_INDEX_NAME).read_text())
    assert files[-1].name == WEIGHTS_INDEX_NAME and len(files) == 3  # two shards + index
    assert index["metadata"]["total_size"] == (300 * 100 + 200 * 100 + 200) * 2 + 8
    assert set(index["weight_map"]) == set(sd)
    back = load_sharded_weights(tmp_path / WEIGHTS_INDEX_NAME)
    for k, v in sd.items():
        want = v.to(torch.float16) if v.is_floating_point() else v
        assert back[k].dtype == want.dtype and torch.equal(back[k], want)


def test_small_state_dicts_stay_one_file(tmp_path):
    files = save_weights_sharded({"w": torch.ones(3)}, tmp_path, max_shard_bytes=1 << 20)
    assert files == [tmp_path / WEIGHTS_NAME] and not (tmp_path / WEIGHTS_INDEX_NAME).exists()


def test_broken_index_or_shard_is_refused(tmp_path):
    save_weights_sharded(_sd(), tmp_path, max_shard_bytes=70_000, dtype=torch.float16)
    index = json.loads((tmp_path / WEIGHTS_INDEX_NAME).read_text())
    moved = dict(index, weight_map={**index["weight_map"], "b.bias": "model-00001-of-00002.safetensors"})
    (tmp_path / "moved.json").write_text(json.dumps(moved))
    with pytest.raises(CorruptFileError, match="does not place there"):
        load_sharded_weights(tmp_path / "moved.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CorruptFileError, match="not a safetensors index"):
        load_sharded_weights(tmp_path / "bad.json")
    (tmp_path / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(MissingFileError):
        load_sharded_weights(tmp_path / WEIGHTS_INDEX_NAME)


def test_from_pretrained_reads_a_sharded_folder(tmp_path):
    from hpskit.models import DPoSE, DPoSEConfig

    model = DPoSE(DPoSEConfig(encoder="resnet18", body_model="none"))
    model.save_pretrained(tmp_path / "full")
    folder = tmp_path / "sharded"
    folder.mkdir()
    (folder / "config.json").write_text((tmp_path / "full" / "config.json").read_text())
    cfg = json.loads((folder / "config.json").read_text())
    meta = {"weights_id": cfg["weights_id"]} if cfg.get("weights_id") else None
    save_weights_sharded(model.state_dict(), folder, max_shard_bytes=8 << 20, metadata=meta)
    assert (folder / WEIGHTS_INDEX_NAME).is_file() and not (folder / WEIGHTS_NAME).exists()
    back = DPoSE.from_pretrained(folder)
    for k, v in model.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k
    assert isinstance(back, nn.Module) and not back.training
