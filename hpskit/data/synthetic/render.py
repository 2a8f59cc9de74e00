"""Turning posed, placed bodies into the crop-space maps of a sample: box, crop camera, rasterization,
part labels, normalised depth, shaded person, composite.

Geometry is rendered **directly into the crop** with the crop's intrinsics ``K_crop = [A; 0 0 1] · K``
(``A`` = :func:`hpskit.geometry.crop_affine` of the person box), which is pixel-for-pixel the same
camera as rendering the full image and cropping it with :func:`hpskit.geometry.crop_images`, minus the
resampling. Crop pixels whose centre falls outside the full image are zero in the image, the depth and
the part map, as the zero padding of a real crop is.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hpskit.geometry import boxes_xyxy_to_center_scale, crop_affine, invert_affine, perspective_project
from hpskit.render import Fragments, part_labels_from_fragments, vertex_normals

from ..crop import CropConfig

__all__ = ["person_boxes", "jitter_boxes", "crop_intrinsics", "inside_image", "normalize_depth_batch",
           "foreground_attributes", "part_map"]


def person_boxes(verts: Tensor, K: Tensor, wh: Tensor, rescale: float) -> tuple[Tensor, Tensor]:
    """Square person boxes around the projected vertices, clipped to the image (what a detector sees).

    Args:
        verts: Camera-frame vertices (B, V, 3), all in front of the camera.
        K: Intrinsics (B, 3, 3).
        wh: Image sizes (B, 2).
        rescale: Box side = ``rescale · max(w, h)``.

    Returns:
        ``(center (B, 2), scale (B,))``.
    """
    uv = perspective_project(verts, K)
    lo = torch.maximum(uv.amin(1), torch.zeros_like(wh))
    hi = torch.minimum(uv.amax(1), wh - 1)
    hi = torch.maximum(hi, lo + 1)  # never an empty box
    return boxes_xyxy_to_center_scale(torch.cat([lo, hi], 1), rescale=rescale)


def jitter_boxes(center: Tensor, scale: Tensor, cfg: CropConfig,
                 generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """The authors' box augmentation (:func:`hpskit.data.sample_crop_box`), vectorised over the batch.

    ``rescale``; then with ``random_crop_prob`` the side shrinks to ``random_crop_factor`` of itself at a
    uniform height inside the old box (horizontal centre kept); then ``s ← s·clip(1 + σ·N(0, 1))``.
    Draws come from the CPU ``generator`` (two uniforms and one normal per sample, always drawn).
    """
    B = scale.shape[0]
    u = torch.rand(B, 2, generator=generator, dtype=torch.float64).to(scale)
    nrm = torch.randn(B, generator=generator, dtype=torch.float64).to(scale)
    center, scale = center.clone(), scale * cfg.rescale
    if cfg.random_crop_prob > 0:
        side = 200.0 * scale
        new_side = cfg.random_crop_factor * side
        sel = u[:, 0] < cfg.random_crop_prob
        cy = center[:, 1] - side / 2 + new_side / 2 + u[:, 1] * (side - new_side)
        center[:, 1] = torch.where(sel, cy, center[:, 1])
        scale = torch.where(sel, scale * cfg.random_crop_factor, scale)
    if cfg.scale_jitter > 0:
        scale = scale * (1.0 + cfg.scale_jitter * nrm).clamp(*cfg.scale_range)
    return center, scale


def crop_intrinsics(center: Tensor, scale: Tensor, K: Tensor, res: int) -> tuple[Tensor, Tensor]:
    """``(K_crop (B, 3, 3), crop_to_img (B, 2, 3))`` for square crops of side ``res``."""
    A = crop_affine(center, scale, res)
    bottom = torch.eye(3, dtype=A.dtype, device=A.device)[2].expand(A.shape[0], 1, 3)  # no host copy
    return torch.cat([A, bottom], 1) @ K, invert_affine(A)


def inside_image(crop_to_img: Tensor, wh: Tensor, res: int) -> Tensor:
    """(B, res, res) bool: crop pixels whose centre maps inside the full image's pixel area."""
    r = torch.arange(res, device=wh.device, dtype=crop_to_img.dtype)
    u = crop_to_img[:, 0, 0, None] * r + crop_to_img[:, 0, 2, None]  # (B, res): columns
    v = crop_to_img[:, 1, 1, None] * r + crop_to_img[:, 1, 2, None]  # (B, res): rows
    iu = (u >= -0.5) & (u < wh[:, 0:1] - 0.5)
    iv = (v >= -0.5) & (v < wh[:, 1:2] - 0.5)
    return iv[:, :, None] & iu[:, None, :]


