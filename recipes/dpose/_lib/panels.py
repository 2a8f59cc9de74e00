"""Image panels for TensorBoard / PNG: input crop, predicted mesh overlay, GT vs predicted part maps and
depth maps, one row per sample.

The mesh is placed with the predicted crop camera turned into a full-image translation
(:func:`hpskit.geometry.crop_cam_to_full_transl`) and drawn with the crop's intrinsics
``K_crop = [A; 0 0 1] · K`` (A = the crop affine), so it lands where the model put it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hpskit.body import PART_PALETTE
from hpskit.data import Batch
from hpskit.data.transforms import unnormalize_imagenet
from hpskit.geometry import crop_affine, crop_cam_to_full_transl
from hpskit.render import overlay, render_rgb

__all__ = ["make_panel"]


def _gray(x: Tensor) -> Tensor:
    """(B, 1, H, W) in [0, 1] → (B, 3, H, W)."""
    return x.float().clamp(0, 1).expand(-1, 3, -1, -1)


def _parts_rgb(labels: Tensor) -> Tensor:
    """(B, H, W) long → (B, 3, H, W) in [0, 1] with the part palette."""
    pal = torch.as_tensor(PART_PALETTE, device=labels.device).float() / 255.0
    return pal[labels.clamp(0, len(pal) - 1)].permute(0, 3, 1, 2)


@torch.no_grad()
def make_panel(batch: Batch, out, pred_verts: Tensor, faces: Tensor, n: int = 4) -> Tensor:
    """A (3, n·R, 6·R) image in [0, 1]: columns input | mesh overlay | GT parts | predicted parts | GT depth |
    predicted depth (black without a depth branch).

    Args:
        batch: The batch (R = crop size).
        out: The network output for it.
        pred_verts: Predicted body-frame vertices, (B, V, 3).
        faces: Body faces (F, 3).
        n: Samples shown (the first n).
    """
    n = min(n, len(batch))
    res = batch.img.shape[-1]
    img = unnormalize_imagenet(batch.img[:n].float()).clamp(0, 1)
    transl = crop_cam_to_full_transl(out.cam[:n].float(), batch.center[:n], batch.scale[:n], batch.K[:n])
    A = crop_affine(batch.center[:n], batch.scale[:n], res)
    K_crop = torch.cat([A, A.new_tensor([0.0, 0.0, 1.0]).expand(n, 1, 3)], 1) @ batch.K[:n]
    verts = pred_verts[:n].float() + transl[:, None]
    ren = render_rgb(verts, faces, K_crop, (res, res), background=0.0)
    mask = ren.abs().sum(1) > 0
    mesh = overlay(img, ren.clamp(0, 1), mask, alpha=0.7)
    gt_parts = _parts_rgb(batch.parts[:n])
    pred_parts = _parts_rgb(out.part_logits[:n].argmax(1))
    gt_depth = _gray(batch.depth[:n])
    pred_depth = _gray(out.depth[:n]) if out.depth is not None else torch.zeros_like(img)
    rows = torch.cat([img, mesh, gt_parts, pred_parts, gt_depth, pred_depth], dim=3)  # (n, 3, R, 6R)
    return torch.cat(list(rows), dim=1).cpu()
