"""Replay a network's training forward and backward as CUDA graphs.

D-PoSE's HRNet-W48 runs thousands of small kernels per step (four parallel branches of 48–384 channels,
fused at every stage), so at batch 64 an H100 waits on the CPU that launches them rather than on the
kernels themselves. Capturing the forward and the backward once and replaying them removes that launch
cost (``docs/benchmarks.md`` has the measured gain).

:class:`GraphedModule` wraps :func:`torch.cuda.make_graphed_callables` (which does the capture, the
warm-up on a side stream and the autograd plumbing) with what a training loop needs on top:

* structured outputs: the wrapped module may return a dataclass or a dict of tensors (``None`` fields
  allowed); the graph sees a flat tuple and the caller gets the same structure back;
* eager fallback: in eval mode, on the CPU, under ``torch.no_grad()`` and for inputs whose shape, dtype,
  device or memory layout differ from the captured ones (e.g. a last partial batch), the module runs
  eagerly, so correctness never depends on the graph;
* no side effects of the capture: the warm-up and capture passes update BatchNorm running statistics;
  :class:`GraphedModule` restores every buffer afterwards, so capturing does not change the training
  trajectory (and a resumed run captures again without drifting);
* bf16: pass ``autocast_dtype`` and the capture runs under ``torch.autocast(cache_enabled=False)`` (the
  weight-cast cache must be off while capturing); replays then run those bf16 kernels whatever the
  caller's autocast state.

Capturing is lazy: the first training-mode call on CUDA captures with its own inputs as the samples.

Limits (documented, checked where possible): fixed input shapes; no CPU synchronisation inside the
module's forward (no ``.item()``, no data-dependent Python branches); parameters must not be replaced
after the capture (``load_state_dict`` copies in place and is fine); not combined with DDP here.

Example (CPU: the wrapper runs eagerly and returns the module's structure):
    >>> import torch
    >>> lin = torch.nn.Linear(3, 2)
    >>> g = GraphedModule(lin)
    >>> x = torch.randn(4, 3)
    >>> bool(torch.equal(g(x), lin(x))), g.captured
    (True, False)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from hpskit.core import ConfigError

__all__ = ["GraphedModule"]


def _signature(args: tuple[Tensor, ...]) -> tuple:
    """What must match the captured inputs: shape, dtype, device and strides (memory layout)."""
    return tuple((a.shape, a.dtype, a.device, a.stride()) for a in args)


class _Flatten:
    """Turn a module output (tensor, tuple, dict or dataclass of tensors/None) into a flat tuple of tensors
    and back."""

    def __init__(self, example: Any) -> None:
        self.kind: str
        self.fields: list[str] = []
        self.tensor_fields: list[str] = []
        self.constants: dict[str, Any] = {}
        self.cls = type(example)
        if isinstance(example, Tensor):
            self.kind = "tensor"
            return
        if dataclasses.is_dataclass(example):
            self.kind = "dataclass"
            items = {f.name: getattr(example, f.name) for f in dataclasses.fields(example)}
        elif isinstance(example, dict):
            self.kind = "dict"
            items = dict(example)
        elif isinstance(example, tuple | list):
            self.kind = "tuple"
            items = {str(i): v for i, v in enumerate(example)}
        else:
            raise ConfigError(f"GraphedModule: cannot graph a module returning {type(example).__name__}; "
                              "return a tensor, a tuple, a dict or a dataclass of tensors.")
        self.fields = list(items)
        for k, v in items.items():
            if isinstance(v, Tensor):
                self.tensor_fields.append(k)
            elif v is None:
                self.constants[k] = None
            else:
                raise ConfigError(f"GraphedModule: output field {k!r} is a {type(v).__name__}; only tensors "
                                  "and None can be graphed.")

    def flatten(self, out: Any) -> tuple[Tensor, ...]:
        if self.kind == "tensor":
            return (out,)
        if self.kind == "dataclass":
            return tuple(getattr(out, k) for k in self.tensor_fields)
        if self.kind == "dict":
            return tuple(out[k] for k in self.tensor_fields)
        return tuple(out[int(k)] for k in self.tensor_fields)

    def unflatten(self, flat: tuple[Tensor, ...]) -> Any:
        if self.kind == "tensor":
            return flat[0]
        values = {**self.constants, **dict(zip(self.tensor_fields, flat))}
        ordered = [values[k] for k in self.fields]
        if self.kind == "dataclass":
            return self.cls(**dict(zip(self.fields, ordered)))
        if self.kind == "dict":
            return dict(zip(self.fields, ordered))
        return self.cls(ordered)


class _FlatModule(nn.Module):
    """``module`` with its output flattened (what ``make_graphed_callables`` captures)."""

    def __init__(self, module: nn.Module, flat: _Flatten) -> None:
        super().__init__()
        self.module = module
        self.flat = flat

    def forward(self, *args: Tensor) -> tuple[Tensor, ...]:
        return self.flat.flatten(self.module(*args))


class GraphedModule(nn.Module):
    """Run ``module``'s training forward and backward from CUDA graphs (captured on first use).

    Args:
        module: The network. Its forward takes tensors only and returns a tensor, tuple, dict or
            dataclass of tensors (``None`` fields allowed).
        autocast_dtype: Capture under ``torch.autocast("cuda", dtype=...)`` (e.g. ``torch.bfloat16``);
            ``None`` = full precision.
        num_warmup_iters: Eager warm-up passes before the capture (cuDNN autotuning, allocator).
        enabled: ``False`` makes the wrapper a plain pass-through (same code path on every device).

    Shape:
        Whatever ``module`` takes and returns.

    Attributes:
        captured: Whether the graphs exist.
        replays: Number of training calls served by the graphs (the rest ran eagerly).
    """

    def __init__(self, module: nn.Module, autocast_dtype: torch.dtype | None = None,
                 num_warmup_iters: int = 3, enabled: bool = True) -> None:
        super().__init__()
        if num_warmup_iters < 1:
            raise ConfigError(f"GraphedModule: num_warmup_iters must be ≥ 1; got {num_warmup_iters}.")
        self.module = module
        self.autocast_dtype = autocast_dtype
        self.num_warmup_iters = num_warmup_iters
        self.enabled = enabled
        self._graphed: Callable | None = None
        self._flat: _Flatten | None = None
        self._signature: tuple | None = None
        self.replays = 0

    @property
    def captured(self) -> bool:
        return self._graphed is not None

    def _usable(self, args: tuple[Tensor, ...]) -> bool:
        return (self.enabled and self.training and torch.is_grad_enabled() and len(args) > 0
                and all(isinstance(a, Tensor) and a.is_cuda for a in args))

    def _autocast(self, device: torch.device):
        if self.autocast_dtype is None:
            return torch.autocast(device_type=device.type, enabled=False)
        return torch.autocast(device_type=device.type, dtype=self.autocast_dtype, cache_enabled=False)

    def capture(self, *args: Tensor) -> None:
        """Capture the graphs with ``args`` as the sample inputs (done automatically on first use).

        BatchNorm statistics and every other buffer are restored after the capture, and no gradient is
        left in ``.grad``.
        """
        device = args[0].device
        saved = {k: b.detach().clone() for k, b in self.module.named_buffers()}
        grads = {n: p.grad for n, p in self.module.named_parameters()}
        with torch.no_grad(), self._autocast(device):
            flat = _Flatten(self.module(*args))
        wrapped = _FlatModule(self.module, flat)
        samples = tuple(a.detach().clone() for a in args)
        with self._autocast(device):
            graphed = torch.cuda.make_graphed_callables(wrapped, samples,
                                                        num_warmup_iters=self.num_warmup_iters,
                                                        allow_unused_input=True)
        with torch.no_grad():
            for k, b in self.module.named_buffers():
                b.copy_(saved[k])
            for n, p in self.module.named_parameters():
                p.grad = grads[n]
        self._graphed, self._flat, self._signature = graphed, flat, _signature(args)

    def forward(self, *args: Tensor) -> Any:
        if not self._usable(args):
            return self.module(*args)
        if self._graphed is None:
            self.capture(*args)
        if _signature(args) != self._signature:
            return self.module(*args)
        assert self._flat is not None
        self.replays += 1
        return self._flat.unflatten(self._graphed(*args))
