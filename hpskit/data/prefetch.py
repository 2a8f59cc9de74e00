"""Make the next batch in a background thread (on its own CUDA stream) while the current one trains.

The synthetic engine spends most of a batch's time in Python and in small host↔device steps, while a
CUDA-graph training step keeps the GPU busy and the CPU idle. :class:`BackgroundBatches` runs
``make(k)`` for batch ``k + 1`` in one worker thread while the caller trains on batch ``k``, so the two
overlap. It is a drop-in for an indexed producer with three guarantees:

* **same batches**: batch ``k`` is ``make(k)`` whatever the timing (``make`` must be a pure function of
  ``k``, as :class:`hpskit.data.SyntheticHumans` seeded per batch is), so a run with prefetching sees
  exactly the batches of a run without;
* **safe memory on CUDA**: the worker produces on a side stream; before a batch is handed over the
  consumer's stream waits for it and every tensor is marked as used there (``record_stream``), so the
  caching allocator never recycles it early;
* **quiet points**: :meth:`wait` blocks until nothing is in flight (used before a checkpoint captures
  the RNG state, which the worker's code may seed temporarily), and :meth:`close` stops the thread.

Worker exceptions are re-raised in the caller at the next :meth:`next`.

Example (CPU: the worker thread still runs ahead):
    >>> import torch
    >>> src = BackgroundBatches(lambda k: torch.full((2,), float(k)), start=3)
    >>> [src.next().tolist() for _ in range(2)], src.position
    ([[3.0, 3.0], [4.0, 4.0]], 5)
    >>> src.close()
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import torch
from torch import Tensor

__all__ = ["BackgroundBatches", "record_stream"]


def _tensors(obj: Any):
    """Every tensor inside a tensor / dataclass / dict / list / tuple (one level of nesting each)."""
    if isinstance(obj, Tensor):
        yield obj
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from _tensors(getattr(obj, f.name))
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _tensors(v)
    elif isinstance(obj, list | tuple):
        for v in obj:
            yield from _tensors(v)


def record_stream(obj: Any, stream: torch.cuda.Stream) -> None:
    """Mark every CUDA tensor in ``obj`` as used on ``stream`` (see :meth:`torch.Tensor.record_stream`)."""
    for t in _tensors(obj):
        if t.is_cuda:
            t.record_stream(stream)


class BackgroundBatches:
    """Produce ``make(start), make(start + 1), ...`` one batch ahead in a worker thread.

    Args:
        make: ``make(k)`` returns batch ``k`` (a tensor, or a dataclass/dict/list of tensors); it must
            depend on ``k`` only.
        start: Index of the first batch.
        device: Where ``make`` puts its tensors; on CUDA the worker uses its own stream.
        enabled: ``False`` = make each batch in the caller's thread on demand (no thread at all).

    Attributes:
        position: Number of the next batch :meth:`next` returns.
    """

    def __init__(self, make: Callable[[int], Any], start: int = 0, device: torch.device | str = "cpu",
                 enabled: bool = True) -> None:
        self.make = make
        self.position = int(start)
        self.device = torch.device(device)
        self.enabled = enabled
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hpskit-prefetch") if enabled \
            else None
        self._side = torch.cuda.Stream(self.device) if enabled and self.device.type == "cuda" else None
        self._future: Future | None = None
        self._future_k: int | None = None

    def _produce(self, k: int) -> tuple[Any, torch.cuda.Event | None]:
        if self._side is None:
            return self.make(k), None
        with torch.cuda.device(self.device), torch.cuda.stream(self._side):
            batch = self.make(k)
            done = torch.cuda.Event()
            done.record(self._side)
        return batch, done

    def _submit(self, k: int) -> None:
        assert self._pool is not None
        self._future, self._future_k = self._pool.submit(self._produce, k), k

    def next(self) -> Any:
        """Batch ``position`` (then ``position`` += 1); starts making the one after it."""
        k = self.position
        if self._pool is None:
            self.position += 1
            return self.make(k)
        if self._future is None or self._future_k != k:
            self.wait()
            self._submit(k)
        assert self._future is not None
        batch, done = self._future.result()
        self._future = None
        self.position += 1
        self._submit(self.position)
        if done is not None:
            consumer = torch.cuda.current_stream(self.device)
            consumer.wait_event(done)
            record_stream(batch, consumer)
        return batch

    def wait(self) -> None:
        """Block until no batch is being made (the one in flight is kept for the next :meth:`next`)."""
        if self._future is not None:
            self._future.exception()  # waits; an error is raised later, by next()

    def seek(self, position: int) -> None:
        """Continue from batch ``position`` (drops a batch made ahead for another position)."""
        self.wait()
        self._future, self._future_k = None, None
        self.position = int(position)

    def close(self) -> None:
        """Stop the worker thread (waits for a batch in flight)."""
        if self._pool is not None:
            self.wait()
            self._pool.shutdown(wait=True)
            self._pool = None
        self._future = None

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass
