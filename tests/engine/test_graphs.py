from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from hpskit.core import ConfigError
from hpskit.engine import GraphedModule
from hpskit.engine.graphs import _Flatten

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@dataclass
class Out:
    a: torch.Tensor
    b: torch.Tensor | None
    c: torch.Tensor


class Net(nn.Module):
    """Conv + BN (buffers that the capture must not disturb) and a structured output with a None field."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 + 2, 4)

    def forward(self, x: torch.Tensor, v: torch.Tensor) -> Out:
        h = torch.relu(self.bn(self.conv(x))).mean((2, 3))
        y = self.fc(torch.cat([h, v], 1))
        return Out(a=y, b=None, c=h.square().sum(1))


def _loss(o: Out) -> torch.Tensor:
    return o.a.square().mean() + o.c.mean()


@pytest.mark.parametrize("example", [
    torch.ones(2),
    (torch.ones(2), torch.zeros(1)),
    {"x": torch.ones(2), "y": None},
    Out(a=torch.ones(1), b=None, c=torch.zeros(3)),
])
def test_flatten_round_trip(example):
    f = _Flatten(example)
    back = f.unflatten(f.flatten(example))
    assert type(back) is type(example)
    if isinstance(example, torch.Tensor):
        assert back.equal(example)
    elif isinstance(example, Out):
        assert back.a.equal(example.a) and back.b is None and back.c.equal(example.c)
    elif isinstance(example, dict):
        assert back["x"].equal(example["x"]) and back["y"] is None and list(back) == list(example)
    else:
        assert all(p.equal(q) for p, q in zip(back, example))


def test_flatten_rejects_non_tensor_fields():
    with pytest.raises(ConfigError, match="only tensors"):
        _Flatten({"x": torch.ones(1), "n": 3})
    with pytest.raises(ConfigError, match="cannot graph"):
        _Flatten(3.0)


def test_cpu_is_an_exact_pass_through():
    torch.manual_seed(0)
    net = Net()
    ref = copy.deepcopy(net)
    g = GraphedModule(net)
    x, v = torch.randn(4, 3, 8, 8), torch.randn(4, 2)
    _loss(g(x, v)).backward()
    _loss(ref(x, v)).backward()
    assert not g.captured and g.replays == 0
    for p, q in zip(net.parameters(), ref.parameters()):
        assert p.grad.equal(q.grad)
    for p, q in zip(net.buffers(), ref.buffers()):
        assert p.equal(q)


def test_bad_arguments():
    with pytest.raises(ConfigError, match="num_warmup_iters"):
        GraphedModule(Net(), num_warmup_iters=0)


@cuda
@pytest.mark.parametrize("dtype", [None, torch.bfloat16])
def test_graph_replay_matches_eager_training(dtype):
    """Three SGD steps with graphs = three eager steps: outputs, gradients, weights and BN statistics."""
    torch.manual_seed(0)
    net = Net().cuda()
    ref = copy.deepcopy(net)
    g = GraphedModule(net, autocast_dtype=dtype)
    opt_g = torch.optim.SGD(net.parameters(), lr=0.1)
    opt_r = torch.optim.SGD(ref.parameters(), lr=0.1)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype is None else dict(rtol=2e-2, atol=2e-2)
    for step in range(3):
        x, v = torch.randn(4, 3, 8, 8, device="cuda"), torch.randn(4, 2, device="cuda")
        with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
            og = g(x, v)
            orf = ref(x, v)
        assert og.b is None
        torch.testing.assert_close(og.a.float(), orf.a.float(), **tol)
        for opt, out in ((opt_g, og), (opt_r, orf)):
            opt.zero_grad(set_to_none=True)
            _loss(out).float().backward()
            opt.step()
        # the capture (first call) must not have moved the BN statistics beyond one real step
        torch.testing.assert_close(net.bn.running_mean, ref.bn.running_mean, **tol)
        assert int(net.bn.num_batches_tracked) == int(ref.bn.num_batches_tracked) == step + 1
    assert g.captured and g.replays == 3
    for p, q in zip(net.parameters(), ref.parameters()):
        torch.testing.assert_close(p, q, **tol)


@cuda
def test_other_shapes_and_eval_run_eagerly():
    net = Net().cuda()
    g = GraphedModule(net)
    x, v = torch.randn(4, 3, 8, 8, device="cuda"), torch.randn(4, 2, device="cuda")
    g(x, v)
    assert g.replays == 1
    out = g(x[:3], v[:3])  # a partial batch
    assert out.a.shape == (3, 4) and g.replays == 1
    g.eval()
    with torch.no_grad():
        torch.testing.assert_close(g(x, v).a, net(x, v).a)
    assert g.replays == 1
