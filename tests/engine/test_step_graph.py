"""``hpskit.engine.GraphedTrainStep`` and the optimizer side of a whole-step CUDA graph.

CPU: the wrapper is an exact eager pass-through; a tensor learning rate (``make_lr_capturable_``) trains
bit-identically to a float one under a changing schedule, also across a skipped (non-finite) step; the
scheduler keeps filling the very tensor a graph reads; checkpoints (``portable_*_state``) carry floats and
load into either kind of optimizer with the trajectory unchanged. GPU twins (``@pytest.mark.gpu``): replayed
steps against eager steps of a copy, a bad step skipped inside the graph, other shapes falling back.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from hpskit.core import ConfigError
from hpskit.engine import (
    GraphedTrainStep,
    keep_lr_tensors_,
    make_lr_capturable_,
    nonfinite_flag,
    portable_optimizer_state,
    portable_scheduler_state,
    step_unless_bad,
)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))


def _schedule(step: int) -> float:
    return min(1.0, (step + 1) / 3) * 0.5 * (1 + math.cos(math.pi * step / 10))


def _make(device="cpu", tensor_lr=False, seed=0):
    torch.manual_seed(seed)
    net = Net().to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, fused=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule)
    lrs = make_lr_capturable_(opt) if tensor_lr else []
    return net, opt, sched, lrs


def _step_fn(net, opt):
    """A whole step as plain torch ops: forward, loss, backward, clip, flag, update skipped on the device."""
    params = list(net.parameters())

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        loss = (net(x) - y).square().mean()
        loss.backward()
        norm = nn.utils.clip_grad_norm_(params, 1.0)
        bad = nonfinite_flag(loss.detach(), norm)
        step_unless_bad(opt, bad)
        return {"loss": loss.detach(), "norm": norm, "bad": bad}

    return step


def _batches(n, device="cpu", bad_at=()):
    g = torch.Generator().manual_seed(1)
    out = []
    for i in range(n):
        x, y = torch.randn(4, 3, 8, 8, generator=g), torch.randn(4, 2, generator=g)
        if i in bad_at:  # a non-finite target: loss and gradients NaN, BatchNorm statistics still finite
            y = y * float("nan")
        out.append((x.to(device), y.to(device)))
    return out


def _same_state(a: torch.optim.Optimizer, b: torch.optim.Optimizer) -> bool:
    sa, sb = a.state_dict()["state"], b.state_dict()["state"]
    return sa.keys() == sb.keys() and all(torch.equal(sa[i][k], sb[i][k]) for i in sa for k in sa[i])


def test_cpu_is_an_exact_eager_pass_through():
    net, opt, sched, _ = _make()
    ref_net, ref_opt, ref_sched, _ = _make()
    g = GraphedTrainStep(_step_fn(net, opt), warmup=1)
    ref = _step_fn(ref_net, ref_opt)
    for x, y in _batches(4):
        out, want = g(x, y), ref(x, y)
        assert out.keys() == want.keys() and all(torch.equal(out[k], want[k]) for k in out)
    assert not g.captured and g.replays == 0 and g.eager_calls == 4
    assert all(torch.equal(p, q) for p, q in zip(net.state_dict().values(), ref_net.state_dict().values()))
    assert _same_state(opt, ref_opt)


def test_bad_arguments_and_outputs():
    with pytest.raises(ConfigError, match="warmup"):
        GraphedTrainStep(lambda x: {"x": x}, warmup=0)
    with pytest.raises(ConfigError, match="capture_error_mode"):
        GraphedTrainStep(lambda x: {"x": x}, capture_error_mode="local")
    with pytest.raises(ConfigError, match="dict of str -> Tensor"):
        GraphedTrainStep(lambda x: x)(torch.ones(1))
    with pytest.raises(ConfigError, match="dict of str -> Tensor"):
        GraphedTrainStep(lambda x: {"n": 3})(torch.ones(1))
    net = Net()
    with pytest.raises(ConfigError, match="must be fused"):
        make_lr_capturable_(torch.optim.Adam(net.parameters(), lr=1e-3))


def test_tensor_lr_trains_exactly_as_a_float_lr_with_a_schedule_and_a_bad_step():
    """The CPU tensor is float64: fused Adam reads it as a double, so the weights stay bit-identical."""
    net, opt, sched, lrs = _make(tensor_lr=True)
    ref_net, ref_opt, ref_sched, _ = _make()
    (lr,) = lrs
    assert lr.dtype == torch.float64 and lr.dim() == 0 and opt.param_groups[0]["capturable"]
    step, ref = _step_fn(net, opt), _step_fn(ref_net, ref_opt)
    for i, (x, y) in enumerate(_batches(6, bad_at={3})):
        before = [p.detach().clone() for p in net.parameters()]
        out, want = step(x, y), ref(x, y)
        sched.step()
        ref_sched.step()
        keep_lr_tensors_(opt, lrs)
        assert opt.param_groups[0]["lr"] is lr  # the scheduler filled it in place (what a graph reads)
        assert float(lr) == ref_opt.param_groups[0]["lr"] == pytest.approx(1e-3 * _schedule(i + 1), rel=1e-12)
        assert float(out["bad"]) == float(want["bad"]) == (1.0 if i == 3 else 0.0)
        if i == 3:  # skipped on the device: nothing moved
            assert all(torch.equal(p, q) for p, q in zip(before, net.parameters()))
    assert all(torch.equal(p, q) for p, q in zip(net.state_dict().values(), ref_net.state_dict().values()))
    assert _same_state(opt, ref_opt)


def test_keep_lr_tensors_repairs_a_scheduler_that_assigns():
    net, opt, sched, lrs = _make(tensor_lr=True)
    (lr,) = lrs
    opt.param_groups[0]["lr"] = 0.25  # as a scheduler that assigns a float would
    keep_lr_tensors_(opt, lrs)
    assert opt.param_groups[0]["lr"] is lr and float(lr) == 0.25
    opt.param_groups[0]["lr"] = torch.tensor(0.125, dtype=torch.float64)  # ... or a new tensor
    keep_lr_tensors_(opt, lrs)
    assert opt.param_groups[0]["lr"] is lr and float(lr) == 0.125
    assert make_lr_capturable_(opt)[0] is lr  # already capturable: the same tensor is kept


@pytest.mark.parametrize("direction", ["tensor_to_float", "float_to_tensor"])
def test_checkpoints_hold_floats_and_resume_across_kinds(direction):
    """Train 3 steps, save portable state, resume into the other kind of optimizer for 3 more: same weights
    and Adam state as 6 uninterrupted steps."""
    first_tensor = direction == "tensor_to_float"
    batches = _batches(6)
    net, opt, sched, lrs = _make(tensor_lr=first_tensor)
    step = _step_fn(net, opt)
    for x, y in batches[:3]:
        step(x, y)
        sched.step()
        keep_lr_tensors_(opt, lrs)
    saved = {"model": copy.deepcopy(net.state_dict()),
             "optimizer": copy.deepcopy(portable_optimizer_state(opt.state_dict())),
             "scheduler": portable_scheduler_state(sched.state_dict())}
    group = saved["optimizer"]["param_groups"][0]
    assert type(group["lr"]) is float and group["capturable"] is False and type(group["initial_lr"]) is float
    assert all(type(v) is float for v in saved["scheduler"]["_last_lr"] + saved["scheduler"]["base_lrs"])
    for x, y in batches[3:]:  # the uninterrupted run
        step(x, y)
        sched.step()
        keep_lr_tensors_(opt, lrs)

    net2, opt2, sched2, _ = _make(seed=1)
    net2.load_state_dict(saved["model"])
    opt2.load_state_dict(saved["optimizer"])
    sched2.load_state_dict(saved["scheduler"])
    lrs2 = make_lr_capturable_(opt2) if not first_tensor else []
    assert isinstance(opt2.param_groups[0]["lr"], torch.Tensor) == (not first_tensor)
    step2 = _step_fn(net2, opt2)
    for x, y in batches[3:]:
        step2(x, y)
        sched2.step()
        keep_lr_tensors_(opt2, lrs2)
    assert all(torch.equal(p, q) for p, q in zip(net.state_dict().values(), net2.state_dict().values()))
    assert _same_state(opt, opt2) and float(opt.param_groups[0]["lr"]) == float(opt2.param_groups[0]["lr"])


# ----------------------------------------------------------------------------- GPU twins
@pytest.mark.gpu
@cuda
def test_replayed_steps_match_eager_steps():
    """3 eager warm-up steps, a capture, 4 replays (one with a NaN batch, skipped inside the graph) against
    eager steps of a copy; the learning-rate schedule reaches the graph through the tensor."""
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        net, opt, sched, lrs = _make("cuda", tensor_lr=True)
        ref_net, ref_opt, ref_sched, ref_lrs = _make("cuda", tensor_lr=True)
        g = GraphedTrainStep(_step_fn(net, opt), warmup=3)
        ref = _step_fn(ref_net, ref_opt)
        losses = []
        for i, (x, y) in enumerate(_batches(8, "cuda", bad_at={6})):
            before = [p.detach().clone() for p in net.parameters()]
            out, want = g(x, y), ref(x, y)
            for s, o, t in ((sched, opt, lrs), (ref_sched, ref_opt, ref_lrs)):
                s.step()
                keep_lr_tensors_(o, t)
            losses.append((float(out["loss"]), float(want["loss"])))
            assert float(out["bad"]) == (1.0 if i == 6 else 0.0)
            if i == 6:
                assert all(torch.equal(p, q) for p, q in zip(before, net.parameters()))
        assert g.captured and g.replays == 5 and g.eager_calls == 3
        assert losses[0][0] == pytest.approx(losses[0][1], rel=1e-5)
        for a, b in losses[1:]:
            if math.isfinite(b):
                assert a == pytest.approx(b, rel=1e-3)
        for p, q in zip(net.parameters(), ref_net.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
        assert float(opt.state[next(net.parameters())]["step"]) == 7  # 8 steps, 1 skipped
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32


@pytest.mark.gpu
@cuda
def test_other_shapes_run_eagerly_after_the_capture():
    net, opt, sched, lrs = _make("cuda", tensor_lr=True)
    g = GraphedTrainStep(_step_fn(net, opt), warmup=1)
    (x, y), = _batches(1, "cuda")
    g(x, y)
    g(x, y)
    assert g.captured and g.replays == 1 and g.eager_calls == 1
    out = g(x[:3], y[:3])  # a partial batch: eager, not a replay
    assert g.replays == 1 and g.eager_calls == 2 and torch.isfinite(out["loss"])
    static = g(x, y)
    assert g.replays == 2 and static is g(x, y)  # the same static outputs on every replay
