"""NaN/inf guard: skip a step whose loss or gradient is not finite, and stop after K bad steps in a row.

The recipe computes the loss terms and the gradient norm as usual, then asks the guard. A bad step is
skipped (no optimizer update) and logged with the loss terms that went bad; ``max_consecutive`` bad steps
in a row raise :class:`TrainingDivergedError` with what happened, so a run never silently trains on NaNs.

Two ways to skip:

* **On the host** (read every step): copy the step's numbers to the host, :meth:`NonFiniteGuard.check`
  them, and call ``optimizer.step()`` only if the verdict is ok. The copy makes the CPU wait for the GPU at
  the end of every step, so it cannot queue the next step's kernels while the GPU still runs this one.
* **On the device** (read every N steps): :func:`nonfinite_flag` turns the numbers into a 0-dim float flag
  on the device and :func:`step_unless_bad` hands it to the optimizer as ``found_inf``, the mechanism
  ``torch.amp.GradScaler`` uses: torch's fused Adam / AdamW / SGD (``fused=True``, CUDA and CPU) read
  ``optimizer.found_inf`` and leave the parameters and their state untouched when it is 1 (the ``step``
  counter is incremented and then decremented by the flag, so it comes back bit-identical). Nothing is read
  on the host. The numbers are kept on the device and judged later, in step order, by
  :meth:`NonFiniteGuard.check_many` (or :meth:`~NonFiniteGuard.check` per step): the counts, the warnings
  and :class:`TrainingDivergedError` are the same as on the host, but they happen when the numbers are
  read, so a run that diverges stops up to N − 1 steps after its ``max_consecutive``-th bad step (the error
  names that step; the steps after it were skipped on the device if they were bad too). Optimizers without
  ``found_inf`` support (:func:`supports_device_skip` is False: foreach / for-loop implementations) can only
  skip on the host.

What differs on the device: the host does not know, when it steps the learning-rate scheduler, whether the
step was bad, so a recipe that skips on the device steps its scheduler on every step (the learning rate
follows the step number, bad steps included), while the host path does not step it on a bad step. With a
constant schedule the two paths give the same trajectory, bad steps or not.

Example:
    >>> import torch
    >>> guard = NonFiniteGuard(max_consecutive=2)
    >>> guard.check(step=1, terms={"pose": torch.tensor(1.0)}, grad_norm=torch.tensor(0.5)).ok
    True
    >>> v = guard.check(step=2, terms={"pose": torch.tensor(float("nan"))}, grad_norm=None)
    >>> v.ok, v.bad_terms
    (False, ['pose'])

    Skipping on the device:

    >>> w = torch.nn.Parameter(torch.ones(3))
    >>> opt = torch.optim.Adam([w], lr=0.1, fused=True)
    >>> loss = (w * float("nan")).sum()
    >>> loss.backward()
    >>> bad = nonfinite_flag(loss.detach())
    >>> step_unless_bad(opt, bad)
    >>> w.tolist(), float(bad)
    ([1.0, 1.0, 1.0], 1.0)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor

from hpskit.core import HPSKitError

__all__ = ["TrainingDivergedError", "StepVerdict", "NonFiniteGuard", "nonfinite_flag", "supports_device_skip",
           "step_unless_bad"]

logger = logging.getLogger(__name__)


class TrainingDivergedError(HPSKitError, RuntimeError):
    """Too many consecutive steps had a non-finite loss or gradient."""


@dataclass
class StepVerdict:
    """The guard's decision for one step.

    Attributes:
        ok: Take the optimizer step.
        bad_terms: Loss terms that were not finite.
        grad_finite: Whether the gradient norm was finite (True when it was not checked).
        consecutive: Bad steps in a row so far (0 after a good step).
    """

    ok: bool
    bad_terms: list[str] = field(default_factory=list)
    grad_finite: bool = True
    consecutive: int = 0


def _finite(x: Tensor | float | None) -> bool:
    if x is None:
        return True
    if isinstance(x, Tensor):
        return bool(torch.isfinite(x.detach()).all())
    return math.isfinite(float(x))


class NonFiniteGuard:
    """Counts steps whose loss terms or gradient norm are NaN/inf.

    Args:
        max_consecutive: Bad steps in a row that stop the run (K ≥ 1).

    Attributes:
        total_skipped: Bad steps skipped over the run.
        consecutive: The current run of bad steps.
    """

    def __init__(self, max_consecutive: int = 10):
        if int(max_consecutive) < 1:
            raise ValueError(f"NonFiniteGuard: `max_consecutive` must be ≥ 1; got {max_consecutive}.")
        self.max_consecutive = int(max_consecutive)
        self.total_skipped = 0
        self.consecutive = 0

    @staticmethod
    def bad_terms(terms: Mapping[str, Tensor | float]) -> list[str]:
        """Names of the non-finite entries of ``terms``."""
        return [k for k, v in terms.items() if not _finite(v)]

    def check(self, step: int, terms: Mapping[str, Tensor | float], grad_norm: Tensor | float | None,
              force_bad: bool = False) -> StepVerdict:
        """Judge one step.

        Args:
            step: The step number (for the messages).
            terms: Loss terms by name (the total included if wanted).
            grad_norm: Total gradient norm, or None when the gradient was not computed.
            force_bad: Treat the step as bad even if this process saw only finite values (another
                rank's loss went bad).

        Returns:
            The :class:`StepVerdict`.

        Raises:
            TrainingDivergedError: On the ``max_consecutive``-th bad step in a row.
        """
        bad = self.bad_terms(terms)
        grad_ok = _finite(grad_norm)
        if not bad and grad_ok and not force_bad:
            self.consecutive = 0
            return StepVerdict(ok=True)
        self.consecutive += 1
        self.total_skipped += 1
        what = (f"loss term(s) {bad} not finite" if bad else
                "gradient norm not finite" if not grad_ok else
                "another rank saw a non-finite loss or gradient")
        logger.warning("step %d skipped: %s (%d bad step(s) in a row, %d skipped in total)", step, what,
                       self.consecutive, self.total_skipped)
        if self.consecutive >= self.max_consecutive:
            raise TrainingDivergedError(
                f"Training stopped at step {step}: {self.consecutive} consecutive steps with a non-finite "
                f"loss or gradient (last: {what}). Lower the learning rate (optim.lr), check the data of "
                f"those batches, or raise runtime.max_bad_steps if isolated bad batches are expected.")
        return StepVerdict(ok=False, bad_terms=bad, grad_finite=grad_ok, consecutive=self.consecutive)

    def check_many(self, steps: Iterable[tuple[int, Mapping[str, Tensor | float], Tensor | float | None,
                                               bool]]) -> list[StepVerdict]:
        """Judge steps read late (skipped on the device), in step order, as :meth:`check` would one by one.

        Args:
            steps: ``(step, terms, grad_norm, force_bad)`` per step, oldest first.

        Returns:
            One :class:`StepVerdict` per step.

        Raises:
            TrainingDivergedError: At the first step that is the ``max_consecutive``-th bad one in a row (the
                steps after it are not judged).
        """
        return [self.check(step, terms, grad_norm, force_bad=force_bad) for step, terms, grad_norm, force_bad
                in steps]

    def state_dict(self) -> dict:
        """Counters, for checkpoints."""
        return {"consecutive": self.consecutive, "total_skipped": self.total_skipped}

    def load_state_dict(self, state: Mapping) -> None:
        """Restore :meth:`state_dict`."""
        self.consecutive = int(state.get("consecutive", 0))
        self.total_skipped = int(state.get("total_skipped", 0))


def nonfinite_flag(*values: Tensor) -> Tensor:
    """1.0 if any entry of ``values`` is NaN or ±inf, else 0.0, without leaving the device.

    Args:
        values: Tensors of any shape on one device (loss terms, the gradient norm, ...).

    Returns:
        A 0-dim float32 tensor on their device: the ``found_inf`` of :func:`step_unless_bad`.
    """
    if not values:
        raise ValueError("nonfinite_flag: give at least one tensor.")
    flat = torch.cat([v.detach().reshape(-1).float() for v in values])
    return (~torch.isfinite(flat)).any().to(torch.float32)


def supports_device_skip(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer.step()`` honours a ``found_inf`` flag (torch's fused implementations)."""
    return bool(getattr(optimizer, "_step_supports_amp_scaling", False)) and all(
        g.get("fused") for g in optimizer.param_groups)


def step_unless_bad(optimizer: torch.optim.Optimizer, bad: Tensor) -> None:
    """``optimizer.step()``, made a no-op on the device where ``bad`` is 1 (no host synchronisation).

    The parameters and the optimizer state (moments and step counter) stay bit-identical on a bad step;
    where ``bad`` is 0 the update is the one ``optimizer.step()`` makes.

    Args:
        optimizer: An optimizer for which :func:`supports_device_skip` is True.
        bad: 0-dim float32 tensor, exactly 0.0 or 1.0 (:func:`nonfinite_flag`), on the parameters' device.

    Raises:
        ValueError: If the optimizer cannot skip on the device, already carries a ``found_inf`` (a
            ``GradScaler`` step in progress), or ``bad`` is not a 0-dim float32 tensor.
    """
    if not supports_device_skip(optimizer):
        raise ValueError(f"step_unless_bad: {type(optimizer).__name__} does not read `found_inf` (only "
                         f"torch's fused implementations do: pass fused=True); skip bad steps on the host.")
    if hasattr(optimizer, "found_inf") or hasattr(optimizer, "grad_scale"):
        raise ValueError("step_unless_bad: the optimizer already has `found_inf` / `grad_scale` set (a "
                         "GradScaler step?); use one or the other.")
    if not isinstance(bad, Tensor) or bad.dim() != 0 or bad.dtype != torch.float32:
        raise ValueError(f"step_unless_bad: `bad` must be a 0-dim float32 tensor (nonfinite_flag); got "
                         f"{bad!r}.")
    optimizer.found_inf = bad  # type: ignore[attr-defined]
    try:
        optimizer.step()
    finally:
        del optimizer.found_inf  # type: ignore[attr-defined]
