"""One-line input checks with symbolic shapes (kornia-style), raising :class:`ShapeError`.

Example:
    >>> import torch
    >>> check_shape(torch.zeros(2, 3, 8, 8), ("B", 3, "H", "W"), "images")
    {'B': 2, 'H': 8, 'W': 8}
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .errors import ShapeError

__all__ = ["check_shape", "check_finite", "check_tensor", "format_shape"]


def format_shape(shape: Sequence) -> str:
    """Format a (symbolic) shape as ``(B, 3, 224, 224)``."""
    return "(" + ", ".join(str(s) for s in shape) + ")"


def check_tensor(x, name: str, where: str = "") -> Tensor:
    """Raise a :class:`ShapeError` (a ``ValueError``) unless ``x`` is a ``torch.Tensor``."""
    if not isinstance(x, Tensor):
        prefix = f"{where}: " if where else ""
        raise ShapeError(f"{prefix}`{name}` must be a torch.Tensor; got {type(x).__name__}.")
    return x


def check_shape(
    x: Tensor,
    shape: Sequence[int | str],
    name: str = "tensor",
    where: str = "",
    dims: dict[str, int] | None = None,
    hint: str = "",
) -> dict[str, int]:
    """Check that ``x`` has the symbolic ``shape``.

    Entries of ``shape`` are ints (exact sizes), strings (named sizes that must agree wherever the
    same name appears, also with ``dims`` given by earlier checks) or ``"*"`` (any size). A leading
    ``"..."`` accepts any number of leading dimensions.

    Args:
        x: The tensor to check.
        shape: Expected symbolic shape, e.g. ``("B", 3, "H", "W")``.
        name: Argument name used in the message.
        where: Function or module name used as the message prefix.
        dims: Already bound named sizes (updated in place and returned).
        hint: Extra sentence appended to the message (the fix).

    Returns:
        The mapping of named sizes, e.g. ``{"B": 2, "H": 8, "W": 8}``.

    Raises:
        ShapeError: If the rank or a size does not match.
    """
    check_tensor(x, name, where)
    dims = {} if dims is None else dims
    expected = list(shape)
    actual = tuple(x.shape)
    prefix = f"{where}: " if where else ""

    def fail(reason: str = "") -> None:
        exp = format_shape(expected)
        msg = f"{prefix}`{name}` must have shape {exp}; got {format_shape(actual)}."
        if reason:
            msg += f" {reason}"
        if hint:
            msg += f" {hint}"
        raise ShapeError(msg, expected_shape=tuple(expected), actual_shape=actual)

    if expected and expected[0] == "...":
        tail = expected[1:]
        if len(actual) < len(tail):
            fail()
        actual_cmp = actual[len(actual) - len(tail):]
    else:
        tail = expected
        if len(actual) != len(tail):
            fail()
        actual_cmp = actual
    bound: dict[str, int] = dict(dims)
    for exp, got in zip(tail, actual_cmp):
        if exp == "*":
            continue
        if isinstance(exp, int):
            if exp != got:
                fail()
        else:
            if exp in bound and bound[exp] != got:
                fail(f"`{exp}` is {bound[exp]} elsewhere.")
            bound[exp] = got
    dims.update(bound)
    return dims


def check_finite(x: Tensor, name: str = "tensor", where: str = "") -> None:
    """Raise :class:`ShapeError` if ``x`` holds NaN or infinite values."""
    check_tensor(x, name, where)
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        prefix = f"{where}: " if where else ""
        n_bad = int((~torch.isfinite(x)).sum())
        raise ShapeError(f"{prefix}`{name}` contains {n_bad} NaN or infinite values.")
