"""Encoder fixtures (the reference tensors come from tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def w48_meta():
    """HRNet-W48 encoder on the meta device: names, shapes and counts without memory or init cost."""
    import torch

    from hpskit.encoders import HRNetEncoder

    with torch.device("meta"):
        return HRNetEncoder("hrnet_w48")


@pytest.fixture(scope="session")
def w48():
    """One real HRNet-W48 encoder (eval mode) shared by the encoder tests; building it is slow on 2 cores."""
    from hpskit.encoders import HRNetEncoder

    return HRNetEncoder("hrnet_w48").eval()
