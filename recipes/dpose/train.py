"""Train D-PoSE: one GPU, several GPUs (``torchrun``), or the CPU.

    python recipes/dpose/train.py --config recipes/dpose/configs/smoke.yaml
    python recipes/dpose/train.py --config recipes/dpose/configs/synthetic.yaml runtime.max_minutes=5
    torchrun --nproc_per_node 8 recipes/dpose/train.py --config recipes/dpose/configs/paper.yaml

A plain PyTorch loop (torchtune-style: ``setup``, ``train``, ``save_checkpoint``,
                      ``cleanup``). Reusable pieces
live in :mod:`hpskit.engine` (training step, evaluation loops, checkpoints), :mod:`hpskit.data` (the resumable
streams) and :mod:`hpskit.render` (panels); ``recipes/dpose/_lib`` holds only the config schema and its
wiring. The run folder
(``output_dir``) receives ``config.yaml`` (the resolved config), ``metrics.jsonl``, ``tb/``, ``panels/``,
``checkpoints/`` and, at the end, ``export/`` (a ``DPoSE.from_pretrained`` folder).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import random
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lib.config import TrainConfig, resolved_loss  # noqa: E402
from _lib.data import build_train_stream, heldout_batches  # noqa: E402

from hpskit.core import ConfigError, HPSKitError  # noqa: E402
from hpskit.data.transforms import unnormalize_imagenet  # noqa: E402
from hpskit.encoders import (  # noqa: E402
    EFFICIENTNET_LITE_VARIANTS,
    kaiming_init_,
    load_coco_hrnet_checkpoint,
    load_efficientnet_lite_imagenet_,
)
from hpskit.engine import (  # noqa: E402
    CheckpointManager,
    GraphedModule,
    GraphedTrainStep,
    NonFiniteGuard,
    ParamSnapshot,
    RunLogger,
    TrainingDivergedError,
    TrainStep,
    all_gather_object,
    all_reduce_mean,
    any_rank,
    any_rank_tensor,
    barrier,
    batch_tensors,
    broadcast_buffers,
    capture_rng_state,
    check_resume_config,
    cleanup_distributed,
    clip_grad_norm_per_group_,
    compile_cache_dir,
    compile_regions,
    config_to_yaml,
    evaluate_heldout,
    forward_loss,
    gpu_memory_gb,
    group_grad_norms,
    init_distributed,
    keep_lr_tensors_,
    load_config,
    make_lr_capturable_,
    module_groups,
    nonfinite_flag,
    portable_optimizer_state,
    portable_scheduler_state,
    restore_rng_state,
    save_config,
    step_unless_bad,
    supports_device_skip,
)
from hpskit.hub import load_weights, load_weights_strict  # noqa: E402
from hpskit.losses import DPoSELoss  # noqa: E402
from hpskit.models import DPoSE  # noqa: E402
from hpskit.render import make_panel  # noqa: E402

logger = logging.getLogger("dpose.train")

_STEP_GRAPH_WARMUP = 3  # eager steps before the whole step is captured (runtime.graph_scope=step)

_BAD = "_bad"  # name of the deferred steps' "skipped on the device" flag (any rank), never logged


def _judged(name: str) -> bool:
    """Whether the guard judges this logged number: the loss, its weighted terms and the gradient norm, not
    the unweighted ``raw/`` terms (a term that is off carries no weight in the loss)."""
    return not name.startswith("raw/")


def _guarded_losses(scalars: dict[str, float]) -> dict[str, float]:
    """The loss terms of a step's numbers that the guard judges (the gradient norm goes to it separately)."""
    return {k: v for k, v in scalars.items() if k != "grad_norm" and _judged(k)}


