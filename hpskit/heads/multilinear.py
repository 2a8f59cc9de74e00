"""MultiLinear: P independent linear layers applied in one einsum, (B, P, Cin) → (B, P, Cout)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from hpskit.core import check_shape

__all__ = ["multilinear", "MultiLinear", "multilinear_init_bound"]


def multilinear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Apply one linear map per head: ``y[b, k] = weight[k] @ x[b, k] + bias[k]``.

    Args:
        x: Inputs, shape (B, P, Cin).
        weight: Per-head weights, shape (P, Cout, Cin).
        bias: Per-head biases, shape (P, Cout), or ``None``.

    Returns:
        Outputs, shape (B, P, Cout).

    Raises:
        ShapeError: If the head counts or feature sizes disagree.

    Examples:
        >>> multilinear(torch.ones(2, 3, 4), torch.ones(3, 5, 4), torch.zeros(3, 5)).shape
        torch.Size([2, 3, 5])
    """
    where = "multilinear"
    dims = check_shape(weight, ("P", "Cout", "Cin"), "weight", where)
    check_shape(x, ("B", "P", "Cin"), "x", where, dims=dict(dims))
    y = torch.einsum("bki,koi->bko", x, weight)  # y[b,k,o] = Σ_i x[b,k,i] · W[k,o,i]
    if bias is not None:
        check_shape(bias, ("P", "Cout"), "bias", where, dims=dict(dims))
        y = y + bias
    return y


def multilinear_init_bound(in_features: int, out_features: int) -> float:
    """The authors' uniform-init bound for a MultiLinear weight (n, out, in) and its bias: ``1/√(out·in)``.

    The authors call ``kaiming_uniform_(weight, a=√5)`` on the 3-D weight. torch takes
    ``fan_in = size(1) · Π size(2:) = out·in`` for it, gain ``√(2/(1+a²)) = √(1/3)``, and bound
    ``gain·√(3/fan_in) = 1/√(out·in)`` — not the ``1/√in`` of an ``nn.Linear``. Their bias uses the same
    bound.

    Args:
        in_features: Input features per head.
        out_features: Output features per head.

    Returns:
        The bound b of U(-b, b).

    Examples:
        >>> round(multilinear_init_bound(777, 32), 6)
        0.006342
    """
    return 1.0 / math.sqrt(out_features * in_features)


class MultiLinear(nn.Module):
    """``num_heads`` independent ``nn.Linear(in_features, out_features)`` layers in one module.

    Args:
        num_heads: Number of heads P (22 joints in D-PoSE).
        in_features: Input features per head.
        out_features: Output features per head.
        bias: Whether to add a per-head bias.
        device: Device of the parameters.
        dtype: Dtype of the parameters.

    Attributes:
        weight: (num_heads, out_features, in_features).
        bias: (num_heads, out_features).

    Shape:
        (B, P, in_features) → (B, P, out_features).

    Examples:
        >>> MultiLinear(22, 777, 32)(torch.randn(2, 22, 777)).shape
        torch.Size([2, 22, 32])
    """

    def __init__(
        self,
        num_heads: int,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        self.num_heads = int(num_heads)
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        kw = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(self.num_heads, self.out_features, self.in_features, **kw))
        self.bias = nn.Parameter(torch.empty(self.num_heads, self.out_features, **kw)) if bias else None
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Authors' init: weight and bias ~ U(-b, b), b = :func:`multilinear_init_bound` (weight drawn first).

        Args:
            generator: Optional random generator (default: torch's global one, like ``nn.Linear``).
        """
        b = multilinear_init_bound(self.in_features, self.out_features)
        nn.init.uniform_(self.weight, -b, b, generator=generator)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -b, b, generator=generator)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the heads; see the class docstring for shapes."""
        return multilinear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"num_heads={self.num_heads}, in_features={self.in_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
