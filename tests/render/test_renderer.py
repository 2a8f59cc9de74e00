"""hpskit.render.renderer: the stateful Renderer equals the functional API."""

import torch

from hpskit.render import (
    Renderer,
    face_labels_from_vertex_labels,
    rasterize,
    render_part_labels,
    render_rgb,
)
from hpskit.testing.meshes import figure_mesh


def _scene():
    v, f, lab = figure_mesh(8, 12)
    R = torch.diag(torch.tensor([1.0, -1.0, -1.0]))
    verts = torch.stack([(v - torch.tensor([0.0, 0.92, 0.0])) @ R.T + torch.tensor([0.0, 0.0, 3.0 + k])
                         for k in range(2)])
    return verts, f, lab, torch.tensor([[50.0, 0.0, 23.5], [0.0, 50.0, 27.5], [0.0, 0.0, 1.0]])


def test_renderer_matches_functions():
    verts, f, lab, K = _scene()
    r = Renderer(f, (56, 48), vertex_labels=lab, face_rule="min")
    out = r(verts, K)
    fr = rasterize(verts, f, K, (56, 48))
    assert torch.equal(out.depth, fr.depth) and torch.equal(out.mask, fr.mask)
    assert torch.equal(out.part_labels, render_part_labels(verts, f, K, (56, 48), lab, face_rule="min"))
    assert torch.equal(out.fragments.face_idx, fr.face_idx)
    colors = torch.rand(12, 3)[face_labels_from_vertex_labels(f, lab)]
    rgb, mask = r.rgb(verts, K, face_colors=colors)
    assert torch.equal(rgb, render_rgb(verts, f, K, (56, 48), face_colors=colors))
    assert torch.equal(mask, fr.mask)
    assert "Renderer(faces=" in repr(r)


def test_renderer_without_labels_and_options():
    verts, f, _, K = _scene()
    r = Renderer(f, (56, 48), cull_backfaces=True, max_candidates=100).to("cpu")
    out = r(verts, K)
    assert out.part_labels is None
    assert torch.equal(out.depth, rasterize(verts, f, K, (56, 48)).depth)  # closed outward mesh
