"""UNetLiteDecoder: the authors' tensors (reference TSV), shapes, and a functional re-implementation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from _reference import HPSKIT_BLOCK_PARAMS

from hpskit.core import ConfigError, ShapeError
from hpskit.decoders import UNetLiteDecoder

W48 = (48, 96, 192, 384)


def _count(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize(("prefix", "out_channels", "act", "total"), [
    ("model.depth_decoder.", 1, "sigmoid", HPSKIT_BLOCK_PARAMS["depth_decoder"]),
    ("model.segmentation_decoder.", 23, None, HPSKIT_BLOCK_PARAMS["part_decoder"]),
])
def test_matches_reference_tensors(reference_block, prefix, out_channels, act, total):
    dec = UNetLiteDecoder(W48, out_channels=out_channels, final_activation=act)
    ref = [(k, s) for k, s, _, _ in reference_block(prefix)]
    ours = [(k, tuple(v.shape)) for k, v in dec.state_dict().items()]
    assert ours == ref and len(ours) == 203  # names, shapes and order: the converter renames the prefix only
    assert _count(dec) == total == sum(n for _, _, n, kind in reference_block(prefix) if kind == "param")
    # block by block, docs/authors-code.md (i)
    assert _count(dec.upsample_modules) == 97_440
    fr = dec.fusion_and_refinement
    assert [_count(fr[f"fuse_and_refine_{k}"]) for k in (3, 2, 1)] == [3_063_168, 766_656, 192_096]
    assert _count(dec.upscaling) == 41_760
    assert _count(dec.final_layers) == (20_929 if out_channels == 1 else 22_007)


def _reference_forward(dec, feats):
    """docs/authors-code.md (c) written with functional ops and the decoder's weights (eval-mode BN)."""

    def bn(x, m):
        return F.batch_norm(x, m.running_mean, m.running_var, m.weight, m.bias, False, 0.0, m.eps)

    def block(x, b):
        sc = x if b.downsample is None else bn(F.conv2d(x, b.downsample[0].weight), b.downsample[1])
        y = F.relu(bn(F.conv2d(x, b.conv1.weight, padding=1), b.bn1))
        return F.relu(bn(F.conv2d(y, b.conv2.weight, padding=1), b.bn2) + sc)

    def up2(x):
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)

    x = feats[3]
    for k in (3, 2, 1):
        up = dec.upsample_modules[f"upsample_{k}_to_{k - 1}"]
        x = up2(F.relu(bn(F.conv2d(x, up[0].weight), up[1])))
        x = torch.cat([x, feats[k - 1]], dim=1)  # [upsampled, skip]
        for b in dec.fusion_and_refinement[f"fuse_and_refine_{k}"]:
            x = block(x, b)
    feat = x
    u = dec.upscaling
    x = F.relu(up2(x))
    x = F.relu(bn(F.conv2d(x, u.conv3_1.weight, u.conv3_1.bias, padding=1), u.bn2))
    x = F.relu(up2(x))
    x = F.relu(bn(F.conv2d(x, u.conv3_2.weight, u.conv3_2.bias, padding=1), u.bn4))
    fl = dec.final_layers
    x = F.relu(bn(F.conv2d(x, fl[0].weight, fl[0].bias, padding=1), fl[1]))
    x = F.conv2d(x, fl[3].weight, fl[3].bias)
    return (torch.sigmoid(x) if dec.final_activation == "sigmoid" else x), feat


def _randomise_bn(module, g):
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


