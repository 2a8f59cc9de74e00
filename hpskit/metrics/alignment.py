"""Root (pelvis) alignment before MPJPE / PVE, and the joint subsets the protocols use.

Two conventions are in use (formats.md §7):

| Protocol | Joints | Root |
|---|---|---|
| D-PoSE 3DPW / EMDB | H36M regressor rows ``H36M_TO_J14`` (LSP-14) | H36M row 0 (pelvis), before the subset |
| official EMDB, TokenHMR, CameraHMR | 24 SMPL joints | midpoint of SMPL joints 1, 2 (hips) |
| D-PoSE RICH | 24 SMPL joints | midpoint of SMPL joints 1, 2 |
| D-PoSE H36M-p1 | ``J24_TO_J14`` of SPIN's 24 GT joints | midpoint of LSP joints 2, 3 (hips) |

Each body (prediction and ground truth) is aligned by its own root, and the same offset is applied
to its vertices.

``H36M_TO_J14`` is imported from :mod:`hpskit.body.joint_sets` (its home); the root indices and SPIN's
``J24_TO_J14`` are evaluation-only and live here.

Example:
    >>> import torch
    >>> joints = torch.tensor([[[1.0, 2, 3], [0, 0, 0], [2, 0, 0]]])
    >>> root_from_joints(joints, SMPL_HIPS)
    tensor([[1., 0., 0.]])
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from hpskit.body.joint_sets import H36M_TO_J14
from hpskit.core import ShapeError, check_shape

__all__ = [
    "H36M_TO_J14",
    "H36M_PELVIS",
    "SMPL_HIPS",
    "LSP14_HIPS",
    "J24_TO_J14",
    "root_from_joints",
    "align_root",
]

#: Row of the H36M regressor output used as the root by D-PoSE's 3DPW / EMDB evaluation.
H36M_PELVIS: tuple[int, ...] = (0,)
#: SMPL (and SMPL-X) joints 1 = left hip, 2 = right hip: the official EMDB root is their midpoint.
SMPL_HIPS: tuple[int, ...] = (1, 2)
#: Right and left hip in LSP-14 order (D-PoSE's H36M-p1 root).
LSP14_HIPS: tuple[int, ...] = (2, 3)
#: SPIN's 24 ground-truth keypoints (``S`` of the h36m npz) → LSP-14 (SPIN / DP ``constants.py``).
J24_TO_J14: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 18)


def root_from_joints(joints: Tensor, indices: Sequence[int]) -> Tensor:
    """The root position: the mean of the given joints (one index → that joint).

    Args:
        joints: Joints, shape (B, J, 3).
        indices: Joint indices to average, e.g. ``H36M_PELVIS`` or ``SMPL_HIPS``.

    Returns:
        Root positions, shape (B, 3).

    Raises:
        ShapeError: If an index is out of range.
    """
    dims = check_shape(joints, ("B", "J", 3), "joints", "root_from_joints")
    idx = list(indices)
    if not idx or min(idx) < -dims["J"] or max(idx) >= dims["J"]:
        raise ShapeError(f"root_from_joints: `indices` {tuple(idx)} must be a non-empty list of joint "
                         f"indices below J = {dims['J']} (joints shape {tuple(joints.shape)}).")
    return joints[:, idx].mean(dim=1)


def align_root(points: Tensor, root: Tensor) -> Tensor:
    """Subtract a per-sample root from points (joints or vertices).

    Args:
        points: Points, shape (B, N, 3).
        root: Root positions, shape (B, 3) (see :func:`root_from_joints`).

    Returns:
        ``points − root``, shape (B, N, 3).
    """
    dims = check_shape(points, ("B", "N", 3), "points", "align_root")
    check_shape(root, ("B", 3), "root", "align_root", dims=dims,
                hint="Compute it with root_from_joints(joints, indices).")
    return points - root[:, None, :]
