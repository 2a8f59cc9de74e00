"""A torch-native, batched triangle rasterizer with a z-buffer (the same code on CPU and GPU).

Why our own rasterizer: pytorch3d cannot be installed here (it publishes no wheels for current torch
releases and must be compiled against the installed torch with a CUDA toolchain), and the renderer the
D-PoSE authors used (``neural_renderer``) is an unmaintained CUDA extension. kornia has no rasterizer.
So this module is plain torch: it runs wherever torch runs, needs no compiler, and the CPU path is the
test oracle of the GPU path.

Conventions:
    * Camera frame OpenCV: x right, y down, z forward, any length unit (hpskit uses metres).
    * Pixel centres at integer coordinates: pixel ``(i, j)`` (row ``i``, column ``j``) samples the image
      point ``u = j, v = i``, where ``(u, v, 1)^T ~ K (x, y, z)^T``. ``K``'s last row must be ``(0, 0, 1)``
      (skew and any focal lengths / principal point are fine).
    * Coverage rule: a pixel centre is covered by a triangle when all three edge functions are ``>= 0``
      (inclusive on the edges). Edge functions are evaluated with the edge's endpoints in a canonical
      order (lower vertex index first) and then sign-flipped, so the two triangles that share an edge see
      bit-identical values of opposite sign: a watertight mesh leaves no pixel gaps along shared edges.
      A centre exactly on a shared edge is covered by both faces and the z-buffer picks one.
    * Depth test: the smallest camera ``z`` (compared in float32) wins; exact ties go to the lower face index.
    * Both windings are rasterized by default. With ``cull_backfaces=True`` faces whose normal
      ``(v1 - v0) x (v2 - v0)`` points away from the camera (counter-clockwise = front, seen from the
      camera) are dropped.
    * Near plane: a face with any vertex at ``z <= near`` is culled whole (no clipping). Faces with zero
      projected area, or non-finite vertices, are culled too.

Algorithm: project the vertices; give every face its integer bounding box of pixel centres; enumerate
exactly the pixels of every box (``repeat_interleave``, in chunks of at most ``max_candidates`` pixels so
memory stays bounded whatever the face sizes); run the edge tests; compute the perspective-correct depth;
pack ``float32 depth bits << 32 | face index`` into one int64 key (the bits of positive floats order like
the floats) and ``scatter_reduce(..., "amin")`` the keys into a per-pixel z-buffer. The winning faces are
decoded from the low bits, and barycentrics and depth are recomputed for the winner of each pixel in
one gathered pass, with autograd on.

Gradients: the face selection is hard (no gradient w.r.t. vertex positions through *which* face covers
a pixel, nor through the mask). For a fixed winning face, ``bary`` and ``depth`` are differentiable
functions of ``verts_cam`` and ``K``, and attributes interpolated with ``bary`` are differentiable
w.r.t. the vertex attributes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from hpskit.core import ShapeError, check_shape, check_tensor

__all__ = ["Fragments", "project_vertices", "rasterize"]

_INT64_MAX = torch.iinfo(torch.int64).max


@dataclass
class Fragments:
    """Per-pixel output of :func:`rasterize`.

    Attributes:
        face_idx: Index of the visible face, shape (B, H, W), long; -1 on the background.
        bary: Perspective-correct barycentric coordinates of the pixel centre in the visible face,
            shape (B, H, W, 3); zeros on the background.
        depth: Camera-frame z of the visible surface, shape (B, H, W); 0 on the background.
        mask: Foreground mask, shape (B, H, W), bool.
    """

    face_idx: Tensor
    bary: Tensor
    depth: Tensor
    mask: Tensor

    @property
    def image_size(self) -> tuple[int, int]:
        """The ``(H, W)`` of the rasterized images."""
        return int(self.face_idx.shape[1]), int(self.face_idx.shape[2])


def project_vertices(verts_cam: Tensor, K: Tensor) -> Tensor:
    """Project camera-frame points with intrinsics ``K`` (pinhole, OpenCV axes).

    Args:
        verts_cam: Points in the camera frame, shape (B, V, 3).
        K: Intrinsics, shape (B, 3, 3), last row ``(0, 0, 1)``.

    Returns:
        Pixel coordinates ``(u, v)``, shape (B, V, 2); pixel centres at integers.

    Example:
        >>> K = torch.tensor([[[100.0, 0.0, 50.0], [0.0, 100.0, 40.0], [0.0, 0.0, 1.0]]])
        >>> project_vertices(torch.tensor([[[0.1, -0.2, 2.0]]]), K)
        tensor([[[55., 30.]]])
    """
    x = verts_cam[..., 0] / verts_cam[..., 2]
    y = verts_cam[..., 1] / verts_cam[..., 2]
    k = K[:, None]  # (B, 1, 3, 3)
    u = k[..., 0, 0] * x + k[..., 0, 1] * y + k[..., 0, 2]
    v = k[..., 1, 0] * x + k[..., 1, 1] * y + k[..., 1, 2]
    return torch.stack((u, v), dim=-1)


def _check_inputs(verts_cam, faces, K, image_size, where):
    dims = check_shape(verts_cam, ("B", "V", 3), "verts_cam", where)
    check_shape(faces, ("F", 3), "faces", where)
    check_tensor(K, "K", where)
    if K.dim() == 2:
        check_shape(K, (3, 3), "K", where)
        K = K.expand(dims["B"], 3, 3)
    elif K.dim() == 3 and K.shape[0] == 1:
        K = K.expand(dims["B"], *K.shape[1:])
    check_shape(K, ("B", 3, 3), "K", where, dims=dict(dims),
                hint="Pass one K per image, or a single (3, 3) K shared by the batch.")
    if not verts_cam.is_floating_point():
        raise ShapeError(f"{where}: `verts_cam` must be a floating tensor; got {verts_cam.dtype}.")
    if faces.is_floating_point() or faces.is_complex() or faces.dtype == torch.bool:
        raise ShapeError(f"{where}: `faces` must be an integer tensor (long); got {faces.dtype}.")
    if len(image_size) != 2 or int(image_size[0]) <= 0 or int(image_size[1]) <= 0:
        raise ShapeError(
            f"{where}: `image_size` must be (H, W) with positive sizes; got {tuple(image_size)}."
        )
    faces = faces.to(device=verts_cam.device, dtype=torch.long)
    lo_hi = torch.stack(torch.aminmax(faces)).tolist() if faces.numel() else None  # one device -> host read
    if lo_hi is not None and (lo_hi[0] < 0 or lo_hi[1] >= dims["V"]):
        raise ShapeError(
            f"{where}: `faces` must index vertices in [0, {dims['V']}); got values in "
            f"[{int(faces.min())}, {int(faces.max())}]. Faces and vertices come from different meshes?"
        )
    return faces, K.to(device=verts_cam.device)


def _face_setup(uv: Tensor, z: Tensor, verts: Tensor, faces: Tensor, near: float, cull_backfaces: bool,
                H: int, W: int):
    """Per-face data of the faces whose pixel-centre box is non-empty (compacted over the batch).

    Returns ``rows`` (S, 15) float (edge start points a (6), sign-normalised edge vectors d (6), 1/z (3)),
    ``ints`` (S, 5) long (x0, y0, box width, flat index of the box's first pixel, face index) and
    ``count`` (S,) long (pixels in the box).
    """
    B, F = uv.shape[0], faces.shape[0]
    flat = faces.reshape(-1)
    fuv = uv.index_select(1, flat).view(B, F, 3, 2)
    fz = z.index_select(1, flat).view(B, F, 3)
    e1, e2 = fuv[:, :, 1] - fuv[:, :, 0], fuv[:, :, 2] - fuv[:, :, 0]
    area2 = e1[..., 0] * e2[..., 1] - e1[..., 1] * e2[..., 0]  # (B, F), sign = 2D winding
    valid = (fz > near).all(-1) & torch.isfinite(area2) & (area2 != 0)
    if cull_backfaces:
        fv = verts.index_select(1, flat).view(B, F, 3, 3)
        n = torch.linalg.cross(fv[:, :, 1] - fv[:, :, 0], fv[:, :, 2] - fv[:, :, 0], dim=-1)
        valid &= (n * fv[:, :, 0]).sum(-1) < 0  # front: normal points towards the camera
    lo = torch.where(valid[..., None], fuv.amin(2), 0.0)
    hi = torch.where(valid[..., None], fuv.amax(2), -1.0)
    x0 = torch.ceil(lo[..., 0]).clamp(0, W)
    y0 = torch.ceil(lo[..., 1]).clamp(0, H)
    w = (torch.floor(hi[..., 0]).clamp(-1, W - 1) - x0 + 1).clamp(min=0).long()
    h = (torch.floor(hi[..., 1]).clamp(-1, H - 1) - y0 + 1).clamp(min=0).long()
    count = (w * h).reshape(-1)
    sel = count.nonzero().squeeze(1)  # flat b * F + f of the faces with a non-empty box
    count = count.index_select(0, sel)
    f_sel = torch.remainder(sel, F)
    b_sel = torch.div(sel, F, rounding_mode="floor")
    x0, y0 = x0.reshape(-1).index_select(0, sel).long(), y0.reshape(-1).index_select(0, sel).long()
    first = (b_sel * H + y0) * W + x0
    ints = torch.stack((x0, y0, w.reshape(-1).index_select(0, sel), first, f_sel), -1)
    # Canonical edge order: edge k (opposite vertex k) runs v_{k+1} -> v_{k+2}; evaluate it from the
    # endpoint with the lower vertex index and flip the sign if that reverses it (see module docstring).
    fs = faces.index_select(0, f_sel)  # (S, 3)
    # Rolls, not fs[:, [1, 2, 0]]: a Python index list is a host -> device copy that waits for the GPU.
    swap = fs.roll(-1, 1) > fs.roll(1, 1)  # (S, 3): v_{k+1} > v_{k+2}
    loc1 = torch.arange(3, device=faces.device).roll(-1).expand_as(swap)  # (1, 2, 0)
    loc2 = torch.arange(3, device=faces.device).roll(1).expand_as(swap)  # (2, 0, 1)
    q = fuv.reshape(B * F, 3, 2).index_select(0, sel)  # (S, 3, 2)
    a = torch.gather(q, 1, torch.where(swap, loc2, loc1)[..., None].expand(-1, 3, 2))
    b = torch.gather(q, 1, torch.where(swap, loc1, loc2)[..., None].expand(-1, 3, 2))
    sign = torch.where(swap, -1.0, 1.0).to(q) * torch.sign(area2.reshape(-1).index_select(0, sel))[:, None]
    d = (b - a) * sign[..., None]
    inv_z = 1.0 / fz.reshape(B * F, 3).index_select(0, sel)
    rows = torch.cat((a.reshape(-1, 6), d.reshape(-1, 6), inv_z), dim=-1)
    return rows, ints, count


def _candidate_chunks(count: Tensor, max_candidates: int):
    """Enumerate every pixel of every face's box, in chunks of about ``max_candidates``.

    Yields ``(fid, local)`` per chunk: for each candidate, the index of its face (into ``count``) and
    its index inside that face's box (row-major). A face larger than ``max_candidates`` is one chunk.
    """
    S = count.numel()
    if S == 0:
        return
    device = count.device
    cum = torch.cumsum(count, 0)
    total = int(cum[-1])
    if total > max_candidates:
        marks = torch.arange(max_candidates, total, max_candidates, device=device)
        cuts = torch.unique(torch.searchsorted(cum, marks, right=True))
        cuts = cuts[(cuts > 0) & (cuts < S)]
    else:
        cuts = cum.new_zeros(0)
    bounds = torch.cat((cuts.new_zeros(1), cuts, cuts.new_full((1,), S)))
    starts = torch.cat((cum.new_zeros(1), cum))[bounds]  # candidate offset at each boundary
    bounds, starts = bounds.tolist(), starts.tolist()
    excl = cum - count  # candidate offset of each face
    for c in range(len(bounds) - 1):
        f_lo, f_hi, n = bounds[c], bounds[c + 1], starts[c + 1] - starts[c]
        if n == 0:
            continue
        ids = torch.arange(f_lo, f_hi, device=device)
        fid = torch.repeat_interleave(ids, count[f_lo:f_hi], output_size=n)
        local = torch.arange(starts[c], starts[c] + n, device=device) - excl.index_select(0, fid)
        yield fid, local


def _zbuffer(rows, ints, count, B, H, W, max_candidates):
    """Depth-test every (face, pixel-centre) candidate; returns the flat (B*H*W,) winning keys."""
    zbuf = torch.full((B * H * W,), _INT64_MAX, dtype=torch.long, device=rows.device)
    for fid, local in _candidate_chunks(count, max_candidates):
        iv = ints.index_select(0, fid)  # (n, 5): x0, y0, w, first pixel, face index
        dy = torch.div(local, iv[:, 2], rounding_mode="floor")
        dx = local - dy * iv[:, 2]
        row = rows.index_select(0, fid)  # (n, 15)
        pxf = (iv[:, 0] + dx).to(row.dtype)[:, None]
        pyf = (iv[:, 1] + dy).to(row.dtype)[:, None]
        # edge functions E_k = d_k x (p - a_k), sign-normalised so that inside means all >= 0
        e = row[:, 6:12:2] * (pyf - row[:, 1:6:2]) - row[:, 7:12:2] * (pxf - row[:, 0:6:2])
        esum = e.sum(1)
        inside = (e >= 0).all(1) & (esum > 0)
        depth = esum / (e * row[:, 12:15]).sum(1)  # perspective-correct z = 1 / sum(l_k / z_k)
        depth = torch.where(inside, depth, 1.0).float()
        key = (depth.view(torch.int32).long() << 32) | iv[:, 4]
        key = torch.where(inside, key, _INT64_MAX)
        pix = iv[:, 3] + dy * W + dx
        zbuf.scatter_reduce_(0, pix, key, reduce="amin")
    return zbuf


def _fragments(uv, z, faces, face_flat, B, H, W) -> Fragments:
    """Barycentrics and depth of the winning face at each foreground pixel (differentiable)."""
    mask_flat = face_flat >= 0
    fg = mask_flat.nonzero().squeeze(1)
    f = face_flat.index_select(0, fg)
    b = torch.div(fg, H * W, rounding_mode="floor")
    rem = fg - b * H * W
    py = torch.div(rem, W, rounding_mode="floor")
    px = rem - py * W
    V = uv.shape[1]
    vid = (faces.index_select(0, f) + (b * V)[:, None]).reshape(-1)  # (n * 3,) flat b * V + v
    q = uv.reshape(B * V, 2).index_select(0, vid).view(-1, 3, 2)  # (n, 3, 2)
    iz = 1.0 / z.reshape(B * V).index_select(0, vid).view(-1, 3)  # (n, 3)
    p = torch.stack((px, py), -1).to(q.dtype)[:, None]  # (n, 1, 2)
    a, c = q.roll(-1, 1), q.roll(1, 1)  # q[:, [1, 2, 0]], q[:, [2, 0, 1]] without a host -> device copy
    ed, ep = c - a, p - a
    e = ed[..., 0] * ep[..., 1] - ed[..., 1] * ep[..., 0]  # (n, 3), edge k opposite vertex k
    e = e * torch.sign(e.sum(1, keepdim=True)).detach()
    e = e.clamp(min=0)  # centres on an edge may round to tiny negatives
    esum = e.sum(1, keepdim=True)
    third = torch.full_like(e, 1.0 / 3.0)
    lam = torch.where(esum > 0, e / torch.where(esum > 0, esum, 1.0), third)  # screen-space barycentrics
    w = lam * iz
    inv_depth = w.sum(1, keepdim=True)
    bary_fg = w / inv_depth
    depth_fg = 1.0 / inv_depth[:, 0]
    bary = uv.new_zeros(B * H * W, 3).index_put((fg,), bary_fg)
    depth = uv.new_zeros(B * H * W).index_put((fg,), depth_fg)
    return Fragments(
        face_idx=face_flat.reshape(B, H, W),
        bary=bary.reshape(B, H, W, 3),
        depth=depth.reshape(B, H, W),
        mask=mask_flat.reshape(B, H, W),
    )


def rasterize(
    verts_cam: Tensor,
    faces: Tensor,
    K: Tensor,
    image_size: tuple[int, int],
    *,
    near: float = 1e-3,
    cull_backfaces: bool = False,
    max_candidates: int = 1 << 22,
) -> Fragments:
    """Rasterize a batch of triangle meshes (shared topology) seen by pinhole cameras.

    Computation runs in float32 (float64 if ``verts_cam`` is float64); outputs follow the
    floating dtype of ``verts_cam`` (half precision inputs are computed in float32). See the module
    docstring for the pixel, coverage, depth-test and culling conventions.

    Args:
        verts_cam: Vertices in the camera frame (OpenCV axes), shape (B, V, 3).
        faces: Triangles, shape (F, 3), integer vertex indices.
        K: Intrinsics, shape (B, 3, 3), or (3, 3) / (1, 3, 3) shared by the batch; last row ``(0, 0, 1)``.
        image_size: ``(H, W)`` in pixels.
        near: Faces with any vertex at ``z <= near`` are culled (same unit as ``verts_cam``).
        cull_backfaces: Drop faces whose normal ``(v1 - v0) x (v2 - v0)`` points away from the camera.
        max_candidates: Upper bound on (face, pixel) candidates processed at once (memory knob;
            a few hundred bytes each). A single face larger than this is still processed whole.

    Returns:
        A :class:`Fragments` with ``face_idx`` (B, H, W) long (-1 = background), ``bary``
        (B, H, W, 3), ``depth`` (B, H, W) camera z (0 on background) and ``mask`` (B, H, W) bool.

    Raises:
        ShapeError: If a shape or dtype is wrong, or ``faces`` index outside ``[0, V)``.

    Example:
        >>> verts = torch.tensor([[[-1.0, -1.0, 2.0], [1.0, -1.0, 2.0], [0.0, 1.0, 2.0]]])
        >>> K = torch.tensor([[4.0, 0.0, 3.5], [0.0, 4.0, 3.5], [0.0, 0.0, 1.0]])
        >>> frags = rasterize(verts, torch.tensor([[0, 1, 2]]), K, (8, 8))
        >>> frags.mask.shape, int(frags.mask.sum()), round(frags.depth.max().item(), 5)
        (torch.Size([1, 8, 8]), 8, 2.0)
    """
    where = "hpskit.render.rasterize"
    faces, K = _check_inputs(verts_cam, faces, K, image_size, where)
    H, W = int(image_size[0]), int(image_size[1])
    B, F = verts_cam.shape[0], faces.shape[0]
    out_dtype = verts_cam.dtype
    cdt = torch.float64 if out_dtype == torch.float64 else torch.float32
    verts = verts_cam.to(cdt)
    Kc = K.to(cdt)
    uv = project_vertices(verts, Kc)
    z = verts[..., 2]
    with torch.no_grad():
        if F == 0:
            zbuf = torch.full((B * H * W,), _INT64_MAX, dtype=torch.long, device=verts.device)
        else:
            rows, ints, count = _face_setup(uv, z, verts, faces, near, cull_backfaces, H, W)
            zbuf = _zbuffer(rows, ints, count, B, H, W, int(max_candidates))
        face_flat = torch.where(zbuf == _INT64_MAX, -1, zbuf & 0xFFFFFFFF)
    frags = _fragments(uv, z, faces, face_flat, B, H, W)
    if out_dtype != cdt:
        frags.bary, frags.depth = frags.bary.to(out_dtype), frags.depth.to(out_dtype)
    return frags
