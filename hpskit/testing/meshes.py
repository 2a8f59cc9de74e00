"""Small procedural meshes for tests, benchmarks and demos: a box, UV ellipsoids, a blob figure.

All meshes are closed and consistently wound with outward normals (counter-clockwise seen from outside).
They need no body-model file, so the renderer can be tested and benchmarked on its own.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["box_mesh", "ellipsoid_mesh", "figure_mesh"]


def box_mesh(size: float = 1.0, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """An axis-aligned cube centred at the origin.

    Args:
        size: Edge length.
        dtype: Vertex dtype.

    Returns:
        Vertices (8, 3) and faces (12, 3) long, outward normals.

    Example:
        >>> v, f = box_mesh()
        >>> v.shape, f.shape
        (torch.Size([8, 3]), torch.Size([12, 3]))
    """
    h = size / 2
    verts = torch.tensor([[x, y, z] for x in (-h, h) for y in (-h, h) for z in (-h, h)], dtype=dtype)
    # vertex id = 4 * (x > 0) + 2 * (y > 0) + (z > 0); two triangles per side, outward winding
    faces = torch.tensor([
        [0, 1, 3], [0, 3, 2],  # x = -h
        [4, 6, 7], [4, 7, 5],  # x = +h
        [0, 4, 5], [0, 5, 1],  # y = -h
        [2, 3, 7], [2, 7, 6],  # y = +h
        [0, 2, 6], [0, 6, 4],  # z = -h
        [1, 5, 7], [1, 7, 3],  # z = +h
    ])
    return verts, faces


def ellipsoid_mesh(
    n_lat: int = 16,
    n_lon: int = 24,
    radii: tuple[float, float, float] = (1.0, 1.0, 1.0),
    center: tuple[float, float, float] = (0.0, 0.0, 0.0),
    rotation: Tensor | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor]:
    """A UV ellipsoid: ``(n_lat - 1) * n_lon + 2`` vertices and ``2 * n_lon * (n_lat - 1)`` faces.

    Args:
        n_lat: Number of latitude bands (poles on the local y axis).
        n_lon: Number of longitude segments.
        radii: Semi-axes along the local x, y, z.
        center: Centre after rotation.
        rotation: Optional rotation matrix (3, 3) applied to the local axes.
        dtype: Vertex dtype.

    Returns:
        Vertices (V, 3) and faces (F, 3) long, outward normals.
    """
    theta = torch.arange(1, n_lat, dtype=torch.float64) * (math.pi / n_lat)  # polar angle from +y
    phi = torch.arange(n_lon, dtype=torch.float64) * (2 * math.pi / n_lon)
    t, p = torch.meshgrid(theta, phi, indexing="ij")
    ring = torch.stack((torch.sin(t) * torch.cos(p), torch.cos(t), -torch.sin(t) * torch.sin(p)), -1)
    unit = torch.cat((torch.tensor([[0.0, 1.0, 0.0]], dtype=torch.float64), ring.reshape(-1, 3),
                      torch.tensor([[0.0, -1.0, 0.0]], dtype=torch.float64)))
    verts = unit * torch.tensor(radii, dtype=torch.float64)
    if rotation is not None:
        verts = verts @ rotation.to(torch.float64).T
    verts = verts + torch.tensor(center, dtype=torch.float64)
    top, bottom = 0, (n_lat - 1) * n_lon + 1
    j = torch.arange(n_lon)
    jn = (j + 1) % n_lon
    faces = [torch.stack((torch.full_like(j, top), 1 + j, 1 + jn), -1)]
    for r in range(n_lat - 2):
        a, b = 1 + r * n_lon + j, 1 + r * n_lon + jn
        c, d = a + n_lon, b + n_lon
        faces += [torch.stack((a, c, d), -1), torch.stack((a, d, b), -1)]
    last = 1 + (n_lat - 2) * n_lon
    faces.append(torch.stack((torch.full_like(j, bottom), last + jn, last + j), -1))
    return verts.to(dtype), torch.cat(faces)


def _segment_rotation(p0: Tensor, p1: Tensor) -> Tensor:
    """A rotation whose y axis points from p0 to p1."""
    y = torch.nn.functional.normalize(p1 - p0, dim=0)
    helper = torch.tensor([0.0, 0.0, 1.0], dtype=y.dtype)
    x = torch.nn.functional.normalize(torch.linalg.cross(y, helper), dim=0)
    z = torch.linalg.cross(x, y)
    return torch.stack((x, y, z), 1)


# (name, label, start, end or None for a sphere-like part, radius); metres, y up, z to the front
_FIGURE = [
    ("head", 1, (0.0, 1.62, 0.0), (0.0, 1.78, 0.01), 0.095),
    ("torso", 2, (0.0, 1.05, 0.0), (0.0, 1.48, 0.0), 0.16),
    ("pelvis", 3, (0.0, 0.88, 0.0), (0.0, 1.08, 0.0), 0.15),
    ("l_upper_arm", 4, (0.2, 1.45, 0.0), (0.42, 1.22, 0.05), 0.055),
    ("r_upper_arm", 5, (-0.2, 1.45, 0.0), (-0.38, 1.18, -0.04), 0.055),
    ("l_forearm", 6, (0.42, 1.22, 0.05), (0.5, 0.98, 0.2), 0.045),
    ("r_forearm", 7, (-0.38, 1.18, -0.04), (-0.36, 0.92, 0.12), 0.045),
    ("l_thigh", 8, (0.1, 0.9, 0.0), (0.14, 0.5, 0.1), 0.08),
    ("r_thigh", 9, (-0.1, 0.9, 0.0), (-0.12, 0.48, -0.06), 0.08),
    ("l_shin", 10, (0.14, 0.5, 0.1), (0.15, 0.08, 0.02), 0.06),
    ("r_shin", 11, (-0.12, 0.48, -0.06), (-0.14, 0.07, -0.12), 0.06),
]


def figure_mesh(
    n_lat: int = 26, n_lon: int = 48, dtype: torch.dtype = torch.float32
) -> tuple[Tensor, Tensor, Tensor]:
    """A posed, body-sized "blob figure": eleven intersecting ellipsoids (head, torso, limbs), 1.8 m tall.

    Body frame as SMPL-X (y up, z to the front), feet near y = 0. Each ellipsoid is closed; they
    intersect, so rendering it exercises occlusion between separate surfaces. The default resolution
    gives 13,222 vertices and 26,400 faces, the size class of SMPL-X and the stand-in body.

    Args:
        n_lat: Latitude bands per ellipsoid.
        n_lon: Longitude segments per ellipsoid.
        dtype: Vertex dtype.

    Returns:
        Vertices (V, 3), faces (F, 3) long, and per-vertex part labels (V,) long in 1..11.

    Example:
        >>> v, f, lab = figure_mesh()
        >>> v.shape, f.shape, int(lab.max())
        (torch.Size([13222, 3]), torch.Size([26400, 3]), 11)
    """
    verts, faces, labels, offset = [], [], [], 0
    for _, label, start, end, radius in _FIGURE:
        p0, p1 = torch.tensor(start, dtype=torch.float64), torch.tensor(end, dtype=torch.float64)
        half = float(torch.linalg.norm(p1 - p0)) / 2 + radius * 0.6
        v, f = ellipsoid_mesh(n_lat, n_lon, (radius, half, radius * 0.85), tuple(((p0 + p1) / 2).tolist()),
                              _segment_rotation(p0, p1), dtype=torch.float64)
        verts.append(v)
        faces.append(f + offset)
        labels.append(torch.full((v.shape[0],), label, dtype=torch.long))
        offset += v.shape[0]
    return torch.cat(verts).to(dtype), torch.cat(faces), torch.cat(labels)
