"""Training diagnostics: per-module gradient norms, per-group clipping and the size of optimizer updates.

A D-PoSE loss weighs the body terms 100–500× the dense (depth, part) terms, and one global gradient-norm
clip then scales every module's gradient by the same factor. These helpers measure what each module
receives, before and after clipping, and how far the optimizer moves each module's weights per step, so a
starved module shows in the logs (``grad/<group>``, ``grad_clipped/<group>``, ``update/<group>``).

Every function returns device tensors and never synchronises with the host; the caller decides when to read
them (e.g. at logging steps only).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import Tensor, nn

__all__ = ["module_groups", "group_grad_norms", "clip_grad_norm_per_group_", "ParamSnapshot"]


def module_groups(model: nn.Module, depth: int = 1) -> dict[str, list[nn.Parameter]]:
    """Trainable parameters grouped by their module path, cut at ``depth`` levels.

    Args:
        model: Any module.
        depth: How many levels of the parameter name make the group (1: ``encoder``, ``part_decoder``...).

    Returns:
        Group name → parameters with ``requires_grad``, in ``named_parameters`` order; groups without
        trainable parameters are left out.

    Example:
        >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
        >>> {k: len(v) for k, v in module_groups(net).items()}
        {'0': 2, '2': 2}
    """
    groups: dict[str, list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            key = ".".join(name.split(".")[:depth]) if "." in name else name
            groups.setdefault(key, []).append(p)
    return groups


def _norm(params: Iterable[nn.Parameter], attr: str = "grad") -> Tensor | None:
    tensors = [getattr(p, attr) if attr else p for p in params]
    tensors = [t for t in tensors if t is not None]
    if not tensors:
        return None
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t.float()) for t in tensors]))


def group_grad_norms(groups: Mapping[str, Iterable[nn.Parameter]]) -> dict[str, Tensor]:
    """L2 norm of the gradients of each group (groups with no gradient are left out).

    Args:
        groups: Group name → parameters (e.g. :func:`module_groups`).

    Returns:
        Group name → 0-d float32 tensor on the parameters' device.
    """
    out = {}
    for name, params in groups.items():
        n = _norm(params)
        if n is not None:
            out[name] = n
    return out


def clip_grad_norm_per_group_(groups: Mapping[str, Iterable[nn.Parameter]], max_norm: float
                              ) -> dict[str, Tensor]:
    """Clip each group's gradient to L2 norm ``max_norm`` on its own (in place).

    With one global clip, a module whose gradient is small beside the others' is scaled down with them;
    per group, each module is only limited by its own norm.

    Args:
        groups: Group name → parameters.
        max_norm: Largest L2 norm of each group's gradient after clipping.

    Returns:
        Group name → the group's norm before clipping (0-d tensors), as ``torch.nn.utils.clip_grad_norm_``.
    """
    norms = {}
    for name, params in groups.items():
        params = [p for p in params if p.grad is not None]
        if params:
            norms[name] = torch.nn.utils.clip_grad_norm_(params, max_norm)
    return norms


class ParamSnapshot:
    """Parameters of each group copied before an optimizer step, to measure the step's size afterwards.

    Example:
        >>> lin = nn.Linear(2, 2)
        >>> snap = ParamSnapshot({"lin": list(lin.parameters())})
        >>> with torch.no_grad():
        ...     _ = lin.weight.add_(1.0)
        >>> float(snap.relative_update()["lin"]) > 0
        True
    """

    def __init__(self, groups: Mapping[str, Iterable[nn.Parameter]]):
        self.groups = {k: list(v) for k, v in groups.items()}
        self.before = {k: [p.detach().clone() for p in v] for k, v in self.groups.items()}

    @torch.no_grad()
    def relative_update(self) -> dict[str, Tensor]:
        """Group name → ``‖θ_after − θ_before‖ / ‖θ_before‖`` (0-d tensors)."""
        out = {}
        for name, params in self.groups.items():
            before = self.before[name]
            delta = _norm([p - b for p, b in zip(params, before)], attr="")
            base = _norm(before, attr="")
            out[name] = delta / base.clamp_min(1e-12)
        return out
