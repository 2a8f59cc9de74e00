"""Fixtures for hpskit.export: the stand-in body and two posed people."""

from __future__ import annotations

from pathlib import Path

import pytest
import roma
import torch

import hpskit.body
from hpskit.body.standin import STANDIN_ASSET

HAVE_STANDIN = (Path(hpskit.body.__file__).parent / STANDIN_ASSET).is_file()


@pytest.fixture(scope="session")
def body():
    if not HAVE_STANDIN:
        pytest.skip("the packaged stand-in body asset is missing")
    from hpskit.body import SMPLXBody

    return SMPLXBody("standin")


@pytest.fixture(scope="session")
def two_people(body):
    """Two posed people in front of the camera: vertices (2, V, 3), joints (2, 127, 3), pose, betas,
    transl."""
    g = torch.Generator().manual_seed(1)
    pose = roma.rotvec_to_rotmat(0.25 * torch.randn(2, 22, 3, generator=g))
    pose[:, 0] = torch.diag(torch.tensor([1.0, -1.0, -1.0])) @ pose[:, 0]  # upright, facing the camera
    betas = 0.5 * torch.randn(2, 11, generator=g)
    transl = torch.tensor([[0.4, 0.1, 4.0], [-0.5, 0.0, 5.0]])
    with torch.no_grad():
        out = body.forward_pose(pose, betas, transl=transl)
    return out.vertices.numpy(), out.joints.numpy(), pose, betas, transl
