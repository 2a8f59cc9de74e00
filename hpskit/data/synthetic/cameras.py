"""Cameras, body shapes and person placement for the synthetic engine (all draws on a CPU generator).

* Image size: a weighted choice of (W, H) (landscape 1280×720 like BEDLAM, portrait 720×1280 like its
  close-up scenes, square 1024²).
* Focal length: 35 mm-equivalent ``f_mm`` log-uniform in ``focal_mm``, ``fx = fy = f_mm / 36 · max(W, H)``
  (BEDLAM's rule, formats.md §4.3); principal point at the image centre.
* Orientation in the camera frame: ``R = Rx(pitch) · Rz(roll) · Rx(180°) · Ry(yaw)``: yaw uniform, a
  camera pitch and roll (normal), so people stand mostly upright; with ``p_lying`` the body is laid
  down (±90° about the camera's z or x axis), with ``p_any_rotation`` its orientation is uniform.
* Framing: "full" (the whole body in view, its larger side ``r`` of the image's), "close" (the
  body larger than the frame, head near the top edge: close-ups) or "truncated" (the box centre anywhere
  in the image, so limbs leave the frame). The distance follows from ``r`` and the posed body's size.
* Shape: betas ~ N(0, σ²) clipped to ±``clip``; with ``p_extreme`` one of the first three components
  is pushed to ±``clip``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from hpskit.core import ConfigError
from hpskit.geometry import axis_angle_to_rotmat

__all__ = ["CameraConfig", "ShapeConfig", "sample_betas", "sample_cameras", "sample_orientation",
           "place_bodies"]


@dataclass(kw_only=True)
class ShapeConfig:
    """Betas distribution (see module docstring)."""

    sigma: float = 1.5
    clip: float = 3.0
    p_extreme: float = 0.15

    def __post_init__(self) -> None:
        if not (self.sigma >= 0 and self.clip > 0 and 0 <= self.p_extreme <= 1):
            raise ConfigError(f"ShapeConfig: need sigma ≥ 0, clip > 0, p_extreme in [0, 1]; got {self}.")


def sample_betas(n: int, num_betas: int, cfg: ShapeConfig, generator: torch.Generator) -> Tensor:
    """Betas (n, num_betas), float64."""
    b = torch.randn(n, num_betas, generator=generator, dtype=torch.float64) * cfg.sigma
    b = b.clamp(-cfg.clip, cfg.clip)
    ext = torch.rand(n, generator=generator) < cfg.p_extreme
    comp = torch.randint(min(3, num_betas), (n,), generator=generator)
    sign = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0).to(b)
    rows = torch.arange(n)
    b[rows[ext], comp[ext]] = sign[ext] * cfg.clip
    return b


@dataclass(kw_only=True)
class CameraConfig:
    """Camera and framing distributions (see module docstring).

    Attributes:
        image_sizes: Candidate (W, H) full-image sizes.
        image_size_weights: Their weights.
        focal_mm: 35 mm-equivalent focal range (log-uniform).
        framing_weights: Weights of "full", "close", "truncated".
        full_fraction: Range of the body's share of the frame for "full".
        close_fraction: Same for "close" (> 1: the body overflows the frame).
        truncated_fraction: Same for "truncated".
        pitch_deg: σ of the camera pitch (degrees).
        roll_deg: σ of the camera roll (degrees).
        p_lying: Probability of a lying body.
        p_any_rotation: Probability of a uniformly random orientation.
        min_depth: Smallest allowed camera z of any vertex (metres).
        box_rescale: Person box side = ``box_rescale · max(w, h)`` of the visible projected vertices.
    """

    # list[list[int]] rather than list[tuple[int, int]]: OmegaConf (Python 3.12) rejects tuple list items.
    image_sizes: list[list[int]] = field(
        default_factory=lambda: [[1280, 720], [720, 1280], [1024, 1024]])
    image_size_weights: list[float] = field(default_factory=lambda: [0.6, 0.25, 0.15])
    focal_mm: tuple[float, float] = (18.0, 85.0)
    framing_weights: tuple[float, float, float] = (0.6, 0.25, 0.15)
    full_fraction: tuple[float, float] = (0.3, 0.9)
    close_fraction: tuple[float, float] = (1.1, 2.6)
    truncated_fraction: tuple[float, float] = (0.45, 1.1)
    pitch_deg: float = 12.0
    roll_deg: float = 4.0
    p_lying: float = 0.04
    p_any_rotation: float = 0.02
    min_depth: float = 0.3
    box_rescale: float = 1.2

    def __post_init__(self) -> None:
        problems = []
        if len(self.image_sizes) != len(self.image_size_weights) or not self.image_sizes:
            problems.append("image_sizes and image_size_weights must be non-empty and of equal length")
        if not 0 < self.focal_mm[0] <= self.focal_mm[1]:
            problems.append(f"focal_mm must be (lo, hi) with 0 < lo ≤ hi; got {self.focal_mm}")
        if min(self.framing_weights) < 0 or sum(self.framing_weights) <= 0:
            problems.append(f"framing_weights must be ≥ 0 and not all 0; got {self.framing_weights}")
        if problems:
            raise ConfigError("CameraConfig: " + "; ".join(problems) + ".")


def _uniform(g: torch.Generator, n: int, lo: float, hi: float) -> Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64)


def sample_cameras(n: int, cfg: CameraConfig, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Full-image sizes and intrinsics.

    Returns:
        ``(img_size (n, 2) = (W, H), K (n, 3, 3))``, float64.
    """
    g = generator
    sizes = torch.tensor(cfg.image_sizes, dtype=torch.float64)
    pick = torch.multinomial(torch.tensor(cfg.image_size_weights, dtype=torch.float64), n, replacement=True,
                             generator=g)
    wh = sizes[pick]
    f_mm = torch.exp(_uniform(g, n, math.log(cfg.focal_mm[0]), math.log(cfg.focal_mm[1])))
    f = f_mm / 36.0 * wh.max(dim=1).values
    K = torch.zeros(n, 3, 3, dtype=torch.float64)
    K[:, 0, 0], K[:, 1, 1] = f, f
    K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = wh[:, 0] / 2, wh[:, 1] / 2, 1.0
    return wh, K


