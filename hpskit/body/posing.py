"""Posing SMPL-X without host reads: smplx's forward pass (linear blend skinning, kinematic chain, landmarks)
on an ``smplx.SMPLXLayer``'s buffers, with the kinematic tree held as Python ints.

:func:`_smplx_forward` runs smplx's own functions on the layer's buffers (the same ops in the same order as
``SMPLXLayer.forward``, so the output is bit-identical) except for the kinematic chain: smplx's
``batch_rigid_transform`` looks each joint's parent up in the ``parents`` buffer
(``transform_chain[parents[i]]``), which on a GPU is a device → host read — 54 host syncs per call, 108 per
training step (predicted and ground-truth bodies). :func:`_rigid_transform` takes the parents as Python ints
read once at load time, so posing a body never waits for the GPU. :class:`hpskit.body.SMPLXBody` calls
:func:`_smplx_forward`; these functions are its internals, not public API.
"""

from __future__ import annotations

import torch
from smplx.lbs import blend_shapes, transform_mat, vertices2joints, vertices2landmarks
from torch import Tensor

__all__: list[str] = []


def _rigid_transform(rot_mats: Tensor, joints: Tensor, parents: list[int], parent_idx: Tensor
                     ) -> tuple[Tensor, Tensor]:
    """smplx's ``batch_rigid_transform`` (same ops, same order) with the parents as host ints.

    Args:
        rot_mats: Joint rotations, shape (B, J, 3, 3).
        joints: Rest joints, shape (B, J, 3).
        parents: Parent of each joint (``parents[0]`` is unused), J host ints.
        parent_idx: ``parents[1:]`` as a long tensor on the joints' device, shape (J − 1,).

    Returns:
        ``(posed_joints (B, J, 3), rel_transforms (B, J, 4, 4))``.
    """
    joints = torch.unsqueeze(joints, dim=-1)
    rel_joints = joints.clone()
    rel_joints[:, 1:] -= joints[:, parent_idx]
    transforms_mat = transform_mat(rot_mats.reshape(-1, 3, 3),
                                   rel_joints.reshape(-1, 3, 1)).reshape(-1, joints.shape[1], 4, 4)
    chain = [transforms_mat[:, 0]]
    for i in range(1, len(parents)):
        chain.append(torch.matmul(chain[parents[i]], transforms_mat[:, i]))
    transforms = torch.stack(chain, dim=1)
    posed_joints = transforms[:, :, :3, 3]
    joints_homogen = torch.nn.functional.pad(joints, [0, 0, 0, 1])
    rel_transforms = transforms - torch.nn.functional.pad(torch.matmul(transforms, joints_homogen),
                                                          [3, 0, 0, 0, 0, 0, 0, 0])
    return posed_joints, rel_transforms


def _lbs(betas: Tensor, pose: Tensor, layer, parents: list[int], parent_idx: Tensor,
         shapedirs: Tensor) -> tuple[Tensor, Tensor]:
    """smplx's ``lbs(..., pose2rot=False)`` (same ops, same order) with :func:`_rigid_transform`.

    Args:
        betas: Shape and expression coefficients, shape (B, S).
        pose: Rotation matrices of all 55 joints, shape (B, 55, 3, 3).
        layer: The ``smplx.SMPLXLayer`` whose buffers are used.
        parents: See :func:`_rigid_transform`.
        parent_idx: See :func:`_rigid_transform`.
        shapedirs: Shape and expression blend shapes, shape (V, 3, S).

    Returns:
        ``(vertices (B, V, 3), joints (B, 55, 3))``.
    """
    batch_size = max(betas.shape[0], pose.shape[0])
    device, dtype = betas.device, betas.dtype
    v_shaped = layer.v_template + blend_shapes(betas, shapedirs)
    J = vertices2joints(layer.J_regressor, v_shaped)
    ident = torch.eye(3, dtype=dtype, device=device)
    pose_feature = pose[:, 1:].view(batch_size, -1, 3, 3) - ident
    rot_mats = pose.view(batch_size, -1, 3, 3)
    pose_offsets = torch.matmul(pose_feature.view(batch_size, -1), layer.posedirs).view(batch_size, -1, 3)
    v_posed = pose_offsets + v_shaped
    J_transformed, A = _rigid_transform(rot_mats, J, parents, parent_idx)
    W = layer.lbs_weights.unsqueeze(dim=0).expand([batch_size, -1, -1])
    num_joints = layer.J_regressor.shape[0]
    T = torch.matmul(W, A.view(batch_size, num_joints, 16)).view(batch_size, -1, 4, 4)
    homogen_coord = torch.ones([batch_size, v_posed.shape[1], 1], dtype=dtype, device=device)
    v_posed_homo = torch.cat([v_posed, homogen_coord], dim=2)
    v_homo = torch.matmul(T, torch.unsqueeze(v_posed_homo, dim=-1))
    return v_homo[:, :, :3, 0], J_transformed


