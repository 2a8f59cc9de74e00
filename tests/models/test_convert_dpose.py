"""The official-checkpoint converter on a synthetic checkpoint in the authors' exact layout.

The synthetic ``.ckpt`` has every one of the 2346 keys of the authors' Lightning checkpoint with its real
shape and dtype (``tests/fixtures/dpose_official_ckpt_keys.tsv``, read by ``tests/_reference.py``; random
distinct values), the documented top-level keys in order, and ``hyper_parameters`` made of pickled
yacs-like ``CfgNode`` objects (a fake ``yacs.config`` module that exists only while the file is written).
"""

from __future__ import annotations

import collections
import importlib.abc
import json
import os
import runpy
import sys
import time
import types
from pathlib import Path

import pytest
import torch
from _reference import HPSKIT_TOTAL, REFERENCE_TOTAL, official_checkpoint_keys
from safetensors import safe_open

import hpskit
from hpskit.core import ConfigError, CorruptFileError, WeightsMismatchError
from hpskit.hub import read_weights_metadata
from hpskit.models.convert_dpose import (
    DPOSE_CONVERTED_CONFIG,
    DROPPED_KEYS,
    CfgNodeStandIn,
    convert_dpose_checkpoint,
    load_lightning_checkpoint,
    map_dpose_state_dict,
)

CKPT = "epoch=3-step=151000.ckpt"
TOP_LEVEL = ["epoch", "global_step", "pytorch-lightning_version", "state_dict", "loops", "callbacks",
             "optimizer_states", "lr_schedulers", "hyper_parameters"]


def expected_hpskit_name(key: str) -> str:
    """Independent statement of the mapping (written from the brief, not from the converter's rules)."""
    k = key[len("model."):]
    if k.startswith("backbone.upsample_stage_"):
        return "encoder." + k[len("backbone."):]
    if k.startswith("backbone."):
        return "encoder.trunk." + k[len("backbone."):]
    if k.startswith("segmentation_decoder."):
        return "part_decoder." + k[len("segmentation_decoder."):]
    if k.startswith("attention.conv1x1_pose."):
        return "attention.mixer." + k[len("attention.conv1x1_pose."):]
    if k.startswith("head."):
        return "regressor." + k[len("head."):]
    assert k.startswith("depth_decoder.")
    return k


def is_dropped(key: str) -> bool:
    return (key == "J_regressor" or key.startswith(("smplx.", "smpl.", "model.smpl.smplx.",
                                                    "model.backbone.final_layer.",
                                                    "model.attention.conv1x1_shape_cam.")))


# ----------------------------------------------------------------------------- fake yacs
class _YacsImportSpy(importlib.abc.MetaPathFinder):
    def __init__(self):
        self.attempts = []

    def find_spec(self, name, path=None, target=None):
        if name == "yacs" or name.startswith("yacs."):
            self.attempts.append(name)
        return None


def _fake_yacs():
    """A module pair ``yacs``/``yacs.config`` with a CfgNode like yacs's (dict + instance attributes)."""
    yacs, config = types.ModuleType("yacs"), types.ModuleType("yacs.config")

    class CfgNode(dict):
        def __init__(self, init_dict=None):
            items = (init_dict or {}).items()
            super().__init__({k: CfgNode(v) if isinstance(v, dict) else v for k, v in items})
            self.__dict__.update({"__immutable__": True, "__deprecated_keys__": set(),
                                  "__renamed_keys__": {}, "__new_allowed__": False})

    CfgNode.__module__, CfgNode.__qualname__ = "yacs.config", "CfgNode"
    config.CfgNode, yacs.config = CfgNode, config
    return yacs, config


