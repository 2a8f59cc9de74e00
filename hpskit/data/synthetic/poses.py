"""Body-pose sampling for the synthetic engine: joint limits, a library of key poses, and a sampler.

Axes: SMPL-X joint frames are aligned with the body frame at rest (x = subject's left, y = up,
z = front; T-pose with the arms along ±x, palms down). So, with the right-hand rule:

* x rotations swing a hanging limb backwards (hip flexion, leg forward = **negative** x; knee flexion =
  positive x; spine/neck/head bending forward = positive x; ankle plantar flexion = positive x);
* z rotations raise the arms (left arm up = positive z, right arm up = negative z) and abduct the legs
  (left leg out = positive z, right leg out = negative z);
* y rotations swing the T-pose arms horizontally (left arm forward = negative y, right arm forward =
  positive y), bend the elbows (left forearm forward = negative y, right = positive y), and twist the
  spine, neck and thighs.

Key poses may tilt the pelvis (``"pelvis"``: a rotation in the body frame, applied after the sampled
camera-frame orientation; bending over tilts the pelvis, not the legs). Key poses are written as
intrinsic X·Y·Z Euler angles in degrees, ``R = Rx(a)·Ry(b)·Rz(c)`` (z applied first): e.g. an arm
lowered to the side and then swung forward is ``(swing, 0, lower)``.

:data:`JOINT_LIMITS` bounds each **axis-angle component** of the 21 body joints. Axis-angle components
equal Euler angles only for small rotations, so the table is a plausibility fence (generous for the
3-DoF shoulders and hips), not a biomechanical model; every sampled pose is clamped into it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from hpskit.body import SMPLX_BODY_FLIP_PERM
from hpskit.core import ConfigError, CorruptFileError, MissingFileError
from hpskit.geometry import axis_angle_to_rotmat, rotmat_to_axis_angle

__all__ = ["BODY_JOINTS", "JOINT_LIMITS", "KEY_POSES", "PoseConfig", "PoseSampler", "NpzPoseSource",
           "euler_xyz_to_rotmat", "hand_curl"]

BODY_JOINTS = (
    "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle", "right_ankle",
    "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)
"""SMPL-X body joints 1–21 (the ``body_pose`` order)."""

#: Per-joint axis-angle component ranges in degrees: ``name: ((x_lo, x_hi), (y_lo, y_hi), (z_lo, z_hi))``.
#: Sources: textbook ranges of motion (hip flexion 120°, extension 30°, knee 0–150°, ...), widened
#: where axis-angle components mix for combined rotations (shoulders, hips).
JOINT_LIMITS: dict[str, tuple[tuple[float, float], ...]] = {
    "left_hip": ((-125, 35), (-45, 45), (-30, 70)),
    "right_hip": ((-125, 35), (-45, 45), (-70, 30)),
    "spine1": ((-25, 55), (-35, 35), (-30, 30)),
    "left_knee": ((-2, 150), (-15, 15), (-8, 8)),
    "right_knee": ((-2, 150), (-15, 15), (-8, 8)),
    "spine2": ((-15, 35), (-25, 25), (-20, 20)),
    "left_ankle": ((-35, 50), (-25, 25), (-25, 25)),
    "right_ankle": ((-35, 50), (-25, 25), (-25, 25)),
    "spine3": ((-15, 35), (-25, 25), (-20, 20)),
    "left_foot": ((-35, 25), (-10, 10), (-10, 10)),
    "right_foot": ((-35, 25), (-10, 10), (-10, 10)),
    "neck": ((-40, 45), (-50, 50), (-30, 30)),
    "left_collar": ((-20, 20), (-25, 25), (-15, 35)),
    "right_collar": ((-20, 20), (-25, 25), (-35, 15)),
    "head": ((-40, 40), (-60, 60), (-30, 30)),
    "left_shoulder": ((-110, 110), (-130, 60), (-100, 100)),
    "right_shoulder": ((-110, 110), (-60, 130), (-100, 100)),
    "left_elbow": ((-80, 80), (-150, 2), (-15, 15)),
    "right_elbow": ((-80, 80), (-2, 150), (-15, 15)),
    "left_wrist": ((-60, 60), (-35, 35), (-75, 75)),
    "right_wrist": ((-60, 60), (-35, 35), (-75, 75)),
}

#: Range of the pelvis tilt of key poses (body frame, degrees).
PELVIS_TILT_LIMITS = ((-30, 90), (-30, 30), (-30, 30))

#: Perturbation σ (degrees) per joint around key poses (same for the three components).
_PERTURB_DEG = {
    "pelvis": 4, "left_hip": 10, "right_hip": 10, "spine1": 6, "left_knee": 10, "right_knee": 10, "spine2": 4,
    "left_ankle": 8, "right_ankle": 8, "spine3": 4, "left_foot": 5, "right_foot": 5, "neck": 8,
    "left_collar": 4, "right_collar": 4, "head": 12, "left_shoulder": 15, "right_shoulder": 15,
    "left_elbow": 15, "right_elbow": 15, "left_wrist": 15, "right_wrist": 15,
}

_DOWN = 72.0  # arms hanging at the side: shoulder z = -72 (left) / +72 (right)


def _arms(l_sh=(0, 0, -_DOWN), r_sh=(0, 0, _DOWN), l_el=(0, -10, 0), r_el=(0, 10, 0)) -> dict:
    return {"left_shoulder": l_sh, "right_shoulder": r_sh, "left_elbow": l_el, "right_elbow": r_el}


#: Key poses: joint name (or ``"pelvis"``) → intrinsic X·Y·Z Euler angles in degrees (not listed: identity).
KEY_POSES: dict[str, dict[str, tuple[float, float, float]]] = {
    "stand": {**_arms(), "left_hip": (0, 0, 3), "right_hip": (0, 0, -3)},
    "a_pose": _arms((0, 0, -40), (0, 0, 40), (0, 0, 0), (0, 0, 0)),
    "t_pose": {},
    "walk": {**_arms((25, 0, -_DOWN), (-25, 0, _DOWN), (0, -15, 0), (0, 30, 0)),
             "left_hip": (-25, 0, 0), "right_hip": (15, 0, 0), "left_knee": (10, 0, 0),
             "right_knee": (35, 0, 0), "right_ankle": (10, 0, 0), "spine1": (4, 0, 0)},
    "run": {**_arms((40, 0, -65), (-50, 0, 65), (0, -95, 0), (0, 85, 0)),
            "left_hip": (-55, 0, 0), "right_hip": (25, 0, 0), "left_knee": (60, 0, 0),
            "right_knee": (100, 0, 0), "left_ankle": (-10, 0, 0), "right_ankle": (30, 0, 0),
            "spine1": (12, 0, 0), "spine2": (5, 0, 0)},
    "sit": {**_arms((-35, 0, -70), (-35, 0, 70), (0, -55, 0), (0, 55, 0)),
            "left_hip": (-90, 0, 6), "right_hip": (-90, 0, -6), "left_knee": (90, 0, 0),
            "right_knee": (90, 0, 0), "spine1": (5, 0, 0)},
    "squat": {**_arms((0, -80, -15), (0, 80, 15), (0, 0, 0), (0, 0, 0)),
              "left_hip": (-115, 0, 18), "right_hip": (-115, 0, -18), "left_knee": (135, 0, 0),
              "right_knee": (135, 0, 0), "left_ankle": (-25, 0, 0), "right_ankle": (-25, 0, 0),
              "spine1": (30, 0, 0), "spine2": (8, 0, 0)},
    "arms_up": {**_arms((0, 0, 75), (0, 0, -75), (0, -10, 0), (0, 10, 0)),
                "left_hip": (0, 0, 4), "right_hip": (0, 0, -4), "head": (-10, 0, 0)},
    "reach_forward": {**_arms((0, 0, -_DOWN), (0, 75, -15), (0, -10, 0), (0, 5, 0)),
                      "spine1": (20, -12, 0), "spine2": (8, -5, 0), "right_collar": (0, 10, 0),
                      "left_hip": (-10, 0, 3), "right_hip": (5, 0, -3)},
    "reach_up": {**_arms((0, 0, -_DOWN), (0, 0, -85), (0, -10, 0), (0, 5, 0)),
                 "spine1": (0, 0, 8), "right_collar": (0, 0, -15), "head": (-25, 0, 0),
                 "left_ankle": (25, 0, 0), "right_ankle": (25, 0, 0)},
    "wave": {**_arms((0, 0, -_DOWN), (-90, 0, -5), (0, -10, 0), (0, 95, 0)),
             "head": (0, -10, 0)},
    "bend_over": {**_arms((-85, 0, -_DOWN), (-85, 0, _DOWN), (0, -5, 0), (0, 5, 0)),
                  "pelvis": (55, 0, 0), "spine1": (25, 0, 0), "spine2": (10, 0, 0), "spine3": (10, 0, 0),
                  "left_hip": (-62, 0, 4), "right_hip": (-62, 0, -4), "left_knee": (12, 0, 0),
                  "right_knee": (12, 0, 0), "neck": (-20, 0, 0), "head": (-10, 0, 0)},
    "kneel": {**_arms((0, 0, -_DOWN), (0, 0, _DOWN), (0, -30, 0), (0, 30, 0)),
              "left_hip": (-85, 0, 5), "left_knee": (90, 0, 0), "right_hip": (10, 0, -3),
              "right_knee": (100, 0, 0), "right_ankle": (40, 0, 0), "spine1": (5, 0, 0)},
    "lunge": {**_arms((0, 0, -60), (0, 0, 60), (0, -10, 0), (0, 10, 0)),
              "left_hip": (-80, 0, 5), "left_knee": (85, 0, 0), "right_hip": (30, 0, -5),
              "right_knee": (20, 0, 0), "right_ankle": (20, 0, 0), "left_ankle": (-15, 0, 0)},
    "phone": {**_arms((-20, 0, -65), (-50, 0, 65), (0, -20, 0), (0, 125, 0)),
              "neck": (20, 0, 0), "head": (15, 0, 0)},
    "arms_crossed": {**_arms((-25, -55, -70), (-25, 55, 70), (0, -105, 0), (0, 105, 0))},
    "jumping_jack": {**_arms((0, 0, 45), (0, 0, -45), (0, -5, 0), (0, 5, 0)),
                     "left_hip": (0, 0, 25), "right_hip": (0, 0, -25), "left_ankle": (20, 0, 0),
                     "right_ankle": (20, 0, 0)},
    "sit_cross_legged": {**_arms((-30, 0, -65), (-30, 0, 65), (0, -40, 0), (0, 40, 0)),
                         "left_hip": (-80, -35, 40), "right_hip": (-80, 35, -40), "left_knee": (125, 0, 0),
                         "right_knee": (125, 0, 0), "spine1": (10, 0, 0)},
    "look_back": {**_arms(), "spine1": (0, 25, 0), "spine2": (0, 15, 0), "spine3": (0, 10, 0),
                  "neck": (0, 30, 0), "head": (0, 35, 0)},
    "stretch_side": {**_arms((0, 0, 90), (0, 0, -20), (0, -5, 0), (0, 5, 0)),
                     "spine1": (0, 0, -18), "spine2": (0, 0, -12), "spine3": (0, 0, -8),
                     "left_hip": (0, 0, 8), "right_hip": (0, 0, -8)},
    "kick": {**_arms((0, 0, -45), (0, 0, 45), (0, -20, 0), (0, 20, 0)),
             "right_hip": (-80, 0, 0), "right_knee": (20, 0, 0), "left_knee": (8, 0, 0),
             "spine1": (-8, 0, 0)},
}


def euler_xyz_to_rotmat(angles_deg: Tensor) -> Tensor:
    """Intrinsic X·Y·Z Euler angles (degrees) → rotation matrices ``Rx(a) @ Ry(b) @ Rz(c)``.

    Args:
        angles_deg: Shape (..., 3).

    Returns:
        Rotation matrices, shape (..., 3, 3).

    Example:
        >>> R = euler_xyz_to_rotmat(torch.tensor([0.0, 0.0, 90.0]))
        >>> (R @ torch.tensor([1.0, 0.0, 0.0])).round().tolist()
        [0.0, 1.0, 0.0]
    """
    rad = angles_deg * (math.pi / 180.0)
    eye = torch.eye(3, dtype=rad.dtype, device=rad.device)
    Rs = [axis_angle_to_rotmat(eye[k] * rad[..., k:k + 1]) for k in range(3)]
    return Rs[0] @ Rs[1] @ Rs[2]


def _key_pose_table() -> tuple[list[str], Tensor]:
    """(P,) names and (P, 22, 3) axis-angle (radians) of :data:`KEY_POSES` (0 = pelvis tilt), float64."""
    names = list(KEY_POSES)
    eul = torch.zeros(len(names), 22, 3, dtype=torch.float64)
    for p, n in enumerate(names):
        for j, ang in KEY_POSES[n].items():
            eul[p, 0 if j == "pelvis" else BODY_JOINTS.index(j) + 1] = torch.tensor(ang, dtype=torch.float64)
    return names, rotmat_to_axis_angle(euler_xyz_to_rotmat(eul))


def _limits() -> Tensor:
    """(22, 3, 2) limits in radians (0 = pelvis tilt)."""
    table = [PELVIS_TILT_LIMITS] + [JOINT_LIMITS[j] for j in BODY_JOINTS]
    return torch.tensor(table, dtype=torch.float64) * (math.pi / 180.0)


def mirror_axis_angle(aa: Tensor) -> Tensor:
    """Mirror poses left ↔ right: swap paired joints and negate the y, z components.

    Args:
        aa: Axis-angle of the pelvis (tilt) and the 21 body joints, shape (..., 22, 3).

    Returns:
        The mirrored poses, shape (..., 22, 3).
    """
    perm = torch.tensor(SMPLX_BODY_FLIP_PERM, device=aa.device)
    return aa[..., perm, :] * aa.new_tensor([1.0, -1.0, -1.0])


def hand_curl(curl: Tensor, spread: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Relaxed finger curls for both hands (the SMPL-X hand joints, flat hand = identity).

    In the T-pose the palms face down, so bending the left fingers towards the palm is a negative z
    rotation and the right fingers a positive one. The thumb (last three joints) bends a third as much.

    Args:
        curl: Curl per finger joint in radians, shape (B,).
        spread: Optional per-joint factor, shape (B, 15) (default ones).

    Returns:
        ``(left, right)`` hand poses as rotation matrices, each (B, 15, 3, 3).
    """
    B = curl.shape[0]
    f = curl.new_ones(B, 15) if spread is None else spread
    f = f * curl.new_tensor([1.0] * 12 + [0.33] * 3)
    ang = curl[:, None] * f
    z = torch.zeros_like(ang)
    left = axis_angle_to_rotmat(torch.stack([z, z, -ang], -1))
    right = axis_angle_to_rotmat(torch.stack([z, z, ang], -1))
    return left, right


