"""Fixtures for hpskit.export: two posed people of the stand-in body (``body``, tests/conftest.py)."""

from __future__ import annotations

import pytest
import roma
import torch


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