def hyper_parameters(CfgNode):
    return {
        "LOG_DIR": "logs", "EXP_NAME": "dpose", "SEED_VALUE": -1, "RUN_TEST": False,
        "DATASET": CfgNode({"BATCH_SIZE": 64, "DATASETS_AND_RATIOS": "bedlam_agora", "CROP_PERCENT": 0.8}),
        "OPTIMIZER": CfgNode({"TYPE": "adam", "LR": 1e-4, "WD": 0.0}),
        "TRAINING": CfgNode({"PRETRAINED_CKPT": "coco", "MAX_EPOCHS": 200000, "GT_VIS": False}),
        "TESTING": CfgNode({"TEST_DATASETS": ["3dpw-test-cam"]}),
        "MODEL": CfgNode({"BACKBONE": "hrnet_w48-conv", "SHAPE_LOSS_WEIGHT": 1.0, "SUB": {"DEPTH": True}}),
        "TRIAL": CfgNode({"criterion": "mse", "version": "synthetic", "losses_abl": ("a", "b")}),
    }


def write_checkpoint(path: Path, state_dict, with_yacs=True, extra_hparams=None) -> None:
    yacs, config = _fake_yacs()
    n_params = sum(1 for v in state_dict.values() if v.is_floating_point())
    first = next(v for k, v in state_dict.items() if k.startswith("model."))
    ckpt = {
        "epoch": 3, "global_step": 151000, "pytorch-lightning_version": "1.9.0",
        "state_dict": state_dict,
        "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"ready": 4, "completed": 3}},
                               "epoch_loop.batch_progress": {"total": {"ready": 151000}}}},
        "callbacks": {"ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min'}": {
            "monitor": "val_loss", "best_model_score": torch.tensor(45.2), "best_model_path": "e=3.ckpt",
            "current_score": torch.tensor(45.2), "dirpath": "logs/ckpt",
            "best_k_models": {"a.ckpt": torch.tensor(46.0)}, "kth_best_model_path": "a.ckpt",
            "kth_value": torch.tensor(46.0), "last_model_path": ""}},
        # An Adam entry of the real shape for the first parameter (the full state would double the file).
        "optimizer_states": [{
            "state": {0: {"step": torch.tensor(151000.0), "exp_avg": torch.zeros_like(first),
                          "exp_avg_sq": torch.zeros_like(first)}},
            "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
                              "amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
                              "differentiable": False, "fused": None, "params": list(range(n_params))}]}],
        "lr_schedulers": [],
        "hyper_parameters": (hyper_parameters(config.CfgNode) if with_yacs else {"LOG_DIR": "logs"})
        | (extra_hparams or {}),
    }
    assert list(ckpt) == TOP_LEVEL
    saved = {k: sys.modules.get(k) for k in ("yacs", "yacs.config")}
    sys.modules.update({"yacs": yacs, "yacs.config": config})
    try:
        torch.save(ckpt, path)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def reference_state_dict(seed=0) -> collections.OrderedDict:
    g = torch.Generator().manual_seed(seed)
    sd = collections.OrderedDict()
    for t in official_checkpoint_keys():
        key, shape, dtype = t.key, t.shape, t.dtype
        if dtype == torch.int64:
            sd[key] = torch.randint(0, 10000, shape, generator=g, dtype=torch.int64)
        else:
            sd[key] = torch.empty(shape).uniform_(-1, 1, generator=g)
    return sd


def expected_target(sd) -> dict[str, tuple[int, ...]]:
    return {expected_hpskit_name(k): tuple(v.shape) for k, v in sd.items() if not is_dropped(k)}


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """The full-size synthetic checkpoint (~0.46 GB) and its conversion, done once for the module."""
    root = tmp_path_factory.mktemp("dpose_ckpt")
    t0 = time.perf_counter()
    sd = reference_state_dict()
    write_checkpoint(root / CKPT, sd)
    t1 = time.perf_counter()
    spy = _YacsImportSpy()
    sys.meta_path.insert(0, spy)
    try:  # verified against the independent name -> shape list while converting
        report = convert_dpose_checkpoint(root / CKPT, root / "out", target=expected_target(sd))
    finally:
        sys.meta_path.remove(spy)
    t2 = time.perf_counter()
    timings = {"write_s": round(t1 - t0, 2), "convert_s": round(t2 - t1, 2),
               "ckpt_MB": round((root / CKPT).stat().st_size / 2**20), "out_MB":
               round((root / "out" / "model.safetensors").stat().st_size / 2**20)}
    print(f"\nsynthetic official checkpoint: {timings}")
    return types.SimpleNamespace(root=root, sd=sd, report=report, spy=spy, timings=timings)


