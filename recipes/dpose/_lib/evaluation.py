"""The evaluation recipe's config (``EvalConfig``) and wiring: load the network, build the dataset, call
the evaluation loops of :mod:`hpskit.engine.evaluation` (3DPW / EMDB under the paper's or the official EMDB
protocol; the held-out synthetic split), and format the table.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hpskit.body import load_smplx2smpl, resolve_smplx_path
from hpskit.data import EMDB, CropConfig, EMDBNpz, ThreeDPW, ThreeDPWNpz
from hpskit.engine import check_sample_count, evaluate_heldout
from hpskit.engine import evaluate_smpl_dataset as evaluate_smpl
from hpskit.metrics import PROTOCOLS
from hpskit.models import DPoSE

from .config import DataConfig, TrainConfig
from .data import heldout_batches

__all__ = ["EvalConfig", "load_network", "build_smpl_dataset", "check_sample_count", "evaluate_smpl_dataset",
           "evaluate_synthetic", "format_table"]

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class EvalConfig:
    """What ``recipes/dpose/eval.py`` evaluates (the ``configs/eval_*.yaml`` files mirror it).

    Attributes:
        model: A ``save_pretrained`` folder (``<run>/export``) or a training checkpoint (``step_*.pt``).
        dataset: ``"3dpw"``, ``"emdb"`` or ``"synthetic"`` (the held-out split, stand-in body).
        protocol: ``"dpose_h36m14"`` (the paper) or ``"smpl24_hips"`` (official EMDB); 3DPW/EMDB only.
        format: ``"npz"`` (the authors' parsed files) or ``"raw"`` (the datasets' own release files).
        body_models: Root of ``smplx/``, ``smpl/`` and ``utils/`` (None: ``$HPSKIT_BODY_MODELS``,
                                                                   then the user
            data dir). 3DPW/EMDB need the real SMPL-X and SMPL files and ``utils/smplx2smpl.pkl`` (+
            ``utils/J_regressor_h36m.npy`` for ``dpose_h36m14``).
        npz: The parsed npz (``3dpw_test.npz`` / ``emdb_for_hmr2.npz``) for ``format="npz"``.
        root: Image root of the npz's ``imgname`` entries, or the dataset root for ``format="raw"``.
        split: 3DPW split (raw format).
        res: Crop resolution the model was trained at.
        batch_size: Samples per forward.
        num_workers: DataLoader workers.
        device: ``"auto"``, ``"cuda"`` or ``"cpu"``.
        bf16: bf16 autocast for the network.
        output: JSON file of the results.
        progress: Show a progress bar.
        samples: Held-out synthetic samples (``dataset="synthetic"``).
        synthetic: Data settings of the held-out synthetic split (``res`` is taken from ``res``).
        expected_samples: Samples the protocol scores (3DPW/EMDB). When set, a dataset that yields another
            number (e.g. a deleted sequence file) is an error instead of a silently smaller benchmark.
    """

    model: str = ""
    dataset: str = "3dpw"
    protocol: str = "dpose_h36m14"
    format: str = "npz"
    body_models: str | None = None
    npz: str | None = None
    root: str | None = None
    split: str = "test"
    res: int = 224
    batch_size: int = 64
    num_workers: int = 4
    device: str = "auto"
    bf16: bool = False
    output: str = "eval_results.json"
    progress: bool = True
    samples: int = 1024
    synthetic: DataConfig = field(default_factory=DataConfig)
    expected_samples: int | None = None

    def validate(self) -> list[str]:
        p = []
        if not self.model:
            p.append("model is required: a save_pretrained folder (<run>/export) or a step_*.pt checkpoint")
        if self.dataset not in ("3dpw", "emdb", "synthetic"):
            p.append(f"dataset must be '3dpw', 'emdb' or 'synthetic'; got {self.dataset!r}")
        if self.protocol not in PROTOCOLS:
            p.append(f"protocol must be one of {sorted(PROTOCOLS)}; got {self.protocol!r}")
        if self.format not in ("npz", "raw"):
            p.append(f"format must be 'npz' or 'raw'; got {self.format!r}")
        if self.dataset != "synthetic":
            if self.format == "npz" and not self.npz:
                p.append(f"dataset={self.dataset!r} with format='npz' needs npz (the parsed evaluation file)")
            if not self.root:
                p.append(f"dataset={self.dataset!r} needs root (the image folder / dataset root)")
        if self.batch_size < 1 or self.samples < 1:
            p.append("batch_size and samples must be ≥ 1")
        return p


def load_network(path: str | Path, body_model: str | None = None) -> DPoSE:
    """A network from a ``save_pretrained`` folder or a training checkpoint, in eval mode on the CPU.

    Args:
        path: The folder or ``.pt`` file.
        body_model: Replace the body model of its config (e.g. the real SMPL-X file); None keeps it.
    """
    path = Path(path)
    over = {} if body_model is None else {"body_model": body_model}
    if path.is_dir():
        return DPoSE.from_pretrained(path, **over)
    import yaml

    from hpskit.engine import CheckpointManager, load_config

    state = CheckpointManager.load(path)
    cfg = load_config(TrainConfig, extra=yaml.safe_load(state["config"]))
    mcfg = dataclasses.replace(cfg.model, **over)
    net = DPoSE(mcfg)
    net.load_state_dict(state["model"])
    return net.eval()


def build_smpl_dataset(cfg: EvalConfig, crop_mode: str = "exact"):
    crop = CropConfig(res=cfg.res, mode=crop_mode)
    if cfg.dataset == "3dpw":
        return ThreeDPWNpz(cfg.npz, cfg.root, crop=crop) if cfg.format == "npz" else \
            ThreeDPW(cfg.root, cfg.split, crop=crop, focal="diagonal")
    return EMDBNpz(cfg.npz, cfg.root, crop=crop) if cfg.format == "npz" else \
        EMDB(cfg.root, "emdb1", crop=crop, focal="diagonal")


@torch.no_grad()
def evaluate_smpl_dataset(cfg: EvalConfig, device: torch.device, progress=None) -> dict:
    """Score a network on 3DPW or EMDB under ``cfg.protocol`` (:func:`hpskit.engine.evaluate_smpl_dataset`).

    Returns:
        ``MetricAccumulator.summary()`` in mm plus ``dataset``, ``protocol`` and ``model``.

    Raises:
        MissingFileError: If a licence-gated body file, the mapping, the regressor or a dataset file is
            missing.
    """
    smplx_file = resolve_smplx_path(cfg.body_models, "neutral")
    M = load_smplx2smpl(cfg.body_models).to(device)
    net = load_network(cfg.model, body_model=str(smplx_file)).to(device)
    ds = build_smpl_dataset(cfg, crop_mode=getattr(net.config, "crop_mode", "exact"))  # as the weights want
    check_sample_count(ds, cfg.expected_samples)
    summary = evaluate_smpl(net, ds, M, cfg.body_models, cfg.protocol, device, batch_size=cfg.batch_size,
                            num_workers=cfg.num_workers, bf16=cfg.bf16, progress=progress)
    return {"dataset": cfg.dataset, "protocol": cfg.protocol, "model": str(cfg.model), "unit": "mm",
            "expected_samples": cfg.expected_samples, "records": int(getattr(ds, "num_records", len(ds))),
            **summary}


def evaluate_synthetic(cfg: EvalConfig, device: torch.device, progress=None) -> dict:
    """The held-out synthetic split with the model's own body (SMPL-X joints 0–23 and vertices,
    pelvis-aligned)."""
    net = load_network(cfg.model).to(device)
    data = DataConfig(**{**cfg.synthetic.__dict__, "res": cfg.res})
    batches = heldout_batches(data, net.body_model, cfg.samples, cfg.batch_size, device)
    res = evaluate_heldout(net, net.body_model, batches, device, bf16=cfg.bf16, progress=progress)
    count = int(res.pop("count"))
    total = {k: v for k, v in res.items() if not k.startswith("baseline_")}
    return {"dataset": "synthetic", "protocol": "smplx24_pelvis", "model": str(cfg.model), "unit": "mm",
            "count": count, "total": total, "per_sequence": {"synthetic": {**total, "count": count}},
            "baseline_mean_pose": {k[len("baseline_"):]: v for k,
                                   v in res.items() if k.startswith("baseline_")}}


def format_table(result: dict) -> str:
    """A markdown table: one row per sequence, then the total."""
    names = list(result["total"])
    head = "| sequence | N | " + " | ".join(f"{n} (mm)" for n in names) + " |"
    rows = [head, "|" + "---|" * (len(names) + 2)]
    for seq, r in result.get("per_sequence", {}).items():
        rows.append(f"| {seq or '-'} | {r['count']} | " + " | ".join(f"{r[n]:.1f}" for n in names) + " |")
    rows.append(f"| **total** | {result['count']} | " + " | "
                "".join(f"**{result['total'][n]:.1f}**" for n in names)
                + " |")
    if "baseline_mean_pose" in result:
        b = result["baseline_mean_pose"]
        rows.append("| mean pose (baseline) | " + f"{result['count']} | " + " | ".join(
            f"{b.get(n, float('nan')):.1f}" for n in names) + " |")
    return "\n".join(rows)

