"""hpskit.render.shading: part labels, interpolation, normals, Lambert shading, overlay."""

import math

import pytest
import torch

from hpskit.core import ShapeError
from hpskit.render import (
    face_labels_from_vertex_labels,
    interpolate_vertex_attributes,
    overlay,
    part_labels_from_fragments,
    rasterize,
    render_depth,
    render_normals,
    render_part_labels,
    render_rgb,
    render_silhouette,
    vertex_normals,
)
from hpskit.testing.meshes import ellipsoid_mesh, figure_mesh


def _K(f, cx, cy, dtype=torch.float32):
    return torch.tensor([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]], dtype=dtype)


def _square(z=2.0, half=0.5, dtype=torch.float32):
    verts = torch.tensor([[-half, -half, z], [half, -half, z], [half, half, z], [-half, half, z]],
                         dtype=dtype)
    return verts[None], torch.tensor([[0, 1, 2], [0, 2, 3]])


def _figure_scene(B=2):
    v, f, lab = figure_mesh(10, 16)
    R = torch.diag(torch.tensor([1.0, -1.0, -1.0]))
    out = []
    for k in range(B):
        a = 0.7 * k + 0.3
        c, s = math.cos(a), math.sin(a)
        Ry = torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
        out.append((v - torch.tensor([0.0, 0.92, 0.0])) @ (R @ Ry).T + torch.tensor([0.0, 0.0, 3.0]))
    return torch.stack(out), f, lab, _K(60.0, 31.5, 31.5)


def test_face_label_rules():
    faces = torch.tensor([[0, 1, 2], [0, 1, 3], [3, 1, 2], [0, 3, 4]])
    labels = torch.tensor([4, 2, 2, 4, 7])
    assert face_labels_from_vertex_labels(faces, labels).tolist() == [2, 4, 2, 4]  # majority, else first
    assert face_labels_from_vertex_labels(faces, labels, "first").tolist() == [4, 4, 4, 4]
    assert face_labels_from_vertex_labels(faces, labels, "min").tolist() == [2, 2, 2, 4]
    assert face_labels_from_vertex_labels(torch.tensor([[4, 0, 1]]), labels).tolist() == [7]  # all differ
    with pytest.raises(ShapeError, match="face_rule"):
        face_labels_from_vertex_labels(faces, labels, "mode")


def test_part_label_map_is_the_visible_faces_label():
    verts, f, lab, K = _figure_scene()
    fr = rasterize(verts, f, K, (64, 64))
    parts = render_part_labels(verts, f, K, (64, 64), lab)
    assert parts.dtype == torch.long and parts.shape == (2, 64, 64)
    face_lab = face_labels_from_vertex_labels(f, lab)
    assert torch.equal(parts[fr.mask], face_lab[fr.face_idx[fr.mask]])
    assert torch.all(parts[~fr.mask] == 0)
    assert set(parts.unique().tolist()) >= {0, 1, 2, 3}
    near = part_labels_from_fragments(fr, f, lab, "nearest_vertex")
    corner = fr.bary.argmax(-1)
    expected = lab[f[fr.face_idx.clamp(min=0), ...].gather(-1, corner[..., None])[..., 0]]
    assert torch.equal(near[fr.mask], expected[fr.mask])
    # each ellipsoid has one label, so both rules agree everywhere
    assert torch.equal(near, parts)


def test_depth_and_silhouette_helpers_agree_with_rasterize():
    verts, f, _, K = _figure_scene()
    fr = rasterize(verts, f, K, (48, 40))
    assert torch.equal(render_depth(verts, f, K, (48, 40)), fr.depth)
    sil = render_silhouette(verts, f, K, (48, 40))
    assert sil.dtype == verts.dtype and torch.equal(sil.bool(), fr.mask)


def test_interpolation_reproduces_linear_attributes_and_has_gradients():
    # an attribute linear in camera-space position is reproduced exactly by perspective-correct barycentrics
    verts, f, _, K = _figure_scene()
    verts = verts.double()
    fr = rasterize(verts, f, K.double(), (40, 40))
    M = torch.tensor([[0.3, -1.0], [2.0, 0.5], [-0.7, 1.1]], dtype=torch.float64)
    attr = (verts @ M).requires_grad_()
    out = interpolate_vertex_attributes(fr, f, attr)
    u, v = torch.meshgrid(torch.arange(40.0), torch.arange(40.0), indexing="xy")
    pix = torch.stack((u, v, torch.ones(40, 40))).double().reshape(3, -1)
    rays = torch.linalg.solve(K.double(), pix).T.reshape(40, 40, 3)
    P = rays[None] * fr.depth[..., None]
    ref = P @ M
    assert torch.allclose(out[fr.mask], ref[fr.mask], atol=1e-9)
    assert torch.all(out[~fr.mask] == 0)
    out.sum().backward()
    assert attr.grad.abs().sum() > 0

    small = torch.rand(1, 4, 2, dtype=torch.float64, requires_grad=True)
    sv, sf = _square(dtype=torch.float64)
    sfr = rasterize(sv, sf, _K(8.0, 5.3, 3.6, torch.float64), (9, 10))
    torch.autograd.gradcheck(lambda a: interpolate_vertex_attributes(sfr, sf, a), (small,))


