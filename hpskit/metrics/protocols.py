"""Named evaluation protocols on SMPL meshes (formats.md §7): joints from a regressor, root alignment,
MPJPE / PA-MPJPE / PVE per sample.

* ``"dpose_h36m14"``: D-PoSE's 3DPW / EMDB evaluation. Joints = ``J_h36m · V`` (17 rows, by
  :func:`hpskit.body.regress_joints`); each body is aligned by its own H36M row 0 (pelvis), joints and
  vertices alike; errors on the LSP-14 joints ``H36M_TO_J14``; PVE over all aligned vertices.
* ``"smpl24_hips"``: the official EMDB protocol (also TokenHMR / CameraHMR, and D-PoSE's RICH branch).
  Joints = ``J_smpl · V`` (24); root = midpoint of joints 1 and 2 (hips); errors on all 24 joints;
  also ``pa_pve`` (vertices moved by the Procrustes transform fitted on the joints), EMDB's MVE_PA.

On SMPL-X meshes (the held-out synthetic split, where prediction and ground truth share one body):

* ``"smplx24_pelvis"`` (:func:`smplx24_pelvis_errors`): SMPL-X joints 0–23 (0–21 body, 22 jaw, 23 left
  eye: the supervised set) and all vertices, each body aligned by its own pelvis (joint 0).

For the SMPL protocols the prediction is expected as SMPL vertices already (D-PoSE:
``smplx2smpl @ V_smplx``); the ground truth as gendered SMPL vertices. Both in metres; the returned
values are in metres.

Example:
    >>> import torch
    >>> V = torch.randn(2, 30, 3)
    >>> J = torch.softmax(torch.randn(24, 30), dim=-1)
    >>> out = smpl_mesh_errors(V, V, J, protocol="smpl24_hips")
    >>> sorted(out), out["mpjpe"].shape
    (['mpjpe', 'pa_mpjpe', 'pa_pve', 'pve'], torch.Size([2]))
"""

from __future__ import annotations

from torch import Tensor

from hpskit.body import regress_joints
from hpskit.core import ConfigError, check_shape

from .alignment import H36M_PELVIS, H36M_TO_J14, SMPL_HIPS, align_root, root_from_joints
from .errors3d import mpjpe, pa_mpjpe, pa_pve, pve

__all__ = ["PROTOCOLS", "SMPLX24_EVAL_JOINTS", "smpl_mesh_errors", "smplx24_pelvis_errors"]

#: protocol name → (number of regressor rows, root indices, evaluated joint subset or None = all)
PROTOCOLS: dict[str, tuple[int, tuple[int, ...], tuple[int, ...] | None]] = {
    "dpose_h36m14": (17, H36M_PELVIS, H36M_TO_J14),
    "smpl24_hips": (24, SMPL_HIPS, None),
}