class NpzPoseSource:
    """Real body poses from an ``.npz``: BEDLAM labels (``pose_cam`` (N, 165)), AMASS (``poses``
    (N, 156|165)), or any array whose rows start with the global orientation followed by the 21 body
    joints (axis-angle).

    Args:
        path: The file.
        key: Array name; ``None`` tries ``pose_cam``, ``poses``, ``pose``, ``body_pose`` in that order. A
            ``body_pose`` array holds the 21 joints only (N, 63).

    Attributes:
        body_pose: (N, 21, 3) axis-angle, float64.
        global_orient: (N, 3) axis-angle or None.
    """

    def __init__(self, path: str | os.PathLike, key: str | None = None) -> None:
        path = Path(path)
        if not path.is_file():
            raise MissingFileError(f"NpzPoseSource: pose file '{path}' does not exist.")
        with np.load(path, allow_pickle=False) as z:
            known = ("pose_cam", "poses", "pose", "body_pose")
            keys = [key] if key is not None else [k for k in known if k in z]
            if not keys or keys[0] not in z:
                raise CorruptFileError(f"NpzPoseSource: '{path}' has no array {key or '/'.join(known)}; it "
                                       f"holds {list(z.files)}. Pass key=...")
            k = keys[0]
            arr = np.asarray(z[k], dtype=np.float64)
        arr = arr.reshape(len(arr), -1)
        if k == "body_pose":
            if arr.shape[1] < 63:
                raise CorruptFileError(f"NpzPoseSource: '{path}'['{k}'] must be (N, 63); got {arr.shape}.")
            self.global_orient = None
            self.body_pose = torch.from_numpy(arr[:, :63]).view(-1, 21, 3)
        else:
            if arr.shape[1] < 66:
                raise CorruptFileError(f"NpzPoseSource: '{path}'['{k}'] must be (N, ≥ 66) axis-angle (root + "
                                       f"21 body joints); got {arr.shape}.")
            self.global_orient = torch.from_numpy(arr[:, :3].copy())
            self.body_pose = torch.from_numpy(arr[:, 3:66].copy()).view(-1, 21, 3)
        if len(self.body_pose) == 0 or not torch.isfinite(self.body_pose).all():
            raise CorruptFileError(f"NpzPoseSource: '{path}'['{k}'] is empty or holds NaN/inf.")
        self.path, self.key = path, k

    def __len__(self) -> int:
        return len(self.body_pose)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """(n, 21, 3) axis-angle rows drawn uniformly with replacement."""
        idx = torch.randint(len(self), (n,), generator=generator)
        return self.body_pose[idx]


