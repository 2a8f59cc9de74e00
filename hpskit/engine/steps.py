"""One training forward of a D-PoSE network: network → body → :class:`~hpskit.losses.DPoSELoss`.

Targets follow the authors (docs/authors-code.md (g)): the 3D joint and vertex targets come from posing the
training body with the ground-truth pose and betas (flat hands by default, or smplx's relaxed mean hands as
the authors' training does: ``gt_hands="authors"``; no translation), the same body the prediction is posed
with; 2D keypoints are full-image pixels; depth and part maps come with the batch
(:meth:`hpskit.losses.LossTargets.from_batch`).
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor

from hpskit.core import ConfigError
from hpskit.data import Batch
from hpskit.losses import DPoSELoss, LossInputs, LossTargets
from hpskit.models import DPoSEOutput

__all__ = ["GT_HANDS", "autocast", "forward_loss"]

#: Hands of the ground-truth bodies: flat, or smplx's relaxed mean hands (the authors' training).
GT_HANDS = ("flat", "authors")


def autocast(device: torch.device, bf16: bool):
    """bf16 autocast on ``device`` when asked, else a no-op context."""
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def forward_loss(model, body, loss_fn: DPoSELoss, batch: Batch, *, bf16: bool = False,
                 channels_last: bool = False, gt_hands: str = "flat"
                 ) -> tuple[Tensor, dict[str, Tensor], dict]:
    """Network forward, body model and loss for one batch.

    Args:
        model: The (possibly DDP-wrapped / compiled) D-PoSE network; it returns a
            :class:`~hpskit.models.DPoSEOutput` or a dict of its tensors (what DDP needs to see).
        body: The SMPL-X body (``model.body_model`` of the unwrapped network).
        loss_fn: The objective.
        batch: A batch on the model's device, images (B, 3, R, R).
        bf16: Run the network under bf16 autocast (body and losses stay float32).
        channels_last: Feed the images in channels-last layout.
        gt_hands: Hands of the ground-truth bodies: ``"flat"`` or ``"authors"`` (smplx's relaxed mean hands).

    Returns:
        ``(total, terms, extras)``: the loss (scalar), its terms (``raw/<t>``, ``weighted/<t>``) and the
        network output and predicted body (``extras["out"]``, ``extras["pred_body"]``) for panels.

    Raises:
        ConfigError: If ``gt_hands`` is not one of :data:`GT_HANDS`.
    """
    if gt_hands not in GT_HANDS:
        raise ConfigError(f"forward_loss: gt_hands must be one of {GT_HANDS}; got {gt_hands!r}.")
    img = batch.img
    if channels_last:
        img = img.contiguous(memory_format=torch.channels_last)
    with autocast(img.device, bf16):
        out = model(img, batch.bbox_info)
    if isinstance(out, dict):  # a DDP-friendly wrapper's dict of tensors
        out = DPoSEOutput(**out)
    pred_body = body.forward_pose(out.pose_rotmat.float(), out.betas.float())
    with torch.no_grad():
        hands = body.mean_hands(len(batch.pose_rotmat)) if gt_hands == "authors" else {}
        gt_body = body.forward_pose(batch.pose_rotmat.float(), batch.betas.float(), **hands)
    pred = LossInputs.from_output(out, pred_body.joints, pred_body.vertices)
    tgt = LossTargets.from_batch(batch, gt_body.joints, gt_body.vertices)
    total, terms = loss_fn(pred, tgt)
    return total, terms, {"out": out, "pred_body": pred_body}
