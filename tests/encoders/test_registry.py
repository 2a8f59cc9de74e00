"""Registry-wide encoder checks (timm-style): channels and strides agree with the maps they produce."""

from __future__ import annotations

import pytest
import torch

from hpskit.core import ConfigError, UnknownNameError
from hpskit.encoders import ENCODERS, TimmFusedEncoder, create_encoder, list_encoders

EXPECTED = {
    "hrnet_w18": (18, 36, 72, 144),
    "hrnet_w32": (32, 64, 128, 256),
    "hrnet_w48": (48, 96, 192, 384),
    "resnet18": (64, 128, 256, 512),
    "resnet34": (64, 128, 256, 512),
    "resnet50": (256, 512, 1024, 2048),
    "convnext_tiny": (96, 192, 384, 768),
    "efficientnet_lite0": (24, 40, 112, 320),
    "efficientnet_lite1": (24, 40, 112, 320),
    "efficientnet_lite2": (24, 48, 120, 352),
}
# Cheap enough to run forward/backward on 2 CPU cores.
RUNNABLE = ["hrnet_w18", "resnet18", "convnext_tiny"]


def test_registered_names():
    assert list_encoders() == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_feature_info_meta(name):
    with torch.device("meta"):
        enc = create_encoder(name)
    assert enc.feature_info.channels() == EXPECTED[name]
    assert enc.feature_info.reduction() == (4, 8, 16, 32)
    assert enc.fused_channels == sum(EXPECTED[name])
    # the learned upsamplers: i ×2 steps for level i, authors' index layout
    for i, c in enumerate(EXPECTED[name][1:], start=1):
        stage = getattr(enc, f"upsample_stage_{i + 1}")
        assert len(stage) == 4 * i
        assert tuple(stage[4 * i - 3].weight.shape) == (c, c, 3, 3)


@pytest.mark.parametrize("name", RUNNABLE)
def test_forward_matches_feature_info(name):
    enc = create_encoder(name).eval()
    with torch.no_grad():
        out = enc(torch.randn(1, 3, 32, 64))
    chans, reds = enc.feature_info.channels(), enc.feature_info.reduction()
    for f, c, r in zip(out.features, chans, reds):
        assert f.shape == (1, c, 32 // r, 64 // r)
    assert out.fused.shape == (1, enc.fused_channels, 8, 16)
    assert torch.isfinite(out.fused).all()


def test_backward_reaches_every_parameter():
    # one cheap trunk; the learned upsamplers and the concatenation are shared by every encoder
    enc = create_encoder("resnet18").train()
    out = enc(torch.randn(2, 3, 32, 32))
    (out.fused.square().mean() + sum(f.mean() for f in out.features)).backward()
    missing = [n for n, p in enc.named_parameters() if p.grad is None]
    assert not missing, missing[:5]


def test_unknown_name_lists_closest():
    with pytest.raises(UnknownNameError, match=r"Unknown encoder 'hrnet_w64'.*Closest: .*hrnet_w"):
        create_encoder("hrnet_w64")


def test_bad_out_indices():
    with pytest.raises(ConfigError, match="strides"):
        TimmFusedEncoder("resnet18", out_indices=(1, 3))


def test_registry_is_core_registry():
    from hpskit.core import Registry

    assert isinstance(ENCODERS, Registry)


def test_kaiming_init_scale():
    import math

    from torch import nn

    from hpskit.encoders import kaiming_init_

    m = nn.Sequential(nn.Conv2d(16, 32, 3, bias=True), nn.BatchNorm2d(32))
    with torch.no_grad():
        m[1].weight.fill_(3.0)
    kaiming_init_(m)
    fan_out = 32 * 3 * 3
    assert abs(m[0].weight.std().item() - math.sqrt(2.0 / fan_out)) < 0.02
    assert m[0].bias.abs().max() == 0 and torch.all(m[1].weight == 1) and torch.all(m[1].bias == 0)
