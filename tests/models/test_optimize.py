"""hpskit.models.optimize: the inference copy (BatchNorm folded, channels_last) equals eager fp32.

Tolerances (fp32, CPU): network outputs and predict's pose / betas / camera within 1e-4 absolute, camera-frame
vertices within 1e-4 m (0.1 mm); measured differences are ~1e-6 (folding and NHWC only reorder float sums).

The opt-in bf16 copy (``bf16=True``, compact model only) is not equal, only close: on the astronaut photo with
the benchmark's box, ``predict`` measured (CPU, 2026-12-08) vertices 4.25 mm max / 1.41 mm mean from eager
fp32, rotations 2.6e-3, betas 3.2e-3, crop camera 9.5e-4; the tests assert vertices ≤ 6 mm max and ≤ 2 mm
mean, rotations ≤ 6e-3, betas ≤ 0.01, crop camera ≤ 2e-3.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hpskit.core import ConfigError
from hpskit.models import DPoSE, DPoSEConfig, fuse_for_inference, predict
from hpskit.models.optimize import (
    BF16_ATOL,
    Bf16Autocast,
    bf16_forward,
    bf16_submodule_names,
    fold_batchnorm,
    max_output_difference,
    wrap_bf16,
)

ATOL = 1e-4


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_thread_module):
    """One intra-op thread for this module (tests/conftest.py)."""


def _randomise_batchnorm(model: nn.Module, seed: int = 0) -> None:
    """Non-trivial running statistics and affine parameters, so a wrong fold shows in the outputs."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(0.2 * torch.randn(n, generator=g))
            m.running_var.copy_(0.5 + torch.rand(n, generator=g))
            m.weight.data.copy_(1 + 0.2 * torch.randn(n, generator=g))
            m.bias.data.copy_(0.1 * torch.randn(n, generator=g))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """Random-weight HRNet-W18 D-PoSE, random BatchNorm statistics, the stand-in body."""
    from _standin import session_data_dir

    with session_data_dir(tmp_path_factory):
        torch.manual_seed(0)
        m = DPoSE(DPoSEConfig(encoder="hrnet_w18", body_model="standin"))
    _randomise_batchnorm(m)
    return m.eval()


def _batch(n: int = 2, res: int = 64):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 3, res, res, generator=g), 0.3 * torch.randn(n, 3, generator=g)


@pytest.mark.parametrize("channels_last", [False, True])
def test_fused_network_equals_eager(model, channels_last):
    example = _batch(1)
    fused, report = fuse_for_inference(model, channels_last=channels_last, example=example)
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert len(report.folded) == n_bn and report.batchnorms_left == 0  # every BN in HRNet follows a conv
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == n_bn  # the original is untouched
    x, b = _batch(3)  # another batch than the probe
    with torch.inference_mode():
        ref, got = model(x, b), fused(x, b)
    for name in ("pose_rotmat", "pose_6d", "betas", "cam", "depth", "part_logits"):
        torch.testing.assert_close(getattr(got, name), getattr(ref, name), atol=ATOL, rtol=0)
    # the fold did something: the folded convolutions carry the BatchNorm's scale
    assert not torch.equal(fused.encoder.get_submodule(report.folded[0].split(".", 1)[1]).weight,
                           model.encoder.get_submodule(report.folded[0].split(".", 1)[1]).weight)


def test_predict_with_the_fused_copy_equals_eager(model):
    """The whole pipeline: pose, betas, camera and camera-frame vertices of predict agree."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    boxes = [[20.0, 10.0, 90.0, 115.0], [80.0, 30.0, 150.0, 100.0]]
    fast = model.optimize_for_inference()
    ref = predict(model, image, boxes, crop_size=64)
    got = predict(fast, image, boxes, crop_size=64)
    for name in ("pose_rotmat", "betas", "cam_crop", "transl", "vertices", "joints2d", "depth_crop"):
        tol = 1e-3 if name == "joints2d" else ATOL  # pixels
        torch.testing.assert_close(getattr(got, name), getattr(ref, name), atol=tol, rtol=0)
    same = [(a == b).float().mean().item() for a, b in zip(got.part_labels, ref.part_labels)]
    assert min(same) > 0.999


def test_compact_shipped_model_folds_timm_norm_act():
    """The shipped EfficientNet-Lite0 model (timm BatchNormAct2d layers): folded, activations kept."""
    m = DPoSE.from_pretrained("dpose_efficientnet_lite0.synthetic", body_model="none").float().eval()
    example = _batch(1, 64)
    fused, report = fuse_for_inference(m, example=example)
    assert report.batchnorms_left == 0 and len(report.folded) == 120
    x, b = _batch(2, 64)
    with torch.inference_mode():
        ref, got = m(x, b), fused(x, b)
    for name in ("pose_rotmat", "betas", "cam", "depth"):
        torch.testing.assert_close(getattr(got, name), getattr(ref, name), atol=ATOL, rtol=0)
    torch.testing.assert_close(got.part_logits, ref.part_logits, atol=1e-3, rtol=1e-4)


class _SharedOutput(nn.Module):
    """A convolution whose output also bypasses its BatchNorm: folding it would be wrong."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y


