"""Part-segmentation cross-entropy (D-PoSE §3.3, eq. 3), against integer label maps or one-hot/soft maps.

Classes follow hpskit's convention: 23 classes, 0 = background, 1..22 = the ``part-segm.json`` parts in file
order. The authors compare the (B, 23, 224, 224) logits with a rendered one-hot map (the soft-target form of
:func:`torch.nn.functional.cross_entropy`); both forms give the same value for a one-hot target.

The loss reads nothing back to the host (it runs inside the training step, which runs ahead of the GPU). The
readable range check of integer labels, :func:`check_part_labels`, reads the labels (a host sync on a GPU), so
it runs only when asked (``check_labels=True``): for data checks and debugging. Without it an out-of-range
label still fails loudly in :func:`torch.nn.functional.cross_entropy` (an ``IndexError`` on the CPU, a
device-side assert on a GPU), never silently.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from hpskit.core import ShapeError, check_shape

from ._common import _check_reduction, _reduce, _sample_mask, _select

__all__ = ["part_cross_entropy", "PartCrossEntropyLoss", "check_part_labels"]


def check_part_labels(target: Tensor, num_classes: int, ignore_index: int = -100,
                      where: str = "check_part_labels") -> None:
    """Raise a readable error unless every integer part label lies in [0, num_classes) or is ``ignore_index``.

    This reads the labels on the host: on a GPU it waits for the queued work, so the training step does not
    call it (see the module docstring); call it where data enter, or pass ``check_labels=True`` to
    :func:`part_cross_entropy` while debugging.

    Args:
        target: Integer labels, shape (B, H, W) (any shape works).
        num_classes: P.
        ignore_index: The label of skipped pixels.
        where: Function name used in the message.

    Raises:
        ShapeError: If a label is out of range.

    Example:
        >>> import torch
        >>> check_part_labels(torch.tensor([[[0, 22, -100]]]), 23)
    """
    valid = target != ignore_index
    if valid.any():
        lo, hi = int(target[valid].min()), int(target[valid].max())
        if lo < 0 or hi >= num_classes:
            raise ShapeError(f"{where}: `target` labels must lie in [0, {num_classes}) or equal "
                             f"ignore_index={ignore_index}; got values in [{lo}, {hi}].")


def part_cross_entropy(
    logits: Tensor,
    target: Tensor,
    mask: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    check_labels: bool = False,
) -> Tensor:
    """Per-pixel cross-entropy of part logits, averaged over the pixels of each sample.

    Args:
        logits: Unnormalised part scores, shape (B, P, H, W) (P = 23 for D-PoSE).
        target: Either integer labels, shape (B, H, W), long, values in [0, P) or ``ignore_index``; or class
            probabilities (one-hot or soft), shape (B, P, H, W), float, summing to 1 over P.
        mask: Samples that have part supervision, shape (B,), bool; None means all.
        ignore_index: Label of pixels to skip (integer form only); they do not count in the mean.
        reduction: ``"mean"`` (scalar, mean over supervised samples) or ``"none"`` (shape (B,)).
        check_labels: Check the integer labels' range with :func:`check_part_labels` first (a host read:
            for debugging, not for the training step). Without it a bad label still raises, in
            ``cross_entropy``.

    Returns:
        Per sample ``mean_pixels −Σ_c t_c log softmax(logits)_c``; reduced as requested. Reads nothing back
        to the host (unless ``check_labels``).

    Raises:
        ShapeError: If the shapes disagree, or (``check_labels``) an integer label is out of range.

    Example:
        >>> import torch
        >>> logits = torch.zeros(1, 23, 2, 2)
        >>> round(float(part_cross_entropy(logits, torch.zeros(1, 2, 2, dtype=torch.long))), 4)  # log(23)
        3.1355
    """
    where = "part_cross_entropy"
    _check_reduction(reduction, where)
    dims = check_shape(logits, ("B", "P", "H", "W"), "logits", where)
    m = _sample_mask(mask, dims["B"], logits, where)
    if target.is_floating_point():
        check_shape(target, ("B", "P", "H", "W"), "target", where, dims=dims,
                    hint="Soft targets are class probabilities with the logits' shape; "
                         "integer label maps have shape (B, H, W).")
        target = _select(m, target).to(logits.dtype)
        ce = F.cross_entropy(logits, target, reduction="none")
        count = ce.new_full((dims["B"],), float(dims["H"] * dims["W"]))
    else:
        check_shape(target, ("B", "H", "W"), "target", where, dims=dims,
                    hint="Integer label maps have shape (B, H, W); one-hot maps (B, P, H, W) must be float.")
        target = _select(m, target.long())
        if check_labels:
            check_part_labels(target, dims["P"], ignore_index, where)
        valid = target != ignore_index
        ce = F.cross_entropy(logits, target, reduction="none", ignore_index=ignore_index)
        count = valid.flatten(1).sum(1)
        m = m & (count > 0)
        count = count.clamp(min=1).to(logits.dtype)
    return _reduce(ce.flatten(1).sum(1) / count, m, reduction)


class PartCrossEntropyLoss(nn.Module):
    """Module form of :func:`part_cross_entropy`.

    Shape:
        - logits: (B, P, H, W); target: (B, H, W) long or (B, P, H, W) float; mask: (B,) bool or None.
        - output: scalar.
    """

    def __init__(self, ignore_index: int = -100, check_labels: bool = False):
        super().__init__()
        self.ignore_index, self.check_labels = ignore_index, check_labels

    def forward(self, logits: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return part_cross_entropy(logits, target, mask, self.ignore_index, check_labels=self.check_labels)

    def extra_repr(self) -> str:
        return f"ignore_index={self.ignore_index}, check_labels={self.check_labels}"
