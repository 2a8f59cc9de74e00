"""DPoSE: parameter parity with the authors' model, registry, forward, gradients, save/load (folder, Hub id).

The paper-size model (HRNet-W48) is only built on the meta device (counts without memory or init cost); every
forward runs on a small HRNet-W18 model at 64×64 input, because the CI CPU is slow and shared.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import torch
from _reference import HPSKIT_BLOCK_PARAMS, HPSKIT_TOTAL
from safetensors.torch import load_file, save_file

from hpskit.core import ConfigError, ShapeError, UnknownNameError, WeightsMismatchError
from hpskit.models import MODELS, DPoSE, DPoSEConfig, DPoSEOutput, create_model, list_models

RES = 64  # input side of the small model's forwards (a multiple of 32)


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_thread_module):
    """One intra-op thread for this module (tests/conftest.py)."""


@pytest.fixture(scope="module")
def w48_meta():
    """The paper's model on the meta device (built once for this module)."""
    with torch.device("meta"):
        return DPoSE(DPoSEConfig(body_model="none"))


@pytest.fixture(scope="module")
def w48_nodepth_meta():
    """The paper's "no depth" ablation (Table 3) on the meta device."""
    with torch.device("meta"):
        return create_model("dpose_nodepth_hrnet_w48", body_model="none")


@pytest.fixture(scope="module")
def small_cfg():
    return DPoSEConfig(encoder="hrnet_w18", body_model="none")


@pytest.fixture(scope="module")
def small(small_cfg):
    """A small random-weight model with non-trivial BatchNorm statistics and mean parameters."""
    torch.manual_seed(0)
    model = DPoSE(small_cfg)
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_(0, 0.1)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 1.5)
        model.regressor.init_cam.add_(torch.tensor([[0.1, 0.02, -0.03]]))
    return model.eval()


@pytest.fixture(scope="module")
def inputs():
    g = torch.Generator().manual_seed(1)
    return torch.randn(2, 3, RES, RES, generator=g), torch.randn(2, 3, generator=g) * 0.3


@pytest.fixture(scope="module")
def small_out(small, inputs):
    with torch.no_grad():
        return small(*inputs)


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters())


# ------------------------------------------------------------------------------------------ parameter parity


def test_paper_model_parameters_match_the_reference(w48_meta):
    """Total and per-module counts: the authors' model less its two dead modules (tests/_reference.py)."""
    assert w48_meta.num_parameters() == HPSKIT_TOTAL
    assert w48_meta.parameter_table() == HPSKIT_BLOCK_PARAMS


def test_no_depth_ablation_count(w48_nodepth_meta):
    """use_depth=False drops the depth decoder and the 48 depth channels of every one of the 22 tokens."""
    model = w48_nodepth_meta
    assert model.config.use_depth is False and model.depth_decoder is None
    # p.0: MultiLinear(22, 777 → 729, 32) loses 22·48·32 weights; s.0 / c.0 inputs lose 22·48, ×32 each
    fewer_head = 22 * 48 * 32 + 2 * (22 * 48) * 32
    no_depth = HPSKIT_TOTAL - HPSKIT_BLOCK_PARAMS["depth_decoder"] - fewer_head
    assert model.num_parameters() == no_depth == 76_295_673
    assert "depth_decoder" not in model.parameter_table()


def test_dead_reference_modules_are_not_built(w48_meta):
    names = [n for n, _ in w48_meta.named_modules()]
    assert not any("final_layer." in n or n.endswith("final_layer") for n in names if "final_layers" not in n)
    assert not any("shape_cam" in n for n in names)
    assert not any(isinstance(m, (torch.nn.AdaptiveAvgPool2d, torch.nn.AdaptiveMaxPool2d))
                   for m in w48_meta.modules())


def test_config_validation():
    with pytest.raises(ConfigError, match="num_joints"):
        DPoSE(DPoSEConfig(encoder="hrnet_w18", body_model="none", num_joints=21))


# ------------------------------------------------------------------------------------------------ registry


