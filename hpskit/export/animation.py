"""A tracked person's motion as an animated, skinned binary glTF.

What the file holds (shape baked per track):

* the body's 55-joint SMPL-X skeleton: joint ``i`` is a node whose rest translation is
  ``J_i − J_parent(i)``, where ``J`` are the skeleton joints of the body model (its ``J_regressor``
  applied to the shaped rest mesh at the track's ``betas``; :func:`body_skeleton`);
* the shaped rest mesh with the body's skinning weights (``lbs_weights``, up to 8 influences per vertex
  in ``JOINTS_0/1`` + ``WEIGHTS_0/1``; SMPL-X and the stand-in body use at most 7, so nothing is cut);
* one animation: per frame the 22 rotations D-PoSE predicts (joint 0 = global orientation in the camera
  frame, 1..21 body) as quaternions, and the root translation ``J_0 + transl``; hands, jaw and eyes keep
  their rest (flat) rotation. Times are ``frame / fps`` seconds, linear interpolation.

Frames: as in :mod:`hpskit.export.scene`, the skeleton hangs under a node ``opencv_camera_frame`` that
turns hpskit's camera frame into glTF's (180° about x), and an optional camera node sits at the origin.
The inverse bind matrices are ``T(−J_i)`` (joint-local = mesh-space vertex − rest joint), so each joint's
world matrix × its inverse bind matrix is the SMPL-X skinning transform of that joint (glTF's linear blend
skinning equals SMPL-X's ``lbs`` without pose-corrective blend shapes, which glTF cannot express): joint
positions replay exactly (float32), vertices up to the pose correctives' size (a few millimetres to ~2 cm
at strongly bent joints).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import roma
import torch

from hpskit.body import SMPLX_JOINT_NAMES, SMPLX_PARENTS
from hpskit.core import ShapeError

from .glb import GLBBuilder
from .scene import CV_TO_GLTF_QUAT, PERSON_COLORS, add_camera, add_mesh

__all__ = ["Skeleton", "body_skeleton", "skinned_animation_glb", "write_animated_glb", "rotmat_to_quat_xyzw"]

_NUM_JOINTS = 55
_INFLUENCES = 8


@dataclass
class Skeleton:
    """A shaped body at rest (zero pose, no translation), body frame, metres.

    Attributes:
        rest_joints: (55, 3) skeleton joints.
        parents: (55,) parent index of each joint (−1 for the pelvis).
        names: The 55 joint names (SMPL-X order).
        rest_vertices: (V, 3) shaped rest mesh.
        faces: (F, 3) triangles.
        lbs_weights: (V, 55) skinning weights.
    """

    rest_joints: np.ndarray
    parents: np.ndarray
    names: list[str]
    rest_vertices: np.ndarray
    faces: np.ndarray
    lbs_weights: np.ndarray


def body_skeleton(body, betas) -> Skeleton:
    """The skeleton and rest mesh of ``body`` (an :class:`~hpskit.body.SMPLXBody`) at shape ``betas``.

    Args:
        body: The body model.
        betas: (num_betas,) shape coefficients, tensor or array.

    Returns:
        A :class:`Skeleton`: ``rest_joints`` are the first 55 joints of the body's forward at identity
        pose (= ``J_regressor`` @ shaped template), float64.
    """
    ref = body.faces
    b = torch.as_tensor(np.asarray(betas.detach().cpu() if hasattr(betas, "detach") else betas),
                        dtype=body.lbs_weights.dtype, device=ref.device).reshape(1, -1)
    eye = torch.eye(3, dtype=b.dtype, device=ref.device)
    with torch.no_grad():
        out = body(eye.expand(1, 1, 3, 3), eye.expand(1, 21, 3, 3), b)
    return Skeleton(rest_joints=out.joints[0, :_NUM_JOINTS].double().cpu().numpy(),
                    parents=np.asarray(SMPLX_PARENTS[:_NUM_JOINTS], np.int64),
                    names=list(SMPLX_JOINT_NAMES[:_NUM_JOINTS]),
                    rest_vertices=out.vertices[0].double().cpu().numpy(),
                    faces=body.faces.cpu().numpy(), lbs_weights=body.lbs_weights.double().cpu().numpy())


def rotmat_to_quat_xyzw(rotmat: np.ndarray) -> np.ndarray:
    """(T, ..., 3, 3) rotations → (T, ..., 4) unit quaternions (x, y, z, w), signs chosen along T so that
    consecutive quaternions lie in the same hemisphere (linear interpolation then takes the short way)."""
    q = roma.rotmat_to_unitquat(torch.as_tensor(np.asarray(rotmat, np.float64))).numpy()
    for t in range(1, len(q)):
        flip = (q[t] * q[t - 1]).sum(-1) < 0
        q[t][flip] *= -1
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def _skin_attributes(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(V, J) weights → (V, 8) uint8 joint indices and (V, 8) float32 weights summing to 1."""
    order = np.argsort(-weights, axis=1, kind="stable")[:, :_INFLUENCES]
    w = np.take_along_axis(weights, order, axis=1)
    w = np.where(w > 1e-7, w, 0.0)
    w = w / w.sum(1, keepdims=True)
    joints = np.where(w > 0, order, 0).astype(np.uint8)  # unused slots: joint 0 with weight 0
    w32 = w.astype(np.float32)
    w32[:, 0] += (1.0 - w32.astype(np.float64).sum(1)).astype(np.float32)  # float32 sums to 1
    return joints, w32