@dataclass(kw_only=True)
class PoseConfig:
    """Mixture weights and magnitudes of :class:`PoseSampler`.

    Attributes:
        p_key: Weight of "a key pose, perturbed".
        p_interp: Weight of "two key poses interpolated (slerp per joint), perturbed".
        p_random: Weight of "uniform inside the joint limits, shrunk by a random factor".
        p_source: Weight of "a real pose from the pose source" (ignored without a source).
        p_mirror: Probability of mirroring a key/interpolated pose left ↔ right.
        perturb_scale: Factor on the per-joint perturbation σ.
        random_spread: Range of the shrink factor of random poses (1 = whole limit range).
        hand_curl_deg: Range of the finger curl (degrees per joint).
    """

    p_key: float = 0.45
    p_interp: float = 0.35
    p_random: float = 0.1
    p_source: float = 0.5
    p_mirror: float = 0.5
    perturb_scale: float = 1.0
    random_spread: tuple[float, float] = (0.15, 0.6)
    hand_curl_deg: tuple[float, float] = (5.0, 50.0)

    def __post_init__(self) -> None:
        w = (self.p_key, self.p_interp, self.p_random, self.p_source)
        if min(w) < 0 or sum(w[:3]) <= 0:
            raise ConfigError(f"PoseConfig: mixture weights must be ≥ 0 with p_key + p_interp + p_random "
                              f"> 0; got {w}.")


