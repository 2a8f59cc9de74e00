"""hpskit.models.export: ONNX files that onnxruntime runs like PyTorch.

One real export (random-weight HRNet-W18 D-PoSE, dynamic batch) is checked on batch sizes other than the
traced one; the options and error paths run on a tiny model with the same interface (a PartAttention
between a stride-4 feature map and full-resolution part logits), which exports in well under a second.
"""

from __future__ import annotations

import logging
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from hpskit.attention import PartAttention
from hpskit.core import ConfigError
from hpskit.geometry import rot6d_to_rotmat
from hpskit.models import DPoSE, DPoSEConfig, DPoSEOutput
from hpskit.models.export import ONNX_OUTPUT_NAMES, _StaticPartAttention, export_onnx, verify_onnx

ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_thread_module):
    """One intra-op thread for this module (tests/conftest.py)."""


class TinyDPoSE(nn.Module):
    """DPoSE's interface on 32×32 crops: features at stride ``stride``, logits at full resolution."""

    input_size = 32

    def __init__(self, use_depth=True, bbox_conditioning=True, stride=4):
        super().__init__()
        self.config = SimpleNamespace(bbox_conditioning=bbox_conditioning)
        self.features = nn.Conv2d(3, 8, 3, stride=stride, padding=1)
        self.parts = nn.Conv2d(3, 5, 3, padding=1)
        self.depth_head = nn.Conv2d(3, 1, 3, padding=1) if use_depth else None
        self.attention = PartAttention(8)
        self.head = nn.Linear(4 * 8 + (3 if bbox_conditioning else 0), 22 * 6 + 11 + 3)

    def forward(self, images, bbox_info=None, return_features=False):
        fused = torch.relu(self.features(images))
        part_logits = self.parts(images)
        tokens = self.attention(fused, part_logits[:, 1:])
        x = tokens.flatten(1)
        if self.config.bbox_conditioning:
            x = torch.cat([x, bbox_info], 1)
        y = self.head(x)
        pose_6d = y[:, :132].reshape(-1, 22, 6)
        depth = torch.sigmoid(self.depth_head(images)) if self.depth_head is not None else None
        return DPoSEOutput(pose_rotmat=rot6d_to_rotmat(pose_6d), pose_6d=pose_6d, betas=y[:, 132:143],
                           cam=y[:, 143:], part_logits=part_logits, depth=depth,
                           features={"fused": fused} if return_features else None)


def _run(path, images, bbox=None):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {"images": images.numpy()}
    if bbox is not None:
        feeds["bbox_info"] = bbox.numpy()
    return session, session.run(None, feeds)


@pytest.fixture(scope="module")
def dpose_export(tmp_path_factory):
    torch.manual_seed(0)
    model = DPoSE(DPoSEConfig(encoder="hrnet_w18", body_model="none")).eval()
    path = tmp_path_factory.mktemp("onnx") / "dpose.onnx"
    report = export_onnx(model, path, verify_batch=1, generator=torch.Generator().manual_seed(0))
    return model, path, report


def test_dpose_export_report(dpose_export):
    model, path, report = dpose_export
    assert path.is_file() and report.path == path
    assert report.input_names == ("images", "bbox_info") and report.output_names == ONNX_OUTPUT_NAMES
    assert report.batch is None and report.verify_batch == 1 and report.exporter == "torchscript"
    assert set(report.max_abs_diff) == set(ONNX_OUTPUT_NAMES)
    assert report.ok(atol=1e-4), report.max_abs_diff
    assert type(model.attention) is PartAttention  # the model itself is untouched


