"""Evaluation metrics: per-sample MPJPE, PA-MPJPE, PVE; root alignment and joint subsets; the D-PoSE
and official EMDB protocols on SMPL meshes and the ``smplx24_pelvis`` protocol of the held-out synthetic
split on SMPL-X meshes; and an accumulator that reports per-sequence and total
means over every sample.

Metrics take tensors, never models. Values are in the input unit (metres in, metres out);
:func:`to_mm` converts for tables.
"""

from .accumulator import MetricAccumulator
from .alignment import (
    H36M_PELVIS,
    H36M_TO_J14,
    J24_TO_J14,
    LSP14_HIPS,
    SMPL_HIPS,
    align_root,
    root_from_joints,
)
from .dense import depth_foreground_l1, mean_iou, part_confusion
from .errors3d import M_TO_MM, mpjpe, pa_mpjpe, pa_pve, pve, to_mm
from .protocols import PROTOCOLS, SMPLX24_EVAL_JOINTS, smpl_mesh_errors, smplx24_pelvis_errors

__all__ = [
    "H36M_PELVIS",
    "H36M_TO_J14",
    "J24_TO_J14",
    "LSP14_HIPS",
    "M_TO_MM",
    "MetricAccumulator",
    "PROTOCOLS",
    "SMPL_HIPS",
    "SMPLX24_EVAL_JOINTS",
    "align_root",
    "depth_foreground_l1",
    "mean_iou",
    "part_confusion",
    "mpjpe",
    "pa_mpjpe",
    "pa_pve",
    "pve",
    "root_from_joints",
    "smpl_mesh_errors",
    "smplx24_pelvis_errors",
    "to_mm",
]
