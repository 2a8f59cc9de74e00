"""Training-loop utilities shared by the recipes: typed configs, checkpoints with exact resume, DDP helpers,
the NaN/inf guard, CUDA-graph replay of a network's training step, a resumable distributed sampler, and run
logging.

The recipes (``recipes/dpose/train.py``) stay plain PyTorch loops; these are the pieces worth reusing.
"""

from .checkpoint import (
    CheckpointManager,
    atomic_torch_save,
    atomic_write_bytes,
    capture_rng_state,
    restore_rng_state,
)
from .config import (
    check_resume_config,
    config_diff,
    config_to_yaml,
    load_config,
    parse_overrides,
    save_config,
)
from .diagnostics import ParamSnapshot, clip_grad_norm_per_group_, group_grad_norms, module_groups
from .distributed import (
    DistInfo,
    all_gather_object,
    all_reduce_mean,
    any_rank,
    barrier,
    broadcast_buffers,
    broadcast_object,
    cleanup_distributed,
    init_distributed,
    is_distributed,
)
from .graphs import GraphedModule
from .guard import NonFiniteGuard, StepVerdict, TrainingDivergedError
from .sampler import ResumableDistributedSampler
from .tracking import RunLogger, Throughput, gpu_memory_gb, read_jsonl

__all__ = [
    "CheckpointManager",
    "DistInfo",
    "GraphedModule",
    "NonFiniteGuard",
    "ParamSnapshot",
    "ResumableDistributedSampler",
    "RunLogger",
    "StepVerdict",
    "Throughput",
    "TrainingDivergedError",
    "all_gather_object",
    "all_reduce_mean",
    "any_rank",
    "atomic_torch_save",
    "atomic_write_bytes",
    "barrier",
    "broadcast_buffers",
    "broadcast_object",
    "capture_rng_state",
    "check_resume_config",
    "cleanup_distributed",
    "clip_grad_norm_per_group_",
    "config_diff",
    "config_to_yaml",
    "gpu_memory_gb",
    "group_grad_norms",
    "init_distributed",
    "is_distributed",
    "load_config",
    "module_groups",
    "parse_overrides",
    "read_jsonl",
    "restore_rng_state",
    "save_config",
]
