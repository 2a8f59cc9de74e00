"""A small stateful convenience over the functional renderer: one mesh topology, several maps, one pass."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from hpskit.core import check_shape

from .raster import Fragments, rasterize
from .shading import DEFAULT_LIGHT_DIR, part_labels_from_fragments, shade_lambert

__all__ = ["RenderOutput", "Renderer"]


@dataclass
class RenderOutput:
    """Maps from one rasterization.

    Attributes:
        depth: Camera z, shape (B, H, W); 0 on the background.
        mask: Foreground, shape (B, H, W), bool.
        part_labels: Part labels, shape (B, H, W), long; ``None`` if the renderer has no vertex labels.
        fragments: The underlying :class:`Fragments`.
    """

    depth: Tensor
    mask: Tensor
    part_labels: Tensor | None
    fragments: Fragments


class Renderer:
    """Render depth, masks, part labels and shaded RGB of meshes that share one topology.

    Not an ``nn.Module`` (it has no parameters); :meth:`to` moves its index tensors.

    Args:
        faces: Triangles, shape (F, 3).
        image_size: ``(H, W)``.
        vertex_labels: Optional per-vertex part labels, shape (V,), long.
        face_rule: How a face gets its part label (see :mod:`hpskit.render.shading`).
        near: Near-plane culling distance (see :func:`rasterize`).
        cull_backfaces: Drop back faces.
        max_candidates: Memory knob of :func:`rasterize`.

    Example:
        >>> verts = torch.tensor([[[-1.0, -1.0, 2.0], [1.0, -1.0, 2.0], [0.0, 1.0, 2.0]]])
        >>> K = torch.tensor([[4.0, 0.0, 3.5], [0.0, 4.0, 3.5], [0.0, 0.0, 1.0]])
        >>> r = Renderer(torch.tensor([[0, 1, 2]]), (8, 8), vertex_labels=torch.tensor([3, 3, 1]))
        >>> out = r(verts, K)
        >>> out.depth.shape, out.part_labels.unique().tolist()
        (torch.Size([1, 8, 8]), [0, 3])
    """

    def __init__(
        self,
        faces: Tensor,
        image_size: Sequence[int],
        vertex_labels: Tensor | None = None,
        face_rule: str = "majority",
        near: float = 1e-3,
        cull_backfaces: bool = False,
        max_candidates: int = 1 << 22,
    ):
        where = "hpskit.render.Renderer"
        check_shape(faces, ("F", 3), "faces", where)
        self.faces = faces.long()
        self.image_size = (int(image_size[0]), int(image_size[1]))
        if vertex_labels is not None:
            check_shape(vertex_labels, ("V",), "vertex_labels", where)
            vertex_labels = vertex_labels.long()
        self.vertex_labels = vertex_labels
        self.face_rule = face_rule
        self.raster_kwargs = dict(near=near, cull_backfaces=cull_backfaces, max_candidates=max_candidates)

    def to(self, device: torch.device | str) -> Renderer:
        """Move the index tensors to ``device`` (in place); returns ``self``."""
        self.faces = self.faces.to(device)
        if self.vertex_labels is not None:
            self.vertex_labels = self.vertex_labels.to(device)
        return self

    def __repr__(self) -> str:
        return (f"Renderer(faces={tuple(self.faces.shape)}, image_size={self.image_size}, "
                f"labels={self.vertex_labels is not None}, face_rule={self.face_rule!r}, "
                f"{self.raster_kwargs})")

    def rasterize(self, verts_cam: Tensor, K: Tensor) -> Fragments:
        """Rasterize (B, V, 3) camera-frame vertices with intrinsics (B, 3, 3) or (3, 3)."""
        return rasterize(verts_cam, self.faces, K, self.image_size, **self.raster_kwargs)

    def __call__(self, verts_cam: Tensor, K: Tensor) -> RenderOutput:
        """Depth, mask and (if labels were given) part labels from one rasterization.

        Args:
            verts_cam: Vertices in the camera frame, shape (B, V, 3).
            K: Intrinsics, shape (B, 3, 3) or (3, 3).

        Returns:
            A :class:`RenderOutput`.
        """
        frags = self.rasterize(verts_cam, K)
        labels = None
        if self.vertex_labels is not None:
            labels = part_labels_from_fragments(frags, self.faces, self.vertex_labels, self.face_rule)
        return RenderOutput(depth=frags.depth, mask=frags.mask, part_labels=labels, fragments=frags)

    def rgb(
        self,
        verts_cam: Tensor,
        K: Tensor,
        vertex_colors: Tensor | None = None,
        face_colors: Tensor | None = None,
        light_dir: Sequence[float] | Tensor = DEFAULT_LIGHT_DIR,
        ambient: float = 0.4,
        diffuse: float = 0.6,
        smooth: bool = True,
        background: float | Sequence[float] = 0.0,
    ) -> tuple[Tensor, Tensor]:
        """Lambert-shaded RGB (B, 3, H, W) and its mask (B, H, W) (see :func:`render_rgb`)."""
        frags = self.rasterize(verts_cam, K)
        rgb = shade_lambert(frags, verts_cam, self.faces, vertex_colors, face_colors, light_dir, ambient,
                            diffuse, smooth, background)
        return rgb, frags.mask
