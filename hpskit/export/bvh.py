"""A track's skeleton motion as BVH (Biovision hierarchy), and a reader for the files it writes.

The hierarchy is the 22 SMPL-X body joints (pelvis … wrists; D-PoSE predicts no hand, jaw or eye
rotation), with offsets ``J_i − J_parent(i)`` of the track's shaped skeleton (:func:`body_skeleton`), in
**metres** (Blender's BVH importer reads them as metres at scale 1; use its scale option for centimetre
tools). Leaves get an ``End Site``. Each joint has three rotation channels ``Zrotation Xrotation
Yrotation`` (degrees; the local rotation is ``Rz · Rx · Ry``, intrinsic Z-X-Y as scipy's ``"ZXY"``), the
root also ``Xposition Yposition Zposition``.

The world frame is y-up: hpskit's camera frame rotated 180° about x (x right, y up, z towards the
viewer), the same turn as the glTF exports, so the root's rotation is ``diag(1, −1, −1) · R_0`` and its
position ``diag(1, −1, −1) · (J_0 + transl)``. Joint positions then equal the body model's skeleton joints
(same turn applied) up to the text precision (6 decimals).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from hpskit.core import CorruptFileError, ShapeError

from .glb import atomic_write_bytes
from .scene import CV_TO_GLTF

__all__ = ["write_bvh", "read_bvh", "BVH_JOINTS"]

#: Joints written to the BVH: the SMPL-X body skeleton 0..21.
BVH_JOINTS = 22
_ORDER = "ZXY"


def write_bvh(path: str | os.PathLike, skeleton, pose_rotmat, transl, fps: float) -> Path:
    """Write one track's motion as BVH, atomically.

    Args:
        path: Output ``.bvh`` file.
        skeleton: The track's :class:`~hpskit.export.animation.Skeleton`.
        pose_rotmat: (T, 22, 3, 3) rotations (0 = global orientation in the camera frame).
        transl: (T, 3) camera-frame translation, metres.
        fps: Frames per second (``Frame Time`` = 1 / fps).

    Returns:
        The path.

    Raises:
        ShapeError: For inconsistent shapes, non-finite values or ``fps`` ≤ 0.
    """
    R = np.asarray(pose_rotmat.detach().cpu() if hasattr(pose_rotmat, "detach") else pose_rotmat, np.float64)
    t = np.asarray(transl.detach().cpu() if hasattr(transl, "detach") else transl, np.float64)
    if R.ndim != 4 or R.shape[1:] != (BVH_JOINTS, 3, 3) or t.shape != (len(R), 3) or len(R) == 0:
        raise ShapeError(f"hpskit.export.write_bvh: need pose_rotmat (T, 22, 3, 3) and transl (T, 3), T ≥ 1; "
                         f"got {R.shape} and {t.shape}.")
    if not (np.isfinite(R).all() and np.isfinite(t).all()) or not fps > 0:
        raise ShapeError("hpskit.export.write_bvh: the motion must be finite and fps > 0.")
    J = np.asarray(skeleton.rest_joints, np.float64)[:BVH_JOINTS]
    parents = np.asarray(skeleton.parents)[:BVH_JOINTS]
    names = list(skeleton.names)[:BVH_JOINTS]
    lines = ["HIERARCHY"]
    order: list[int] = []  # joints in file (depth-first) order: the order of the motion columns

    def emit(i: int, depth: int) -> None:
        order.append(i)
        pad = "  " * depth
        offset = np.zeros(3) if i == 0 else J[i] - J[parents[i]]
        lines.append(f"{pad}{'ROOT' if i == 0 else 'JOINT'} {names[i]}")
        lines.append(pad + "{")
        lines.append(f"{pad}  OFFSET {offset[0]:.6f} {offset[1]:.6f} {offset[2]:.6f}")
        if i == 0:
            lines.append(f"{pad}  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation")
        else:
            lines.append(f"{pad}  CHANNELS 3 Zrotation Xrotation Yrotation")
        children = [c for c in range(BVH_JOINTS) if parents[c] == i]
        for c in children:
            emit(c, depth + 1)
        if not children:
            lines.extend([f"{pad}  End Site", pad + "  {", f"{pad}    OFFSET 0.000000 0.050000 0.000000",
                          pad + "  }"])
        lines.append(pad + "}")

    emit(0, 0)
    local = R.copy()
    local[:, 0] = CV_TO_GLTF @ R[:, 0]
    root = (J[0] + t) @ CV_TO_GLTF.T
    euler = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_euler(_ORDER, degrees=True)
    euler = euler.reshape(len(R), BVH_JOINTS, 3)
    lines += ["MOTION", f"Frames: {len(R)}", f"Frame Time: {1.0 / float(fps):.8f}"]
    for k in range(len(R)):
        values = list(root[k]) + list(euler[k, order].reshape(-1))
        lines.append(" ".join(f"{v:.6f}" for v in values))
    return atomic_write_bytes(("\n".join(lines) + "\n").encode(), path)


def read_bvh(path: str | os.PathLike) -> dict:
    """Read a BVH file with one ``ROOT``.

    Returns:
        ``{"names": [...], "parents": (J,) int, "offsets": (J, 3), "channels": [[channel names] per joint],
        "motion": (T, C) float64, "frame_time": float}``; joints in file order, motion columns in channel
        order.

    Raises:
        CorruptFileError: If the file does not parse as BVH.
    """
    tokens = Path(path).read_text().split()
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    stack: list[int] = []
    i = 0
    try:
        if tokens[0] != "HIERARCHY":
            raise ValueError("no HIERARCHY")
        i = 1
        while tokens[i] != "MOTION":
            tok = tokens[i]
            if tok in ("ROOT", "JOINT"):
                names.append(tokens[i + 1])
                parents.append(stack[-1] if stack else -1)
                offsets.append([0.0, 0.0, 0.0])
                channels.append([])
                i += 2
            elif tok == "End":
                # "End Site { OFFSET x y z }": skipped
                i += 2 + 1 + 4 + 1
                continue
            elif tok == "{":
                stack.append(len(names) - 1)
                i += 1
            elif tok == "}":
                stack.pop()
                i += 1
            elif tok == "OFFSET":
                offsets[-1] = [float(v) for v in tokens[i + 1:i + 4]]
                i += 4
            elif tok == "CHANNELS":
                n = int(tokens[i + 1])
                channels[-1] = tokens[i + 2:i + 2 + n]
                i += 2 + n
            else:
                raise ValueError(f"unexpected token {tok!r}")
        frames = int(tokens[i + 2])
        frame_time = float(tokens[i + 5])
        values = np.array([float(v) for v in tokens[i + 6:]], np.float64)
        width = sum(len(c) for c in channels)
        if values.size != frames * width:
            raise ValueError(f"{values.size} motion values for {frames} frames × {width} channels")
    except (IndexError, ValueError) as e:
        raise CorruptFileError(f"{path}: not a readable BVH file ({e}).") from None
    return {"names": names, "parents": np.array(parents), "offsets": np.array(offsets),
            "channels": channels, "motion": values.reshape(frames, width), "frame_time": frame_time}