def test_registry_lists_and_builds_every_model(w48_meta, w48_nodepth_meta):
    names = list_models()
    assert "dpose_hrnet_w48" in names and "dpose_nodepth_hrnet_w48" in names
    built = {"dpose_hrnet_w48": w48_meta, "dpose_nodepth_hrnet_w48": w48_nodepth_meta}
    for name in names:
        if name in built:  # the W48 models are the module's fixtures (built once)
            model = built[name]
        else:
            with torch.device("meta"):
                model = create_model(name, body_model="none")
        assert isinstance(model, DPoSE)
        assert name.endswith(model.config.encoder)
        assert (model.depth_decoder is None) == ("nodepth" in name)
        assert model.parameter_table()["attention"] == model.encoder.fused_channels * (
            model.encoder.fused_channels + 1)
    assert len(MODELS.names()) == len(names)


def test_registry_unknown_name():
    with pytest.raises(UnknownNameError, match="dpose_hrnet_w48"):
        create_model("dpose_hrnet_w84")


# ------------------------------------------------------------------------------------------------- forward


def test_forward_shapes_dtypes_and_finite(small_out, inputs):
    out = small_out
    assert isinstance(out, DPoSEOutput)
    shapes = {"pose_rotmat": (2, 22, 3, 3), "pose_6d": (2, 22, 6), "betas": (2, 11), "cam": (2, 3),
              "part_logits": (2, 23, RES, RES), "depth": (2, 1, RES, RES)}
    for name, shape in shapes.items():
        t = getattr(out, name)
        assert tuple(t.shape) == shape, name
        assert t.dtype == torch.float32 and bool(torch.isfinite(t).all()), name
    assert out.features is None
    assert bool((out.depth > 0).all() and (out.depth < 1).all())  # sigmoid
    R = out.pose_rotmat.double()
    eye = torch.eye(3, dtype=torch.float64).expand_as(R)
    torch.testing.assert_close(R @ R.transpose(-1, -2), eye, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(2, 22, dtype=torch.float64), atol=1e-5, rtol=0)


def test_batch_independent_and_bbox_conditioned(small, small_out, inputs):
    """Each sample depends only on itself (no cross-sample mixing), and the box vector is used."""
    images, bbox = inputs
    with torch.no_grad():
        alone = small(images[1:], bbox[1:])
        moved = small(images[1:], bbox[1:] + torch.tensor([[0.5, -0.5, 0.2]]))
    for name in ("pose_6d", "betas", "cam", "depth", "part_logits"):
        torch.testing.assert_close(getattr(alone, name), getattr(small_out, name)[1:], atol=1e-4, rtol=1e-4)
    assert not torch.allclose(moved.cam, alone.cam)
    torch.testing.assert_close(moved.part_logits, alone.part_logits)  # the box only enters the regressor