def test_wrong_fold_is_caught_by_the_check():
    m = _SharedOutput()
    _randomise_batchnorm(m)
    m.eval()
    x = torch.randn(1, 3, 8, 8)
    compare = lambda a, b: {"out": float((a - b).abs().max())}  # noqa: E731
    with pytest.raises(ConfigError, match="differs from the model"):
        fuse_for_inference(m, example=(x,), compare=compare)
    fused, report = fuse_for_inference(m, example=(x,), compare=compare, fold_bn=False)
    assert report.folded == [] and report.max_abs_diff["out"] < 1e-6


def test_fold_needs_eval_mode():
    m = _SharedOutput().train()
    with pytest.raises(ConfigError, match="eval mode"):
        fold_batchnorm(m, (torch.randn(1, 3, 8, 8),))


# ---- the opt-in bf16 copy (compact model) ----

BF16_NAMES = ["encoder.upsample_stage_2", "encoder.upsample_stage_3", "encoder.upsample_stage_4",
              "depth_decoder", "part_decoder"]
ASTRONAUT_BOX = [[150.0, 20.0, 380.0, 500.0]]


@pytest.fixture(scope="module")
def compact():
    """The shipped compact model (EfficientNet-Lite0), fp32, with the stand-in body."""
    return DPoSE.from_pretrained("dpose_efficientnet_lite0.synthetic").float().eval()


@pytest.fixture(scope="module")
def compact_bf16(compact):
    """(state dict of ``compact`` before, bf16 copy, its report)."""
    before = {k: v.clone() for k, v in compact.state_dict().items()}
    fused, report = fuse_for_inference(compact, bf16=True)
    return before, fused, report


def _astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def test_bf16_predict_is_within_the_stated_tolerance(compact, compact_bf16):
    _, fast, _ = compact_bf16
    image = _astronaut()
    ref = predict(compact, image, ASTRONAUT_BOX)
    got = predict(fast, image, ASTRONAUT_BOX)
    for name in ("vertices", "joints", "transl", "pose_rotmat", "betas", "cam_crop", "depth_crop"):
        assert getattr(got, name).dtype == torch.float32, name
    dv = (got.vertices - ref.vertices).abs() * 1e3  # mm
    assert dv.max() <= 6.0 and dv.mean() <= 2.0, (dv.max(), dv.mean())
    assert dv.max() > 0.5  # bf16 did run: the float32 copy is within 0.01 mm
    assert (got.pose_rotmat - ref.pose_rotmat).abs().max() <= 6e-3
    assert (got.betas - ref.betas).abs().max() <= 1e-2
    assert (got.cam_crop - ref.cam_crop).abs().max() <= 2e-3
    assert (got.depth_crop - ref.depth_crop).abs().max() <= 1e-2
    same = (got.part_labels_crop == ref.part_labels_crop).float().mean().item()
    assert same > 0.999
    lean = predict(fast, image, ASTRONAUT_BOX, return_maps=False, depth_map=False)
    assert torch.equal(lean.vertices, got.vertices)  # the lean path gives the same body


def test_bf16_copy_wraps_the_neck_and_decoders_only(compact, compact_bf16):
    before, fast, report = compact_bf16
    assert report.bf16 == BF16_NAMES == bf16_submodule_names(compact)
    wrapped = {n for n, m in fast.named_modules() if isinstance(m, Bf16Autocast)}
    assert wrapped == set(BF16_NAMES)
    assert report.batchnorms_left == 0 and len(report.folded) == 120
    assert all(report.max_abs_diff[k] <= BF16_ATOL[k] for k in report.max_abs_diff)
    # weights: float32 and exactly those of the float32 copy (autocast casts per call, not in place)
    fp32_copy, _ = fuse_for_inference(compact)
    ref = fp32_copy.state_dict()
    got = {k.replace(".module.", ".", 1) if k.split(".module.")[0] in BF16_NAMES else k: v
           for k, v in fast.state_dict().items()}
    assert got.keys() == ref.keys()
    for k, v in got.items():
        assert v.dtype == ref[k].dtype and torch.equal(v, ref[k]), k
    assert all(p.dtype == torch.float32 for p in fast.parameters())
    # the original is not modified
    assert not any(isinstance(m, Bf16Autocast) for m in compact.modules())
    after = compact.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], v) for k, v in before.items())
    # outputs of the network are float32
    x, b = _batch(1, 224)
    with torch.inference_mode():
        out = fast(x, b)
    for name in ("pose_rotmat", "pose_6d", "betas", "cam", "depth", "part_logits"):
        assert getattr(out, name).dtype == torch.float32, name