class PoseSampler:
    """Sample SMPL-X body poses (joints 1–21) in batches, inside :data:`JOINT_LIMITS`.

    Args:
        config: Mixture settings.
        source: Optional real poses (:class:`NpzPoseSource`).
    """

    def __init__(self, config: PoseConfig | None = None, source: NpzPoseSource | None = None) -> None:
        self.config = config or PoseConfig()
        self.source = source
        self.key_names, self.key_aa = _key_pose_table()
        self.limits = _limits()
        self.sigma = torch.tensor([_PERTURB_DEG[j] for j in ("pelvis",) + BODY_JOINTS],
                                  dtype=torch.float64) * math.pi / 180

    def clamp(self, aa: Tensor) -> Tensor:
        """Clamp axis-angle components (..., 22, 3) (pelvis tilt + body joints) into the limits."""
        lim = self.limits.to(aa)
        return torch.maximum(torch.minimum(aa, lim[..., 1]), lim[..., 0])

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """Draw ``n`` body poses.

        Args:
            n: Number of poses.
            generator: CPU generator (all draws are small and made on the CPU, so a seed gives the same
                poses on every device).

        Returns:
            Axis-angle, shape (n, 22, 3), float64, radians: 0 = pelvis tilt in the body frame (compose
            it after the camera-frame orientation), 1–21 = body joints.
        """
        c = self.config
        g = generator
        P = len(self.key_names)
        w = torch.tensor([c.p_key, c.p_interp, c.p_random, c.p_source if self.source is not None else 0.0],
                         dtype=torch.float64)
        mode = torch.multinomial(w / w.sum(), n, replacement=True, generator=g)
        i0, i1 = torch.randint(P, (n,), generator=g), torch.randint(P, (n,), generator=g)
        t = torch.rand(n, 1, 1, generator=g, dtype=torch.float64)
        R0 = axis_angle_to_rotmat(self.key_aa[i0])
        R1 = axis_angle_to_rotmat(self.key_aa[i1])
        rel = rotmat_to_axis_angle(R0.transpose(-1, -2) @ R1)
        interp = rotmat_to_axis_angle(R0 @ axis_angle_to_rotmat(rel * t))
        base = torch.where((mode == 1)[:, None, None], interp, self.key_aa[i0])
        mirror = torch.rand(n, generator=g) < c.p_mirror
        base = torch.where(mirror[:, None, None], mirror_axis_angle(base), base)
        noise = torch.randn(n, 22, 3, generator=g, dtype=torch.float64)
        noise = noise * self.sigma[:, None] * c.perturb_scale
        perturbed = rotmat_to_axis_angle(axis_angle_to_rotmat(base) @ axis_angle_to_rotmat(noise))
        lim = self.limits
        u = torch.rand(n, 22, 3, generator=g, dtype=torch.float64)
        spread = c.random_spread[0] + (c.random_spread[1] - c.random_spread[0]) * torch.rand(
            n, 1, 1, generator=g, dtype=torch.float64)
        rand = self.key_aa[0] + (lim[..., 0] + u * (lim[..., 1] - lim[..., 0])) * spread
        rand[:, 0] = 0.0  # random poses keep the pelvis upright
        out = self.clamp(torch.where((mode == 2)[:, None, None], rand, perturbed))
        if self.source is not None:  # real poses are kept as they are (not clamped)
            src = torch.cat([out.new_zeros(n, 1, 3), self.source.sample(n, g).to(out)], 1)
            out = torch.where((mode == 3)[:, None, None], src, out)
        return out
