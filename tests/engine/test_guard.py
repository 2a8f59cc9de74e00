"""hpskit.engine.guard: non-finite steps are skipped, named, and K in a row stop the run."""

from __future__ import annotations

import logging

import pytest
import torch

from hpskit.engine import (
    NonFiniteGuard,
    TrainingDivergedError,
    nonfinite_flag,
    step_unless_bad,
    supports_device_skip,
)

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


def test_check_many_judges_in_order_and_stops_at_the_kth():
    g = NonFiniteGuard(max_consecutive=3)
    verdicts = g.check_many([(1, {"a": ONE}, ONE, False), (2, {"a": NAN}, ONE, False),
                             (3, {"a": ONE}, ONE, True), (4, {"a": ONE}, ONE, False)])
    assert [v.ok for v in verdicts] == [True, False, False, True] and g.total_skipped == 2
    assert g.consecutive == 0
    with pytest.raises(TrainingDivergedError, match="step 7: 3 consecutive"):
        g.check_many([(5, {"a": ONE}, NAN, False), (6, {"a": NAN}, None, False), (7, {"a": ONE}, ONE, True),
                      (8, {"a": ONE}, ONE, False)])
    assert g.total_skipped == 5 and g.consecutive == 3  # step 8 was not judged


def test_nonfinite_flag():
    for values, want in [((ONE, torch.zeros(3)), 0.0), ((ONE, torch.tensor([1.0, float("inf")])), 1.0),
                         ((NAN,), 1.0), ((torch.tensor(-float("inf"), dtype=torch.bfloat16),), 1.0)]:
        flag = nonfinite_flag(*values)
        assert flag.dtype == torch.float32 and flag.dim() == 0 and float(flag) == want
    with pytest.raises(ValueError, match="at least one"):
        nonfinite_flag()


def _adam_state(opt):
    return [{k: v.clone() for k, v in opt.state[p].items()} for g in opt.param_groups for p in g["params"]]


def _params(seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(4, 3, generator=gen)),
            torch.nn.Parameter(torch.randn(5, generator=gen))]


def _backward(params, scale):
    for p in params:
        p.grad = None
    loss = scale * sum((p ** 3).sum() for p in params)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
    return nonfinite_flag(loss.detach(), grad_norm)


@pytest.mark.parametrize("cls", [torch.optim.Adam, torch.optim.AdamW])
@pytest.mark.parametrize("poison", [float("nan"), float("inf")])
def test_step_unless_bad_leaves_weights_and_adam_state_bit_identical(cls, poison):
    params = _params()
    opt = cls(params, lr=0.05, weight_decay=0.01, fused=True)
    assert supports_device_skip(opt)
    for _ in range(2):  # moments and step counter built up
        bad = _backward(params, 1.0)
        assert float(bad) == 0.0
        step_unless_bad(opt, bad)
    weights, state = [p.detach().clone() for p in params], _adam_state(opt)
    bad = _backward(params, poison)
    assert float(bad) == 1.0 and not all(torch.isfinite(p.grad).all() for p in params)
    step_unless_bad(opt, bad)
    assert all(torch.equal(p, w) for p, w in zip(params, weights))
    after = _adam_state(opt)
    assert [sorted(s) for s in after] == [["exp_avg", "exp_avg_sq", "step"]] * 2
    assert all(torch.equal(a[k], b[k]) for a, b in zip(after, state) for k in a)
    assert [float(s["step"]) for s in after] == [2.0, 2.0]
    assert not hasattr(opt, "found_inf")
    step_unless_bad(opt, _backward(params, 1.0))  # and the next good step updates again
    assert not any(torch.equal(p, w) for p, w in zip(params, weights))
    assert [float(s["step"]) for s in _adam_state(opt)] == [3.0, 3.0]


def test_step_unless_bad_on_a_good_step_is_the_plain_step():
    a, b = _params(), _params()
    opt_a = torch.optim.Adam(a, lr=0.05, fused=True)
    opt_b = torch.optim.Adam(b, lr=0.05, fused=True)
    for _ in range(3):
        step_unless_bad(opt_a, _backward(a, 1.0))
        _backward(b, 1.0)
        opt_b.step()
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert all(torch.equal(s[k], t[k]) for s, t in zip(_adam_state(opt_a), _adam_state(opt_b)) for k in s)


def test_step_unless_bad_refuses_what_cannot_skip_on_the_device():
    params = _params()
    plain = torch.optim.Adam(params, lr=0.1, foreach=False)
    assert not supports_device_skip(plain)
    with pytest.raises(ValueError, match="fused=True"):
        step_unless_bad(plain, torch.zeros(()))
    fused = torch.optim.Adam(params, lr=0.1, fused=True)
    with pytest.raises(ValueError, match="0-dim float32"):
        step_unless_bad(fused, torch.zeros((), dtype=torch.bool))
    fused.found_inf = torch.zeros(())
    with pytest.raises(ValueError, match="GradScaler"):
        step_unless_bad(fused, torch.zeros(()))


def test_a_loaded_unfused_state_turns_device_skip_off():
    # Optimizer.load_state_dict takes the saved group options, `fused` included (an older CPU checkpoint).
    params = _params()
    fused = torch.optim.Adam(params, lr=0.1, fused=True)
    fused.load_state_dict(torch.optim.Adam(params, lr=0.1).state_dict())
    assert not supports_device_skip(fused)
