"""Fixtures for the command line: one small saved model (HRNet-W18, no body model) and images on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import hpskit.body
from hpskit.body.standin import STANDIN_ASSET
from hpskit.models import DPoSE, DPoSEConfig

#: Whether the packaged stand-in body asset is present (body-model outputs are skipped without it).
HAVE_STANDIN = (Path(hpskit.body.__file__).parent / STANDIN_ASSET).is_file()


@pytest.fixture(scope="session", autouse=True)
def _one_thread(one_thread_session):
    """One intra-op thread for the CLI tests (tests/conftest.py)."""


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory) -> Path:
    """A random-weight HRNet-W18 D-PoSE written by save_pretrained (config body_model='none')."""
    out = tmp_path_factory.mktemp("weights") / "dpose_w18"
    torch.manual_seed(0)
    DPoSE(DPoSEConfig(encoder="hrnet_w18", body_model="none")).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> dict[str, Path]:
    """A 320×240 PNG and a 150×200 JPEG (smooth random colours)."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    out = {}
    for name, (H, W) in (("street.png", (240, 320)), ("portrait.jpg", (200, 150))):
        coarse = rng.integers(0, 256, (H // 8, W // 8, 3), dtype=np.uint8)
        img = Image.fromarray(coarse).resize((W, H), Image.BILINEAR)
        img.save(root / name)
        out[name] = root / name
    return out