# ----------------------------------------------------------------------------- tests
def test_fixture_matches_the_documented_layout():
    rows = official_checkpoint_keys()
    assert len(rows) == 2346 and rows[0].key == "J_regressor"
    assert sum(1 for r in rows if r.key.startswith("model.")) == 2309
    params = sum(r.numel for r in rows if r.kind == "param" and r.key.startswith("model."))
    assert params == REFERENCE_TOTAL
    kept = sum(r.numel for r in rows if r.kind == "param" and not is_dropped(r.key))
    assert kept == HPSKIT_TOTAL  # the parameter-parity number


def test_mapping_on_shapes_only():
    sd = {t.key: torch.empty(t.shape, dtype=t.dtype, device="meta") for t in official_checkpoint_keys()}
    out, dropped = map_dpose_state_dict(sd)
    assert list(out) == [expected_hpskit_name(k) for k in sd if not is_dropped(k)]
    assert len(out) == 2289
    assert {r: len(v) for r, v in dropped.items()} == {
        "trainer H36M regressor": 1, "licensed SMPL-X arrays (model.smpl.smplx)": 16,
        "trainer SMPL-X body model": 25, "trainer SMPL body model": 11, "dead backbone.final_layer": 2,
        "dead attention.conv1x1_shape_cam": 2}
    assert sorted(k for v in dropped.values() for k in v) == sorted(k for k in sd if is_dropped(k))
    assert {r: tuple(v) for r, v in dropped.items()} == DROPPED_KEYS  # every listed key exists in the layout
    prefixes = collections.Counter(".".join(k.split(".")[:2]) for k in out)
    assert prefixes["encoder.trunk"] == 1830 and prefixes["attention.mixer"] == 2
    assert sum(v for k, v in prefixes.items() if k.startswith("encoder.upsample_stage_")) == 36
    assert sum(v for k, v in prefixes.items() if k.startswith("regressor.")) == 15
    for name in ("regressor.init_pose", "regressor.init_shape", "regressor.init_cam"):
        assert name in out


@pytest.mark.parametrize("extra", ["model.backbone.extra_head.weight", "model.smpl.smplx.new_buffer",
                                   "loss_fn.w", "smplx.transl", "model.attention.conv1x1_pose_v2.weight"])
def test_unknown_key_is_refused_with_listing(extra):
    sd = {t.key: torch.empty(t.shape, dtype=t.dtype, device="meta") for t in official_checkpoint_keys()}
    sd[extra] = torch.empty(3, device="meta")
    sd["model.other.thing"] = torch.empty(1, device="meta")
    with pytest.raises(CorruptFileError, match="2 checkpoint key") as info:
        map_dpose_state_dict(sd)
    assert extra in str(info.value) and "model.other.thing" in str(info.value)


def test_converted_tensors_present_once_and_equal(official):
    ref = official.sd
    kept = [k for k in ref if not is_dropped(k)]
    with safe_open(official.root / "out" / "model.safetensors", "pt") as f:
        names = list(f.keys())
        assert sorted(names) == sorted(expected_hpskit_name(k) for k in kept)  # each exactly once
        for k in kept:
            t = f.get_tensor(expected_hpskit_name(k))
            assert t.dtype == ref[k].dtype and torch.equal(t, ref[k]), k
    assert len(names) == len(kept) == official.report.kept == 2289
    assert official.report.num_dropped == 57
    assert official.report.numel_kept == sum(ref[k].numel() for k in kept)
    assert not any("smpl" in k for k in names)


def test_licensed_arrays_are_not_written(official):
    path = official.root / "out" / "model.safetensors"
    kept_bytes = sum(v.numel() * v.element_size() for k, v in official.sd.items() if not is_dropped(k))
    with open(path, "rb") as fh:
        header = int.from_bytes(fh.read(8), "little")
    assert path.stat().st_size == 8 + header + kept_bytes  # nothing but the kept tensors' data
    blob = path.read_bytes()
    sample = official.sd["model.smpl.smplx.posedirs"].flatten()[:16].numpy().tobytes()
    assert blob.find(sample) == -1
    assert sorted(p.name for p in (official.root / "out").iterdir()) == \
        ["README.md", "config.json", "model.safetensors"]


