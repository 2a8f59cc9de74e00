"""MultiLinear: equals a loop of nn.Linear, authors' init bound, gradcheck."""

from __future__ import annotations

import math

import pytest
import torch

from hpskit.core import ShapeError
from hpskit.heads import MultiLinear, multilinear, multilinear_init_bound


def test_equals_loop_of_linear():
    ml = MultiLinear(5, 7, 3)
    x = torch.randn(4, 5, 7)
    expected = []
    for k in range(5):
        lin = torch.nn.Linear(7, 3)
        with torch.no_grad():
            lin.weight.copy_(ml.weight[k])
            lin.bias.copy_(ml.bias[k])
        expected.append(lin(x[:, k]))
    torch.testing.assert_close(ml(x), torch.stack(expected, dim=1))


def test_no_bias_and_batch1():
    ml = MultiLinear(2, 3, 4, bias=False)
    assert ml.bias is None
    x = torch.randn(1, 2, 3)
    torch.testing.assert_close(ml(x), torch.stack([x[:, k] @ ml.weight[k].T for k in range(2)], 1))


def test_init_bound_is_torch_kaiming_uniform_on_3d_weight():
    # the authors call kaiming_uniform_(a=√5) on the (n, out, in) weight: fan_in = out·in
    assert multilinear_init_bound(777, 32) == pytest.approx(1 / math.sqrt(32 * 777))
    torch.manual_seed(3)
    ml = MultiLinear(22, 777, 32)
    torch.manual_seed(3)
    w = torch.empty(22, 32, 777)
    torch.nn.init.kaiming_uniform_(w, a=math.sqrt(5))
    torch.testing.assert_close(ml.weight.data, w, rtol=0, atol=0)
    b = multilinear_init_bound(777, 32)
    for t in (ml.weight, ml.bias):
        assert t.abs().max() <= b
        assert t.abs().max() > 0.95 * b  # the bound is reached, i.e. not 1/√in
    assert ml.weight.abs().max() < 1 / math.sqrt(777)


def test_reset_parameters_with_generator_is_reproducible():
    a, b = MultiLinear(3, 4, 5), MultiLinear(3, 4, 5)
    a.reset_parameters(torch.Generator().manual_seed(7))
    b.reset_parameters(torch.Generator().manual_seed(7))
    torch.testing.assert_close(a.weight, b.weight, rtol=0, atol=0)
    torch.testing.assert_close(a.bias, b.bias, rtol=0, atol=0)


def test_gradcheck():
    x = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 5, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(multilinear, (x, w, b))
    ml = MultiLinear(3, 4, 2).double()
    assert torch.autograd.gradcheck(ml, (x,))


def test_shape_errors():
    ml = MultiLinear(3, 4, 5)
    with pytest.raises(ShapeError, match=r"`x` must have shape \(B, P, Cin\); got \(2, 2, 4\).*`P` is 3"):
        ml(torch.randn(2, 2, 4))
    with pytest.raises(ShapeError, match=r"`x`.*got \(2, 3, 5\).*`Cin` is 4"):
        ml(torch.randn(2, 3, 5))
