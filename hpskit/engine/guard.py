"""NaN/inf guard: skip a step whose loss or gradient is not finite, and stop after K bad steps in a row.

The recipe computes the loss terms and the gradient norm as usual, then asks the guard. A bad step is
skipped (no optimizer update) and logged with the loss terms that went bad; ``max_consecutive`` bad steps
in a row raise :class:`TrainingDivergedError` with what happened, so a run never silently trains on NaNs.

Example:
    >>> import torch
    >>> guard = NonFiniteGuard(max_consecutive=2)
    >>> guard.check(step=1, terms={"pose": torch.tensor(1.0)}, grad_norm=torch.tensor(0.5)).ok
    True
    >>> v = guard.check(step=2, terms={"pose": torch.tensor(float("nan"))}, grad_norm=None)
    >>> v.ok, v.bad_terms
    (False, ['pose'])
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor

from hpskit.core import HPSKitError

__all__ = ["TrainingDivergedError", "StepVerdict", "NonFiniteGuard"]

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

    def state_dict(self) -> dict:
        """Counters, for checkpoints."""
        return {"consecutive": self.consecutive, "total_skipped": self.total_skipped}

    def load_state_dict(self, state: Mapping) -> None:
        """Restore :meth:`state_dict`."""
        self.consecutive = int(state.get("consecutive", 0))
        self.total_skipped = int(state.get("total_skipped", 0))