def test_config_card_and_report(official):
    cfg = json.loads((official.root / "out" / "config.json").read_text())
    assert cfg.pop("model_type") == "dpose" and cfg.pop("hpskit_version") == hpskit.__version__
    weights_id = cfg.pop("weights_id")  # the same id is in the weights' header (one save, not two mixed)
    assert read_weights_metadata(official.root / "out" / "model.safetensors")["weights_id"] == weights_id
    assert cfg == {**DPOSE_CONVERTED_CONFIG, "crop_mode": "authors"} == official.report.config
    card = (official.root / "out" / "README.md").read_text()
    assert "library_name: hpskit" in card and "smpl-x.is.tue.mpg.de" in card and "global_step=151000" in card
    assert official.report.source["pytorch_lightning_version"] == "1.9.0"


def test_yacs_config_read_without_importing_yacs(official):
    assert official.spy.attempts == []
    assert "yacs" not in sys.modules and "yacs.config" not in sys.modules
    ckpt = load_lightning_checkpoint(official.root / CKPT)
    assert list(ckpt) == TOP_LEVEL
    model = ckpt["hyper_parameters"]["MODEL"]
    assert type(model) is CfgNodeStandIn and model["BACKBONE"] == "hrnet_w48-conv"
    assert type(model["SUB"]) is CfgNodeStandIn and model.to_dict()["SUB"] == {"DEPTH": True}
    assert model.yacs_state["__immutable__"] is True and model.yacs_state["__deprecated_keys__"] == set()
    assert ckpt["hyper_parameters"]["TRIAL"]["losses_abl"] == ("a", "b")
    assert torch.equal(ckpt["callbacks"]["ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min'}"]
                       ["best_model_score"], torch.tensor(45.2))


def test_target_verification_refuses_mismatch(official):
    ckpt = official.root / CKPT
    bad = expected_target(official.sd)
    del bad["regressor.init_cam"]
    bad["regressor.decshape.weight"] = (10, 32)
    bad["body_model.faces"] = (20908, 3)
    with pytest.raises(WeightsMismatchError) as info:
        convert_dpose_checkpoint(ckpt, official.root / "bad", target=bad)
    msg = str(info.value)
    assert "regressor.init_cam" in msg and "body_model.faces" in msg
    assert "regressor.decshape.weight: file (11, 32) vs model (10, 32)" in msg
    assert not (official.root / "bad").exists()
    with pytest.raises(FileExistsError):
        convert_dpose_checkpoint(ckpt, official.root / "out")


def test_dpose_loads_the_converted_folder(official):
    """Integration: hpskit's DPoSE (when present) strictly loads the folder; tensors land where expected."""
    try:
        from hpskit.models import DPoSE
    except ImportError as exc:
        pytest.skip(f"hpskit.models.DPoSE unavailable: {exc}")
    model = DPoSE.from_pretrained(official.root / "out", body_model="none")
    own = model.state_dict()
    for key in ("model.head.init_pose", "model.head.init_cam", "model.backbone.conv1.weight",
                "model.attention.conv1x1_pose.weight", "model.segmentation_decoder.final_layers.3.bias"):
        assert torch.equal(own[expected_hpskit_name(key)], official.sd[key]), key


