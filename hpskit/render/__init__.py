"""Torch-native batched rasterizer and renderers (depth, silhouettes, part labels, normals, RGB, overlays)
a differentiable soft silhouette, and the training image panels (:mod:`hpskit.render.panels`).

pytorch3d cannot be installed here, so :mod:`hpskit.render.raster` is written in plain torch; the same
code runs on CPU and GPU. Conventions (OpenCV camera, pixel centres at integer coordinates) are in the
module docstring of :mod:`hpskit.render.raster`.
"""

from .panels import make_panel
from .raster import Fragments, project_vertices, rasterize
from .renderer import Renderer, RenderOutput
from .shading import (
    face_labels_from_vertex_labels,
    face_normals,
    interpolate_vertex_attributes,
    overlay,
    part_labels_from_fragments,
    render_depth,
    render_normals,
    render_part_labels,
    render_rgb,
    render_silhouette,
    shade_lambert,
    vertex_normals,
)
from .soft import soft_silhouette

__all__ = [
    "Fragments",
    "RenderOutput",
    "Renderer",
    "face_labels_from_vertex_labels",
    "face_normals",
    "interpolate_vertex_attributes",
    "make_panel",
    "overlay",
    "part_labels_from_fragments",
    "project_vertices",
    "rasterize",
    "render_depth",
    "render_normals",
    "render_part_labels",
    "render_rgb",
    "render_silhouette",
    "shade_lambert",
    "soft_silhouette",
    "vertex_normals",
]
