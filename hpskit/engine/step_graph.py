"""Replay a whole training step — forward, losses, backward, clip, bad-step flag, optimizer update — as one
CUDA graph.

:class:`~hpskit.engine.GraphedModule` replays only a network's forward and backward; the rest of D-PoSE's
step (SMPL-X bodies for the prediction and the ground truth, a dozen losses, their backward, the gradient
clip, the NaN guard's flag and fused Adam) is still launched kernel by kernel from the host. Once nothing in
the step reads the device from the host (the body model and the loss read nothing,
``tests/engine/test_step_host_reads.py``; bad steps are skipped on the device by
:func:`~hpskit.engine.step_unless_bad`), the whole step can be captured once and replayed with one launch.

:class:`GraphedTrainStep` wraps a step callable ``fn(*inputs) -> dict[str, Tensor]`` written as plain torch
ops (``inputs``: tensors, or ``None`` for an absent field) and follows the recipe of PyTorch's CUDA-graphs
notes ("whole network capture"):

1. the first ``warmup`` calls run ``fn`` eagerly on a side stream, **as real training steps** (they update
   the weights like any step: the trajectory is the eager one; cuDNN autotuning, the allocator and the
   optimizer's lazily created state settle there);
2. the next call captures ``fn`` once with ``torch.cuda.graph`` into static input buffers (clones of that
   call's inputs) and replays the graph at once, so that call is a training step too;
3. every later call copies its inputs into the static buffers (``copy_``) and replays. The returned dict
   holds the **static outputs**: valid until the next call (copy what must outlive it).

The same code path runs everywhere: on the CPU, with ``enabled=False``, and for inputs whose shape, dtype,
device, memory layout or ``None`` pattern differ from the captured ones (a last partial batch), ``fn`` runs
eagerly on the current stream (after the capture as well), as :class:`~hpskit.engine.GraphedModule` does.

Limits (the caller's part; not all can be checked):

* **Fixed shapes**: one graph for one input signature; other inputs run eagerly.
* **No host reads in** ``fn``: no ``.item()``, ``bool(t)``, ``.tolist()``, ``.cpu()``, data-dependent
  Python branches or output shapes (``nonzero``, boolean-mask indexing), no tensor made from host data
  (``torch.tensor(...)`` on the device). A capture that meets one fails with CUDA's "operation not permitted
  when stream is capturing"; the error is re-raised with what to check.
* **The optimizer** must be fused and capturable with its learning rate in a 0-dim device tensor that the
  learning-rate scheduler updates in place (:func:`make_lr_capturable_`), and a bad step must be skipped on
  the device (:func:`~hpskit.engine.step_unless_bad`), not by a host ``if``. ``optimizer.zero_grad`` must
  set the gradients to ``None`` (the backward inside the graph then owns them).
* **Python state is frozen at capture**: anything ``fn`` decides on the host (which loss terms exist, a
  float learning rate, a counter) is replayed as it was when captured. Host-side effects of ``fn`` (a
  Python counter) happen only in the eager calls.
* **Single process**: no DDP, no collectives inside ``fn`` here.
* Parameters and optimizer state must not be replaced after the capture (``load_state_dict`` copies in
  place and is fine; re-creating the optimizer is not).

The optimizer side (:func:`make_lr_capturable_`, :func:`keep_lr_tensors_`, :func:`portable_optimizer_state`,
:func:`portable_scheduler_state`): fused Adam / AdamW read the learning rate from a device tensor when
``group["lr"]`` is one (CUDA kernels read it as float32; so on CUDA the learning rate is rounded to float32,
a relative change ≤ 6e-8), and torch's schedulers ``fill_`` such a tensor in place (torch ≥ 2.4, checked
again after each ``scheduler.step()`` by :func:`keep_lr_tensors_`). Checkpoints store plain floats, so a run
saved with a tensor learning rate resumes eagerly and vice versa.

Example (CPU: every call runs eagerly, the step trains as written):
    >>> import torch
    >>> w = torch.nn.Parameter(torch.ones(3))
    >>> opt = torch.optim.Adam([w], lr=0.1, fused=True)
    >>> lrs = make_lr_capturable_(opt)
    >>> def step(x):
    ...     opt.zero_grad(set_to_none=True)
    ...     loss = (w * x).sum()
    ...     loss.backward()
    ...     opt.step()
    ...     return {"loss": loss.detach()}
    >>> graphed = GraphedTrainStep(step, warmup=2)
    >>> out = graphed(torch.ones(3))
    >>> float(out["loss"]), [round(v, 4) for v in w.tolist()], graphed.captured, graphed.eager_calls
    (3.0, [0.9, 0.9, 0.9], False, 1)
    >>> portable_optimizer_state(opt.state_dict())["param_groups"][0]["lr"]
    0.1
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from hpskit.core import ConfigError, HPSKitError

from .graphs import _signature

__all__ = ["GraphedTrainStep", "StepCaptureError", "make_lr_capturable_", "keep_lr_tensors_",
           "portable_optimizer_state", "portable_scheduler_state"]

StepFn = Callable[..., Mapping[str, Tensor]]


class StepCaptureError(HPSKitError, RuntimeError):
    """Capturing the training step as a CUDA graph failed (a host read or another uncapturable op)."""


def _input_signature(inputs: Sequence[Tensor | None]) -> tuple:
    """:func:`hpskit.engine.graphs._signature` that also records where the inputs are ``None``."""
    return tuple(None if x is None else _signature((x,))[0] for x in inputs)


def _check_outputs(out: Any) -> dict[str, Tensor]:
    if not isinstance(out, Mapping) or not all(isinstance(k, str) and isinstance(v, Tensor)
                                               for k, v in out.items()):
        raise ConfigError(f"GraphedTrainStep: the step must return a dict of str -> Tensor; got "
                          f"{type(out).__name__}" + (f" with keys {list(out)}" if isinstance(out, Mapping)
                                                     else "") + ".")
    return dict(out)


class GraphedTrainStep:
    """Run a whole training step from one CUDA graph (captured after ``warmup`` eager steps).

    Args:
        fn: The step: ``fn(*inputs) -> dict[str, Tensor]`` (forward, loss, backward, clip, flag, optimizer
            update as plain torch ops; see the module docstring for what it must not do).
        warmup: Eager steps on a side stream before the capture (≥ 1; PyTorch's notes use 3).
        enabled: ``False`` runs ``fn`` eagerly on every call (same code path on every device).
        pool: Memory pool handle for the capture (``torch.cuda.graph_pool_handle()``), to share one with other
            graphs; ``None`` = a private pool.
        capture_error_mode: ``torch.cuda.graph``'s mode. ``"thread_local"`` (default) forbids unsafe
            CUDA calls (a synchronisation, ``cudaMalloc``) in the capturing thread only, so a data thread
            that renders the next batch on its own stream (``data.prefetch``) may go on during the
            capture; ``"global"`` forbids them in every thread.

    Shape:
        - inputs: tensors (or ``None``) of any shape; replays need those of the captured call.
        - output: ``fn``'s dict; after the capture the same static tensors on every replay.

    Attributes:
        captured: Whether the graph exists.
        replays: Calls served by the graph (the capturing call included).
        eager_calls: Calls that ran ``fn`` eagerly (warm-up, CPU, disabled, other signatures).
    """

    def __init__(self, fn: StepFn, *, warmup: int = 3, enabled: bool = True, pool: Any = None,
                 capture_error_mode: str = "thread_local") -> None:
        if int(warmup) < 1:
            raise ConfigError(f"GraphedTrainStep: warmup must be ≥ 1 (eager steps before the capture); got "
                              f"{warmup}.")
        self.fn = fn
        self.warmup = int(warmup)
        self.enabled = enabled
        if capture_error_mode not in ("global", "thread_local", "relaxed"):
            raise ConfigError(f"GraphedTrainStep: capture_error_mode must be 'global', 'thread_local' or "
                              f"'relaxed'; got {capture_error_mode!r}.")
        self.pool = pool
        self.capture_error_mode = capture_error_mode
        self.replays = 0
        self.eager_calls = 0
        self._warm = 0
        self._graph: torch.cuda.CUDAGraph | None = None
        self._static_in: tuple[Tensor | None, ...] = ()
        self._static_out: dict[str, Tensor] = {}
        self._signature: tuple | None = None
        self._side_stream: torch.cuda.Stream | None = None

    @property
    def captured(self) -> bool:
        return self._graph is not None

    def _usable(self, inputs: Sequence[Tensor | None]) -> bool:
        tensors = [x for x in inputs if x is not None]
        return (self.enabled and len(tensors) > 0
                and all(isinstance(x, Tensor) and x.is_cuda for x in tensors)
                and not torch.cuda.is_current_stream_capturing())

    def _eager(self, inputs: Sequence[Tensor | None]) -> dict[str, Tensor]:
        self.eager_calls += 1
        return _check_outputs(self.fn(*inputs))

    def _warm_step(self, inputs: Sequence[Tensor | None], device: torch.device) -> dict[str, Tensor]:
        """One real step on a side stream (what PyTorch asks for before a capture)."""
        if self._side_stream is None:
            self._side_stream = torch.cuda.Stream(device)
        main, side = torch.cuda.current_stream(device), self._side_stream
        side.wait_stream(main)
        with torch.cuda.stream(side):
            out = self._eager(inputs)
        main.wait_stream(side)
        self._warm += 1
        return out

    def capture(self, *inputs: Tensor | None) -> dict[str, Tensor]:
        """Capture ``fn`` with clones of ``inputs`` as the static inputs, then replay once: this call's step.

        Raises:
            StepCaptureError: If the capture fails (a host read or an uncapturable op in ``fn``).
        """
        static = tuple(None if x is None else x.detach().clone() for x in inputs)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph, pool=self.pool, capture_error_mode=self.capture_error_mode):
                out = _check_outputs(self.fn(*static))
        except ConfigError:
            raise
        except Exception as e:  # noqa: BLE001 - re-raised with what to check
            raise StepCaptureError(
                f"GraphedTrainStep: capturing the training step failed: {type(e).__name__}: {e}. The step "
                "must make no host read (.item(), bool(t), .tolist(), .cpu(), boolean-mask indexing, "
                "torch.tensor(...) of host data) and its optimizer must be fused and capturable with a "
                "tensor learning rate (make_lr_capturable_). Replay only the network instead "
                "(runtime.graph_scope=network).") from e
        self._graph, self._static_in, self._static_out = graph, static, out
        self._signature = _input_signature(inputs)
        graph.replay()
        self.replays += 1
        return self._static_out

    def __call__(self, *inputs: Tensor | None) -> dict[str, Tensor]:
        if not self._usable(inputs):
            return self._eager(inputs)
        if self._graph is None:
            device = next(x for x in inputs if x is not None).device
            if self._warm < self.warmup:
                return self._warm_step(inputs, device)
            return self.capture(*inputs)
        if _input_signature(inputs) != self._signature:
            return self._eager(inputs)
        for dst, src in zip(self._static_in, inputs):
            if dst is not None:
                dst.copy_(src)
        self._graph.replay()
        self.replays += 1
        return self._static_out


# ----------------------------------------------------------------------------- optimizer side
def make_lr_capturable_(optimizer: torch.optim.Optimizer, device: torch.device | str | None = None
                        ) -> list[Tensor]:
    """Make a fused optimizer capturable: ``capturable=True`` and each group's learning rate a 0-dim tensor.

    The tensor is float32 on CUDA (what the fused kernels read through a pointer, so a replayed graph sees
    the scheduler's changes) and float64 elsewhere (the CPU kernels read it as a double: bit-identical to a
    float learning rate). Call it after creating the learning-rate scheduler (so the scheduler's base rates
    stay floats) and again after ``optimizer.load_state_dict`` (which brings the saved groups back). A group
    whose learning rate is already such a tensor keeps it (its address is what a captured graph reads).

    Args:
        optimizer: torch's Adam / AdamW / SGD with ``fused=True``.
        device: Where the tensors live; default: the first parameter's device.

    Returns:
        The learning-rate tensors, one per parameter group (for :func:`keep_lr_tensors_`).

    Raises:
        ConfigError: If the optimizer is not fused.
    """
    if not all(g.get("fused") for g in optimizer.param_groups):
        raise ConfigError(f"make_lr_capturable_: {type(optimizer).__name__} must be fused (fused=True) to be "
                          "replayed from a CUDA graph with a device learning rate.")
    if device is None:
        device = optimizer.param_groups[0]["params"][0].device
    device = torch.device(device)
    dtype = torch.float32 if device.type == "cuda" else torch.float64
    tensors = []
    for group in optimizer.param_groups:
        lr = group["lr"]
        if not (isinstance(lr, Tensor) and lr.device == device and lr.dtype == dtype and lr.dim() == 0):
            value = float(lr)  # a float, or a tensor from elsewhere: read once, outside the step
            lr = torch.full((), value, dtype=dtype, device=device)
        group["lr"] = lr
        group["capturable"] = True
        tensors.append(lr)
    return tensors


def keep_lr_tensors_(optimizer: torch.optim.Optimizer, tensors: Sequence[Tensor]) -> None:
    """After ``scheduler.step()``: put each group's learning rate back into its tensor, in place.

    torch's schedulers ``fill_`` a tensor learning rate in place (torch ≥ 2.4): then this does nothing. A
    scheduler that assigned a new value instead (a float, or another tensor) has it copied into the tensor a
    captured graph reads, and the tensor is put back into the group. No tensors (a float learning rate): a
    no-op.
    """
    if not tensors:
        return
    for group, t in zip(optimizer.param_groups, tensors, strict=True):
        lr = group["lr"]
        if lr is t:
            continue
        if isinstance(lr, Tensor):
            t.copy_(lr)
        else:
            t.fill_(float(lr))
        group["lr"] = t


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Tensor) and value.numel() == 1 else value


def portable_optimizer_state(state: Mapping) -> dict:
    """An optimizer ``state_dict()`` with the learning rates as floats and ``capturable`` off.

    What a checkpoint stores, so it loads into an optimizer with a float learning rate (eager) as well as
    into one made capturable again by :func:`make_lr_capturable_` after loading. Reads the learning-rate
    tensors on the host (checkpoint time only).
    """
    out = dict(state)
    groups = []
    for g in state["param_groups"]:
        g = dict(g)
        for key in ("lr", "initial_lr"):
            if key in g:
                g[key] = _plain(g[key])
        if "capturable" in g:
            g["capturable"] = False
        groups.append(g)
    out["param_groups"] = groups
    return out


def portable_scheduler_state(state: Mapping) -> dict:
    """A learning-rate scheduler's ``state_dict()`` with its rates (``base_lrs``, ``_last_lr``) as floats."""
    out = copy.copy(dict(state))
    for key in ("base_lrs", "_last_lr"):
        if isinstance(out.get(key), list):
            out[key] = [_plain(v) for v in out[key]]
    return out
