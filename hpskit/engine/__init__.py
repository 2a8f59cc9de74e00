"""Training-loop utilities shared by the recipes: typed configs, checkpoints with exact resume, DDP helpers,
the NaN/inf guard, CUDA-graph replay of a network's training step or of the whole step
(:class:`GraphedTrainStep`), regional ``torch.compile`` of repeated
blocks with a persistent compile cache, a resumable distributed sampler, run
logging, the training step of D-PoSE (:mod:`~hpskit.engine.steps`: network → body → loss) and its evaluation
loops (:mod:`~hpskit.engine.evaluation`: 3DPW / EMDB and the held-out synthetic split).

The recipes (``recipes/dpose/train.py``) stay plain PyTorch loops; these are the pieces worth reusing.
"""

from .checkpoint import (
    CheckpointManager,
    atomic_torch_save,
    atomic_write_bytes,
    capture_rng_state,
    restore_rng_state,
)
from .compile import compile_cache_dir, compile_regions, default_compile_cache_dir, find_repeated_blocks
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
    any_rank_tensor,
    barrier,
    broadcast_buffers,
    broadcast_object,
    cleanup_distributed,
    init_distributed,
    is_distributed,
)
from .evaluation import check_sample_count, evaluate_heldout, evaluate_smpl_dataset
from .graphs import GraphedModule
from .guard import (
    NonFiniteGuard,
    StepVerdict,
    TrainingDivergedError,
    nonfinite_flag,
    step_unless_bad,
    supports_device_skip,
)
from .sampler import ResumableDistributedSampler
from .step_graph import (
    GraphedTrainStep,
    StepCaptureError,
    keep_lr_tensors_,
    make_lr_capturable_,
    portable_optimizer_state,
    portable_scheduler_state,
)
from .steps import GT_HANDS, TrainStep, autocast, batch_from_tensors, batch_tensors, forward_loss, train_step
from .tracking import RunLogger, Throughput, gpu_memory_gb, read_jsonl

__all__ = [
    "CheckpointManager",
    "DistInfo",
    "GT_HANDS",
    "GraphedModule",
    "GraphedTrainStep",
    "NonFiniteGuard",
    "ParamSnapshot",
    "ResumableDistributedSampler",
    "RunLogger",
    "StepCaptureError",
    "StepVerdict",
    "Throughput",
    "TrainStep",
    "TrainingDivergedError",
    "all_gather_object",
    "all_reduce_mean",
    "any_rank",
    "any_rank_tensor",
    "atomic_torch_save",
    "autocast",
    "batch_from_tensors",
    "batch_tensors",
    "atomic_write_bytes",
    "barrier",
    "broadcast_buffers",
    "broadcast_object",
    "check_sample_count",
    "capture_rng_state",
    "check_resume_config",
    "cleanup_distributed",
    "clip_grad_norm_per_group_",
    "compile_cache_dir",
    "compile_regions",
    "config_diff",
    "config_to_yaml",
    "default_compile_cache_dir",
    "evaluate_heldout",
    "evaluate_smpl_dataset",
    "find_repeated_blocks",
    "forward_loss",
    "gpu_memory_gb",
    "group_grad_norms",
    "init_distributed",
    "is_distributed",
    "keep_lr_tensors_",
    "load_config",
    "make_lr_capturable_",
    "module_groups",
    "nonfinite_flag",
    "parse_overrides",
    "portable_optimizer_state",
    "portable_scheduler_state",
    "read_jsonl",
    "restore_rng_state",
    "save_config",
    "step_unless_bad",
    "supports_device_skip",
    "train_step",
]
