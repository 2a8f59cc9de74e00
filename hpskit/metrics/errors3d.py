"""Per-sample 3D errors: MPJPE, PA-MPJPE, PVE (and PA-PVE), in the unit of the input.

Every function returns one value per sample, shape (B,): the mean over joints (or vertices) of the
Euclidean distance. A dataset score is the mean of these per-sample values (formats.md §7), which
:class:`~hpskit.metrics.MetricAccumulator` computes. Inputs in metres give metres; convert with
:func:`to_mm` for tables. Root alignment is the caller's choice (see :mod:`hpskit.metrics.alignment`);
Procrustes-aligned errors do not need it.

Half-precision inputs are computed and returned in float32.

Example:
    >>> import torch
    >>> gt = torch.zeros(1, 14, 3)
    >>> to_mm(mpjpe(gt + torch.tensor([0.003, 0.0, 0.004]), gt))
    tensor([5.0000])
"""

from __future__ import annotations

import torch
from torch import Tensor

from hpskit.core import check_shape
from hpskit.geometry import procrustes_align, similarity_procrustes

__all__ = ["M_TO_MM", "to_mm", "mpjpe", "pa_mpjpe", "pve", "pa_pve"]

#: Metres → millimetres.
M_TO_MM = 1000.0
_HALF = (torch.float16, torch.bfloat16)


def to_mm(values_m: Tensor | float) -> Tensor | float:
    """Convert metres to millimetres (×1000).

    Args:
        values_m: Values in metres (tensor or number).

    Returns:
        Values in millimetres, same type.
    """
    return values_m * M_TO_MM


def _pair(pred: Tensor, gt: Tensor, where: str, n: str = "N") -> tuple[Tensor, Tensor]:
    dims = check_shape(pred, ("B", n, 3), "pred", where, hint="Add a batch dim with pred[None].")
    check_shape(gt, ("B", n, 3), "gt", where, dims=dims,
                hint="pred and gt must hold the same points in the same order.")
    if pred.dtype in _HALF or gt.dtype in _HALF:
        return pred.float(), gt.float()
    return pred, gt


def _mean_dist(a: Tensor, b: Tensor) -> Tensor:
    return torch.linalg.vector_norm(a - b, dim=-1).mean(dim=-1)


def mpjpe(pred: Tensor, gt: Tensor) -> Tensor:
    """Mean per-joint position error, no alignment.

    Args:
        pred: Predicted joints, shape (B, J, 3).
        gt: Ground-truth joints, shape (B, J, 3), same unit.

    Returns:
        Per-sample mean Euclidean distance, shape (B,), in the input unit.
    """
    pred, gt = _pair(pred, gt, "mpjpe", "J")
    return _mean_dist(pred, gt)


def pa_mpjpe(pred: Tensor, gt: Tensor) -> Tensor:
    """MPJPE after aligning each predicted skeleton to its ground truth by a similarity transform.

    Scale, rotation and translation come from :func:`hpskit.geometry.similarity_procrustes`
    (the reference's ``compute_similarity_transform``, det fix included), fitted per sample.

    Args:
        pred: Predicted joints, shape (B, J, 3).
        gt: Ground-truth joints, shape (B, J, 3).

    Returns:
        Per-sample PA-MPJPE, shape (B,), in the input unit.
    """
    pred, gt = _pair(pred, gt, "pa_mpjpe", "J")
    return _mean_dist(procrustes_align(pred, gt), gt)


def pve(pred_verts: Tensor, gt_verts: Tensor) -> Tensor:
    """Per-vertex error (PVE, also called MVE / V2V): mean vertex distance, no Procrustes.

    Both meshes must share the topology (e.g. SMPL 6890 vertices after converting the SMPL-X
    prediction). Align the roots first if the protocol asks for it.

    Args:
        pred_verts: Predicted vertices, shape (B, V, 3).
        gt_verts: Ground-truth vertices, shape (B, V, 3).

    Returns:
        Per-sample PVE, shape (B,), in the input unit.
    """
    pred_verts, gt_verts = _pair(pred_verts, gt_verts, "pve", "V")
    return _mean_dist(pred_verts, gt_verts)


def pa_pve(pred_verts: Tensor, gt_verts: Tensor, pred_joints: Tensor, gt_joints: Tensor) -> Tensor:
    """PVE after the similarity transform fitted on the **joints** (EMDB's ``MVE_PA``).

    Args:
        pred_verts: Predicted vertices, shape (B, V, 3).
        gt_verts: Ground-truth vertices, shape (B, V, 3).
        pred_joints: Predicted joints the transform is fitted on, shape (B, J, 3).
        gt_joints: Ground-truth joints, shape (B, J, 3).

    Returns:
        Per-sample PA-PVE, shape (B,), in the input unit.
    """
    pred_verts, gt_verts = _pair(pred_verts, gt_verts, "pa_pve", "V")
    pred_joints, gt_joints = _pair(pred_joints, gt_joints, "pa_pve", "J")
    s, R, t = similarity_procrustes(pred_joints, gt_joints)
    aligned = s[:, None, None] * (pred_verts @ R.transpose(1, 2)) + t[:, None, :]
    return _mean_dist(aligned, gt_verts)
