"""``hpskit export-onnx``: the file, its inputs/outputs, and the reported onnxruntime agreement."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from hpskit.cli import main
from hpskit.models import DPoSE

ort = pytest.importorskip("onnxruntime")


def test_export_onnx_dynamic_batch(weights_dir, tmp_path, capsys):
    out = tmp_path / "dpose.onnx"
    assert main(["export-onnx", "--weights", str(weights_dir), "--out", str(out), "--opset", "17",
                 "--batch", "dynamic", "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    diff = float(re.search(r"max abs diff ([0-9.eE+-]+)", text).group(1))
    assert diff < 1e-4
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape) for i in session.get_inputs()] == [("images", ["batch", 3, 224, 224]),
                                                                 ("bbox_info", ["batch", 3])]
    assert [o.name for o in session.get_outputs()] == ["pose_rotmat", "betas", "cam", "depth", "part_logits"]
    # an independent check on one more batch size
    model = DPoSE.from_pretrained(weights_dir, body_model="none")
    g = torch.Generator().manual_seed(1)
    images, bbox = torch.randn(1, 3, 224, 224, generator=g), 0.3 * torch.randn(1, 3, generator=g)
    got = session.run(None, {"images": images.numpy(), "bbox_info": bbox.numpy()})
    with torch.no_grad():
        ref = model(images, bbox)
    for name, value in zip(["pose_rotmat", "betas", "cam", "depth", "part_logits"], got):
        np.testing.assert_allclose(value, getattr(ref, name).numpy(), atol=1e-4, rtol=0)


def test_export_onnx_bad_batch_is_a_usage_error(weights_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["export-onnx", "--weights", str(weights_dir), "--out", str(tmp_path / "m.onnx"),
              "--batch", "0"])
    assert exc.value.code == 2
    assert "dynamic" in capsys.readouterr().err


def test_export_onnx_missing_weights(tmp_path, capsys):
    absent = tmp_path / "absent"
    assert main(["export-onnx", "--weights", str(absent), "--out", str(tmp_path / "m.onnx")]) == 1
    err = capsys.readouterr().err
    assert "--weights" in err and str(absent) in err
    assert not (tmp_path / "m.onnx").exists()