def normalize_depth_batch(depth: Tensor, mask: Tensor, floor: float = 0.01) -> tuple[Tensor, Tensor]:
    """BEDLAM's percentile normalisation (formats.md §4.7), batched, over the masked pixels of each map.

    ``n = clip(0.9·(d − p5)/(p95 − p5) + 0.1, floor, 1)`` on the mask, 0 elsewhere, with p5/p95 the
    linear percentiles of the masked depths. One deviation from the authors' ``clip(·, 0, 1)``: person
    pixels nearer than ``p5 − (p95 − p5)/9`` keep ``floor`` instead of 0, so depth > 0 exactly on the
    person.

    Args:
        depth: Metric depth (B, H, W).
        mask: Person pixels (B, H, W) bool.
        floor: Smallest value on the person.

    Returns:
        ``(normalised (B, 1, H, W), valid (B,) bool)``; valid = p95 > p5 (enough distinct depths).
    """
    B = depth.shape[0]
    d = torch.where(mask, depth, torch.nan).reshape(B, -1).float()
    qs = torch.stack([d.new_full((), 0.05), d.new_full((), 0.95)])  # filled on the device: no host copy
    step = max(1, (1 << 24) // max(1, d.shape[1]))  # torch.quantile takes at most 2^24 elements per call
    q = torch.cat([torch.nanquantile(d[i:i + step], qs, dim=1) for i in range(0, B, step)], 1)  # (2, B)
    p5, p95 = torch.nan_to_num(q[0])[:, None, None], torch.nan_to_num(q[1])[:, None, None]
    valid = (p95 > p5)[:, 0, 0]
    n = (0.9 * (depth - p5) / (p95 - p5).clamp_min(1e-6) + 0.1).clamp(floor, 1.0)
    n = torch.where(mask & valid[:, None, None], n, 0.0)
    return n[:, None].to(depth.dtype), valid


def foreground_attributes(frags: Fragments, faces: Tensor, keep: Tensor, verts: Tensor, rest: Tensor,
                          vertex_values: Tensor) -> dict[str, Tensor]:
    """Attributes of the kept foreground pixels only (shading touches no background pixel).

    Args:
        frags: Fragments (B, H, W).
        faces: (F, 3) long.
        keep: (B, H, W) bool, a subset of ``frags.mask``.
        verts: Camera-frame vertices (B, V, 3).
        rest: Rest-pose vertices (V, 3).
        vertex_values: Per-sample vertex values (B, V) long (regions), read at the nearest vertex.

    Returns:
        ``b`` (N,) sample, ``pix`` (N,) flat pixel index in H·W, ``normal`` (N, 3) unit normals facing the
        camera, ``rest`` (N, 3) rest-pose position, ``value`` (N,) nearest-vertex value.
    """
    B, H, W = keep.shape
    fg = keep.reshape(-1).nonzero().squeeze(1)
    b = torch.div(fg, H * W, rounding_mode="floor")
    vid = faces[frags.face_idx.reshape(-1)[fg]]  # (N, 3)
    bary = frags.bary.reshape(-1, 3)[fg].to(verts.dtype)  # (N, 3)
    vn = vertex_normals(verts, faces)
    normal = (bary[..., None] * vn[b[:, None], vid]).sum(1)
    pts = (bary[..., None] * verts[b[:, None], vid]).sum(1)
    rest_px = (bary[..., None] * rest.to(verts)[vid]).sum(1)
    normal = torch.nn.functional.normalize(normal, dim=-1, eps=1e-12)
    normal = torch.where((normal * pts).sum(-1, keepdim=True) > 0, -normal, normal)  # face the camera
    nearest = vid.gather(1, bary.argmax(1, keepdim=True))[:, 0]
    return {"b": b, "pix": fg - b * H * W, "normal": normal, "rest": rest_px,
            "value": vertex_values[b, nearest]}


def part_map(frags: Fragments, faces: Tensor, vertex_parts: Tensor, keep: Tensor) -> Tensor:
    """Part labels (B, H, W) long, 0 outside ``keep``."""
    return torch.where(keep, part_labels_from_fragments(frags, faces, vertex_parts), 0)
