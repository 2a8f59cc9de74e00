"""Evaluation loops of a trained D-PoSE network: 3DPW / EMDB on SMPL meshes (docs/formats.md §7) and the
held-out synthetic split (``smplx24_pelvis``).

3DPW / EMDB (:func:`evaluate_smpl_dataset`): the network's SMPL-X vertices (neutral, 11 betas, flat hands,
no translation) become SMPL vertices through the 6890×10475 ``smplx2smpl`` matrix; the ground truth is the
gendered SMPL mesh of the sample's pose and betas. Protocol ``dpose_h36m14`` (the paper): 14 LSP joints
from the H36M regressor, each body aligned by its H36M pelvis. Protocol ``smpl24_hips`` (official EMDB): 24
SMPL joints, the neutral SMPL regressor for the prediction and the gendered one for the ground truth,
hip-midpoint alignment. Every sample is scored (no dropped partial batch).

Held-out synthetic (:func:`evaluate_heldout`): SMPL-X joints 0–23 and vertices, pelvis-aligned, against the
rendered ground truth, plus the mean-pose baseline and the dense outputs (part mIoU, depth L1).
"""

from __future__ import annotations

import logging
import os

import torch
from torch import Tensor

from hpskit.body import SMPLBody, load_h36m_regressor, smplx_to_smpl_vertices
from hpskit.core import MissingFileError
from hpskit.data import Batch, collate_samples
from hpskit.metrics import (
    MetricAccumulator,
    depth_foreground_l1,
    mean_iou,
    part_confusion,
    smpl_mesh_errors,
    smplx24_pelvis_errors,
    to_mm,
)

from .steps import autocast

__all__ = ["check_sample_count", "evaluate_smpl_dataset", "evaluate_heldout"]

logger = logging.getLogger(__name__)


