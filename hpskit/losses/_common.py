"""Shared helpers of the loss functions: per-sample supervision masks and masked means.

Every loss in :mod:`hpskit.losses` first computes one value per sample, shape (B,), then reduces it with
:func:`masked_mean`: the mean over the samples whose supervision flag is true. A batch in which no sample
is supervised gives exactly 0 (not NaN), still attached to the prediction's graph so that ``backward``
works and gives zero gradients.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hpskit.core import ShapeError, check_shape

__all__ = ["masked_mean"]

_REDUCTIONS = ("mean", "none")


def _check_reduction(reduction: str, where: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{where}: `reduction` must be one of {_REDUCTIONS}; got {reduction!r}.")


def _sample_mask(mask: Tensor | None, batch: int, ref: Tensor, where: str) -> Tensor:
    """Return a (B,) bool mask on ``ref``'s device (all true when ``mask`` is None)."""
    if mask is None:
        return torch.ones(batch, dtype=torch.bool, device=ref.device)
    check_shape(mask, (batch,), "mask", where, hint="Pass one supervision flag per sample.")
    return mask.to(device=ref.device, dtype=torch.bool)


def _select(mask: Tensor, target: Tensor) -> Tensor:
    """Zero the target of unsupervised samples so that NaN or garbage there cannot leak into the loss.

    Args:
        mask: Supervision flags, shape (B,), bool.
        target: Ground truth, shape (B, ...).

    Returns:
        ``target`` with the rows of unsupervised samples replaced by zeros, shape (B, ...).
    """
    m = mask.view(-1, *([1] * (target.dim() - 1)))
    return torch.where(m, target, torch.zeros((), dtype=target.dtype, device=target.device))


def masked_mean(per_sample: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean of per-sample losses over the supervised samples; exactly 0 when none is supervised.

    Args:
        per_sample: One loss value per sample, shape (B,).
        mask: Supervision flags, shape (B,), bool; None means every sample is supervised.

    Returns:
        Scalar tensor: ``sum(per_sample[mask]) / max(1, mask.sum())``. Values of unsupervised samples are
        not read (``torch.where``), so a NaN there does not propagate.

    Raises:
        ShapeError: If ``per_sample`` is not 1-D or ``mask`` does not match it.

    Example:
        >>> masked_mean(torch.tensor([1.0, 3.0, float("nan")]), torch.tensor([True, True, False]))
        tensor(2.)
    """
    if per_sample.dim() != 1:
        raise ShapeError(
            f"masked_mean: `per_sample` must have shape (B,); got {tuple(per_sample.shape)}.",
            expected_shape=("B",),
            actual_shape=tuple(per_sample.shape),
        )
    m = _sample_mask(mask, per_sample.shape[0], per_sample, "masked_mean")
    kept = torch.where(m, per_sample, per_sample.new_zeros(()))
    count = m.sum().clamp(min=1).to(per_sample.dtype)
    return kept.sum() / count


def _reduce(per_sample: Tensor, mask: Tensor, reduction: str) -> Tensor:
    """Apply ``reduction`` ("mean" → masked mean; "none" → per-sample values, 0 for unsupervised)."""
    if reduction == "none":
        return torch.where(mask, per_sample, per_sample.new_zeros(()))
    return masked_mean(per_sample, mask)
