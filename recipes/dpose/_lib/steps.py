"""One training forward (network → body → losses), the held-out synthetic evaluation, and the mean-pose
baseline.

Targets follow the authors (docs/authors-code.md (g)): the 3D joint and vertex targets come from posing the
training body with the ground-truth pose and betas (flat hands by default, or smplx's relaxed mean hands as
the authors' training does: ``gt_hands="authors"``; no translation), the same body the prediction is posed
with; 2D keypoints are full-image pixels; depth and part maps come with the batch.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor

from hpskit.data import Batch
from hpskit.geometry import rot6d_to_rotmat
from hpskit.losses import DPoSELoss, LossInputs, LossTargets
from hpskit.metrics import (
    MetricAccumulator,
    align_root,
    depth_foreground_l1,
    mean_iou,
    mpjpe,
    pa_mpjpe,
    part_confusion,
    pve,
    root_from_joints,
    to_mm,
)
from hpskit.models import DPoSEOutput

__all__ = ["NUM_EVAL_JOINTS", "autocast", "forward_loss", "synthetic_errors", "mean_pose_outputs",
           "evaluate_heldout"]

#: SMPL-X joints scored on the synthetic split (0–21 body, 22 jaw, 23 left eye: the supervised set).
NUM_EVAL_JOINTS = 24


def autocast(device: torch.device, bf16: bool):
    """bf16 autocast on ``device`` when asked, else a no-op context."""
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _f32(x: Tensor | None) -> Tensor | None:
    return None if x is None else x.float()


def forward_loss(model, body, loss_fn: DPoSELoss, batch: Batch, *, bf16: bool = False,
                 channels_last: bool = False, gt_hands: str = "flat"
                 ) -> tuple[Tensor, dict[str, Tensor], dict]:
    """Network forward, body model and loss for one batch.

    Args:
        model: The (possibly DDP-wrapped / compiled) D-PoSE network.
        body: The SMPL-X body (``model.body_model`` of the unwrapped network).
        loss_fn: The objective.
        batch: A batch on the model's device.
        bf16: Run the network under bf16 autocast (body and losses stay float32).
        channels_last: Feed the images in channels-last layout.
        gt_hands: Hands of the ground-truth bodies: ``"flat"`` or ``"authors"`` (smplx's relaxed mean hands).

    Returns:
        ``(total, terms, extras)``: the loss, its terms (``raw/<t>``, ``weighted/<t>``) and the network output
        and predicted body (``extras["out"]``, ``extras["pred_body"]``) for panels.
    """
    img = batch.img
    if channels_last:
        img = img.contiguous(memory_format=torch.channels_last)
    with autocast(img.device, bf16):
        out = model(img, batch.bbox_info)
    if isinstance(out, dict):  # the DDP-friendly wrapper of train.py
        out = DPoSEOutput(**out)
    pose, betas = out.pose_rotmat.float(), out.betas.float()
    pred_body = body.forward_pose(pose, betas)
    with torch.no_grad():
        hands = body.mean_hands(len(batch.pose_rotmat)) if gt_hands == "authors" else {}
        gt_body = body.forward_pose(batch.pose_rotmat.float(), batch.betas.float(), **hands)
    pred = LossInputs(pose_rotmat=pose, betas=betas, cam=out.cam.float(), joints3d=pred_body.joints,
                      vertices=pred_body.vertices, depth=_f32(out.depth), part_logits=_f32(out.part_logits))
    tgt = LossTargets(pose=batch.pose_rotmat, betas=batch.betas, joints3d=gt_body.joints,
                      vertices=gt_body.vertices, kp2d=batch.kp2d, center=batch.center, scale=batch.scale,
                      K=batch.K, image_size=batch.img_size, depth=batch.depth, parts=batch.parts,
                      has_smplx=batch.has_smplx, has_joints3d=batch.has_smplx, has_vertices=batch.has_smplx,
                      has_kp2d=batch.has_kp2d, has_depth=batch.has_depth, has_parts=batch.has_parts)
    total, terms = loss_fn(pred, tgt)
    return total, terms, {"out": out, "pred_body": pred_body}


def synthetic_errors(pred_joints: Tensor, pred_verts: Tensor, gt_joints: Tensor, gt_verts: Tensor
                     ) -> dict[str, Tensor]:
    """Per-sample MPJPE / PA-MPJPE / PVE in mm on SMPL-X joints 0–23 and all vertices, each body aligned
    by its own pelvis (joint 0).

    Args:
        pred_joints: (B, ≥24, 3) metres.
        pred_verts: (B, V, 3) metres.
        gt_joints: (B, ≥24, 3) metres.
        gt_verts: (B, V, 3) metres.

    Returns:
        ``{"mpjpe", "pa_mpjpe", "pve"}``, each (B,), millimetres.
    """
    pj, gj = pred_joints[:, :NUM_EVAL_JOINTS].float(), gt_joints[:, :NUM_EVAL_JOINTS].float()
    pr, gr = root_from_joints(pj, (0,)), root_from_joints(gj, (0,))
    pj, gj = align_root(pj, pr), align_root(gj, gr)
    pv, gv = align_root(pred_verts.float(), pr), align_root(gt_verts.float(), gr)
    return {"mpjpe": to_mm(mpjpe(pj, gj)), "pa_mpjpe": to_mm(pa_mpjpe(pj, gj)), "pve": to_mm(pve(pv, gv))}


def mean_pose_outputs(net, n: int) -> tuple[Tensor, Tensor]:
    """The regressor's start values (the zero-update prediction): pose (n, 22, 3, 3) and betas (n, 11)."""
    reg = net.regressor
    pose6d = reg.init_pose.reshape(1, -1, 6).expand(n, -1, -1)
    return rot6d_to_rotmat(pose6d), reg.init_shape.expand(n, -1)


def _gt_body(body, batch: Batch) -> tuple[Tensor, Tensor]:
    """The rendered ground truth in the body frame: camera-frame joints/vertices minus the translation
    (falls back to posing the body with the GT parameters when the batch has no vertices)."""
    if batch.vertices is not None and bool(batch.has_vertices.all()) and bool(batch.has_transl.all()):
        t = batch.transl[:, None]
        return batch.joints3d - t, batch.vertices - t
    out = body.forward_pose(batch.pose_rotmat.float(), batch.betas.float())
    return out.joints, out.vertices


@torch.no_grad()
def evaluate_heldout(net, body, batches: list[Batch], device: torch.device, *, bf16: bool = False,
                     baseline: bool = True, progress=None) -> dict[str, float]:
    """Score the network (and the mean-pose baseline) on held-out synthetic batches.

    Args:
        net: The unwrapped network (evaluated in eval mode; its mode is restored).
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
            acc.update(synthetic_errors(pred.joints, pred.vertices, gj, gv))
            if out.part_logits is not None and batch.parts is not None:
                i, u = part_confusion(out.part_logits.argmax(1), batch.parts, out.part_logits.shape[1])
                inter, union = (i, u) if inter is None else (inter + i, union + u)
            if out.depth is not None and batch.depth is not None:
                depth_err.append(depth_foreground_l1(out.depth.float(), batch.depth.float()))
                gt_depths.append(batch.depth.float().cpu())
            if baseline:
                pose0, betas0 = mean_pose_outputs(net, len(batch))
                b0 = body.forward_pose(pose0.float(), betas0.float())
                base.update(synthetic_errors(b0.joints, b0.vertices, gj, gv))
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
