"""Process-group helpers for ``torchrun`` (DDP): initialise from the environment, agree on flags, reduce.

Single-process runs need no launcher: without ``WORLD_SIZE`` in the environment :func:`init_distributed`
returns a world of one and every helper becomes a no-op, so a recipe calls the same functions either way.

Example:
    >>> info = init_distributed("cpu")
    >>> info.world_size, info.is_main, any_rank(False)
    (1, True, False)
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from hpskit.core import ConfigError

__all__ = ["DistInfo", "init_distributed", "is_distributed", "any_rank", "any_rank_tensor", "all_reduce_mean",
           "barrier", "broadcast_object", "broadcast_buffers", "all_gather_object", "cleanup_distributed"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job.

    Attributes:
        rank: Global rank.
        world_size: Number of processes.
        local_rank: Rank on this host (the GPU index under torchrun).
        device: The device this process computes on.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Rank 0 (logs, checkpoints, evaluates)."""
        return self.rank == 0


def is_distributed() -> bool:
    """Whether a process group of more than one process is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def init_distributed(device: str = "auto", backend: str | None = None, timeout_s: float = 1800.0) -> DistInfo:
    """Pick the device and, under ``torchrun`` (``WORLD_SIZE`` > 1), join the process group.

    Args:
        device: ``"auto"`` (CUDA if available, else CPU), ``"cpu"`` or ``"cuda"``. Under torchrun each
            process takes GPU ``LOCAL_RANK``.
        backend: ``"nccl"``, ``"gloo"`` or None (NCCL for CUDA, gloo for CPU).
        timeout_s: Collective timeout.

    Returns:
        The :class:`DistInfo` of this process.

    Raises:
        ConfigError: If CUDA is asked for but not available, or there are fewer GPUs than local ranks.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"init_distributed: `device` must be 'auto', 'cpu' or 'cuda'; got {device!r}.")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("init_distributed: device='cuda' but CUDA is not available; use "
                              "runtime.device=cpu.")
        if local >= torch.cuda.device_count():
            raise ConfigError(f"init_distributed: LOCAL_RANK {local} but only {torch.cuda.device_count()} "
                              f"GPU(s); "
                              "start fewer processes per node (torchrun --nproc_per_node).")
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        backend = backend or ("nccl" if dev.type == "cuda" else "gloo")
        kwargs: dict[str, Any] = {"backend": backend, "timeout": datetime.timedelta(seconds=timeout_s)}
        if dev.type == "cuda":
            kwargs["device_id"] = dev
        dist.init_process_group(**kwargs)
        logger.info("rank %d/%d joined the %s process group (device %s)", rank, world, backend, dev)
    return DistInfo(rank=rank, world_size=world, local_rank=local, device=dev)


def _flag_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def any_rank(flag: bool) -> bool:
    """True on every rank if ``flag`` is true on any rank (a MAX all-reduce); the flag itself when alone."""
    if not is_distributed():
        return bool(flag)
    t = torch.tensor([1.0 if flag else 0.0], device=_flag_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def any_rank_tensor(flag: Tensor) -> Tensor:
    """:func:`any_rank` for a flag kept on the device: a MAX all-reduce in place, nothing read on the host.

    Args:
        flag: A float tensor of 0s and 1s (e.g. a 0-dim "this step is bad" flag) on this process's device.

    Returns:
        ``flag`` itself, now the maximum over ranks (unchanged when alone). With NCCL the reduction is queued
        on the current CUDA stream like any kernel; with gloo a CUDA flag goes through the host (a copy).
    """
    if not is_distributed():
        return flag
    if flag.device.type == "cpu" or dist.get_backend() == "nccl":
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return flag
    host = flag.cpu()  # gloo with a CUDA tensor: reduce a host copy
    dist.all_reduce(host, op=dist.ReduceOp.MAX)
    return flag.copy_(host)


def all_reduce_mean(values: dict[str, float]) -> dict[str, float]:
    """Average a dict of numbers over ranks (same keys on every rank); unchanged when alone."""
    if not is_distributed() or not values:
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=_flag_device())
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    t /= dist.get_world_size()
    return dict(zip(keys, t.tolist()))


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (picklable objects); ``obj`` itself when alone."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj``, indexed by rank; ``[obj]`` when alone."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_buffers(module: torch.nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s buffers (e.g. BatchNorm running statistics) into every rank's ``module``.

    DDP broadcasts buffers at the start of each forward, so after the last step every rank still holds the
    statistics of its own last batch; call this before saving or evaluating to make all ranks agree.
    """
    if not is_distributed():
        return
    for buf in module.buffers():
        dist.broadcast(buf.data, src=src)


def barrier() -> None:
    """Wait for every rank (no-op when alone)."""
    if is_distributed():
        dist.barrier()


def cleanup_distributed() -> None:
    """Leave the process group if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