def check_sample_count(ds, expected: int | None) -> None:
    """Log how many samples will be scored out of how many the protocol expects; refuse a mismatch.

    Args:
        ds: A dataset (:class:`hpskit.data.RealDataset`: ``name``, ``skipped``, ``num_records``).
        expected: Samples the protocol scores, or None (only log).

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


@torch.no_grad()
def evaluate_smpl_dataset(net, ds, smplx2smpl: Tensor, body_models: str | os.PathLike | None, protocol: str,
                          device: torch.device, *, batch_size: int = 64, num_workers: int = 0,
                          bf16: bool = False, progress=None) -> dict:
    """Score a network on a 3DPW or EMDB dataset under ``protocol`` (see the module docstring).

    Args:
        net: The network on ``device`` (``net(img, bbox_info)`` and ``net.body(out)``), in eval mode.
        ds: The dataset (:class:`hpskit.data.ThreeDPW`, ``ThreeDPWNpz``, ``EMDB``, ``EMDBNpz``); its
            ``sequence_name`` groups the scores.
        smplx2smpl: The (6890, 10475) SMPL-X → SMPL vertex matrix on ``device``.
        body_models: Root of ``smpl/`` and ``utils/`` (None: ``$HPSKIT_BODY_MODELS``, then the user data dir).
        protocol: ``"dpose_h36m14"`` or ``"smpl24_hips"``.
        device: Compute device.
        batch_size: Samples per forward.
        num_workers: DataLoader workers.
        bf16: Autocast the network.
        progress: Optional callable wrapping the batch iterable (e.g. tqdm).

    Returns:
        ``MetricAccumulator.summary()`` in mm.

    Raises:
        MissingFileError: If a licence-gated SMPL file or the H36M regressor is missing.
    """
    genders = sorted({"male", "female", "neutral"} if protocol == "smpl24_hips" else {"male", "female"})
    smpl = {g: SMPLBody(body_models, gender=g).to(device) for g in genders}
    if protocol == "dpose_h36m14":
        pred_reg = load_h36m_regressor(body_models).to(device)
        gt_reg = {g: pred_reg for g in genders}
    else:
        pred_reg = smpl["neutral"].J_regressor
        gt_reg = {g: smpl[g].J_regressor for g in genders}
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=False, drop_last=False,
                                         num_workers=num_workers, collate_fn=collate_samples)
    acc = MetricAccumulator()
    for batch in (progress(loader) if progress else loader):
        batch = batch.to(device)
        with autocast(device, bf16):
            out = net(batch.img, batch.bbox_info)
        v_pred = smplx_to_smpl_vertices(net.body(out).vertices.float(), smplx2smpl)
        errs = {}
        for g in sorted(set(batch.gender)):
            idx = torch.tensor([i for i, x in enumerate(batch.gender) if x == g], device=device)
            body = smpl.get(g, smpl["female"])  # the authors: anything but 'male' is female
            gt = body(batch.smpl_pose_rotmat[idx], batch.betas[idx, :10]).vertices
            e = smpl_mesh_errors(v_pred[idx], gt, pred_reg, protocol,
                                 gt_regressor=gt_reg.get(g, gt_reg["female"]))
            for k, v in e.items():
                errs.setdefault(k, torch.zeros(len(batch), device=device))[idx] = to_mm(v)
        acc.update(errs, sequences=[ds.sequence_name(i) for i in batch.index.tolist()])
    if len(acc) != len(ds):
        raise RuntimeError(f"evaluation scored {len(acc)} of {len(ds)} samples")  # pragma: no cover
    return acc.summary()


def _gt_body(body, batch: Batch) -> tuple[Tensor, Tensor]:
    """The rendered ground truth in the body frame: camera-frame joints/vertices minus the translation
    (falls back to posing the body with the GT parameters when the batch has no vertices)."""
    if batch.vertices is not None and bool(batch.has_vertices.all()) and bool(batch.has_transl.all()):
        t = batch.transl[:, None]
        return batch.joints3d - t, batch.vertices - t
    out = body.forward_pose(batch.pose_rotmat.float(), batch.betas.float())
    return out.joints, out.vertices


def _mm(errors: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: to_mm(v) for k, v in errors.items()}


@torch.no_grad()
def evaluate_heldout(net, body, batches: list[Batch], device: torch.device, *, bf16: bool = False,
                     baseline: bool = True, progress=None) -> dict[str, float]:
    """Score the network (and the mean-pose baseline) on held-out synthetic batches (``smplx24_pelvis``).

    Args:
        net: The unwrapped network (evaluated in eval mode; its mode is restored); the baseline is its
            regressor's :meth:`~hpskit.heads.DPoSERegressor.initial_prediction`.
        body: The SMPL-X body.
        batches: Held-out batches (any device; moved to ``device``).
        device: Compute device.
        bf16: Autocast the network.
        baseline: Also score the mean pose (keys ``baseline_<metric>``).
        progress: Optional callable wrapping the batch iterable (e.g. tqdm).

    Returns:
        Means over every sample, in mm: ``mpjpe``, ``pa_mpjpe``, ``pve`` (and ``baseline_*``), plus ``count``;
        for the dense outputs ``part_miou`` (23 classes incl. background, over every pixel of the set),
        ``part_miou_body`` (the 22 body parts) and ``depth_l1`` (mean absolute error of the normalised depth
        on the ground-truth foreground; ``baseline_depth_l1``: a constant map at the set's mean foreground
        depth).
    """
    was_training = net.training
    net.eval()
    acc, base = MetricAccumulator(), MetricAccumulator()
    inter = union = None
    depth_err, gt_depths = [], []
    try:
        for batch in (progress(batches) if progress else batches):
            batch = batch.to(device)
            with autocast(device, bf16):
                out = net(batch.img, batch.bbox_info)
            pred = body.forward_pose(out.pose_rotmat.float(), out.betas.float())
            gj, gv = _gt_body(body, batch)
            acc.update(_mm(smplx24_pelvis_errors(pred.joints, pred.vertices, gj, gv)))
            if out.part_logits is not None and batch.parts is not None:
                i, u = part_confusion(out.part_logits.argmax(1), batch.parts, out.part_logits.shape[1])
                inter, union = (i, u) if inter is None else (inter + i, union + u)
            if out.depth is not None and batch.depth is not None:
                depth_err.append(depth_foreground_l1(out.depth.float(), batch.depth.float()))
                gt_depths.append(batch.depth.float().cpu())
            if baseline:
                pose0, betas0 = net.regressor.initial_prediction(len(batch))
                b0 = body.forward_pose(pose0.float(), betas0.float())
                base.update(_mm(smplx24_pelvis_errors(b0.joints, b0.vertices, gj, gv)))
    finally:
        net.train(was_training)
    res = dict(acc.total())
    if baseline:
        res.update({f"baseline_{k}": v for k, v in base.total().items()})
    if inter is not None:
        res["part_miou"] = mean_iou(inter, union)
        res["part_miou_body"] = mean_iou(inter, union, slice(1, None))
    if depth_err:
        res["depth_l1"] = float(torch.cat(depth_err).nanmean())
        gt = torch.cat(gt_depths)
        const = gt[gt > 0].mean()
        res["baseline_depth_l1"] = float(depth_foreground_l1(torch.where(gt > 0, const, 0.0), gt).nanmean())
    res["count"] = len(acc)
    return res
