"""save_pretrained / from_pretrained: bitwise round trip, strictness, configs, cards, push_to_hub."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from _hub_tiny import HeadConfig, Tied, Tiny, TinyConfig, trained_tiny
from safetensors.torch import load_file, save_file
from torch import nn

import hpskit
from hpskit.core import ConfigError, MissingFileError, WeightsMismatchError
from hpskit.hub import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, HubMixin, save_pretrained


def _assert_same_state(a: nn.Module, b: nn.Module):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert sa[k].dtype == sb[k].dtype, k
        assert torch.equal(sa[k], sb[k]), k


def test_round_trip_is_bitwise_with_nested_config(tmp_path):
    config = TinyConfig(
        width=5, name="x", head=HeadConfig(hidden=7, dims=(4, 1)),
        extra_heads=[HeadConfig(2, (1,)), HeadConfig()], optional_head=HeadConfig(hidden=3),
        data_root=Path("/data/bedlam"),
    )
    model = trained_tiny(config)
    model.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [CARD_NAME, CONFIG_NAME, WEIGHTS_NAME]

    loaded = Tiny.from_pretrained(tmp_path / "m")
    assert loaded.config == config  # nested dataclasses, tuples, lists and Path rebuilt with their types
    assert isinstance(loaded.config.head, HeadConfig) and isinstance(loaded.config.head.dims, tuple)
    assert isinstance(loaded.config.extra_heads[0], HeadConfig) and isinstance(loaded.config.data_root, Path)
    assert not loaded.training
    _assert_same_state(model, loaded)
    x = torch.randn(4, 5)
    assert torch.equal(model(x), loaded(x))


def test_config_json_is_sorted_indented_with_metadata(tmp_path):
    trained_tiny().save_pretrained(tmp_path)
    text = (tmp_path / CONFIG_NAME).read_text()
    data = json.loads(text)
    assert data["model_type"] == "tiny" and data["hpskit_version"] == hpskit.__version__
    assert data["head"] == {"dims": [3, 2], "hidden": 8}
    assert text == json.dumps(data, indent=2, sort_keys=True) + "\n"
    assert list(data) == sorted(data)


def test_strict_load_lists_renamed_key(tmp_path):
    trained_tiny().save_pretrained(tmp_path)
    tensors = load_file(tmp_path / WEIGHTS_NAME)
    tensors["fc.weights"] = tensors.pop("fc.weight")
    save_file(tensors, tmp_path / WEIGHTS_NAME)
    with pytest.raises(WeightsMismatchError) as info:
        Tiny.from_pretrained(tmp_path)
    msg = str(info.value)
    assert "missing (1 key" in msg and "unexpected (1 key" in msg
    assert "fc.weight" in msg and "fc.weights" in msg and "fc.*" in msg
    assert info.value.missing == ["fc.weight"] and info.value.unexpected == ["fc.weights"]


def test_strict_load_rejects_shape_mismatch(tmp_path):
    trained_tiny().save_pretrained(tmp_path)
    data = json.loads((tmp_path / CONFIG_NAME).read_text())
    data["width"] = 4  # the model now wants fc.weight (8, 4), mean (1, 4); the file has width 6
    (tmp_path / CONFIG_NAME).write_text(json.dumps(data))
    with pytest.raises(WeightsMismatchError) as info:
        Tiny.from_pretrained(tmp_path)
    msg = str(info.value)
    assert "fc.weight: file (8, 6) vs model (8, 4)" in msg and "mean: file (1, 6) vs model (1, 4)" in msg
    assert info.value.mismatched == ["fc.weight", "mean"]


def test_missing_key_is_listed(tmp_path):
    trained_tiny().save_pretrained(tmp_path)
    tensors = load_file(tmp_path / WEIGHTS_NAME)
    del tensors["bn.num_batches_tracked"], tensors["out.bias"]
    save_file(tensors, tmp_path / WEIGHTS_NAME)
    with pytest.raises(WeightsMismatchError, match=r"bn\.num_batches_tracked") as info:
        Tiny.from_pretrained(tmp_path)
    assert info.value.missing == ["bn.num_batches_tracked", "out.bias"]


def test_no_pickle_fallback(tmp_path):
    model = trained_tiny()
    model.save_pretrained(tmp_path)
    (tmp_path / WEIGHTS_NAME).unlink()
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(MissingFileError, match="model.safetensors"):
        Tiny.from_pretrained(tmp_path)


def test_unknown_config_keys_listed(tmp_path):
    trained_tiny().save_pretrained(tmp_path)
    data = json.loads((tmp_path / CONFIG_NAME).read_text())
    data["colour"] = "red"
    data["head"]["depth"] = 3
    (tmp_path / CONFIG_NAME).write_text(json.dumps(data))
    with pytest.raises(ConfigError) as info:
        Tiny.from_pretrained(tmp_path)
    assert "`colour`" in str(info.value) and "`head.depth`" in str(info.value)


def test_model_type_mismatch_and_overrides(tmp_path):
    trained_tiny().save_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="model_type 'tiny'"):
        Tied.from_pretrained(tmp_path)
    loaded = Tiny.from_pretrained(tmp_path, name="renamed")
    assert loaded.config.name == "renamed"
    with pytest.raises(ConfigError, match="`nope`"):
        Tiny.from_pretrained(tmp_path, nope=1)


def test_non_dataclass_config_is_refused(tmp_path):
    model = trained_tiny()
    with pytest.raises(ConfigError, match="dataclass"):
        save_pretrained(nn.Linear(2, 2), tmp_path, config={"width": 2})
    with pytest.raises(ConfigError, match="TinyConfig"):
        model.save_pretrained(tmp_path, config=HeadConfig())

    class NoConfig(nn.Linear, HubMixin):
        pass

    with pytest.raises(ConfigError, match="no config"):
        NoConfig(2, 2).save_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="config_class"):
        NoConfig.from_pretrained(tmp_path)


def test_model_card_written_once(tmp_path):
    from huggingface_hub import ModelCard

    trained_tiny().save_pretrained(tmp_path)
    card = ModelCard.load(tmp_path / CARD_NAME)
    assert card.data.library_name == "hpskit" and card.data.license == "apache-2.0"
    assert "hpskit" in card.data.tags and "tiny" in card.data.tags
    for section in ("## Architecture", "## Training data", "## Metrics", "| MPJPE (mm) | 1.5 |",
                    "### Body model", "smpl-x.is.tue.mpg.de", "Tiny.from_pretrained"):
        assert section in card.text, section
    (tmp_path / CARD_NAME).write_text("my own card\n")
    trained_tiny(seed=1).save_pretrained(tmp_path)
    assert (tmp_path / CARD_NAME).read_text() == "my own card\n"
    assert not torch.equal(load_file(tmp_path / WEIGHTS_NAME)["fc.weight"], trained_tiny().fc.weight)


def test_shared_tensors_saved_once_and_restored(tmp_path):
    model = Tied(HeadConfig(hidden=4))
    assert model.state_dict()["enc.weight"].data_ptr() == model.state_dict()["dec.weight"].data_ptr()
    model.save_pretrained(tmp_path)
    assert sorted(load_file(tmp_path / WEIGHTS_NAME)) == ["dec.bias", "enc.weight"]
    loaded = Tied.from_pretrained(tmp_path)
    assert loaded.dec.weight is loaded.enc.weight
    _assert_same_state(model, loaded)


def test_data_parallel_and_ddp_are_unwrapped(tmp_path):
    import torch.distributed as dist

    model = trained_tiny()
    # DataParallel moves the module it wraps to cuda:0 when a GPU is present: wrap a copy
    save_pretrained(nn.DataParallel(copy.deepcopy(model)), tmp_path / "dp")
    _assert_same_state(model, Tiny.from_pretrained(tmp_path / "dp"))

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        ddp = nn.parallel.DistributedDataParallel(model)
        save_pretrained(ddp, tmp_path / "ddp")
    finally:
        dist.destroy_process_group()
    assert not any(k.startswith("module.") for k in load_file(tmp_path / "ddp" / WEIGHTS_NAME))
    _assert_same_state(model, Tiny.from_pretrained(tmp_path / "ddp"))


def test_missing_folder_and_files(tmp_path):
    with pytest.raises(MissingFileError, match="neither a folder"):
        Tiny.from_pretrained(tmp_path / "does" / "not-exist")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingFileError, match="lacks"):
        Tiny.from_pretrained(tmp_path / "empty")


def test_push_to_hub_calls_create_repo_and_upload_folder(monkeypatch):
    import huggingface_hub

    calls = []

    class FakeApi:
        def __init__(self, token=None):
            calls.append(("init", token))

        def create_repo(self, repo_id, **kw):
            calls.append(("create_repo", repo_id, kw))
            return huggingface_hub.RepoUrl(f"https://huggingface.co/{repo_id}")

        def file_exists(self, repo_id, filename, **kw):
            calls.append(("file_exists", repo_id, filename))
            return remote_has_card

        def upload_folder(self, **kw):
            folder = Path(kw["folder_path"])
            calls.append(("upload_folder", kw, sorted(p.name for p in folder.iterdir()),
                          json.loads((folder / CONFIG_NAME).read_text())))
            return "commit-info"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    model = trained_tiny()
    for remote_has_card, files in ((False, [CARD_NAME, CONFIG_NAME, WEIGHTS_NAME]),
                                   (True, [CONFIG_NAME, WEIGHTS_NAME])):
        calls.clear()
        out = model.push_to_hub("org/tiny", private=True, token="tok", commit_message="hi")
        assert out == "commit-info"
        assert [c[0] for c in calls] == ["init", "create_repo", "file_exists", "upload_folder"]
        assert calls[0] == ("init", "tok")
        assert calls[1][1] == "org/tiny"
        assert calls[1][2]["exist_ok"] is True and calls[1][2]["private"] is True
        up = calls[3]
        assert up[1]["repo_id"] == "org/tiny" and up[1]["commit_message"] == "hi"
        assert up[2] == files and up[3]["model_type"] == "tiny"


@pytest.mark.parametrize("key, value, match", [
    ("width", "6", r"`width` must be int; got str '6'"),
    ("width", 6.7, r"`width` must be int; got float 6.7"),
    ("width", True, r"`width` must be int; got bool"),
    ("name", 3, r"`name` must be str"),
    ("head", {"hidden": "8"}, r"`head.hidden` must be int"),
    ("head", {"dims": [3, "2"]}, r"`head.dims\[1\]` must be int"),
])
def test_config_json_field_types_are_checked(tmp_path, key, value, match):
    """Issue 16 item 9: a wrong-typed config.json field is one ConfigError naming the field, never a raw
    TypeError later, and a float for an int is rejected rather than written back."""
    Tiny(TinyConfig()).save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / CONFIG_NAME).read_text())
    cfg[key] = value
    (tmp_path / CONFIG_NAME).write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match=match):
        Tiny.from_pretrained(tmp_path)


def test_dpose_config_json_wrong_types():
    from hpskit.hub import config_from_dict
    from hpskit.models import DPoSEConfig

    with pytest.raises(ConfigError, match=r"`num_parts` must be int; got str '23'"):
        config_from_dict(DPoSEConfig, {"num_parts": "23"})
    with pytest.raises(ConfigError, match=r"`head_hidden` must be int; got float 32.7"):
        config_from_dict(DPoSEConfig, {"head_hidden": 32.7})
    cfg = config_from_dict(DPoSEConfig, {"image_mean": [0, 0.5, 1], "crop_mode": "authors"})
    assert cfg.image_mean == (0.0, 0.5, 1.0) and all(isinstance(v, float) for v in cfg.image_mean)