def smpl_mesh_errors(pred_verts: Tensor, gt_verts: Tensor, regressor: Tensor, protocol: str = "dpose_h36m14",
                     gt_regressor: Tensor | None = None) -> dict[str, Tensor]:
    """Score predicted meshes against ground-truth meshes under a named protocol.

    Args:
        pred_verts: Predicted SMPL vertices, shape (B, V, 3), metres.
        gt_verts: Ground-truth SMPL vertices, shape (B, V, 3), metres.
        regressor: Joint regressor for the prediction, shape (J, V): 17 rows (H36M) for
            ``"dpose_h36m14"``, 24 rows (SMPL) for ``"smpl24_hips"``.
        protocol: ``"dpose_h36m14"`` or ``"smpl24_hips"`` (see the module docstring).
        gt_regressor: Regressor for the ground truth if it differs (D-PoSE's RICH branch uses the
            gendered SMPL regressor for GT and the neutral one for the prediction); default ``regressor``.

    Returns:
        Per-sample values, each shape (B,), metres: ``mpjpe``, ``pa_mpjpe``, ``pve``, plus ``pa_pve``
        for ``"smpl24_hips"``.

    Raises:
        ConfigError: If the protocol is unknown.
        ShapeError: If the regressor does not have the protocol's number of rows, or shapes disagree.
    """
    where = "smpl_mesh_errors"
    if protocol not in PROTOCOLS:
        raise ConfigError(f"{where}: unknown `protocol` {protocol!r}; choose one of {sorted(PROTOCOLS)}.")
    n_rows, root_idx, subset = PROTOCOLS[protocol]
    dims = check_shape(pred_verts, ("B", "V", 3), "pred_verts", where)
    check_shape(gt_verts, ("B", "V", 3), "gt_verts", where, dims=dims)
    hint = f"Protocol {protocol!r} needs a regressor with {n_rows} rows."
    check_shape(regressor, (n_rows, "V"), "regressor", where, dims=dims, hint=hint)
    gt_regressor = regressor if gt_regressor is None else gt_regressor
    check_shape(gt_regressor, (n_rows, "V"), "gt_regressor", where, dims=dims, hint=hint)

    pred_joints = regress_joints(pred_verts, regressor)
    gt_joints = regress_joints(gt_verts, gt_regressor)
    pred_root = root_from_joints(pred_joints, root_idx)
    gt_root = root_from_joints(gt_joints, root_idx)
    if subset is not None:
        pred_joints = pred_joints[:, list(subset)]
        gt_joints = gt_joints[:, list(subset)]
    pred_joints, gt_joints = align_root(pred_joints, pred_root), align_root(gt_joints, gt_root)
    pred_verts, gt_verts = align_root(pred_verts, pred_root), align_root(gt_verts, gt_root)
    out = {
        "mpjpe": mpjpe(pred_joints, gt_joints),
        "pa_mpjpe": pa_mpjpe(pred_joints, gt_joints),
        "pve": pve(pred_verts, gt_verts),
    }
    if protocol == "smpl24_hips":
        out["pa_pve"] = pa_pve(pred_verts, gt_verts, pred_joints, gt_joints)
    return out


#: SMPL-X joints scored by ``smplx24_pelvis`` (0–21 body, 22 jaw, 23 left eye: the supervised set).
SMPLX24_EVAL_JOINTS = 24


def smplx24_pelvis_errors(pred_joints: Tensor, pred_verts: Tensor, gt_joints: Tensor, gt_verts: Tensor
                          ) -> dict[str, Tensor]:
    """Per-sample MPJPE / PA-MPJPE / PVE of the ``smplx24_pelvis`` protocol: SMPL-X joints 0–23 and all
    vertices, each body aligned by its own pelvis (joint 0).

    Args:
        pred_joints: (B, ≥24, 3).
        pred_verts: (B, V, 3).
        gt_joints: (B, ≥24, 3).
        gt_verts: (B, V, 3).

    Returns:
        ``{"mpjpe", "pa_mpjpe", "pve"}``, each (B,), in the input unit (float32).
    """
    d = check_shape(pred_joints, ("B", "*", 3), "pred_joints", "smplx24_pelvis_errors")
    check_shape(gt_joints, ("B", "*", 3), "gt_joints", "smplx24_pelvis_errors", dims=d)
    check_shape(pred_verts, ("B", "V", 3), "pred_verts", "smplx24_pelvis_errors", dims=d)
    check_shape(gt_verts, ("B", "V", 3), "gt_verts", "smplx24_pelvis_errors", dims=d)
    if pred_joints.shape[1] < SMPLX24_EVAL_JOINTS or gt_joints.shape[1] < SMPLX24_EVAL_JOINTS:
        raise ConfigError(f"smplx24_pelvis needs ≥ {SMPLX24_EVAL_JOINTS} joints; got {pred_joints.shape[1]} "
                          f"(prediction) and {gt_joints.shape[1]} (ground truth).")
    n = SMPLX24_EVAL_JOINTS
    pj, gj = pred_joints[:, :n].float(), gt_joints[:, :n].float()
    pr, gr = root_from_joints(pj, (0,)), root_from_joints(gj, (0,))
    pj, gj = align_root(pj, pr), align_root(gj, gr)
    pv, gv = align_root(pred_verts.float(), pr), align_root(gt_verts.float(), gr)
    return {"mpjpe": mpjpe(pj, gj), "pa_mpjpe": pa_mpjpe(pj, gj), "pve": pve(pv, gv)}
