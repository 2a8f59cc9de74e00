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
from hpskit.core import check_shape
from hpskit.geometry import crop_affine, crop_cam_to_full_transl

from .shading import overlay, render_rgb

__all__ = ["make_panel"]


def _gray(x: Tensor) -> Tensor:
    """(B, 1, H, W) in [0, 1] → (B, 3, H, W)."""
    return x.float().clamp(0, 1).expand(-1, 3, -1, -1)


def _parts_rgb(labels: Tensor) -> Tensor:
    """(B, H, W) long → (B, 3, H, W) in [0, 1] with the part palette."""
    pal = torch.as_tensor(PART_PALETTE, device=labels.device).float() / 255.0
    return pal[labels.clamp(0, len(pal) - 1)].permute(0, 3, 1, 2)


@torch.no_grad()
def make_panel(rgb: Tensor, batch, out, pred_verts: Tensor, faces: Tensor, n: int = 4) -> Tensor:
    """A (3, n·R, 6·R) image in [0, 1]: columns input | mesh overlay | GT parts | predicted parts | GT depth |
    predicted depth (black without a depth branch).

    Args:
        rgb: The input crops as RGB in [0, 1] (e.g. the batch's images un-normalised), (B, 3, R, R).
        batch: The batch (:class:`hpskit.data.Batch`): ``center`` (B, 2), ``scale`` (B,), ``K`` (B, 3, 3),
            ``parts`` (B, R, R) and ``depth`` (B, 1, R, R).
        out: The network output for it: ``cam`` (B, 3), ``part_logits`` (B, C, R, R), ``depth`` (B, 1, R, R)
            or None.
        pred_verts: Predicted body-frame vertices, (B, V, 3).
        faces: Body faces (F, 3).
        n: Samples shown (the first n).
    """
    check_shape(rgb, ("B", 3, "R", "R"), "rgb", "make_panel")
    n = min(n, len(rgb))
    res = rgb.shape[-1]
    img = rgb[:n].float().clamp(0, 1)
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