def test_dpose_onnx_matches_pytorch(dpose_export):
    """Independent check on a batch size that neither the trace (2) nor the report (1) used."""
    model, path, _ = dpose_export
    batch = 4
    g = torch.Generator().manual_seed(10 + batch)
    images = torch.randn(batch, 3, 224, 224, generator=g)
    bbox = torch.stack([torch.rand(batch, generator=g) - 0.5, torch.rand(batch, generator=g) - 0.5,
                        0.2 + 0.8 * torch.rand(batch, generator=g)], -1)
    session, got = _run(path, images, bbox)
    assert [i.shape for i in session.get_inputs()] == [["batch", 3, 224, 224], ["batch", 3]]
    with torch.no_grad():
        ref = model(images, bbox)
    for name, value in zip(ONNX_OUTPUT_NAMES, got):
        expected = getattr(ref, name).numpy()
        assert value.shape == expected.shape
        np.testing.assert_allclose(value, expected, atol=1e-4, rtol=0, err_msg=name)


def test_static_part_attention_equals_part_attention():
    att = PartAttention(6).double()
    static = _StaticPartAttention(att, (4, 3))
    features = torch.randn(2, 6, 5, 7, dtype=torch.float64)
    logits = torch.randn(2, 9, 20, 21, dtype=torch.float64)
    torch.testing.assert_close(static(features, logits), att(features, logits), rtol=0, atol=1e-12)
    assert static.mixer is att.mixer


def test_static_batch(tmp_path):
    model = TinyDPoSE()
    report = export_onnx(model, tmp_path / "tiny.onnx", batch=2)
    assert report.batch == 2 and report.verify_batch == 2 and report.ok()
    session, got = _run(report.path, torch.randn(2, 3, 32, 32), torch.zeros(2, 3))
    assert session.get_inputs()[0].shape == [2, 3, 32, 32]
    with pytest.raises(Exception):  # noqa: B017 - onnxruntime's own error type
        _run(report.path, torch.randn(3, 3, 32, 32), torch.zeros(3, 3))


def test_without_depth_and_box_conditioning(tmp_path):
    model = TinyDPoSE(use_depth=False, bbox_conditioning=False).train()
    report = export_onnx(model, tmp_path / "sub" / "tiny.onnx", opset=18)
    assert report.input_names == ("images",)
    assert report.output_names == ("pose_rotmat", "betas", "cam", "part_logits")
    assert report.ok() and report.opset == 18
    assert model.training and model.head.training  # training flags restored
    session, got = _run(report.path, torch.randn(1, 3, 32, 32))
    assert [o.name for o in session.get_outputs()] == list(report.output_names)


def test_verify_off_and_onnxruntime_missing(tmp_path, monkeypatch, caplog):
    model = TinyDPoSE()
    assert export_onnx(model, tmp_path / "a.onnx", verify=False).max_abs_diff is None
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime → ImportError
    with caplog.at_level(logging.WARNING, logger="hpskit"):
        report = export_onnx(model, tmp_path / "b.onnx")
    assert report.max_abs_diff is None and not report.ok()
    assert any("onnxruntime is not installed" in r.getMessage() for r in caplog.records)
    with pytest.raises(ImportError):
        verify_onnx(model, tmp_path / "b.onnx")


def test_errors(tmp_path, monkeypatch):
    model = TinyDPoSE()
    with pytest.raises(ConfigError, match="exporter"):
        export_onnx(model, tmp_path / "m.onnx", exporter="tensorrt")
    with pytest.raises(ConfigError, match="opset"):
        export_onnx(model, tmp_path / "m.onnx", opset=11)
    with pytest.raises(ConfigError, match="batch"):
        export_onnx(model, tmp_path / "m.onnx", batch=0)
    with pytest.raises(ConfigError, match="whole multiple"):
        export_onnx(TinyDPoSE(stride=3), tmp_path / "m.onnx")  # 32 logits vs 11 features
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxscript" else real(name, *a))
    with pytest.raises(ConfigError, match="onnxscript"):
        export_onnx(model, tmp_path / "m.onnx", exporter="dynamo")
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.skipif(not __import__("importlib").util.find_spec("onnxscript"), reason="needs onnxscript")
def test_dynamo_exporter(tmp_path):
    model = TinyDPoSE(stride=3)  # torch.export handles any adaptive pooling
    report = export_onnx(model, tmp_path / "d.onnx", exporter="dynamo")
    assert report.exporter == "dynamo" and report.opset == 18
    assert report.ok(atol=1e-4), report.max_abs_diff
