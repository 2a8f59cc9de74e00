"""A CPU stand-in for ``torch.cuda.set_sync_debug_mode("error")``: fail on every read of a tensor's values by
the host, and on every tensor made from host data, inside a block.

On a GPU each of these makes the host wait for the device: a read (``.item()``, ``bool(t)``, ``int(t)``,
``float(t)``, ``.tolist()``, ``.cpu()``, ``.numpy()``, ``if t:``), an op whose output shape depends on the
values (``nonzero``, boolean-mask indexing, ``masked_select``), and a host → device copy of new data
(``torch.tensor([...]).to(cuda)`` or ``torch.tensor(..., device=cuda)``: a copy from pageable memory that
waits for the queued work). On the CPU none of them waits, so the test patches them to raise:

* Python level (``monkeypatch``): ``Tensor.__bool__``, ``__int__``, ``__float__``, ``__index__``, ``.item``,
  ``.tolist``, ``.cpu``, ``.numpy``, ``torch.nonzero`` / ``Tensor.nonzero``;
* ATen level (a ``TorchDispatchMode``, which also sees the backward pass and the calls made inside torch's
  own Python code): ``_local_scalar_dense`` (what every scalar read becomes), ``nonzero``, ``masked_select``,
  ``index`` / ``index_put`` with boolean indices, ``equal``, ``is_nonzero``, and ``lift_fresh`` (a tensor
  made by ``torch.tensor`` from Python data: on a GPU, a host → device copy).

Only data are forbidden: shapes, dtypes and devices are metadata the host has, and reading them is free.
"""

from __future__ import annotations

import contextlib
import traceback

import torch
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["HostRead", "forbid_host_reads"]


class HostRead(AssertionError):
    """A host read (or a host → device copy of new data) inside :func:`forbid_host_reads`."""


_aten = torch.ops.aten
_ALWAYS = {
    _aten._local_scalar_dense.default: "a scalar read (.item(), bool(t), int(t), float(t), if t:)",
    _aten.nonzero.default: "nonzero (an output shape that depends on the values)",
    _aten.masked_select.default: "masked_select (an output shape that depends on the values)",
    _aten.equal.default: "torch.equal (a host bool)",
    _aten.is_nonzero.default: "is_nonzero (a host bool)",
    _aten.lift_fresh.default: "torch.tensor(...) of host data (a host -> device copy on a GPU)",
}
_BOOL_INDEX = {_aten.index.Tensor, _aten.index_put.default, _aten.index_put_.default,
               _aten._index_put_impl_.default}


def _report(message: str, record: list | None) -> None:
    if record is None:
        raise HostRead(f"host read in the step: {message}")
    frames = [f for f in traceback.extract_stack()[:-2] if "_host_reads" not in f.filename]
    record.append((message, frames[-6:]))


class _Forbid(TorchDispatchMode):
    def __init__(self, record: list | None):
        super().__init__()
        self.record = record

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _ALWAYS:
            _report(f"{func} — {_ALWAYS[func]}", self.record)
        if func in _BOOL_INDEX:
            indices = args[1] if len(args) > 1 else kwargs.get("indices", ())
            if any(i is not None and i.dtype in (torch.bool, torch.uint8) for i in indices):
                _report(f"{func} with a boolean mask (an output shape that depends on the values); use "
                        "torch.where or a multiplication", self.record)
        return func(*args, **kwargs)


def _patched(name: str, original, record: list | None):
    def patched(*args, **kwargs):
        _report(name, record)
        return original(*args, **kwargs)
    return patched


@contextlib.contextmanager
def forbid_host_reads(monkeypatch, record: list | None = None):
    """Inside the block, any host read of tensor values raises :class:`HostRead` (see the module docstring).

    Args:
        monkeypatch: pytest's fixture (the Python-level patches are undone when the block ends).
        record: A list: instead of raising, append ``(what, last stack frames)`` for every read and go on
            (to list all the reads of a piece of code at once).
    """
    with monkeypatch.context() as mp:
        for name in ("__bool__", "__int__", "__float__", "__index__", "item", "tolist", "cpu", "numpy",
                     "nonzero"):
            mp.setattr(torch.Tensor, name, _patched(f"Tensor.{name}", getattr(torch.Tensor, name), record))
        mp.setattr(torch, "nonzero", _patched("torch.nonzero", torch.nonzero, record))
        with _Forbid(record):
            yield
