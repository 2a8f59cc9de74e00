"""``hpskit info``: versions, body-model search and the stand-in body, as text and JSON."""

from __future__ import annotations

import json

import numpy as np
import torch

import hpskit
from hpskit.cli import main


def test_info_json(tmp_path, monkeypatch, capsys):
    body_root = tmp_path / "bodies"
    (body_root / "smplx").mkdir(parents=True)
    np.savez(body_root / "smplx" / "SMPLX_MALE.npz", v_template=np.zeros((3, 3)))  # found, but not valid
    monkeypatch.setenv("HPSKIT_BODY_MODELS", str(body_root))
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["hpskit"] == hpskit.__version__
    assert info["torch"] == torch.__version__
    assert info["cuda_available"] == torch.cuda.is_available()
    body = info["body_models"]
    assert body["env_value"] == str(body_root)
    assert any(str(body_root) in s for s in body["search_order"])
    assert body["smplx"]["neutral"] == {"found": False, "path": None}
    male = body["smplx"]["male"]
    assert male["found"] and male["path"] == str(body_root / "smplx" / "SMPLX_MALE.npz")
    assert male["valid"] is False and "SMPLX_MALE.npz" in male["problem"]
    data_dir = info["user_data_dir"]
    assert info["standin"]["expanded_path"].startswith(data_dir)
    assert info["standin"]["expanded_path"].endswith("SMPLX_NEUTRAL.npz")


def test_info_text(capsys):
    assert main(["info"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"hpskit {hpskit.__version__}")
    assert "body models are looked for in" in text and "$HPSKIT_BODY_MODELS: (unset)" in text
    assert "stand-in body" in text