def test_features_are_returned_when_asked(small, inputs):
    with torch.no_grad():
        out = small(inputs[0][:1], inputs[1][:1], return_features=True)
    f = out.features
    c = small.encoder.fused_channels
    assert tuple(f["fused"].shape) == (1, c, RES // 4, RES // 4)
    assert tuple(f["tokens"].shape) == (1, 22, c)
    assert tuple(f["depth_feat"].shape) == (1, small.encoder.feature_info.channels()[0], RES // 4, RES // 4)
    assert len(f["branches"]) == 4


def test_forward_input_errors(small, inputs):
    images, bbox = inputs
    with pytest.raises(ShapeError, match="images"):
        small(images[0], bbox)
    with pytest.raises(ConfigError, match="multiples of 32"):
        small(torch.zeros(1, 3, 50, 64), bbox[:1])
    with pytest.raises(ConfigError, match="bbox_info"):
        small(images)
    with pytest.raises(ShapeError, match="bbox_info"):
        small(images, bbox[:1])


def test_gradients_reach_every_parameter(small_cfg):
    """All outputs in the loss: every parameter gets a finite, non-zero gradient.

    With only the body outputs in the loss (the authors' shipped yaml: no depth supervision) the depth
    decoder's ``upscaling`` and ``final_layers`` get none: only its 56² feature Φ feeds the regressor.
    Everything else still does, the part decoder through the attention weights.
    """
    torch.manual_seed(3)
    model = DPoSE(small_cfg).train()
    g = torch.Generator().manual_seed(4)
    out = model(torch.randn(2, 3, RES, RES, generator=g), torch.randn(2, 3, generator=g))
    params = dict(model.named_parameters())
    body = (out.pose_6d.square().sum() + out.betas.square().sum() + out.cam.square().sum())
    maps = (out.depth * torch.randn(out.depth.shape, generator=g)).sum() + (
        out.part_logits * torch.randn(out.part_logits.shape, generator=g)).sum()
    body_grads = torch.autograd.grad(body, list(params.values()), retain_graph=True, allow_unused=True)
    all_grads = torch.autograd.grad(body + maps, list(params.values()), allow_unused=True)
    for (name, _), grad in zip(params.items(), all_grads):
        assert grad is not None, name
        assert bool(torch.isfinite(grad).all()), name
        assert float(grad.abs().max()) > 0, name
    no_grad = {name for (name, _), grad in zip(params.items(), body_grads)
               if grad is None or float(grad.abs().max()) == 0}
    head = ("depth_decoder.upscaling.", "depth_decoder.final_layers.")
    expected = {n for n in params if n.startswith(head)}
    assert expected and no_grad == expected


# ------------------------------------------------------------------------------------------------ save/load


def _state_equal(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) and sa[k].dtype == sb[k].dtype for k in sa)


def test_save_pretrained_round_trip_is_bitwise(small, small_out, inputs, tmp_path):
    folder = small.save_pretrained(tmp_path / "m")
    assert {p.name for p in folder.iterdir()} >= {"config.json", "model.safetensors"}
    assert json.loads((folder / "config.json").read_text())["encoder"] == "hrnet_w18"
    loaded = DPoSE.from_pretrained(folder)
    assert not loaded.training and loaded.config == small.config
    assert _state_equal(small, loaded)
    with torch.no_grad():
        again = loaded(*inputs)
    for name in ("pose_6d", "pose_rotmat", "betas", "cam", "depth", "part_logits"):
        assert torch.equal(getattr(again, name), getattr(small_out, name)), name


def test_strict_loading_rejects_a_renamed_key(small, tmp_path):
    folder = small.save_pretrained(tmp_path / "m")
    weights = load_file(folder / "model.safetensors")
    weights["regressor.deccam.weight_renamed"] = weights.pop("regressor.deccam.weight")
    save_file(weights, folder / "model.safetensors")
    with pytest.raises(WeightsMismatchError, match=r"regressor\.deccam\.weight") as info:
        DPoSE.from_pretrained(folder)
    assert "weight_renamed" in str(info.value)


def test_from_pretrained_restores_a_no_depth_config(tmp_path):
    torch.manual_seed(5)
    model = DPoSE(DPoSEConfig(encoder="hrnet_w18", body_model="none", use_depth=False)).eval()
    loaded = DPoSE.from_pretrained(model.save_pretrained(tmp_path / "nd"))
    assert loaded.config.use_depth is False and loaded.depth_decoder is None
    assert _state_equal(model, loaded)
    assert not any(k.startswith("depth_decoder.") for k in loaded.state_dict())
    with torch.no_grad():
        out = loaded(torch.randn(1, 3, 32, 32), torch.zeros(1, 3))
    assert out.depth is None and tuple(out.pose_rotmat.shape) == (1, 22, 3, 3)


def _populate_hub_cache(cache: Path, repo_id: str, folder: Path, commit: str) -> None:
    """The Hub cache layout: ``models--org--name/{blobs/<sha256>, snapshots/<commit>/<file>, refs/main}``."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    for f in sorted(folder.iterdir()):
        data = f.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo / "snapshots" / commit / f.name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)


def test_from_pretrained_by_hub_id_offline(small, tmp_path, monkeypatch):
    import huggingface_hub.constants as c

    cache = tmp_path / "hub"
    _populate_hub_cache(cache, "hpskit-test/dpose-tiny", small.save_pretrained(tmp_path / "m"), "a" * 40)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    loaded = DPoSE.from_pretrained("hpskit-test/dpose-tiny", cache_dir=cache)
    assert loaded.config == small.config and _state_equal(small, loaded)
    by_commit = DPoSE.from_pretrained("hpskit-test/dpose-tiny", revision="a" * 40, cache_dir=cache)
    assert _state_equal(small, by_commit)