def test_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    sd = collections.OrderedDict({"model.head.init_cam": torch.zeros(1, 3)})
    write_checkpoint(tmp_path / "evil.ckpt", sd, extra_hparams={"EVIL": Evil()})
    with pytest.raises(CorruptFileError, match=r"refusing to unpickle the global `(posix|os)\.system`"):
        convert_dpose_checkpoint(tmp_path / "evil.ckpt", tmp_path / "out")
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_plain_checkpoint_loads_weights_only_and_unknown_class_refused(tmp_path, caplog):
    sd = collections.OrderedDict({"model.head.init_cam": torch.ones(1, 3)})
    write_checkpoint(tmp_path / "plain.ckpt", sd, with_yacs=False)
    with caplog.at_level("INFO", logger="hpskit.models.convert_dpose"):
        ckpt = load_lightning_checkpoint(tmp_path / "plain.ckpt")
    assert "restricted" not in caplog.text  # torch's weights_only loader sufficed
    assert torch.equal(ckpt["state_dict"]["model.head.init_cam"], torch.ones(1, 3))
    write_checkpoint(tmp_path / "cls.ckpt", sd, extra_hparams={"X": collections.Counter("ab")})
    with pytest.raises(CorruptFileError, match="collections.Counter"):
        load_lightning_checkpoint(tmp_path / "cls.ckpt")


def small_checkpoint(path: Path, **kwargs) -> None:
    """Just the tensors the config is derived from (real shapes) plus one dropped key."""
    rows = {t.key: (t.shape, t.dtype) for t in official_checkpoint_keys()}
    keys = ["J_regressor", "model.backbone.transition1.0.0.weight", "model.head.init_pose",
            "model.head.init_shape", "model.head.p.0.weight", "model.head.decshape.weight",
            "model.segmentation_decoder.final_layers.3.weight", "model.depth_decoder.final_layers.3.weight"]
    write_checkpoint(path, collections.OrderedDict((k, torch.randn(rows[k][0])) for k in keys), **kwargs)


def test_config_disagreements_are_refused(tmp_path):
    small_checkpoint(tmp_path / "w32.ckpt", extra_hparams={"MODEL": {"BACKBONE": "hrnet_w32-conv"}})
    with pytest.raises(ConfigError, match="hrnet_w32-conv"):
        convert_dpose_checkpoint(tmp_path / "w32.ckpt", tmp_path / "a")
    small_checkpoint(tmp_path / "ok.ckpt")
    with pytest.raises(ConfigError, match="head_hidden"):
        convert_dpose_checkpoint(tmp_path / "ok.ckpt", tmp_path / "b", config={"head_hidden": 64})
    report = convert_dpose_checkpoint(tmp_path / "ok.ckpt", tmp_path / "c",
                                      config={**DPOSE_CONVERTED_CONFIG, "body_model": "none"})
    assert json.loads((tmp_path / "c" / "config.json").read_text())["body_model"] == "none"
    assert report.kept == 7 and report.dropped == {"trainer H36M regressor": ["J_regressor"]}


@pytest.mark.filterwarnings("ignore:.*found in sys.modules:RuntimeWarning")
def test_command_line(tmp_path, monkeypatch, caplog):
    """``python -m hpskit.models.convert_dpose`` (run in-process through runpy: no second torch import)."""
    small_checkpoint(tmp_path / "small.ckpt")
    argv = ["convert_dpose", str(tmp_path / "small.ckpt"), str(tmp_path / "cli"), "--no-verify"]
    monkeypatch.setattr(sys, "argv", argv)
    sys.modules.pop("hpskit.models.convert_dpose.__main__", None)
    with caplog.at_level("INFO"), pytest.raises(SystemExit) as info:
        runpy.run_module("hpskit.models.convert_dpose", run_name="__main__", alter_sys=False)
    assert info.value.code == 0
    assert "7 tensors kept, 1 keys dropped" in caplog.text
    cfg = json.loads((tmp_path / "cli" / "config.json").read_text())
    assert {k: cfg[k] for k in DPOSE_CONVERTED_CONFIG} == DPOSE_CONVERTED_CONFIG


def test_command_line_verification_removes_a_folder_that_does_not_load(tmp_path):
    from hpskit.models import convert_dpose

    small_checkpoint(tmp_path / "small.ckpt")
    try:
        from hpskit.models import DPoSE  # noqa: F401
    except ImportError:
        pytest.skip("hpskit.models.DPoSE unavailable")
    with pytest.raises(WeightsMismatchError):
        convert_dpose.main([str(tmp_path / "small.ckpt"), str(tmp_path / "v")])
    assert not (tmp_path / "v" / "model.safetensors").exists()
    assert not (tmp_path / "v" / "config.json").exists()