def _process_age_s() -> float:
    """Seconds since this process started (Linux ``/proc``, 10 ms resolution; NaN where unavailable)."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])  # field 22
        return float(Path("/proc/uptime").read_text().split()[0]) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


class TensorDictOutput(torch.nn.Module):
    """``net`` with its :class:`~hpskit.models.DPoSEOutput` returned as a dict of its tensors."""

    def __init__(self, net: DPoSE):
        super().__init__()
        self.net = net

    def forward(self, images, bbox_info):
        out = self.net(images, bbox_info)
        return {k: v for k, v in vars(out).items() if isinstance(v, torch.Tensor)}


class DPoSETrainRecipe:
    """The training recipe. ``DPoSETrainRecipe(cfg).run()`` does setup → train → export → cleanup."""

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.out_dir = Path(cfg.output_dir)
        self.step = 0
        self.t_created = time.perf_counter()  # startup is measured from here to the end of the first step

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        """Processes and seeds, the run folder, model, loss, optimizer, data, logger, then resume."""
        t0 = time.perf_counter()
        self._init_runtime()
        resume_from, state = self._prepare_run_folder()
        self._build_model()
        self._build_optimizer()
        self._wrap_model()
        self._build_data()
        self.tracker = RunLogger(self.out_dir, enabled=self.main, tensorboard=self.cfg.log.tensorboard,
                                 purge_step=None if state is None else int(state["step"]) + 1)
        self._maybe_resume(state, resume_from)
        self._choose_reading()
        self.t_setup_end = time.perf_counter()
        self.setup_s = self.t_setup_end - t0
        if self.main:
            logger.info("D-PoSE: %s parameters, %d process(es) on %s, global batch %d",
                        f"{self.net.num_parameters():,}", self.dist.world_size, self.device,
                        self.cfg.data.batch_size * self.dist.world_size)

    def _init_runtime(self) -> None:
        """Threads, the process group and device, cuDNN, and the global seeds."""
        rt = self.cfg.runtime
        if rt.threads:
            torch.set_num_threads(rt.threads)
        self.dist = init_distributed(rt.device)
        self.device = self.dist.device
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = rt.cudnn_benchmark
        self.main = self.dist.is_main
        torch.manual_seed(rt.seed)  # same initial weights on every rank (DDP also broadcasts them)
        np.random.seed(rt.seed + self.dist.rank)
        random.seed(rt.seed + self.dist.rank)

    def _prepare_run_folder(self) -> tuple[Path | None, dict | None]:
        """The checkpoint manager, the checkpoint to resume from (its config checked before anything in the
        run folder is rewritten), and the resolved ``config.yaml``."""
        cfg = self.cfg
        self.ckpt = CheckpointManager(self.out_dir / "checkpoints", cfg.checkpoint.keep_last)
        resume_from, state = self._resume_state()
        if state is not None and state.get("config"):  # before anything in the run folder is rewritten
            changed = check_resume_config(state["config"], cfg, source=str(resume_from))
            if changed and self.main:
                logger.info("resuming with changed settings: %s",
                            ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items()))
        if self.main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.out_dir / "config.yaml")
        return resume_from, state

    def _build_model(self) -> None:
        """The network (initialised, on the device), its body and the loss."""
        cfg = self.cfg
        self.net = DPoSE(cfg.model)
        self._init_weights()
        self.net.to(self.device)
        if cfg.runtime.channels_last:
            self.net.to(memory_format=torch.channels_last)
        self.body = self.net.body_model
        if cfg.data.source != "synthetic" and getattr(self.body, "is_standin", False):
            raise ConfigError(f"data.source={cfg.data.source!r} holds SMPL-X labels, but the model body is "
                              f"the "
                              "stand-in (no SMPL-X file found). Register and download SMPL-X, put it in "
                              "$HPSKIT_BODY_MODELS/smplx/SMPLX_NEUTRAL.npz or set model.body_model=<path>.")
        self.loss_weights, options = resolved_loss(cfg.loss)
        self.loss_fn = DPoSELoss(self.loss_weights, preset=cfg.loss.preset, options=options)

    def _build_optimizer(self) -> None:
        """Parameters and module groups, optimizer, LR schedule, (disabled) grad scaler and the NaN guard."""
        cfg = self.cfg
        self.params = [p for p in self.net.parameters() if p.requires_grad]
        self.groups = module_groups(self.net)  # encoder, decoders, attention, regressor (clip / grad stats)
        opt_cls = torch.optim.AdamW if cfg.optim.name == "adamw" else torch.optim.Adam
        # Fused (CUDA and CPU): one kernel per step instead of a kernel per parameter tensor per operation
        # (~1,150 tensors), and it can skip a bad step on the device (`found_inf`, see _train_step). The CPU
        # uses the same implementation so that its tests (bitwise resume, sync_every) cover the GPU's path.
        # optim.fused=false: torch's default implementation (the authors' baseline), read every step.
        self.optimizer = opt_cls(self.params, lr=cfg.optim.lr, betas=tuple(cfg.optim.betas),
                                 eps=cfg.optim.eps, weight_decay=cfg.optim.weight_decay,
                                 fused=True if cfg.optim.fused else None)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.step_graph = cfg.runtime.graph_scope == "step"
        # The whole step in one CUDA graph reads the learning rate from a device tensor that the scheduler
        # fills in place (made after the scheduler, whose base rates stay floats; again after a resume).
        self._lr_tensors = make_lr_capturable_(self.optimizer, self.device) if self.step_graph else []
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=False)  # bf16 needs no loss scaling
        self.guard = NonFiniteGuard(cfg.runtime.max_bad_steps)
        # Read the steps' numbers every `sync_every` steps (skip bad steps on the device), or every step;
        # decided once the optimizer's state (and its `fused` flag) is loaded: `_choose_reading`.
        self.sync_every = cfg.runtime.sync_every or cfg.log.every
        self.defer = False
        self._pending: list[tuple[int, tuple[str, ...], torch.Tensor]] = []  # (step, names, values) to read

    def _choose_reading(self) -> None:
        """``self.defer``: skip bad steps on the device and read every ``sync_every`` steps where the
        optimizer can (fused; a resumed optimizer keeps the saved ``fused`` flag, e.g. from a CPU checkpoint
        of an older version), else read every step."""
        can = supports_device_skip(self.optimizer) and not self.scaler.is_enabled()
        self.defer = self.sync_every > 1 and can
        if self.step_graph and not self.defer:
            raise ConfigError("runtime.graph_scope=step needs a fused optimizer that skips bad steps on the "
                              "device and sync_every > 1 (the resumed optimizer is not fused?); use "
                              "runtime.graph_scope=network")
        if self.sync_every > 1 and not can:
            logger.warning("runtime.sync_every=%d needs an optimizer that skips bad steps on the device "
                           "(fused Adam); reading every step instead", self.sync_every)

    def _wrap_model(self) -> None:
        """``self.model``: the network as the step calls it (compiled blocks, DDP, whole-model
        torch.compile or CUDA-graph replay)."""
        rt, weights = self.cfg.runtime, self.loss_weights
        self.model = self.net
        if self.step_graph and self.dist.world_size > 1:
            raise ConfigError("runtime.graph_scope=step is single-process only; use "
                              "runtime.graph_scope=network (and cuda_graphs=false) under torchrun.")
        self.compiled_regions: list[str] = []
        if rt.compile:
            self._compile_cache()
        if rt.compile and rt.compile_scope == "blocks":
            # In place, before DDP / graphs wrap the network; each block compiles at its first call (for
            # CUDA graphs: in the eager warm-up passes before the capture).
            self.compiled_regions = compile_regions(self.net)
            if self.main:
                logger.info("torch.compile: %d blocks compiled as regions (%s)", len(self.compiled_regions),
                            ", ".join(sorted({type(self.net.get_submodule(n)).__name__
                                              for n in self.compiled_regions})))
        if self.dist.world_size > 1:
            # DDP looks for the output tensors (to find unused parameters) in tuples/lists/dicts only.
            self.model = TensorDictOutput(self.net)
            unused = rt.find_unused_parameters == "true" or (
                rt.find_unused_parameters == "auto" and self.net.depth_decoder is not None
                and weights.depth == 0 and weights.depth_ssim == 0)
            self.model = DistributedDataParallel(self.model, device_ids=[self.device.index]
                                                 if self.device.type == "cuda" else None,
                                                 find_unused_parameters=unused)
        if rt.compile and rt.compile_scope == "model":
            self.model = torch.compile(self.model)
        if rt.cuda_graphs and self.device.type == "cuda" and not self.step_graph:
            if self.dist.world_size > 1:
                raise ConfigError("runtime.cuda_graphs=true is single-process only; switch it off under "
                                  "torchrun.")
            self.model = GraphedModule(self.net, autocast_dtype=torch.bfloat16 if rt.bf16 else None)
        if self.step_graph:  # the whole step (network included) from one graph; eager on the CPU
            self.step_fn = TrainStep(self.model, self.body, self.loss_fn, self.optimizer, self.params,
                                     grad_clip_norm=self.cfg.optim.grad_clip_norm, bf16=rt.bf16,
                                     channels_last=rt.channels_last, gt_hands=self.cfg.loss.gt_hands,
                                     autocast_cache=False)
            self.graphed_step = GraphedTrainStep(self.step_fn.from_tensors, warmup=_STEP_GRAPH_WARMUP,
                                                 enabled=rt.cuda_graphs)

    def _compile_cache(self) -> None:
        """Point inductor's caches at ``runtime.compile_cache`` (``auto``: keep ``$TORCHINDUCTOR_CACHE_DIR``
        when the user set it, else the user cache folder; ``off``: torch's default)."""
        where = self.cfg.runtime.compile_cache
        if where == "off":
            return
        if where == "auto" and os.environ.get("TORCHINDUCTOR_CACHE_DIR"):
            folder = os.environ["TORCHINDUCTOR_CACHE_DIR"]
        else:
            folder = compile_cache_dir(None if where == "auto" else where)
        if self.main:
            logger.info("torch.compile cache: %s", folder)

    def _build_data(self) -> None:
        """This rank's training stream and (rank 0, synthetic source) the held-out batches."""
        cfg, rt = self.cfg, self.cfg.runtime
        self.stream = build_train_stream(cfg.data, self.body, rt.seed, self.dist.rank, self.dist.world_size,
                                         self.device)
        self.heldout = []
        if self.main and cfg.data.source == "synthetic":
            self.heldout = heldout_batches(cfg.data, self.body, cfg.log.eval_samples, cfg.log.eval_batch_size,
                                           self.device)

    def _maybe_resume(self, state: dict | None, resume_from: Path | None) -> None:
        """Load the checkpoint's state, if any; drop logged steps after the position either way."""
        if state is not None:
            self._load_checkpoint(state, resume_from)
        self.tracker.truncate_after(self.step)  # also without a checkpoint: each step is logged once

    def _init_weights(self) -> None:
        init = self.cfg.init
        if init.encoder_init not in ("dpose", "kaiming", "imagenet"):
            raise ConfigError(f"init.encoder_init must be 'dpose', 'kaiming' or 'imagenet'; got "
                              f"{init.encoder_init!r}.")
        if init.encoder_init == "kaiming" and not init.coco_hrnet:
            kaiming_init_(self.net.encoder)
        if init.encoder_init == "imagenet":
            if self.cfg.model.encoder not in EFFICIENTNET_LITE_VARIANTS:
                raise ConfigError(f"init.encoder_init='imagenet' needs an encoder with offline ImageNet "
                                  f"weights ({sorted(EFFICIENTNET_LITE_VARIANTS)}); model.encoder is "
                                  f"{self.cfg.model.encoder!r}.")
            load_efficientnet_lite_imagenet_(self.net.encoder, self.cfg.model.encoder)
        if init.coco_hrnet:
            load_coco_hrnet_checkpoint(self.net.encoder, init.coco_hrnet)
        if init.from_pretrained:
            path = Path(init.from_pretrained)
            if path.is_file():
                state = load_weights(path, "cpu")
            else:  # a save_pretrained folder (sharded or not) or a built-in weight name
                state = DPoSE.from_pretrained(init.from_pretrained, map_location="cpu").state_dict()
            load_weights_strict(self.net, state, source=str(init.from_pretrained))

    def _lr_factor(self, step: int) -> float:
        o, total = self.cfg.optim, self.cfg.runtime.max_steps
        if o.warmup_steps and step < o.warmup_steps:
            return (step + 1) / o.warmup_steps
        if o.scheduler == "cosine":
            t = min(1.0, (step - o.warmup_steps) / max(1, total - o.warmup_steps))
            return o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))
        return 1.0

    # ------------------------------------------------------------------ checkpoints
    def _resume_state(self) -> tuple[Path | None, dict | None]:
        """The checkpoint to resume from and its state (``auto``: the newest readable one)."""
        r = self.cfg.checkpoint.resume
        if r == "never":
            return None, None
        if r == "auto":
            return self.ckpt.load_latest(map_location="cpu")
        return Path(r), CheckpointManager.load(r, map_location="cpu")

    def save_checkpoint(self) -> None:
        """Gather every rank's data position and RNG state; rank 0 writes the checkpoint (the guard's counters
        include every step: pending ones are read first)."""
        self._read_pending()
        broadcast_buffers(self.net)  # every rank holds rank 0's BatchNorm statistics (as DDP's next forward)
        per_rank = all_gather_object({"data": self.stream.state_dict(), "rng": capture_rng_state()})
        if self.main:
            state = {
                "step": self.step, "world_size": self.dist.world_size, "model": self.net.state_dict(),
                # Learning rates as floats (a graphed step holds them in device tensors): loadable by either
                # runtime.graph_scope.
                "optimizer": portable_optimizer_state(self.optimizer.state_dict()),
                "scheduler": portable_scheduler_state(self.scheduler.state_dict()),
                "scaler": self.scaler.state_dict(), "guard": self.guard.state_dict(),
                "ranks": per_rank, "config": config_to_yaml(self.cfg),
            }
            self.ckpt.save(state, self.step)
        barrier()

    def _load_checkpoint(self, state: dict, path: Path) -> None:
        self.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.step_graph:  # the loaded groups hold float learning rates: back into device tensors
            self._lr_tensors = make_lr_capturable_(self.optimizer, self.device)
        self.scaler.load_state_dict(state["scaler"])
        self.guard.load_state_dict(state["guard"])
        self.step = int(state["step"])
        ranks = state["ranks"]
        mine = ranks[self.dist.rank] if len(ranks) == self.dist.world_size else ranks[0]
        if len(ranks) != self.dist.world_size:
            logger.warning("checkpoint from %d process(es), resuming with %d: data streams and RNG restart "
                           "from "
                           "rank 0's position", len(ranks), self.dist.world_size)
        self.stream.load_state_dict(mine["data"])
        self._rng_to_restore = mine["rng"]
        if self.main:
            logger.info("resumed from %s at step %d", path, self.step)

    # ------------------------------------------------------------------ training
    def _train_step(self, batch) -> tuple[bool | None, dict | None, dict]:
        """One step: forward, backward, clip and the guarded optimizer update.

        Returns:
            ``(ok, scalars, extras)``. Read every step (``self.defer`` false): whether the update was taken
            and the step's numbers as host floats. Deferred: ``(None, None, extras)``, nothing read on the
            host; the numbers wait on the device in ``self._pending`` for :meth:`_read_pending`. ``extras``:
            the network output and bodies (:func:`hpskit.engine.forward_loss`).
        """
        if self.step_graph:
            return self._train_step_graphed(batch)
        rt = self.cfg.runtime
        total, terms, extras = forward_loss(self.model, self.body, self.loss_fn, batch, bf16=rt.bf16,
                                            channels_last=rt.channels_last, gt_hands=self.cfg.loss.gt_hands)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()  # always, even if not finite: DDP expects every rank to reduce
        self.scaler.unscale_(self.optimizer)
        clip = self.cfg.optim.grad_clip_norm
        stats = self.cfg.log.grad_stats and (self.step + 1) % self.cfg.log.every == 0
        diag: dict[str, torch.Tensor] = {}
        if stats:
            diag.update({f"grad/{k}": v for k, v in group_grad_norms(self.groups).items()})
        if self.cfg.optim.clip_mode == "per_module" and clip > 0:
            clip_grad_norm_per_group_(self.groups, clip)
            grad_norm = torch.nn.utils.clip_grad_norm_(self.params, float("inf"))
        else:
            grad_norm = torch.nn.utils.clip_grad_norm_(self.params, clip if clip > 0 else float("inf"))
        if stats:
            diag.update({f"grad_clipped/{k}": v for k, v in group_grad_norms(self.groups).items()})
        names = ["loss", *terms, "grad_norm"]
        numbers = torch.stack([total.detach(), *(t.detach() for t in terms.values()), grad_norm.detach()])
        if self.defer:
            self._step_on_device(names, numbers, diag, stats)
            return None, None, extras
        # One device → host copy per step for every number the guard and the log need.
        scalars = dict(zip(names, numbers.float().tolist()))
        losses = _guarded_losses(scalars)
        bad_here = bool(NonFiniteGuard.bad_terms(losses))
        bad_anywhere = any_rank(bad_here)
        verdict = self.guard.check(self.step + 1, losses, scalars["grad_norm"],
                                   force_bad=bad_anywhere and not bad_here)
        if verdict.ok:
            snapshot = ParamSnapshot(self.groups) if stats else None
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            if snapshot is not None:
                diag.update({f"update/{k}": v for k, v in snapshot.relative_update().items()})
        else:
            self.optimizer.zero_grad(set_to_none=True)
        if diag:
            scalars.update(zip(diag, torch.stack(list(diag.values())).float().tolist()))
        return verdict.ok, scalars, extras

    def _train_step_graphed(self, batch) -> tuple[None, None, dict]:
        """``runtime.graph_scope=step``: the whole step (:class:`hpskit.engine.TrainStep`) replayed from one
        CUDA graph (eager for the first steps, on the CPU and for other batch shapes), then the learning-rate
        schedule; its numbers are queued for :meth:`_read_pending` as a deferred step's. ``extras`` hold the
        graph's static outputs (valid until the next step): the panel reads them at once."""
        out = self.graphed_step(*batch_tensors(batch))
        self.scheduler.step()
        keep_lr_tensors_(self.optimizer, self._lr_tensors)
        values = torch.cat([out["numbers"], out["bad"].reshape(1)])  # a copy: the graph overwrites `out`
        self._pending.append((self.step + 1, (*self.step_fn.names, _BAD), values))
        return None, None, {"out": TrainStep.output(out),
                            "pred_body": SimpleNamespace(vertices=out["pred_vertices"])}

    def _step_on_device(self, names: list[str], numbers: torch.Tensor, diag: dict[str, torch.Tensor],
                        stats: bool) -> None:
        """The update of a deferred step: skipped on the device if any judged number (the loss, its weighted
        terms, the gradient norm; ``raw/`` terms are not judged, as on the host) is not finite on any rank;
        the learning-rate schedule steps either way. Queues ``(step, names, values)`` for
        :meth:`_read_pending`: ``values`` (N,) float32 = ``numbers``, the flag, the diagnostics."""
        judged = [i for i, n in enumerate(names) if _judged(n)]
        # A view per judged entry (no index tensor to copy to the device).
        bad = any_rank_tensor(nonfinite_flag(*(numbers[i] for i in judged)))
        snapshot = ParamSnapshot(self.groups) if stats else None
        step_unless_bad(self.optimizer, bad)
        self.scheduler.step()
        if snapshot is not None:
            diag.update({f"update/{k}": v for k, v in snapshot.relative_update().items()})
        values = [numbers.float(), bad.reshape(1)]
        if diag:
            values.append(torch.stack(list(diag.values())).float())
        self._pending.append((self.step + 1, (*names, _BAD, *diag), torch.cat(values)))

    def _read_pending(self) -> None:
        """Copy the deferred steps' numbers to the host (one copy for all), let the guard judge them in step
        order (it may raise :class:`TrainingDivergedError`) and add them to the log window."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        flat = torch.cat([values for _, _, values in pending]).tolist()
        steps, judged, at = [], [], 0
        for step, names, _ in pending:
            scalars = dict(zip(names, flat[at:at + len(names)]))
            at += len(names)
            bad_anywhere = scalars.pop(_BAD) > 0
            if bad_anywhere:  # no update was made: no update size (as when read every step)
                scalars = {k: v for k, v in scalars.items() if not k.startswith("update/")}
            losses = _guarded_losses(scalars)
            bad_here = bool(NonFiniteGuard.bad_terms(losses)) or not math.isfinite(scalars["grad_norm"])
            judged.append((step, losses, scalars["grad_norm"], bad_anywhere and not bad_here))
            steps.append(scalars)
        self.guard.check_many(judged)
        for scalars in steps:
            self._accumulate(scalars)

    def train(self) -> None:
        """Steps until ``runtime.max_steps`` (or the time budget): step, window log, side tasks."""
        rt = self.cfg.runtime
        if hasattr(self, "_rng_to_restore"):
            restore_rng_state(self._rng_to_restore)
        self.model.train()
        bar = self._progress_bar()
        start = time.perf_counter()
        self._reset_window()
        self.stopped_early = False
        first = True
        while self.step < rt.max_steps:
            if self._out_of_time(start):
                break
            batch = self.stream.next()
            _, scalars, extras = self._train_step(batch)
            self.step += 1
            if scalars is not None:  # read at once; else pending on the device until the next read
                self._accumulate(scalars)
            if first:
                self._log_startup()
                first = False
            if bar is not None:
                bar.update(1)
            log_now = self.step % self.cfg.log.every == 0 or self.step == rt.max_steps
            if log_now or self.step % self.sync_every == 0:
                self._read_pending()
            if log_now:
                self._log_window(bar)
            t_side = time.perf_counter()
            self._side_tasks(batch, extras)
            self._t_window += time.perf_counter() - t_side  # panels, evaluation, checkpoints: not throughput
        self._read_pending()  # stopped by the time budget: judge the last steps before finish() checkpoints
        if bar is not None:
            bar.close()
        self.train_seconds = time.perf_counter() - start

    def _log_startup(self) -> None:
        """Log (``kind="startup"``) how long this process took to finish its first training step, compilation
        and CUDA-graph capture included: ``time_to_first_step_s`` from the process start (Python and library
        imports included; Linux only, else NaN), ``startup_s`` from the recipe's creation, its part in
        ``setup()`` (``setup_s``) and the rest (``first_step_s``: from the end of setup to the end of the
        first step). Costs one device synchronisation, once."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        self.startup = {"time_to_first_step_s": _process_age_s(), "startup_s": now - self.t_created,
                        "setup_s": self.setup_s, "first_step_s": now - self.t_setup_end}
        self.tracker.log(self.step, self.startup, kind="startup")
        if self.main:
            logger.info("startup: first step done %.1f s after the process start, %.1f s after the recipe's "
                        "(setup %.1f s, first step %.1f s%s)", self.startup["time_to_first_step_s"],
                        self.startup["startup_s"], self.setup_s, self.startup["first_step_s"],
                        ", compilation included" if self.cfg.runtime.compile else "")

    def _progress_bar(self):
        """A tqdm bar on rank 0 when ``log.progress``, else None."""
        if not (self.main and self.cfg.log.progress):
            return None
        from tqdm import tqdm

        return tqdm(total=self.cfg.runtime.max_steps, initial=self.step, desc="train", unit="step",
                    dynamic_ncols=True)

    def _out_of_time(self, start: float) -> bool:
        """True (on every rank) once any rank has used ``runtime.max_minutes``; sets ``stopped_early``."""
        rt = self.cfg.runtime
        if not (rt.max_minutes > 0 and any_rank(time.perf_counter() - start > 60 * rt.max_minutes)):
            return False
        self.stopped_early = True
        if self.main:
            logger.info("time budget of %.1f min reached at step %d; stopping", rt.max_minutes, self.step)
        return True

    def _reset_window(self) -> None:
        self._window, self._n_window, self._t_window = {}, 0, time.perf_counter()

    def _accumulate(self, scalars: dict) -> None:
        """Add a step's scalars to the window: means over the finite values (NaN if there are none)."""
        for k, v in scalars.items():
            total, count = self._window.get(k, (0.0, 0))
            self._window[k] = (total + v, count + 1) if math.isfinite(v) else (total, count)
        self._n_window += 1

    def _log_window(self, bar) -> None:
        """Log the window's means (averaged over ranks), learning rate, throughput and memory; reset it."""
        global_batch = self.cfg.data.batch_size * self.dist.world_size
        means = all_reduce_mean({k: t / c if c else float("nan") for k, (t, c) in self._window.items()})
        dt = time.perf_counter() - self._t_window
        means.update(lr=float(self.optimizer.param_groups[0]["lr"]),  # a tensor with graph_scope=step
                     images_per_s=self._n_window * global_batch / dt,
                     gpu_mem_gb=gpu_memory_gb(self.device), skipped_total=self.guard.total_skipped,
                     data_position=self.stream.position)
        self.tracker.log(self.step, means, kind="train")
        if bar is not None:
            bar.set_postfix(loss=f"{means.get('loss', float('nan')):.4g}",
                            img_s=f"{means['images_per_s']:.1f}")
        self._reset_window()

    def _side_tasks(self, batch, extras: dict) -> None:
        """Panels, evaluation and checkpoints when their step comes (the last step's are in ``finish``); the
        pending steps are read first, on every rank alike (the side tasks wait for the GPU anyway)."""
        cfg, lg, max_steps = self.cfg, self.cfg.log, self.cfg.runtime.max_steps
        panel = lg.image_every and self.step % lg.image_every == 0
        evaluate = lg.eval_every and self.step % lg.eval_every == 0 and self.step < max_steps
        checkpoint = cfg.checkpoint.every and self.step % cfg.checkpoint.every == 0 and self.step < max_steps
        if panel or evaluate or checkpoint:
            self._read_pending()
        if panel and self.main:
            n = lg.panel_samples
            image = make_panel(unnormalize_imagenet(batch.img[:n].float()), batch, extras["out"],
                               extras["pred_body"].vertices.detach(), self.body.faces, n)
            self.tracker.log_images(self.step, {"train": image})
        if evaluate:
            self.evaluate()
        if checkpoint:
            self.save_checkpoint()

    def evaluate(self) -> dict | None:
        """Held-out synthetic MPJPE / PA-MPJPE / PVE and the mean-pose baseline (rank 0), logged as
        ``eval``."""
        res = None
        if self.main and self.cfg.data.overfit_batches and getattr(self.stream, "pool", None):
            # Overfitting a fixed pool: how well the step fits the very batches it trains on.
            pool = evaluate_heldout(self.net, self.body, self.stream.pool, self.device,
                                    bf16=self.cfg.runtime.bf16, baseline=False)
            self.tracker.log(self.step, pool, kind="eval_pool")
            logger.info("step %d training pool: MPJPE %.1f  PA-MPJPE %.1f  PVE %.1f mm, part mIoU %.3f, "
                        "depth L1 %.4f", self.step, pool["mpjpe"], pool["pa_mpjpe"], pool["pve"],
                        pool.get("part_miou", float("nan")), pool.get("depth_l1", float("nan")))
        if self.main and self.heldout:
            res = evaluate_heldout(self.net, self.body, self.heldout, self.device, bf16=self.cfg.runtime.bf16)
            self.tracker.log(self.step, res, kind="eval")
            logger.info("step %d held-out: MPJPE %.1f  PA-MPJPE %.1f  PVE %.1f mm (mean pose: %.1f / %.1f / "
                        "%.1f), part mIoU %.3f, depth L1 %.4f",
                        self.step, res["mpjpe"], res["pa_mpjpe"], res["pve"], res["baseline_mpjpe"],
                        res["baseline_pa_mpjpe"], res["baseline_pve"], res.get("part_miou", float("nan")),
                        res.get("depth_l1", float("nan")))
        barrier()
        return res

    def finish(self) -> None:
        """Final evaluation, checkpoint and export."""
        self.final_metrics = self.evaluate()
        self.save_checkpoint()
        if self.main and self.cfg.checkpoint.export:
            folder = self.net.save_pretrained(self.out_dir / "export")
            logger.info("exported %s (load with DPoSE.from_pretrained)", folder)
        self.tracker.flush()

    def cleanup(self) -> None:
        if hasattr(self, "tracker"):
            self.tracker.close()
        if hasattr(self, "stream") and hasattr(self.stream, "close"):
            self.stream.close()
        cleanup_distributed()

    def run(self) -> None:
        try:
            self.setup()
            self.train()
            self.finish()
        finally:
            self.cleanup()


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True, help="YAML config (recipes/dpose/configs/*.yaml)")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. optim.lr=1e-4")
    args = p.parse_args(argv)
    return load_config(TrainConfig, args.config, args.overrides)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    try:
        cfg = parse_args(argv)
        DPoSETrainRecipe(cfg).run()
    except TrainingDivergedError as e:
        logger.error("%s", e)
        return 3
    except HPSKitError as e:
        logger.error("%s: %s", type(e).__name__, e)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