def _rot(axis: int, angle: Tensor) -> Tensor:
    aa = torch.zeros(*angle.shape, 3, dtype=angle.dtype)
    aa[..., axis] = angle
    return axis_angle_to_rotmat(aa)


def sample_orientation(n: int, cfg: CameraConfig, generator: torch.Generator) -> Tensor:
    """Global orientation of the body in the camera frame, (n, 3, 3) float64."""
    g = generator
    deg = math.pi / 180
    yaw = _uniform(g, n, -math.pi, math.pi)
    pitch = torch.randn(n, generator=g, dtype=torch.float64) * cfg.pitch_deg * deg
    roll = torch.randn(n, generator=g, dtype=torch.float64) * cfg.roll_deg * deg
    flip = _rot(0, torch.full((n,), math.pi, dtype=torch.float64))
    R = _rot(0, pitch) @ _rot(2, roll) @ flip @ _rot(1, yaw)
    u = torch.rand(n, generator=g)
    lie_axis = torch.where(torch.rand(n, generator=g) < 0.5, 0, 2)
    lie_sign = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0).to(torch.float64)
    lie_angle = lie_sign * (math.pi / 2)
    lie = torch.where((lie_axis == 0)[:, None, None], _rot(0, lie_angle), _rot(2, lie_angle))
    R = torch.where((u < cfg.p_lying)[:, None, None], lie @ R, R)
    q = torch.randn(n, 4, generator=g, dtype=torch.float64)
    q = q / q.norm(dim=1, keepdim=True)
    any_rot = axis_angle_to_rotmat(_quat_to_aa(q))
    return torch.where((u > 1 - cfg.p_any_rotation)[:, None, None], any_rot, R)


def _quat_to_aa(q: Tensor) -> Tensor:
    """Unit quaternions (w, x, y, z) → axis-angle."""
    q = torch.where(q[:, :1] < 0, -q, q)
    s = q[:, 1:].norm(dim=1, keepdim=True)
    angle = 2 * torch.atan2(s, q[:, :1])
    return q[:, 1:] / s.clamp_min(1e-12) * angle


def place_bodies(verts0: Tensor, wh: Tensor, K: Tensor, cfg: CameraConfig,
                 generator: torch.Generator) -> Tensor:
    """Translations that put posed bodies (camera-frame orientation, no translation) into view.

    Args:
        verts0: Posed vertices without translation, (B, V, 3) (any device).
        wh: Image sizes (B, 2).
        K: Intrinsics (B, 3, 3).
        cfg: Framing settings.
        generator: CPU generator.

    Returns:
        Translations, shape (B, 3), float64 on the CPU.
    """
    g = generator
    B = verts0.shape[0]
    lo, hi = torch.stack([verts0.amin(dim=1), verts0.amax(dim=1)]).double().cpu()  # one device -> host copy
    ctr, ext = (lo + hi) / 2, hi - lo
    f = K[:, 0, 0]
    W, H = wh[:, 0], wh[:, 1]
    mode = torch.multinomial(torch.tensor(cfg.framing_weights, dtype=torch.float64), B, replacement=True,
                             generator=g)
    r = torch.stack([_uniform(g, B, *cfg.full_fraction), _uniform(g, B, *cfg.close_fraction),
                     _uniform(g, B, *cfg.truncated_fraction)], 1).gather(1, mode[:, None])[:, 0]
    Z = f * torch.maximum(ext[:, 1] / H, ext[:, 0] / W) / r
    Z = torch.maximum(Z, (ctr[:, 2] - lo[:, 2]) + cfg.min_depth)
    wpx, hpx = f * ext[:, 0] / Z, f * ext[:, 1] / Z
    a, b, c, d = (torch.rand(B, generator=g, dtype=torch.float64) for _ in range(4))
    # full: the box inside the image (centred if it cannot fit)
    u_full = torch.where(wpx < W, wpx / 2 + a * (W - wpx).clamp_min(0), W / 2)
    v_full = torch.where(hpx < H, hpx / 2 + b * (H - hpx).clamp_min(0), H / 2)
    # close: horizontally inside where possible, the top of the body just around the top edge
    u_close = torch.where(wpx < W, wpx / 2 + a * (W - wpx).clamp_min(0), W / 2 + (a - 0.5) * 0.3 * W)
    v_close = (-0.12 + 0.25 * b) * H + hpx / 2
    # truncated: the box centre anywhere in the image
    u_tr, v_tr = (0.05 + 0.9 * c) * W, (0.05 + 0.9 * d) * H
    u = torch.stack([u_full, u_close, u_tr], 1).gather(1, mode[:, None])[:, 0]
    v = torch.stack([v_full, v_close, v_tr], 1).gather(1, mode[:, None])[:, 0]
    tx = (u - K[:, 0, 2]) * Z / f - ctr[:, 0]
    ty = (v - K[:, 1, 2]) * Z / K[:, 1, 1] - ctr[:, 1]
    tz = Z - ctr[:, 2]
    return torch.stack([tx, ty, tz], 1)
