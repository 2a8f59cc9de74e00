"""A soft (differentiable) silhouette in the manner of SoftRas (Liu et al., 2019).

Each face covers a pixel centre ``p`` with probability ``sigmoid(sd(p) / sigma)``, where ``sd`` is the
signed 2D distance in pixels from ``p`` to the projected triangle (positive inside). Faces combine as
independent events: ``silhouette = 1 - prod_f (1 - p_f)``. Every face counts, occluded or not, as is
right for a silhouette. Faces farther than ``cutoff * sigma`` pixels from a pixel are skipped there,
which leaves out probabilities below ``sigmoid(-cutoff)`` (1e-3 for the default 7). The result is
differentiable w.r.t. ``verts_cam`` and ``K``, and tends to the hard mask as ``sigma`` goes to 0.
The enumeration is the one :func:`~hpskit.render.raster.rasterize` uses (face boxes grown by the
cutoff, processed in chunks). The backward pass recomputes each chunk instead of storing it (a small
custom autograd function, lighter than ``torch.utils.checkpoint``), so memory stays bounded by
``max_candidates`` with gradients too.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from hpskit.core import ShapeError

from .raster import _candidate_chunks, _check_inputs, project_vertices

__all__ = ["soft_silhouette"]


def _chunk_log_miss(uv_flat: Tensor, corner_ids: Tensor, pxy: Tensor, sigma: float) -> Tensor:
    """log(1 - p) for each candidate; corner_ids (n, 3) rows of uv_flat, pxy (n, 2) pixel centres."""
    q = uv_flat.index_select(0, corner_ids.reshape(-1)).view(-1, 3, 2)
    p = pxy[:, None, :]
    ab = q.roll(-1, dims=1) - q  # edges q0->q1, q1->q2, q2->q0
    ap = p - q
    t = ((ap * ab).sum(-1) / (ab * ab).sum(-1).clamp(min=1e-12)).clamp(0, 1)
    dist2 = ((ap - t[..., None] * ab) ** 2).sum(-1).amin(1)
    dist = torch.sqrt(dist2 + 1e-12)
    cross = ab[..., 0] * ap[..., 1] - ab[..., 1] * ap[..., 0]  # (n, 3)
    orient = torch.sign(cross.sum(1, keepdim=True)).detach()  # sum of the three = twice the area
    inside = (cross * orient >= 0).all(1)
    prob = torch.sigmoid(torch.where(inside, dist, -dist) / sigma)
    return torch.log1p(-prob.clamp(max=1 - 1e-6))


def _pixels(fid, local, x0, y0, w, first, W, dtype):
    fw = w.index_select(0, fid)
    dy = torch.div(local, fw, rounding_mode="floor")
    dx = local - dy * fw
    pxy = torch.stack((x0.index_select(0, fid) + dx, y0.index_select(0, fid) + dy), -1).to(dtype)
    return pxy, first.index_select(0, fid) + dy * W + dx


class _SoftAccumulate(torch.autograd.Function):
    """sum over candidates of log(1 - p) per pixel; backward recomputes chunk by chunk."""

    @staticmethod
    def forward(ctx, uv_flat, corners, x0, y0, w, first, count, sigma, max_candidates, num_pixels, W):
        out = uv_flat.new_zeros(num_pixels)
        for fid, local in _candidate_chunks(count, max_candidates):
            pxy, pix = _pixels(fid, local, x0, y0, w, first, W, uv_flat.dtype)
            out.index_add_(0, pix, _chunk_log_miss(uv_flat, corners.index_select(0, fid), pxy, sigma))
        ctx.save_for_backward(uv_flat, corners, x0, y0, w, first, count)
        ctx.args = (sigma, max_candidates, W)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        uv_flat, corners, x0, y0, w, first, count = ctx.saved_tensors
        sigma, max_candidates, W = ctx.args
        grad_uv = torch.zeros_like(uv_flat)
        for fid, local in _candidate_chunks(count, max_candidates):
            pxy, pix = _pixels(fid, local, x0, y0, w, first, W, uv_flat.dtype)
            with torch.enable_grad():
                leaf = uv_flat.detach().requires_grad_()
                lm = _chunk_log_miss(leaf, corners.index_select(0, fid), pxy, sigma)
                (g,) = torch.autograd.grad(lm, leaf, grad_out.index_select(0, pix))
            grad_uv += g
        return (grad_uv,) + (None,) * 10


def soft_silhouette(
    verts_cam: Tensor,
    faces: Tensor,
    K: Tensor,
    image_size: Sequence[int],
    *,
    sigma: float = 0.5,
    cutoff: float = 7.0,
    near: float = 1e-3,
    max_candidates: int = 1 << 20,
) -> Tensor:
    """Differentiable soft silhouette (see the module docstring).

    Args:
        verts_cam: Vertices in the camera frame (OpenCV axes), shape (B, V, 3).
        faces: Triangles, shape (F, 3).
        K: Intrinsics, shape (B, 3, 3) or (3, 3).
        image_size: ``(H, W)``.
        sigma: Edge softness in pixels.
        cutoff: Faces farther than ``cutoff * sigma`` pixels from a pixel are ignored there.
        near: Faces with a vertex at ``z <= near`` are culled.
        max_candidates: (face, pixel) pairs processed at once.

    Returns:
        Coverage in [0, 1], shape (B, H, W), in the dtype of ``verts_cam`` (float32 for half inputs).

    Raises:
        ShapeError: On wrong shapes or a non-positive ``sigma``.

    Example:
        >>> verts = torch.tensor([[[-1.0, -1.0, 2.0], [1.0, -1.0, 2.0], [0.0, 1.0, 2.0]]])
        >>> K = torch.tensor([[4.0, 0.0, 3.5], [0.0, 4.0, 3.5], [0.0, 0.0, 1.0]])
        >>> sil = soft_silhouette(verts, torch.tensor([[0, 1, 2]]), K, (8, 8), sigma=0.1)
        >>> int((sil > 0.5).sum())
        8
    """
    where = "hpskit.render.soft_silhouette"
    faces, K = _check_inputs(verts_cam, faces, K, image_size, where)
    if not sigma > 0:
        raise ShapeError(f"{where}: `sigma` must be > 0 (pixels); got {sigma}.")
    H, W = int(image_size[0]), int(image_size[1])
    B, V, F = verts_cam.shape[0], verts_cam.shape[1], faces.shape[0]
    cdt = torch.float64 if verts_cam.dtype == torch.float64 else torch.float32
    verts = verts_cam.to(cdt)
    uv = project_vertices(verts, K.to(cdt))
    margin = cutoff * sigma
    with torch.no_grad():
        flat = faces.reshape(-1)
        fuv = uv.detach().index_select(1, flat).view(B, F, 3, 2)
        fz = verts[..., 2].detach().index_select(1, flat).view(B, F, 3)
        e1, e2 = fuv[:, :, 1] - fuv[:, :, 0], fuv[:, :, 2] - fuv[:, :, 0]
        area2 = e1[..., 0] * e2[..., 1] - e1[..., 1] * e2[..., 0]
        valid = (fz > near).all(-1) & torch.isfinite(area2) & (area2 != 0)
        lo = torch.where(valid[..., None], fuv.amin(2) - margin, 0.0)
        hi = torch.where(valid[..., None], fuv.amax(2) + margin, -1.0)
        x0 = torch.ceil(lo[..., 0]).clamp(0, W)
        y0 = torch.ceil(lo[..., 1]).clamp(0, H)
        w = (torch.floor(hi[..., 0]).clamp(-1, W - 1) - x0 + 1).clamp(min=0).long()
        h = (torch.floor(hi[..., 1]).clamp(-1, H - 1) - y0 + 1).clamp(min=0).long()
        count = (w * h).reshape(-1)
        sel = count.nonzero().squeeze(1)
        count = count.index_select(0, sel)
        b_sel = torch.div(sel, F, rounding_mode="floor")
        x0 = x0.reshape(-1).index_select(0, sel).long()
        y0 = y0.reshape(-1).index_select(0, sel).long()
        w = w.reshape(-1).index_select(0, sel)
        corners = faces.index_select(0, torch.remainder(sel, F)) + (b_sel * V)[:, None]  # rows of uv_flat
        first = (b_sel * H + y0) * W + x0
    log_miss = _SoftAccumulate.apply(uv.reshape(B * V, 2), corners, x0, y0, w, first, count, float(sigma),
                                     int(max_candidates), B * H * W, W)
    sil = 1 - torch.exp(log_miss)
    out_dtype = verts_cam.dtype if verts_cam.dtype in (torch.float32, torch.float64) else cdt
    return sil.reshape(B, H, W).to(out_dtype)
