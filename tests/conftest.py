"""Shared fixtures: autouse seed, device/dtype, and paths."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

# Keep CPU tests predictable on CI's 2 cores.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture
def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() and os.environ.get("HPSKIT_TEST_CUDA") else "cpu")


@pytest.fixture(autouse=True)
def _isolated_user_dir(tmp_path_factory, monkeypatch):
    """Keep every test away from the real user data dir (the stand-in body is expanded per session)."""
    root = tmp_path_factory.getbasetemp() / "hpskit_user_data"
    root.mkdir(exist_ok=True)
    monkeypatch.setenv("HPSKIT_DATA_DIR", str(root))
    monkeypatch.delenv("HPSKIT_BODY_MODELS", raising=False)
    yield
