"""hpskit.models.optimize: the inference copy (BatchNorm folded, channels_last) equals eager fp32.

Tolerances (fp32, CPU): network outputs and predict's pose / betas / camera within 1e-4 absolute, camera-frame
vertices within 1e-4 m (0.1 mm); measured differences are ~1e-6 (folding and NHWC only reorder float sums).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hpskit.core import ConfigError
from hpskit.models import DPoSE, DPoSEConfig, fuse_for_inference, predict
from hpskit.models.optimize import fold_batchnorm

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
