"""Maps built on :func:`~hpskit.render.raster.rasterize`: depth, silhouette, part labels, normals, RGB.

Every ``render_*`` function rasterizes once; to get several maps from one rasterization, call
:func:`rasterize` and then the ``*_from_fragments`` helpers, or use :class:`~hpskit.render.Renderer`.

Part labels: a face takes the label of its vertices by majority (two or three agree), else the label of
its first vertex (``face_rule="majority"``, default); ``"first"`` always takes the first vertex and
``"min"`` the smallest of the three (what the D-PoSE authors' renderer effectively does, see
``formats.md`` §10). Pixels get the label of their visible face; background pixels, and faces labelled 0,
give 0. ``"nearest_vertex"`` instead labels each pixel with its visible face's vertex of largest
barycentric weight, which follows the vertex table more finely along part seams.

Shading: Lambert, ``ambient + diffuse * max(0, n . l)`` times the colour, with ``l`` the unit direction
from the surface towards a directional light (camera frame) and ``n`` the interpolated vertex normal
(``smooth=True``) or the face normal, flipped to face the camera (two-sided lighting).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from hpskit.core import ShapeError, check_shape

from .raster import Fragments, rasterize

__all__ = [
    "face_labels_from_vertex_labels",
    "face_normals",
    "interpolate_vertex_attributes",
    "overlay",
    "part_labels_from_fragments",
    "render_depth",
    "render_normals",
    "render_part_labels",
    "render_rgb",
    "render_silhouette",
    "shade_lambert",
    "vertex_normals",
]

DEFAULT_LIGHT_DIR = (0.0, -0.4, -1.0)  # towards the light: from the camera, a little from above (y down)
DEFAULT_COLOR = (0.75, 0.75, 0.78)


def _batched(attrs: Tensor, B: int, n: int, name: str, where: str) -> Tensor:
    """Accept (n, C) or (B, n, C) per-element attributes; return (B, n, C)."""
    if attrs.dim() == 2:
        check_shape(attrs, (n, "C"), name, where)
        return attrs.expand(B, n, attrs.shape[-1])
    check_shape(attrs, (B, n, "C"), name, where, hint=f"Pass ({n}, C) to share it across the batch.")
    return attrs


def interpolate_vertex_attributes(fragments: Fragments, faces: Tensor, vertex_attrs: Tensor) -> Tensor:
    """Interpolate per-vertex attributes at every pixel with the perspective-correct barycentrics.

    Differentiable w.r.t. ``vertex_attrs`` (and w.r.t. vertex positions through ``fragments.bary``).

    Args:
        fragments: Output of :func:`rasterize` for a batch of B images of size (H, W).
        faces: Triangles, shape (F, 3), long.
        vertex_attrs: Attributes, shape (B, V, C) or (V, C).

    Returns:
        Interpolated attributes, shape (B, H, W, C); zeros on the background.
    """
    where = "hpskit.render.interpolate_vertex_attributes"
    B, H, W = fragments.face_idx.shape
    faces = faces.to(device=fragments.face_idx.device, dtype=torch.long)
    V = vertex_attrs.shape[-2]
    attrs = _batched(vertex_attrs, B, V, "vertex_attrs", where)
    C = attrs.shape[-1]
    mask = fragments.mask.reshape(-1)
    fg = mask.nonzero().squeeze(1)
    f = fragments.face_idx.reshape(-1)[fg]
    b = torch.div(fg, H * W, rounding_mode="floor")
    vals = attrs[b[:, None], faces[f]]  # (n, 3, C)
    bary = fragments.bary.reshape(-1, 3)[fg].to(vals.dtype)
    out_fg = (bary[..., None] * vals).sum(1)
    out = attrs.new_zeros(B * H * W, C).index_put((fg,), out_fg)
    return out.reshape(B, H, W, C)


def face_normals(verts: Tensor, faces: Tensor) -> Tensor:
    """Unit face normals ``(v1 - v0) x (v2 - v0)``, shape (B, F, 3) for verts (B, V, 3)."""
    fv = verts[:, faces.long()]
    n = torch.linalg.cross(fv[:, :, 1] - fv[:, :, 0], fv[:, :, 2] - fv[:, :, 0], dim=-1)
    return torch.nn.functional.normalize(n, dim=-1, eps=1e-12)


def vertex_normals(verts: Tensor, faces: Tensor) -> Tensor:
    """Area-weighted unit vertex normals, shape (B, V, 3) for verts (B, V, 3) and faces (F, 3)."""
    faces = faces.long()
    fv = verts[:, faces]
    n = torch.linalg.cross(fv[:, :, 1] - fv[:, :, 0], fv[:, :, 2] - fv[:, :, 0], dim=-1)  # |n| = 2 area
    out = verts.new_zeros(verts.shape).index_add(1, faces.reshape(-1), n.repeat_interleave(3, dim=1))
    return torch.nn.functional.normalize(out, dim=-1, eps=1e-12)


def face_labels_from_vertex_labels(
    faces: Tensor, vertex_labels: Tensor, face_rule: str = "majority"
) -> Tensor:
    """Label each face from its vertices' labels (see the module docstring for the rules).

    Args:
        faces: Triangles, shape (F, 3).
        vertex_labels: Per-vertex labels, shape (V,), long.
        face_rule: ``"majority"`` (else first vertex), ``"first"`` or ``"min"``.

    Returns:
        Face labels, shape (F,), long.

    Example:
        >>> faces = torch.tensor([[0, 1, 2], [1, 2, 3]])
        >>> face_labels_from_vertex_labels(faces, torch.tensor([5, 7, 7, 2]))
        tensor([7, 7])
    """
    lab = vertex_labels.long()[faces.long()]  # (F, 3)
    if face_rule == "majority":
        return torch.where(lab[:, 1] == lab[:, 2], lab[:, 1], lab[:, 0])
    if face_rule == "first":
        return lab[:, 0]
    if face_rule == "min":
        return lab.amin(1)
    raise ShapeError(
        "hpskit.render.face_labels_from_vertex_labels: `face_rule` must be 'majority', 'first', 'min' "
        f"(or 'nearest_vertex' for pixel labels); got {face_rule!r}."
    )


def part_labels_from_fragments(
    fragments: Fragments, faces: Tensor, vertex_labels: Tensor, face_rule: str = "majority"
) -> Tensor:
    """Per-pixel part labels from rasterized fragments, shape (B, H, W) long (0 on the background).

    Args:
        fragments: Output of :func:`rasterize`.
        faces: Triangles, shape (F, 3).
        vertex_labels: Per-vertex labels, shape (V,), long.
        face_rule: ``"majority"``, ``"first"``, ``"min"`` or ``"nearest_vertex"``.
    """
    faces = faces.to(device=fragments.face_idx.device, dtype=torch.long)
    vertex_labels = vertex_labels.to(device=faces.device, dtype=torch.long)
    check_shape(vertex_labels, ("V",), "vertex_labels", "hpskit.render.part_labels_from_fragments")
    fidx = fragments.face_idx.clamp(min=0)
    if face_rule == "nearest_vertex":
        corner = fragments.bary.argmax(-1, keepdim=True)  # (B, H, W, 1)
        lab = vertex_labels[faces][fidx].gather(-1, corner)[..., 0]
    else:
        lab = face_labels_from_vertex_labels(faces, vertex_labels, face_rule)[fidx]
    return torch.where(fragments.mask, lab, 0)


def _rasterize(verts, faces, K, image_size, kwargs) -> Fragments:
    return rasterize(verts, faces, K, image_size, **kwargs)


def render_depth(
    verts_cam: Tensor, faces: Tensor, K: Tensor, image_size: Sequence[int], **kwargs: Any
) -> Tensor:
    """Depth map (camera z), shape (B, H, W); 0 on the background. ``kwargs`` go to :func:`rasterize`.

    Example:
        >>> verts = torch.tensor([[[-1.0, -1.0, 3.0], [1.0, -1.0, 3.0], [0.0, 1.0, 3.0]]])
        >>> K = torch.tensor([[4.0, 0.0, 3.5], [0.0, 4.0, 3.5], [0.0, 0.0, 1.0]])
        >>> round(render_depth(verts, torch.tensor([[0, 1, 2]]), K, (8, 8)).amax().item(), 5)
        3.0
    """
    return _rasterize(verts_cam, faces, K, image_size, kwargs).depth


def render_silhouette(
    verts_cam: Tensor, faces: Tensor, K: Tensor, image_size: Sequence[int], **kwargs: Any
) -> Tensor:
    """Binary silhouette, shape (B, H, W), in the dtype of ``verts_cam`` (1 = covered, 0 = background).

    Hard: it has no gradient w.r.t. the vertices.
    """
    return _rasterize(verts_cam, faces, K, image_size, kwargs).mask.to(verts_cam.dtype)


def render_part_labels(
    verts_cam: Tensor,
    faces: Tensor,
    K: Tensor,
    image_size: Sequence[int],
    vertex_labels: Tensor,
    face_rule: str = "majority",
    **kwargs: Any,
) -> Tensor:
    """Part-label map, shape (B, H, W) long, 0 on the background.

    Args:
        verts_cam: Vertices in the camera frame, shape (B, V, 3).
        faces: Triangles, shape (F, 3).
        K: Intrinsics, shape (B, 3, 3) or (3, 3).
        image_size: ``(H, W)``.
        vertex_labels: Per-vertex labels, shape (V,), long (0 = no part).
        face_rule: How a face gets its label (module docstring).
        **kwargs: Passed to :func:`rasterize`.

    Returns:
        Labels, shape (B, H, W), long.
    """
    frags = _rasterize(verts_cam, faces, K, image_size, kwargs)
    return part_labels_from_fragments(frags, faces, vertex_labels, face_rule)


def render_normals(
    verts_cam: Tensor, faces: Tensor, K: Tensor, image_size: Sequence[int], smooth: bool = True, **kwargs: Any
) -> Tensor:
    """Camera-frame unit normals facing the camera, shape (B, 3, H, W); zeros on the background."""
    frags = _rasterize(verts_cam, faces, K, image_size, kwargs)
    return _pixel_normals(frags, verts_cam, faces, smooth).permute(0, 3, 1, 2)


def _pixel_normals(frags: Fragments, verts: Tensor, faces: Tensor, smooth: bool) -> Tensor:
    faces = faces.to(device=verts.device, dtype=torch.long)
    if smooth:
        n = interpolate_vertex_attributes(frags, faces, vertex_normals(verts, faces))
    else:
        B = verts.shape[0]
        fn = face_normals(verts, faces)
        fidx = frags.face_idx.clamp(min=0).reshape(B, -1, 1).expand(-1, -1, 3)
        n = torch.gather(fn, 1, fidx).reshape(*frags.face_idx.shape, 3)
    n = torch.nn.functional.normalize(n, dim=-1, eps=1e-12)
    # view ray through the pixel ~ the surface point; flip normals that face away from the camera
    rays = _pixel_points(frags, verts, faces)
    flip = (n * rays).sum(-1, keepdim=True) > 0
    n = torch.where(flip, -n, n)
    return torch.where(frags.mask[..., None], n, 0.0)


def _pixel_points(frags: Fragments, verts: Tensor, faces: Tensor) -> Tensor:
    return interpolate_vertex_attributes(frags, faces, verts)


def shade_lambert(
    frags: Fragments,
    verts_cam: Tensor,
    faces: Tensor,
    vertex_colors: Tensor | None = None,
    face_colors: Tensor | None = None,
    light_dir: Sequence[float] | Tensor = DEFAULT_LIGHT_DIR,
    ambient: float = 0.4,
    diffuse: float = 0.6,
    smooth: bool = True,
    background: float | Sequence[float] = 0.0,
) -> Tensor:
    """Lambert-shade rasterized fragments, shape (B, 3, H, W) (see :func:`render_rgb` for the arguments)."""
    where = "hpskit.render.shade_lambert"
    B, V = verts_cam.shape[:2]
    faces = faces.to(device=verts_cam.device, dtype=torch.long)
    F = faces.shape[0]
    if vertex_colors is not None and face_colors is not None:
        raise ShapeError(f"{where}: pass `vertex_colors` or `face_colors`, not both.")
    if vertex_colors is not None:
        col = interpolate_vertex_attributes(frags, faces, _batched(vertex_colors.to(verts_cam), B, V,
                                                                   "vertex_colors", where))
    elif face_colors is not None:
        fc = _batched(face_colors.to(verts_cam), B, F, "face_colors", where)
        fidx = frags.face_idx.clamp(min=0).reshape(B, -1, 1).expand(-1, -1, fc.shape[-1])
        col = torch.gather(fc, 1, fidx).reshape(*frags.face_idx.shape, fc.shape[-1])
    else:
        col = verts_cam.new_tensor(DEFAULT_COLOR).expand(*frags.face_idx.shape, 3)
    n = _pixel_normals(frags, verts_cam, faces, smooth)
    light = torch.as_tensor(light_dir, dtype=verts_cam.dtype, device=verts_cam.device).reshape(-1, 3)
    light = torch.nn.functional.normalize(light, dim=-1)[:, None, None, :]  # (1 or B, 1, 1, 3)
    lam = (n * light).sum(-1, keepdim=True).clamp(min=0)
    rgb = col * (ambient + diffuse * lam)
    bg = torch.as_tensor(background, dtype=rgb.dtype, device=rgb.device).expand(3)
    rgb = torch.where(frags.mask[..., None], rgb, bg)
    return rgb.permute(0, 3, 1, 2)


def render_rgb(
    verts_cam: Tensor,
    faces: Tensor,
    K: Tensor,
    image_size: Sequence[int],
    vertex_colors: Tensor | None = None,
    face_colors: Tensor | None = None,
    light_dir: Sequence[float] | Tensor = DEFAULT_LIGHT_DIR,
    ambient: float = 0.4,
    diffuse: float = 0.6,
    smooth: bool = True,
    background: float | Sequence[float] = 0.0,
    **kwargs: Any,
) -> Tensor:
    """Shaded RGB render (Lambert, directional light + ambient), shape (B, 3, H, W).

    Colours are per vertex (interpolated), per face (flat), or a default clay grey. For per-part
    colours pass ``face_colors=palette[face_labels_from_vertex_labels(faces, labels)]`` or
    ``vertex_colors=palette[labels]``, with ``palette`` (P, 3) in [0, 1].

    Args:
        verts_cam: Vertices in the camera frame, shape (B, V, 3).
        faces: Triangles, shape (F, 3).
        K: Intrinsics, shape (B, 3, 3) or (3, 3).
        image_size: ``(H, W)``.
        vertex_colors: Per-vertex RGB, shape (B, V, 3) or (V, 3).
        face_colors: Per-face RGB, shape (B, F, 3) or (F, 3).
        light_dir: Unit direction from the surface towards the light, camera frame, shape (3,) or (B, 3).
        ambient: Ambient term.
        diffuse: Diffuse weight.
        smooth: Interpolated vertex normals (True) or flat face normals (False).
        background: Background value, scalar or RGB.
        **kwargs: Passed to :func:`rasterize`.

    Returns:
        RGB image, shape (B, 3, H, W), in the dtype of ``verts_cam``.
    """
    frags = _rasterize(verts_cam, faces, K, image_size, kwargs)
    return shade_lambert(frags, verts_cam, faces, vertex_colors, face_colors, light_dir, ambient, diffuse,
                         smooth, background)


def overlay(image: Tensor, render: Tensor, mask: Tensor, alpha: float = 0.8) -> Tensor:
    """Alpha-blend a render onto an image where ``mask`` is set: ``image * (1 - a m) + render * a m``.

    Args:
        image: Image, shape (B, 3, H, W) or (3, H, W); float in [0, 1] or uint8 (0..255).
        render: Render, same shape as ``image``; float in [0, 1].
        mask: Coverage, shape (B, H, W) or (H, W), bool or float in [0, 1] (soft masks blend partially).
        alpha: Opacity of the render.

    Returns:
        Blended image, same shape and dtype as ``image`` (uint8 is rounded).

    Example:
        >>> img, ren = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
        >>> overlay(img, ren, torch.tensor([[[True, False], [False, False]]]), alpha=0.5)[0, 0]
        tensor([[0.5000, 0.0000],
                [0.0000, 0.0000]])
    """
    where = "hpskit.render.overlay"
    dims = check_shape(image, ("...", 3, "H", "W"), "image", where)
    check_shape(render, tuple(image.shape), "render", where)
    check_shape(mask, ("...", dims["H"], dims["W"]), "mask", where)
    is_uint8 = image.dtype == torch.uint8
    img = image.float() / 255.0 if is_uint8 else image
    m = (mask.to(img.dtype) * alpha).unsqueeze(-3)
    out = img * (1 - m) + render.to(img.dtype) * m
    if is_uint8:
        return (out * 255.0).round().clamp(0, 255).to(torch.uint8)
    return out
