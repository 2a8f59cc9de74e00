"""hpskit.render.soft: the soft silhouette tends to the hard mask, has correct gradients, bounded memory."""

import math

import pytest
import torch

from hpskit.core import ShapeError
from hpskit.render import rasterize, soft_silhouette
from hpskit.testing.meshes import ellipsoid_mesh


def _K(f, cx, cy, dtype=torch.float32):
    return torch.tensor([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]], dtype=dtype)


def _blob(dtype=torch.float32):
    v, f = ellipsoid_mesh(8, 12, radii=(0.5, 0.8, 0.4), dtype=dtype)
    c, s = math.cos(0.4), math.sin(0.4)
    R = torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], dtype=dtype)
    return (v @ R.T + torch.tensor([0.05, 0.0, 3.0], dtype=dtype))[None], f


def test_soft_silhouette_tends_to_hard_mask():
    v, f = _blob()
    K = _K(40.0, 23.5, 24.5)
    hard = rasterize(v, f, K, (48, 48)).mask
    soft = soft_silhouette(v, f, K, (48, 48), sigma=0.05)
    assert soft.shape == (1, 48, 48) and soft.dtype == torch.float32
    assert soft.min() >= 0 and soft.max() <= 1
    agree = ((soft > 0.5) == hard).float().mean()
    assert agree > 0.995
    wide = soft_silhouette(v, f, K, (48, 48), sigma=2.0)
    assert wide.sum() > soft.sum()  # blurrier edges spill outwards


def test_soft_silhouette_gradcheck():
    verts = torch.tensor([[[-1.0, -0.9, 2.0], [1.1, -1.0, 2.5], [0.1, 1.0, 3.0]]], dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2]])
    K = _K(3.0, 3.3, 3.1, torch.float64)
    torch.autograd.gradcheck(
        lambda x: soft_silhouette(x, faces, K, (7, 7), sigma=0.7, max_candidates=10),
        (verts.clone().requires_grad_(),),
    )


def test_soft_silhouette_gradient_direction_and_chunking():
    v, f = _blob(torch.float64)
    K = _K(40.0, 23.5, 24.5, torch.float64)
    z = torch.zeros(1, requires_grad=True, dtype=torch.float64)
    shifted = v + torch.cat((torch.zeros(2, dtype=torch.float64), z))
    area = soft_silhouette(shifted, f, K, (48, 48), sigma=0.7, max_candidates=3000).sum()
    area.backward()
    assert z.grad < 0  # moving away from the camera shrinks the silhouette
    with torch.no_grad():
        one = soft_silhouette(v, f, K, (48, 48), sigma=0.7)
        chunked = soft_silhouette(v, f, K, (48, 48), sigma=0.7, max_candidates=500)
    assert torch.allclose(one, chunked, atol=1e-12)


def test_soft_silhouette_errors():
    v, f = _blob()
    with pytest.raises(ShapeError, match="sigma"):
        soft_silhouette(v, f, _K(40.0, 23.5, 24.5), (48, 48), sigma=0.0)