def _smplx_forward(layer, parents: list[int], parent_idx: Tensor, global_orient: Tensor, body_pose: Tensor,
                   betas: Tensor | None, left_hand_pose: Tensor | None, right_hand_pose: Tensor | None,
                   jaw_pose: Tensor | None, leye_pose: Tensor | None, reye_pose: Tensor | None,
                   expression: Tensor | None, transl: Tensor | None) -> tuple[Tensor, Tensor]:
    """``smplx.SMPLXLayer.forward`` (smplx 0.1.28; same ops, same order; no face contour, no joint mapper)
    without a host read: the kinematic chain is :func:`_rigid_transform`.

    Args:
        layer: The ``smplx.SMPLXLayer`` (``use_face_contour=False``, no ``joint_mapper``).
        parents: See :func:`_rigid_transform`.
        parent_idx: See :func:`_rigid_transform`.
        global_orient: (B, 1, 3, 3); body_pose (B, 21, 3, 3); the others as in :meth:`SMPLXBody.forward`
            (rotation matrices; None = identity / zeros).

    Returns:
        ``(vertices (B, V, 3), joints (B, 127, 3))``.
    """
    device, dtype = layer.shapedirs.device, layer.shapedirs.dtype
    batch_size = max(len(v) for v in (betas, global_orient, body_pose, transl, expression, left_hand_pose,
                                      right_hand_pose, jaw_pose) if v is not None)

    def eye(n: int) -> Tensor:
        ident = torch.eye(3, device=device, dtype=dtype).view(1, 1, 3, 3)
        return ident.expand(batch_size, n, -1, -1).contiguous()

    left_hand_pose = eye(15) if left_hand_pose is None else left_hand_pose
    right_hand_pose = eye(15) if right_hand_pose is None else right_hand_pose
    jaw_pose = eye(1) if jaw_pose is None else jaw_pose
    leye_pose = eye(1) if leye_pose is None else leye_pose
    reye_pose = eye(1) if reye_pose is None else reye_pose
    if expression is None:
        expression = torch.zeros([batch_size, layer.num_expression_coeffs], dtype=dtype, device=device)
    if betas is None:
        betas = torch.zeros([batch_size, layer.num_betas], dtype=dtype, device=device)
    if transl is None:
        transl = torch.zeros([batch_size, 3], dtype=dtype, device=device)
    full_pose = torch.cat([global_orient.reshape(-1, 1, 3, 3),
                           body_pose.reshape(-1, layer.NUM_BODY_JOINTS, 3, 3),
                           jaw_pose.reshape(-1, 1, 3, 3), leye_pose.reshape(-1, 1, 3, 3),
                           reye_pose.reshape(-1, 1, 3, 3),
                           left_hand_pose.reshape(-1, layer.NUM_HAND_JOINTS, 3, 3),
                           right_hand_pose.reshape(-1, layer.NUM_HAND_JOINTS, 3, 3)], dim=1)
    shape_components = torch.cat([betas, expression], dim=-1)
    shapedirs = torch.cat([layer.shapedirs, layer.expr_dirs], dim=-1)
    vertices, joints = _lbs(shape_components, full_pose, layer, parents, parent_idx, shapedirs)
    lmk_faces_idx = layer.lmk_faces_idx.unsqueeze(dim=0).expand(batch_size, -1).contiguous()
    lmk_bary_coords = layer.lmk_bary_coords.unsqueeze(dim=0).repeat(batch_size, 1, 1)
    landmarks = vertices2landmarks(vertices, layer.faces_tensor, lmk_faces_idx, lmk_bary_coords)
    joints = layer.vertex_joint_selector(vertices, joints)
    joints = torch.cat([joints, landmarks], dim=1)
    joints += transl.unsqueeze(dim=1)
    vertices += transl.unsqueeze(dim=1)
    return vertices, joints