def test_bf16_tolerance_rejects_the_whole_network_in_bf16(compact, compact_bf16):
    """BF16_ATOL separates the opt-in from running the trunk in bf16 too (which moves vertices by ~28 cm)."""
    _, fast, _ = compact_bf16
    whole, _ = fuse_for_inference(compact, check=False)
    wrap_bf16(whole, ["encoder", "part_decoder", "depth_decoder", "attention", "regressor"])
    x, b = _batch(2, 224)
    with torch.inference_mode():
        ref = compact(x, b)
        ok, bad = max_output_difference(ref, fast(x, b)), max_output_difference(ref, whole(x, b))
    assert all(ok[k] <= BF16_ATOL[k] for k in ok), ok
    assert bad["betas"] > 2 * BF16_ATOL["betas"] and bad["pose_rotmat"] > BF16_ATOL["pose_rotmat"], bad
    # and the check raises when the bf16 copy is held to the float32 tolerance
    with pytest.raises(ConfigError, match="differs from the model"):
        fuse_for_inference(compact, bf16=True, atol=1e-3)
    with pytest.raises(ConfigError, match="no tolerance for the compared output"):
        fuse_for_inference(compact, bf16=True, atol={"betas": 1.0})


def test_bf16_false_is_bit_equal_to_the_float32_copy(compact):
    x, b = _batch(1, 64)
    default = compact.optimize_for_inference()
    off = compact.optimize_for_inference(bf16=False)
    assert not any(isinstance(m, Bf16Autocast) for m in off.modules())
    with torch.inference_mode():
        a, c = default(x, b), off(x, b)
    for name in ("pose_rotmat", "betas", "cam", "depth", "part_logits"):
        assert torch.equal(getattr(a, name), getattr(c, name)), name
    assert fuse_for_inference(compact, example=(x, b))[1].bf16 == []


def test_bf16_is_refused_for_hrnet(model):
    with pytest.raises(ConfigError, match="only offered for the EfficientNet-lite encoders.*'hrnet_w18'"):
        model.optimize_for_inference(bf16=True)
    assert not any(isinstance(m, Bf16Autocast) for m in model.modules())


class _FakeCompact(nn.Module):
    """An EfficientNet-lite-named encoder without the upsample stages the bf16 selection expects."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Conv2d(3, 3, 1)
        self.encoder.model_name = "tf_efficientnet_lite0"
        self.part_decoder = nn.Conv2d(3, 3, 1)


def test_bf16_selection_cannot_wrap_nothing():
    with pytest.raises(ConfigError, match="matches 'encoder.upsample_stage_\\*'"):
        bf16_submodule_names(_FakeCompact())
    m = _FakeCompact()
    with pytest.raises(ConfigError, match="no submodule named"):
        wrap_bf16(m, [])
    with pytest.raises(ConfigError, match="no submodule 'neck'"):
        wrap_bf16(m, ["neck"])
    with pytest.raises(ConfigError, match="inside another"):
        wrap_bf16(m, ["encoder", "encoder.weight"])
    wrap_bf16(m, ["part_decoder"])
    with pytest.raises(ConfigError, match="already runs in bf16"):
        wrap_bf16(m, ["part_decoder"])


class _TwoOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, padding=1)

    def forward(self, xs, scale=1.0):
        y = self.conv(xs[0]) * scale
        return y, [y.argmax(1), y.mean()]


def test_bf16_autocast_wrapper():
    torch.manual_seed(0)
    inner = _TwoOut()
    weight = inner.conv.weight.detach().clone()
    m = Bf16Autocast(inner)
    x = torch.randn(2, 4, 8, 8)
    with torch.inference_mode():
        y, (idx, mean) = m([x], scale=2.0)
        bias = inner.conv.bias.bfloat16()
        ref = 2.0 * nn.functional.conv2d(x.bfloat16(), weight.bfloat16(), bias, padding=1)
        fp32 = inner([x], scale=2.0)[0]
    assert y.dtype == torch.float32 and mean.dtype == torch.float32 and idx.dtype == torch.int64
    assert y.shape == (2, 8, 8, 8)
    torch.testing.assert_close(y, ref.float(), atol=0.05, rtol=0.02)  # the bf16 result, not float32
    assert 0 < (y - fp32).abs().max() < 0.1
    assert inner.conv.weight.dtype == torch.float32 and torch.equal(inner.conv.weight, weight)
    assert set(m.state_dict()) == {"module.conv.weight", "module.conv.bias"}
    with pytest.raises(ConfigError, match="no tensor among the inputs"):
        bf16_forward(inner, [], scale=1.0)
