"""hpskit.engine.guard: non-finite steps are skipped, named, and K in a row stop the run."""

from __future__ import annotations

import logging

import pytest
import torch

from hpskit.engine import NonFiniteGuard, TrainingDivergedError

NAN = torch.tensor(float("nan"))
ONE = torch.tensor(1.0)


def test_counts_and_resets(caplog):
    g = NonFiniteGuard(max_consecutive=3)
    with caplog.at_level(logging.WARNING):
        v = g.check(1, {"pose": NAN, "betas": ONE}, None)
    assert not v.ok and v.bad_terms == ["pose"] and v.consecutive == 1
    assert "step 1 skipped" in caplog.text and "['pose']" in caplog.text
    v = g.check(2, {"pose": ONE}, torch.tensor(float("inf")))
    assert not v.ok and not v.grad_finite and v.consecutive == 2
    assert g.check(3, {"pose": ONE}, ONE).ok and g.consecutive == 0 and g.total_skipped == 2
    assert not g.check(4, {"pose": ONE}, ONE, force_bad=True).ok  # another rank went bad


def test_stops_after_k_in_a_row():
    g = NonFiniteGuard(max_consecutive=2)
    g.check(7, {"kp2d": float("inf")}, None)
    with pytest.raises(TrainingDivergedError, match=r"step 8: 2 consecutive.*\['kp2d'\].*optim.lr"):
        g.check(8, {"kp2d": NAN}, None)


def test_state_round_trip():
    g = NonFiniteGuard(4)
    g.check(1, {"a": NAN}, None)
    h = NonFiniteGuard(4)
    h.load_state_dict(g.state_dict())
    assert (h.consecutive, h.total_skipped) == (1, 1)
