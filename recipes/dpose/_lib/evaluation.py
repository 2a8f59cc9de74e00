"""Evaluation of a trained D-PoSE: the paper's 3DPW / EMDB protocol (formats.md §7), the official EMDB
protocol, and the held-out synthetic split.

3DPW / EMDB: the network's SMPL-X vertices (neutral, 11 betas, flat hands, no translation) become SMPL
vertices through the 6890×10475 ``smplx2smpl`` matrix; the ground truth is the gendered SMPL mesh of the
sample's pose and betas. Protocol ``dpose_h36m14`` (the paper): 14 LSP joints from the H36M regressor,
each body aligned by its H36M pelvis. Protocol ``smpl24_hips`` (official EMDB): 24 SMPL joints, the
neutral SMPL regressor for the prediction and the gendered one for the ground truth, hip-midpoint
alignment. Every sample is scored (no dropped partial batch).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hpskit.body import (
    SMPLBody,
    load_h36m_regressor,
    load_smplx2smpl,
    resolve_smplx_path,
    smplx_to_smpl_vertices,
)
from hpskit.core import MissingFileError
from hpskit.data import EMDB, CropConfig, EMDBNpz, ThreeDPW, ThreeDPWNpz, collate_samples
from hpskit.metrics import PROTOCOLS, MetricAccumulator, smpl_mesh_errors, to_mm
from hpskit.models import DPoSE

from .config import DataConfig, TrainConfig
from .steps import autocast, evaluate_heldout

__all__ = ["EvalConfig", "load_network", "sequence_names", "build_smpl_dataset", "evaluate_smpl_dataset",
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


def sequence_names(ds, indices) -> list[str]:
    """Sequence name of each sample index of a 3DPW / EMDB dataset.

    The datasets keep this in their record tables (``_imgname``, ``_rec``), not in the samples; this
    reads them (hpskit.data has no public accessor yet).
    """
    out = []
    for j in (int(i) for i in indices):
        r = int(ds._rows[j])
        if hasattr(ds, "_imgname"):  # parsed npz: imageFiles/<seq>/... (3DPW) or P<k>/<seq>/... (EMDB)
            parts = Path(ds._imgname[r]).parts
            if len(parts) < 3:
                out.append(parts[0])
            elif parts[0].startswith("P") and parts[0][1:].isdigit():
                out.append(f"{parts[0]}_{parts[1]}")  # EMDB's own sequence name, e.g. P0_09_outdoor_walk
            else:
                out.append(parts[1])
        else:
            out.append(str(ds.sequences[int(ds._rec["seq"][r])]["name"]))
    return out


def build_smpl_dataset(cfg: EvalConfig, crop_mode: str = "exact"):
    crop = CropConfig(res=cfg.res, mode=crop_mode)
    if cfg.dataset == "3dpw":
        return ThreeDPWNpz(cfg.npz, cfg.root, crop=crop) if cfg.format == "npz" else \
            ThreeDPW(cfg.root, cfg.split, crop=crop, focal="diagonal")
    return EMDBNpz(cfg.npz, cfg.root, crop=crop) if cfg.format == "npz" else \
        EMDB(cfg.root, "emdb1", crop=crop, focal="diagonal")


@torch.no_grad()
def evaluate_smpl_dataset(cfg: EvalConfig, device: torch.device, progress=None) -> dict:
    """Score a network on 3DPW or EMDB under ``cfg.protocol`` (see the module docstring).

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
    genders = sorted({"male", "female", "neutral"} if cfg.protocol == "smpl24_hips" else {"male", "female"})
    smpl = {g: SMPLBody(cfg.body_models, gender=g).to(device) for g in genders}
    if cfg.protocol == "dpose_h36m14":
        pred_reg = load_h36m_regressor(cfg.body_models).to(device)
        gt_reg = {g: pred_reg for g in genders}
    else:
        pred_reg = smpl["neutral"].J_regressor
        gt_reg = {g: smpl[g].J_regressor for g in genders}
    loader = torch.utils.data.DataLoader(ds, batch_size=cfg.batch_size, shuffle=False, drop_last=False,
                                         num_workers=cfg.num_workers, collate_fn=collate_samples)
    acc = MetricAccumulator()
    for batch in (progress(loader) if progress else loader):
        batch = batch.to(device)
        with autocast(device, cfg.bf16):
            out = net(batch.img, batch.bbox_info)
        v_pred = smplx_to_smpl_vertices(net.body(out).vertices.float(), M)
        errs = {}
        for g in sorted(set(batch.gender)):
            idx = torch.tensor([i for i, x in enumerate(batch.gender) if x == g], device=device)
            body = smpl.get(g, smpl["female"])  # the authors: anything but 'male' is female
            gt = body(batch.smpl_pose_rotmat[idx], batch.betas[idx, :10]).vertices
            e = smpl_mesh_errors(v_pred[idx], gt, pred_reg, cfg.protocol, gt_regressor=gt_reg.get(g,
                                                                                                  gt_reg["female"]))
            for k, v in e.items():
                errs.setdefault(k, torch.zeros(len(batch), device=device))[idx] = to_mm(v)
        acc.update(errs, sequences=sequence_names(ds, batch.index.tolist()))
    if len(acc) != len(ds):
        raise RuntimeError(f"evaluation scored {len(acc)} of {len(ds)} samples")  # pragma: no cover
    return {"dataset": cfg.dataset, "protocol": cfg.protocol, "model": str(cfg.model), "unit": "mm",
            "expected_samples": cfg.expected_samples, "records": int(getattr(ds, "num_records", len(ds))),
            **acc.summary()}


def check_sample_count(ds, expected: int | None) -> None:
    """Log how many samples will be scored out of how many the protocol expects; refuse a mismatch.

    Raises:
        MissingFileError: If ``expected`` is set and the dataset yields another number of samples.
    """
    n = len(ds)
    left_out = ", ".join(f"{k}: {v}" for k, v in sorted(getattr(ds, "skipped", {}).items())) or "none"
    seqs = f", {len(ds.sequences)} sequence files" if hasattr(ds, "sequences") else ""
    if expected is None:
        logger.info("%s: scoring %d samples (%d records%s; left out: %s); set expected_samples to check the "
                    "protocol's count", ds.name, n, getattr(ds, "num_records", n), seqs, left_out)
        return
    if n != expected:
        raise MissingFileError(f"{ds.name}: the protocol expects {expected} samples but the dataset yields "
                               f"{n} ({getattr(ds, 'num_records', n)} records{seqs}; left out: "
                               f"{left_out}). A sequence or label file is missing or damaged; evaluation "
                               "refused rather than scoring a smaller benchmark.")
    logger.info("%s: scoring %d of the %d samples the protocol expects", ds.name, n, expected)


def evaluate_synthetic(cfg: EvalConfig, device: torch.device, progress=None) -> dict:
    """The held-out synthetic split with the model's own body (SMPL-X joints 0–23 and vertices,
    pelvis-aligned)."""
    from .data import heldout_batches

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