@pytest.mark.parametrize("act", ["sigmoid", None])
def test_against_functional_reference(act):
    g = torch.Generator().manual_seed(1)
    chans = (4, 8, 16, 32)
    dec = UNetLiteDecoder(chans, out_channels=3, final_activation=act).eval()
    _randomise_bn(dec, g)
    feats = [torch.randn(2, c, 16 // 2**i, 24 // 2**i, generator=g) for i, c in enumerate(chans)]
    with torch.no_grad():
        out, feat = dec(feats)
        ref_out, ref_feat = _reference_forward(dec, feats)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(feat, ref_feat)
    assert out.shape == (2, 3, 64, 96) and feat.shape == (2, 4, 16, 24)
    if act == "sigmoid":
        assert out.min() > 0 and out.max() < 1
    else:
        assert out.min() < 0 < out.max()


def test_w48_shapes_batch1():
    dec = UNetLiteDecoder(W48, out_channels=23, final_activation=None).eval()
    feats = [torch.randn(1, c, 16 // 2**i, 16 // 2**i) for i, c in enumerate(W48)]
    with torch.no_grad():
        out, feat = dec(feats)
    assert out.shape == (1, 23, 64, 64) and feat.shape == (1, 48, 16, 16)


def test_odd_sizes():
    chans = (4, 8, 16, 32)
    dec = UNetLiteDecoder(chans).eval()
    # stride-2 convs with padding round up: 7×9 → 4×5 → 2×3 → 1×2
    feats = [torch.randn(1, c, h, w) for c, (h, w) in zip(chans, [(7, 9), (4, 5), (2, 3), (1, 2)])]
    with torch.no_grad():
        out, feat = dec(feats)
    assert out.shape == (1, 1, 28, 36) and feat.shape == (1, 4, 7, 9)


def test_sized_from_in_channels_and_levels():
    dec = UNetLiteDecoder((6, 12, 24), out_channels=2, final_activation=None)
    assert list(dec.upsample_modules) == ["upsample_2_to_1", "upsample_1_to_0"]
    out, feat = dec([torch.randn(2, 6, 8, 8), torch.randn(2, 12, 4, 4), torch.randn(2, 24, 2, 2)])
    assert out.shape == (2, 2, 32, 32) and feat.shape == (2, 6, 8, 8)
    dec18 = UNetLiteDecoder((18, 36, 72, 144))
    assert tuple(dec18.final_layers[0].weight.shape) == (18, 18, 3, 3)


def test_gradients_reach_every_parameter():
    chans = (4, 8, 16, 32)
    dec = UNetLiteDecoder(chans).train()
    feats = [torch.randn(2, c, 8 // 2**i, 8 // 2**i, requires_grad=True) for i, c in enumerate(chans)]
    out, feat = dec(feats)
    (out.mean() + feat.mean()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in dec.parameters())
    assert all(f.grad is not None for f in feats)


def test_errors():
    dec = UNetLiteDecoder((4, 8, 16, 32))
    feats = [torch.randn(1, c, 8 // 2**i, 8 // 2**i) for i, c in enumerate((4, 8, 16, 32))]
    with pytest.raises(ShapeError, match=r"`features` must hold 4 maps.*got 3"):
        dec(feats[:3])
    bad = feats[:2] + [torch.randn(1, 17, 2, 2), feats[3]]
    with pytest.raises(ShapeError, match=r"features\[2\].*\(B, 16, \*, \*\).*got \(1, 17, 2, 2\)"):
        dec(bad)
    bad = feats[:3] + [torch.randn(2, 32, 1, 1)]
    with pytest.raises(ShapeError, match=r"features\[3\].*`B` is 1 elsewhere"):
        dec(bad)
    with pytest.raises(ConfigError, match="final_activation"):
        UNetLiteDecoder((4, 8), final_activation="softmax")
    with pytest.raises(ConfigError, match="at least 2 levels"):
        UNetLiteDecoder((4,))


def test_head_false_returns_the_same_feature_without_the_map():
    torch.manual_seed(0)
    dec = UNetLiteDecoder((8, 16, 32, 64), out_channels=1).eval()
    feats = [torch.randn(2, c, 16 // 2**i, 16 // 2**i) for i, c in enumerate((8, 16, 32, 64))]
    with torch.no_grad():
        full, feat = dec(feats)
        none, feat2 = dec(feats, head=False)
    assert none is None and full.shape == (2, 1, 64, 64)
    assert torch.equal(feat, feat2)