def _check_motion(pose_rotmat: np.ndarray, transl: np.ndarray, frames: np.ndarray) -> None:
    where = "hpskit.export.skinned_animation_glb"
    T = len(pose_rotmat)
    if pose_rotmat.shape[1:] != (22, 3, 3) or T == 0:
        raise ShapeError(f"{where}: `pose_rotmat` must be (T, 22, 3, 3) with T ≥ 1; got {pose_rotmat.shape}.")
    if transl.shape != (T, 3):
        raise ShapeError(f"{where}: `transl` must be (T, 3) = ({T}, 3); got {transl.shape}.")
    if frames.shape != (T,) or (T > 1 and not (np.diff(frames) > 0).all()) or frames.min() < 0:
        raise ShapeError(f"{where}: `frames` must be ({T},) strictly increasing frame indices ≥ 0; got "
                         f"shape {frames.shape}.")
    if not (np.isfinite(pose_rotmat).all() and np.isfinite(transl).all()):
        raise ShapeError(f"{where}: the motion holds NaN or infinite values.")


def skinned_animation_glb(skeleton: Skeleton, pose_rotmat, transl, fps: float, frames=None,
                          K=None, image_size: tuple[int, int] | None = None, name: str = "person",
                          color=PERSON_COLORS[0]) -> GLBBuilder:
    """Build the animated, skinned glTF of one track.

    Args:
        skeleton: The track's shaped body (:func:`body_skeleton`).
        pose_rotmat: (T, 22, 3, 3) rotations per frame (0 = global orientation in the camera frame).
        transl: (T, 3) camera-frame translation per frame, metres (as :class:`~hpskit.models.Prediction`).
        fps: Frames per second of the video.
        frames: (T,) increasing frame indices (gaps allowed); default 0..T−1. Key times are frames / fps.
        K: Optional (3, 3) intrinsics: adds the video's camera (needs ``image_size``).
        image_size: ``(H, W)`` of the video frames.
        name: Mesh / node name.
        color: RGB base colour.

    Returns:
        A :class:`GLBBuilder`.

    Raises:
        ShapeError: For inconsistent shapes, non-increasing frames or non-finite values.
    """
    R = np.asarray(pose_rotmat.detach().cpu() if hasattr(pose_rotmat, "detach") else pose_rotmat, np.float64)
    t = np.asarray(transl.detach().cpu() if hasattr(transl, "detach") else transl, np.float64)
    frames = np.arange(len(R)) if frames is None else np.asarray(frames)
    _check_motion(R, t, frames)
    if not fps > 0:
        raise ShapeError(f"hpskit.export.skinned_animation_glb: `fps` must be > 0; got {fps}.")
    J, parents = skeleton.rest_joints, skeleton.parents
    b = GLBBuilder()
    if K is not None:
        if image_size is None:
            raise ShapeError("hpskit.export.skinned_animation_glb: `K` needs `image_size` (H, W).")
        add_camera(b, np.asarray(K), image_size)
    quats = rotmat_to_quat_xyzw(R)  # (T, 22, 4)
    root_pos = J[0] + t  # (T, 3)
    frame_node = b.add_node({"name": "opencv_camera_frame", "rotation": CV_TO_GLTF_QUAT}, root=True)
    first = len(b.gltf["nodes"])
    joint_nodes = list(range(first, first + _NUM_JOINTS))
    for i in range(_NUM_JOINTS):
        node: dict = {"name": skeleton.names[i]}
        offset = root_pos[0] if i == 0 else J[i] - J[parents[i]]
        node["translation"] = [float(v) for v in offset]
        if i < 22:
            node["rotation"] = [float(v) for v in quats[0, i]]
        children = [first + c for c in range(_NUM_JOINTS) if parents[c] == i]
        if children:
            node["children"] = children
        b.add_node(node)
    b.gltf["nodes"][frame_node]["children"] = [joint_nodes[0]]
    ibm = np.tile(np.eye(4, dtype=np.float32), (_NUM_JOINTS, 1, 1))
    ibm[:, :3, 3] = -J
    skin = b.add("skins", {"name": f"{name}_skeleton", "joints": joint_nodes, "skeleton": frame_node,
                           "inverseBindMatrices": b.add_accessor(ibm.astype(np.float32), "MAT4",
                                                                 bounds=False)})
    idx, w = _skin_attributes(skeleton.lbs_weights)
    extra = {"JOINTS_0": b.add_accessor(idx[:, :4], "VEC4", target="ARRAY_BUFFER", bounds=False),
             "JOINTS_1": b.add_accessor(idx[:, 4:], "VEC4", target="ARRAY_BUFFER", bounds=False),
             "WEIGHTS_0": b.add_accessor(w[:, :4], "VEC4", target="ARRAY_BUFFER", bounds=False),
             "WEIGHTS_1": b.add_accessor(w[:, 4:], "VEC4", target="ARRAY_BUFFER", bounds=False)}
    mesh, _ = add_mesh(b, skeleton.rest_vertices, skeleton.faces, color, name, extra_attributes=extra)
    b.add_node({"name": name, "mesh": mesh, "skin": skin}, root=True)
    times = b.add_accessor((frames / float(fps)).astype(np.float32), "SCALAR")
    samplers, channels = [], []
    for i in range(22):
        samplers.append({"input": times, "interpolation": "LINEAR",
                         "output": b.add_accessor(quats[:, i].astype(np.float32), "VEC4", bounds=False)})
        channels.append({"sampler": len(samplers) - 1,
                         "target": {"node": joint_nodes[i], "path": "rotation"}})
    samplers.append({"input": times, "interpolation": "LINEAR",
                     "output": b.add_accessor(root_pos.astype(np.float32), "VEC3", bounds=False)})
    channels.append({"sampler": len(samplers) - 1, "target": {"node": joint_nodes[0], "path": "translation"}})
    b.add("animations", {"name": f"{name}_motion", "samplers": samplers, "channels": channels})
    return b


def write_animated_glb(path: str | os.PathLike, skeleton: Skeleton, pose_rotmat, transl, fps: float,
                       **kwargs) -> Path:
    """:func:`skinned_animation_glb` written atomically to ``path``; returns the path."""
    return skinned_animation_glb(skeleton, pose_rotmat, transl, fps, **kwargs).write(path)
