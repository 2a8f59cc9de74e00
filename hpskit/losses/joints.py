"""3D joint MSE and vertex L1 (D-PoSE §3.3; the vertex loss was proposed by BEDLAM).

Both compare body-frame outputs of the SMPL-X layer (no camera translation added). The authors compare the
first 24 SMPL-X joints (22 body joints, jaw, left eye) without any alignment; ``align="pelvis"`` subtracts the
pelvis (joint 0, or the mean of several joints) from both sets first.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from hpskit.core import ShapeError, check_shape

from ._common import _check_reduction, _reduce, _sample_mask, _select

__all__ = ["joints3d_loss", "Joints3DLoss", "vertices_l1_loss", "VerticesLoss"]

_ALIGN = ("none", "pelvis")


def _first_joints(pred: Tensor, target: Tensor, num_joints: int | None, where: str) -> tuple[Tensor, Tensor]:
    """Keep the first ``num_joints`` joints of both sets (all, if None; then the counts must agree)."""
    dims = check_shape(pred, ("B", "J", 3), "pred", where)
    if num_joints is None:
        check_shape(target, ("B", "J", 3), "target", where, dims=dims,
                    hint="Pass num_joints=n to compare only the first n joints of both sets.")
        return pred, target
    check_shape(target, ("B", "*", 3), "target", where, dims=dims)
    if num_joints > min(pred.shape[1], target.shape[1]):
        raise ShapeError(f"{where}: num_joints={num_joints} but `pred` has {pred.shape[1]} joints and "
                         f"`target` {target.shape[1]}.")
    return pred[:, :num_joints], target[:, :num_joints]


def joints3d_loss(
    pred: Tensor,
    target: Tensor,
    mask: Tensor | None = None,
    num_joints: int | None = None,
    align: str = "none",
    pelvis: int | Sequence[int] = 0,
    reduction: str = "mean",
) -> Tensor:
    """Mean squared error between predicted and ground-truth 3D joints (metres²).

    Args:
        pred: Predicted joints, shape (B, J, 3), metres, body frame.
        target: Ground-truth joints, shape (B, J', 3), same frame and units.
        mask: Samples with 3D joint supervision, shape (B,), bool; None means all.
        num_joints: Compare only the first ``num_joints`` joints of both (the authors: 24); None needs J = J'.
        align: ``"none"`` (the authors) or ``"pelvis"``: subtract the pelvis of each set from that set.
        pelvis: Index of the pelvis joint, or indices whose mean is the pelvis (e.g. the two hips).
        reduction: ``"mean"`` (scalar, mean over supervised samples) or ``"none"`` (shape (B,)).

    Returns:
        Per sample ``mean_{j,d} (Ĵ − J)²``; reduced as requested.

    Example:
        >>> import torch
        >>> joints3d_loss(torch.zeros(1, 2, 3), torch.ones(1, 2, 3))
        tensor(1.)
    """
    where = "joints3d_loss"
    _check_reduction(reduction, where)
    if align not in _ALIGN:
        raise ValueError(f"{where}: `align` must be one of {_ALIGN}; got {align!r}.")
    pred, target = _first_joints(pred, target, num_joints, where)
    m = _sample_mask(mask, pred.shape[0], pred, where)
    target = _select(m, target.to(pred.dtype))
    if align == "pelvis":
        idx = [pelvis] if isinstance(pelvis, int) else list(pelvis)
        pred = pred - pred[:, idx].mean(1, keepdim=True)
        target = target - target[:, idx].mean(1, keepdim=True)
    return _reduce((pred - target).pow(2).flatten(1).mean(1), m, reduction)


class Joints3DLoss(nn.Module):
    """Module form of :func:`joints3d_loss`.

    Shape:
        - pred: (B, J, 3); target: (B, J', 3); mask: (B,) bool or None.
        - output: scalar.
    """

    def __init__(self, num_joints: int | None = None, align: str = "none", pelvis: int | Sequence[int] = 0):
        super().__init__()
        self.num_joints, self.align, self.pelvis = num_joints, align, pelvis

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return joints3d_loss(pred, target, mask, self.num_joints, self.align, self.pelvis)

    def extra_repr(self) -> str:
        return f"num_joints={self.num_joints}, align={self.align!r}, pelvis={self.pelvis}"


def vertices_l1_loss(pred: Tensor, target: Tensor, mask: Tensor | None = None,
                     reduction: str = "mean") -> Tensor:
    """Mean absolute error between predicted and ground-truth vertices (metres), per coordinate.

    Args:
        pred: Predicted vertices, shape (B, V, 3) (SMPL-X: V = 10475), metres, body frame.
        target: Ground-truth vertices, shape (B, V, 3).
        mask: Samples with vertex supervision, shape (B,), bool; None means all.
        reduction: ``"mean"`` or ``"none"`` (shape (B,)).

    Returns:
        Per sample ``mean_{v,d} |V̂ − V|``; reduced as requested.

    Example:
        >>> import torch
        >>> vertices_l1_loss(torch.zeros(1, 4, 3), torch.full((1, 4, 3), -0.5))
        tensor(0.5000)
    """
    where = "vertices_l1_loss"
    _check_reduction(reduction, where)
    dims = check_shape(pred, ("B", "V", 3), "pred", where)
    check_shape(target, ("B", "V", 3), "target", where, dims=dims)
    m = _sample_mask(mask, dims["B"], pred, where)
    target = _select(m, target.to(pred.dtype))
    return _reduce((pred - target).abs().flatten(1).mean(1), m, reduction)


class VerticesLoss(nn.Module):
    """Module form of :func:`vertices_l1_loss`.

    Shape:
        - pred, target: (B, V, 3); mask: (B,) bool or None.
        - output: scalar.
    """

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return vertices_l1_loss(pred, target, mask)
