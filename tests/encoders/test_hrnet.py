"""HRNetEncoder: the authors' backbone layout (reference TSV), fused map, init and input checks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from _reference import HPSKIT_BLOCK_PARAMS

from hpskit.core import ShapeError
from hpskit.encoders import EncoderOutput, HRNetEncoder, dpose_init_, upsample_stage


def _rows(module):
    return [(k, tuple(v.shape)) for k, v in module.state_dict().items()]


def test_state_dict_matches_reference_backbone(w48_meta, reference_block):
    ref = [(k, s) for k, s, _, _ in reference_block("model.backbone.") if not k.startswith("final_layer.")]
    ours = [(k[len("trunk."):] if k.startswith("trunk.") else k, s) for k, s in _rows(w48_meta)]
    assert len(ours) == len(ref) == 1866
    assert ours == ref  # same names, shapes and order


def test_trunk_is_timm_and_matches_reference_trunk(w48_meta, reference_block):
    trunk_ref = [(k, s) for k, s, _, _ in reference_block("model.backbone.")
                 if not k.startswith(("final_layer.", "upsample_stage_"))]
    assert _rows(w48_meta.trunk) == trunk_ref
    assert len(trunk_ref) == 1830
    # stage4 is built with multi-scale output (the last module has fuse_layers 1..3)
    assert "stage4.2.fuse_layers.3.0.0.0.weight" in w48_meta.trunk.state_dict()


def test_parameter_counts(w48_meta, reference_block):
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(w48_meta) == HPSKIT_BLOCK_PARAMS["encoder"]
    assert count(w48_meta.trunk) == 65_325_120
    assert [count(s) for s in w48_meta.upsample_stages()] == [83_136, 664_320, 3_983_616]
    ref = sum(n for k, _, n, kind in reference_block("model.backbone.")
              if kind == "param" and not k.startswith("final_layer."))
    assert count(w48_meta) == ref
    groups = {"conv1": 1_728, "bn1": 128, "conv2": 36_864, "bn2": 128, "layer1": 286_208,
              "transition1": 332_064, "stage2": 878_112, "transition2": 166_272, "stage3": 15_335_040,
              "transition3": 664_320, "stage4": 47_624_256}
    for name, n in groups.items():
        assert count(getattr(w48_meta.trunk, name)) == n, name


def test_feature_info(w48_meta):
    assert w48_meta.feature_info.channels() == (48, 96, 192, 384)
    assert w48_meta.feature_info.reduction() == (4, 8, 16, 32)
    assert w48_meta.fused_channels == 720


def test_forward_shapes_and_fusion(w48):
    x = torch.randn(1, 3, 32, 64)  # batch 1, non-square
    with torch.no_grad():
        out = w48(x)
    assert isinstance(out, EncoderOutput)
    shapes = [tuple(f.shape) for f in out.features]
    assert shapes == [(1, 48, 8, 16), (1, 96, 4, 8), (1, 192, 2, 4), (1, 384, 1, 2)]
    assert out.fused.shape == (1, 720, 8, 16)
    # F0..F3 are timm's outputs 1..4 with feature_location=''
    with torch.no_grad():
        timm_out = w48.trunk(x)
    for a, b in zip(out.features, timm_out):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # fused = [F0, U2(F1), U3(F2), U4(F3)], U = repeated [up×2 align_corners, conv3×3, BN(eval), ReLU],
    # recomputed here with functional ops and the stage's weights
    torch.testing.assert_close(out.fused[:, :48], out.features[0])
    start = 48
    for level, stage in enumerate(w48.upsample_stages(), start=1):
        y = out.features[level]
        for k in range(level):
            conv, bn = stage[4 * k + 1], stage[4 * k + 2]
            y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=True)
            y = F.conv2d(y, conv.weight, padding=1)
            y = F.batch_norm(y, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
            y = F.relu(y)
        c = y.shape[1]
        torch.testing.assert_close(out.fused[:, start:start + c], y, rtol=1e-5, atol=1e-7)
        start += c
    assert start == 720


def test_authors_init(w48):
    conv = w48.trunk.stage3[0].branches[0][0].conv1.weight
    assert 0.0009 < conv.std().item() < 0.0011 and abs(conv.mean().item()) < 1e-4
    up = w48.upsample_stage_4[9].weight
    assert 0.0009 < up.std().item() < 0.0011
    assert torch.all(w48.trunk.bn1.weight == 1) and torch.all(w48.upsample_stage_3[6].bias == 0)


def test_dpose_init_sets_conv_bias_zero():
    m = torch.nn.Sequential(torch.nn.Conv2d(4, 4, 3), torch.nn.BatchNorm2d(4))
    torch.nn.init.constant_(m[1].weight, 3.0)
    dpose_init_(m, std=0.5)
    assert torch.all(m[0].bias == 0) and torch.all(m[1].weight == 1)
    assert 0.3 < m[0].weight.std().item() < 0.7


def test_upsample_stage_layout():
    st = upsample_stage(8, 3)
    weights = [k for k in st.state_dict() if k.endswith("weight")]
    assert weights == ["1.weight", "2.weight", "5.weight", "6.weight", "9.weight", "10.weight"]
    assert st(torch.randn(1, 8, 3, 5)).shape == (1, 8, 24, 40)


def test_input_checks(w48):
    with pytest.raises(ShapeError, match=r"images.*\(B, 3, H, W\).*got \(3, 64, 64\)"):
        w48(torch.randn(3, 64, 64))
    with pytest.raises(ShapeError, match=r"multiples of 32; got \(100, 64\)"):
        w48(torch.randn(1, 3, 100, 64))


def test_variant_must_be_hrnet():
    from hpskit.core import ConfigError

    with pytest.raises(ConfigError, match="variant"):
        HRNetEncoder("resnet50")
