"""SMPL-X parameter losses (D-PoSE §3.3, after BEDLAM-CLIFF): pose as rotation-matrix MSE, shape (betas) MSE.

The pose loss compares rotation matrices (B, J, 3, 3), not axis-angle vectors, so it is smooth and has no
2π ambiguity. The authors exclude joint 0 (the global orientation) from it; ``exclude_root=True`` does the
same.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from hpskit.core import ShapeError, check_shape
from hpskit.geometry import axis_angle_to_rotmat

from ._common import _check_reduction, _reduce, _sample_mask, _select

__all__ = ["pose_rotmat_loss", "PoseLoss", "betas_loss", "BetasLoss", "as_pose_rotmat"]


def as_pose_rotmat(pose: Tensor, num_joints: int, name: str = "pose",
                   where: str = "as_pose_rotmat") -> Tensor:
    """Bring a pose to rotation matrices (B, J, 3, 3), accepting matrices or axis-angle (radians).

    Args:
        pose: Rotation matrices (B, J, 3, 3), axis-angle vectors (B, J, 3), or flat axis-angle (B, 3·J).
        num_joints: Expected J.
        name: Argument name used in error messages.
        where: Function name used in error messages.

    Returns:
        Rotation matrices, shape (B, J, 3, 3).

    Raises:
        ShapeError: If ``pose`` has none of the three forms.
    """
    if pose.dim() == 4 and tuple(pose.shape[1:]) == (num_joints, 3, 3):
        return pose
    if pose.dim() == 3 and tuple(pose.shape[1:]) == (num_joints, 3):
        return axis_angle_to_rotmat(pose)
    if pose.dim() == 2 and pose.shape[1] == 3 * num_joints:
        return axis_angle_to_rotmat(pose.reshape(pose.shape[0], num_joints, 3))
    raise ShapeError(
        f"{where}: `{name}` must have shape (B, {num_joints}, 3, 3) (rotation matrices), "
        f"(B, {num_joints}, 3) or (B, {3 * num_joints}) (axis-angle, radians); got {tuple(pose.shape)}.",
        expected_shape=("B", num_joints, 3, 3), actual_shape=tuple(pose.shape))


def pose_rotmat_loss(
    pred: Tensor,
    target: Tensor,
    mask: Tensor | None = None,
    exclude_root: bool = False,
    reduction: str = "mean",
) -> Tensor:
    """Mean squared error between predicted and ground-truth joint rotation matrices.

    Args:
        pred: Predicted rotations, shape (B, J, 3, 3) (D-PoSE: J = 22, joint 0 = global orientation).
        target: Ground truth as rotation matrices (B, J, 3, 3) or axis-angle (B, J, 3) / (B, 3·J), radians.
        mask: Samples with SMPL-X supervision, shape (B,), bool; None means all.
        exclude_root: Drop joint 0 (global orientation) from the loss, as the authors do.
        reduction: ``"mean"`` (scalar, mean over supervised samples) or ``"none"`` (shape (B,)).

    Returns:
        Per sample ``mean_{j,r,c} (R̂ − R)²`` over the kept joints; reduced as requested.

    Example:
        >>> import torch
        >>> R = torch.eye(3).expand(1, 2, 3, 3)
        >>> pose_rotmat_loss(R, torch.zeros(1, 2, 3))  # axis-angle zeros = identity
        tensor(0.)
    """
    where = "pose_rotmat_loss"
    _check_reduction(reduction, where)
    dims = check_shape(pred, ("B", "J", 3, 3), "pred", where)
    target = as_pose_rotmat(target, dims["J"], "target", where)
    check_shape(target, ("B", "J", 3, 3), "target", where, dims=dims)
    m = _sample_mask(mask, dims["B"], pred, where)
    target = _select(m, target.to(pred.dtype))
    start = 1 if exclude_root else 0
    err = (pred[:, start:] - target[:, start:]).pow(2).flatten(1).mean(1)
    return _reduce(err, m, reduction)


class PoseLoss(nn.Module):
    """Module form of :func:`pose_rotmat_loss`.

    Shape:
        - pred: (B, J, 3, 3); target: (B, J, 3, 3), (B, J, 3) or (B, 3·J); mask: (B,) bool or None.
        - output: scalar.
    """

    def __init__(self, exclude_root: bool = False):
        super().__init__()
        self.exclude_root = exclude_root

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return pose_rotmat_loss(pred, target, mask, self.exclude_root)

    def extra_repr(self) -> str:
        return f"exclude_root={self.exclude_root}"


def betas_loss(pred: Tensor, target: Tensor, mask: Tensor | None = None, reduction: str = "mean") -> Tensor:
    """Mean squared error between predicted and ground-truth shape coefficients.

    A target with fewer coefficients than the prediction is padded with zeros (the authors pad 10-beta
    datasets to 11).

    Args:
        pred: Predicted betas, shape (B, N) (D-PoSE: N = 11).
        target: Ground-truth betas, shape (B, M) with M <= N.
        mask: Samples with SMPL-X supervision, shape (B,), bool; None means all.
        reduction: ``"mean"`` or ``"none"`` (shape (B,)).

    Returns:
        Per sample ``mean_k (β̂_k − β_k)²``; reduced as requested.

    Raises:
        ShapeError: If the shapes disagree or the target has more coefficients than the prediction.

    Example:
        >>> import torch
        >>> betas_loss(torch.ones(1, 11), torch.ones(1, 10))  # the padded 11th coefficient differs by 1
        tensor(0.0909)
    """
    where = "betas_loss"
    _check_reduction(reduction, where)
    dims = check_shape(pred, ("B", "N"), "pred", where)
    check_shape(target, ("B", "*"), "target", where, dims=dims)
    n, k = dims["N"], target.shape[1]
    if k > n:
        raise ShapeError(f"{where}: `target` has {k} betas but `pred` only {n}; keep target[:, :{n}] "
                         "or predict more betas.", expected_shape=("B", n), actual_shape=tuple(target.shape))
    m = _sample_mask(mask, dims["B"], pred, where)
    target = F.pad(_select(m, target.to(pred.dtype)), (0, n - k))
    return _reduce((pred - target).pow(2).mean(1), m, reduction)


class BetasLoss(nn.Module):
    """Module form of :func:`betas_loss`.

    Shape:
        - pred: (B, N); target: (B, M), M <= N; mask: (B,) bool or None.
        - output: scalar.
    """

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return betas_loss(pred, target, mask)
