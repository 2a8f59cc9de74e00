"""Temporal smoothing of a track's pose, shape and translation: the One-Euro filter, rotation-aware.

The One-Euro filter (Casiez, Roussel and Vogel, CHI 2012) is an exponential smoother whose cutoff
frequency rises with the signal's speed: ``cutoff = min_cutoff + beta · |speed|``, so a still person is
smoothed hard (little jitter) and a fast one lightly (little lag). Per step of ``dt`` seconds the blend
weight is ``α = 1 / (1 + τ/dt)`` with ``τ = 1 / (2π · cutoff)``; the speed itself is smoothed with the
fixed cutoff ``d_cutoff``.

Rotations are filtered on the rotation group, not per matrix entry or per axis-angle component: the step
from the filtered rotation ``R̂`` towards the new one is ``R̂ · exp(α · log(R̂ᵀ R))`` (a slerp by α), and
the speed is the angle of ``R̂ᵀ R`` per second. The result is always a rotation (no renormalisation
needed) and takes the short way round. Vectors (translation, betas) use the ordinary filter per
component.

Offline (a whole video), :func:`one_euro` can run forwards and backwards and average the two passes
(``bidirectional=True``, the default of :class:`SmoothingConfig`): the lags of the two directions cancel,
which matters for people who move steadily. Shape is a property of the person, not of the frame: by
default each track's betas are replaced by their per-component median over the track.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import roma
import torch
from torch import Tensor

from hpskit.core import ConfigError, ShapeError

__all__ = ["SmoothingConfig", "one_euro", "one_euro_rotations", "smooth_motion"]


def _alpha(cutoff: Tensor, dt: Tensor) -> Tensor:
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


def _check_times(times: Tensor, T: int, where: str) -> Tensor:
    times = torch.as_tensor(times, dtype=torch.float64)
    if times.shape != (T,) or (T > 1 and not bool((times.diff() > 0).all())):
        raise ShapeError(f"{where}: `times` must be ({T},) strictly increasing seconds; got shape "
                         f"{tuple(times.shape)}.")
    return times


def _one_euro_pass(x: Tensor, times: Tensor, min_cutoff: float, beta: float, d_cutoff: float) -> Tensor:
    out = torch.empty_like(x)
    out[0] = x[0]
    dx = torch.zeros_like(x[0])
    for t in range(1, len(x)):
        dt = (times[t] - times[t - 1]).abs().to(x)
        raw = (x[t] - out[t - 1]) / dt
        dx = dx + _alpha(torch.as_tensor(d_cutoff, dtype=x.dtype), dt) * (raw - dx)
        a = _alpha(min_cutoff + beta * dx.abs(), dt)
        out[t] = out[t - 1] + a * (x[t] - out[t - 1])
    return out


def one_euro(x: Tensor, times: Tensor, min_cutoff: float = 1.0, beta: float = 0.5, d_cutoff: float = 1.0,
             bidirectional: bool = False) -> Tensor:
    """One-Euro filter of a vector signal along its first axis.

    Args:
        x: (T, ...) samples.
        times: (T,) strictly increasing times in seconds (gaps allowed: frame / fps).
        min_cutoff: Cutoff (Hz) at rest; lower = smoother.
        beta: Cutoff increase per unit of speed (units of ``x`` per second); higher = less lag.
        d_cutoff: Cutoff (Hz) of the speed estimate.
        bidirectional: Average a forward and a backward pass (zero lag on steady motion; offline only).

    Returns:
        (T, ...) filtered samples, dtype of ``x`` (computed in float64).

    Example:
        >>> t = torch.arange(5.0) / 30
        >>> one_euro(torch.ones(5, 2), t).tolist()[-1]  # a constant passes unchanged
        [1.0, 1.0]
    """
    times = _check_times(times, len(x), "one_euro")
    if min_cutoff <= 0 or beta < 0 or d_cutoff <= 0:
        raise ConfigError(f"one_euro: need min_cutoff > 0, beta ≥ 0, d_cutoff > 0; got {min_cutoff}, {beta}, "
                          f"{d_cutoff}.")
    xd = x.double()
    out = _one_euro_pass(xd, times, min_cutoff, beta, d_cutoff)
    if bidirectional and len(x) > 1:
        back = _one_euro_pass(xd.flip(0), times.flip(0), min_cutoff, beta, d_cutoff).flip(0)
        out = (out + back) / 2
    return out.to(x.dtype)


def _rot_pass(R: Tensor, times: Tensor, min_cutoff: float, beta: float, d_cutoff: float) -> Tensor:
    out = torch.empty_like(R)
    out[0] = R[0]
    speed = R.new_zeros(R.shape[1:-2])
    for t in range(1, len(R)):
        dt = (times[t] - times[t - 1]).abs().to(R)
        delta = roma.rotmat_to_rotvec(out[t - 1].transpose(-1, -2) @ R[t])  # (..., 3), prev → new
        raw = delta.norm(dim=-1) / dt
        speed = speed + _alpha(torch.as_tensor(d_cutoff, dtype=R.dtype), dt) * (raw - speed)
        a = _alpha(min_cutoff + beta * speed, dt)
        out[t] = out[t - 1] @ roma.rotvec_to_rotmat(a[..., None] * delta)
    return out


def one_euro_rotations(R: Tensor, times: Tensor, min_cutoff: float = 1.0, beta: float = 0.5,
                       d_cutoff: float = 1.0, bidirectional: bool = False) -> Tensor:
    """One-Euro filter of rotations along the first axis, on the rotation group (slerp steps).

    Args:
        R: (T, ..., 3, 3) rotation matrices (e.g. (T, 22, 3, 3) per-joint rotations).
        times: (T,) strictly increasing seconds.
        min_cutoff: Cutoff (Hz) at rest.
        beta: Cutoff increase per radian per second of angular speed.
        d_cutoff: Cutoff (Hz) of the angular-speed estimate.
        bidirectional: Also filter backwards and take the midpoint (geodesic) of the two passes.

    Returns:
        (T, ..., 3, 3) rotation matrices, dtype of ``R`` (computed in float64).
    """
    if R.ndim < 3 or R.shape[-2:] != (3, 3):
        raise ShapeError(f"one_euro_rotations: `R` must be (T, ..., 3, 3); got {tuple(R.shape)}.")
    times = _check_times(times, len(R), "one_euro_rotations")
    if min_cutoff <= 0 or beta < 0 or d_cutoff <= 0:
        raise ConfigError(f"one_euro_rotations: need min_cutoff > 0, beta ≥ 0, d_cutoff > 0; got "
                          f"{min_cutoff}, {beta}, {d_cutoff}.")
    Rd = roma.special_procrustes(R.double())  # project onto SO(3) first (network outputs are close)
    out = _rot_pass(Rd, times, min_cutoff, beta, d_cutoff)
    if bidirectional and len(R) > 1:
        back = _rot_pass(Rd.flip(0), times.flip(0), min_cutoff, beta, d_cutoff).flip(0)
        half = roma.rotmat_to_rotvec(out.transpose(-1, -2) @ back) / 2
        out = out @ roma.rotvec_to_rotmat(half)
    return out.to(R.dtype)


@dataclass(kw_only=True)
class SmoothingConfig:
    """How :func:`smooth_motion` filters a track (One-Euro parameters per signal).

    Attributes:
        pose_min_cutoff: Rotations' cutoff at rest, Hz.
        pose_beta: Rotations' cutoff increase per rad/s.
        transl_min_cutoff: Translation's cutoff at rest, Hz.
        transl_beta: Translation's cutoff increase per m/s.
        d_cutoff: Cutoff of the speed estimates, Hz.
        shape: ``"median"`` (one shape per track), ``"one_euro"`` (filtered like translation) or ``"none"``.
        bidirectional: Forward and backward passes averaged (offline, zero lag on steady motion).
    """

    pose_min_cutoff: float = 1.0
    pose_beta: float = 0.3
    transl_min_cutoff: float = 0.7
    transl_beta: float = 0.3
    d_cutoff: float = 1.0
    shape: str = "median"
    bidirectional: bool = True

    def __post_init__(self) -> None:
        problems = [f"`{k}` must be > 0; got {getattr(self, k)}"
                    for k in ("pose_min_cutoff", "transl_min_cutoff", "d_cutoff") if not getattr(self, k) > 0]
        problems += [f"`{k}` must be ≥ 0; got {getattr(self, k)}"
                     for k in ("pose_beta", "transl_beta") if not getattr(self, k) >= 0]
        if self.shape not in ("median", "one_euro", "none"):
            problems.append(f"`shape` must be 'median', 'one_euro' or 'none'; got {self.shape!r}")
        if problems:
            raise ConfigError("SmoothingConfig: " + "; ".join(problems) + ".")


def smooth_motion(pose_rotmat: Tensor, betas: Tensor, transl: Tensor, times: Tensor,
                  config: SmoothingConfig | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Smooth one track's per-frame SMPL-X parameters.

    Args:
        pose_rotmat: (T, J, 3, 3) rotations (J = 22 for D-PoSE: global orientation + body).
        betas: (T, B) shape.
        transl: (T, 3) camera-frame translation, metres.
        times: (T,) strictly increasing seconds (frame / fps).
        config: Filter settings; default :class:`SmoothingConfig`.

    Returns:
        ``(pose_rotmat, betas, transl)`` smoothed, same shapes and dtypes.
    """
    cfg = config or SmoothingConfig()
    T = len(pose_rotmat)
    if betas.shape[0] != T or transl.shape != (T, 3):
        raise ShapeError(f"smooth_motion: betas (T, B) and transl (T, 3) must have T = {T} rows; got "
                         f"{tuple(betas.shape)} and {tuple(transl.shape)}.")
    pose = one_euro_rotations(pose_rotmat, times, cfg.pose_min_cutoff, cfg.pose_beta, cfg.d_cutoff,
                              cfg.bidirectional)
    tr = one_euro(transl, times, cfg.transl_min_cutoff, cfg.transl_beta, cfg.d_cutoff, cfg.bidirectional)
    if cfg.shape == "median":
        b = betas.median(0).values.expand_as(betas).clone()
    elif cfg.shape == "one_euro":
        b = one_euro(betas, times, cfg.transl_min_cutoff, cfg.transl_beta, cfg.d_cutoff, cfg.bidirectional)
    else:
        b = betas.clone()
    return pose, b, tr