def test_vertex_normals_of_a_sphere_are_radial():
    v, f = ellipsoid_mesh(20, 30)
    n = vertex_normals(v[None], f)[0]
    cos = (n * v / v.norm(dim=-1, keepdim=True)).sum(-1)
    assert torch.allclose(n.norm(dim=-1), torch.tensor(1.0)) and cos.min() > 0.995  # outward, ~radial


def test_normals_face_the_camera():
    verts, faces = _square()
    for fcs in (faces, faces.flip(1)):  # both windings give camera-facing normals
        n = render_normals(verts, fcs, _K(8.0, 5.3, 3.6), (9, 10))
        m = n.abs().sum(1) > 0
        assert m.sum() == 16
        assert torch.allclose(n.permute(0, 2, 3, 1)[m], torch.tensor([0.0, 0.0, -1.0]), atol=1e-6)
    flat = render_normals(verts, faces, _K(8.0, 5.3, 3.6), (9, 10), smooth=False)
    assert torch.allclose(flat, n, atol=1e-6)


def test_lambert_shading_values():
    verts, faces = _square()
    K = _K(8.0, 5.3, 3.6)
    color = torch.tensor([0.2, 0.6, 1.0])
    rgb = render_rgb(verts, faces, K, (9, 10), vertex_colors=color.expand(4, 3), light_dir=(0.0, 0.0, -1.0),
                     ambient=0.3, diffuse=0.5, background=(0.1, 0.2, 0.3))
    assert rgb.shape == (1, 3, 9, 10)
    assert torch.allclose(rgb[0, :, 3, 5], color * 0.8, atol=1e-6)
    assert torch.allclose(rgb[0, :, 0, 0], torch.tensor([0.1, 0.2, 0.3]))
    # light at 60 degrees off the normal -> cos = 0.5
    side = render_rgb(verts, faces, K, (9, 10), face_colors=color.expand(2, 3),
                      light_dir=(math.sin(math.pi / 3), 0.0, -math.cos(math.pi / 3)),
                      ambient=0.3, diffuse=0.5)
    assert torch.allclose(side[0, :, 3, 5], color * 0.55, atol=1e-6)
    # light from behind -> ambient only
    back = render_rgb(verts, faces, K, (9, 10), light_dir=(0.0, 0.0, 1.0), ambient=0.3, diffuse=0.5)
    assert torch.allclose(back[0, :, 3, 5], torch.tensor([0.75, 0.75, 0.78]) * 0.3, atol=1e-6)
    # per-face colours: each triangle its own colour
    two = render_rgb(verts, faces, K, (9, 10), face_colors=torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]),
                     light_dir=(0.0, 0.0, -1.0), ambient=1.0, diffuse=0.0)
    fr = rasterize(verts, faces, K, (9, 10))
    assert torch.equal(two[0, 1][fr.mask[0]] == 1.0, fr.face_idx[0][fr.mask[0]] == 1)
    with pytest.raises(ShapeError, match="not both"):
        render_rgb(verts, faces, K, (9, 10), vertex_colors=torch.ones(4, 3), face_colors=torch.ones(2, 3))
    with pytest.raises(ShapeError, match="vertex_colors"):
        render_rgb(verts, faces, K, (9, 10), vertex_colors=torch.ones(5, 3))


def test_overlay_alpha_math():
    img = torch.full((2, 3, 4, 5), 0.2)
    ren = torch.full((2, 3, 4, 5), 1.0)
    mask = torch.zeros(2, 4, 5, dtype=torch.bool)
    mask[:, 1, 2] = True
    out = overlay(img, ren, mask, alpha=0.25)
    assert torch.allclose(out[:, :, 1, 2], torch.tensor(0.2 * 0.75 + 0.25))
    assert torch.equal(out[:, :, 0], img[:, :, 0])
    soft = overlay(img, ren, mask.float() * 0.5, alpha=1.0)
    assert torch.allclose(soft[:, :, 1, 2], torch.tensor(0.6))
    u8 = overlay(torch.full((3, 4, 5), 100, dtype=torch.uint8), ren[0], mask[0], alpha=0.5)
    assert u8.dtype == torch.uint8
    assert int(u8[0, 1, 2]) == round(0.5 * 100 + 0.5 * 255) and int(u8[0, 0, 0]) == 100
    with pytest.raises(ShapeError, match="mask"):
        overlay(img, ren, mask[:, :3], alpha=0.5)
    with pytest.raises(ShapeError, match="render"):
        overlay(img, ren[:, :2], mask, alpha=0.5)
