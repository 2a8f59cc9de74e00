"""``eval_mode``: run a model in eval mode for a block, restore every sub-module's flag, one thread at a time.

One context manager instead of copies of the train-flag save/restore. Restoring per sub-module (not
``model.train(was_training)``) keeps a caller's mixed state, e.g. a frozen encoder left in eval mode.

Threads: switching flags mutates the caller's model, so two threads predicting with one train-mode model
would race (one restores training while the other is mid-forward: BatchNorm then uses and updates batch
statistics). Each model gets its own re-entrant lock, held for the whole block, so calls on the same model
are serialised and calls on different models are not. The locks are kept in a weak dictionary, so they go
away with their model and never travel with it (``copy.deepcopy`` and pickling of the model still work).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

__all__ = ["eval_mode", "model_lock"]

_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def model_lock(model: nn.Module) -> threading.RLock:
    """The re-entrant lock that :func:`eval_mode` holds for ``model`` (created on first use)."""
    with _GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = threading.RLock()
        return lock


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` and all its sub-modules in eval mode for the block; restore each one's flag after.

    Args:
        model: Any ``nn.Module``.

    Yields:
        ``model`` (in eval mode), while holding :func:`model_lock` of ``model``.

    Example:
        >>> net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)).train()
        >>> net[0].eval()  # a mixed state survives
        Linear(in_features=2, out_features=2, bias=True)
        >>> with eval_mode(net):
        ...     any(m.training for m in net.modules())
        False
        >>> tuple(m.training for m in net.modules())
        (True, False, True)
    """
    with model_lock(model):
        modes = [(m, m.training) for m in model.modules()]
        model.eval()
        try:
            yield model
        finally:
            for m, mode in modes:
                m.training = mode
