"""hpskit.render.raster: hand-derived cases, a brute-force coverage oracle, occlusion, culling, gradients."""

import functools
import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from hpskit.core import ShapeError
from hpskit.render import Fragments, project_vertices, rasterize
from hpskit.testing.meshes import box_mesh, ellipsoid_mesh


def _K(f, cx, cy, fy=None, skew=0.0, dtype=torch.float32):
    return torch.tensor([[f, skew, cx], [0.0, fy if fy is not None else f, cy], [0.0, 0.0, 1.0]], dtype=dtype)


def _square(z=2.0, half=0.5):
    verts = torch.tensor([[-half, -half, z], [half, -half, z], [half, half, z], [-half, half, z]])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    return verts[None], faces


def _rot_y(a):
    c, s = math.cos(a), math.sin(a)
    return torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_x(a):
    c, s = math.cos(a), math.sin(a)
    return torch.tensor([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


# ---------------------------------------------------------------- hand-derived cases
def test_plane_fills_expected_pixels_at_exact_depth():
    verts, faces = _square(z=2.0)
    # u = 4 x + 5.3 in [3.3, 7.3] -> columns 4..7; v = 4 y + 3.6 in [1.6, 5.6] -> rows 2..5
    fr = rasterize(verts, faces, _K(8.0, 5.3, 3.6), (9, 10))
    expected = torch.zeros(1, 9, 10, dtype=torch.bool)
    expected[0, 2:6, 4:8] = True
    assert torch.equal(fr.mask, expected)
    assert torch.allclose(fr.depth[fr.mask], torch.tensor(2.0), rtol=1e-6, atol=0)
    assert torch.all(fr.depth[~fr.mask] == 0)
    assert torch.all(fr.face_idx[~fr.mask] == -1)
    assert set(fr.face_idx[fr.mask].tolist()) == {0, 1}
    assert torch.allclose(fr.bary[fr.mask].sum(-1), torch.tensor(1.0), atol=1e-6)


def test_plane_edges_on_pixel_centres_are_inclusive():
    verts, faces = _square(z=2.0)
    fr = rasterize(verts, faces, _K(8.0, 5.0, 4.0), (9, 10))  # u in [3, 7], v in [2, 6] exactly
    expected = torch.zeros(1, 9, 10, dtype=torch.bool)
    expected[0, 2:7, 3:8] = True
    assert torch.equal(fr.mask, expected)


def test_tilted_plane_depth_is_perspective_correct():
    # plane z = 3 + 0.8 x; depth at each pixel = ray-plane intersection (exact formula)
    xs = torch.tensor([-1.0, 1.0, 1.0, -1.0], dtype=torch.float64)
    ys = torch.tensor([-1.0, -1.0, 1.0, 1.0], dtype=torch.float64)
    verts = torch.stack((xs, ys, 3 + 0.8 * xs), -1)[None]
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    K = _K(20.0, 15.2, 14.7, fy=22.0, skew=1.5, dtype=torch.float64)
    fr = rasterize(verts, faces, K, (30, 32))
    i, j = torch.nonzero(fr.mask[0], as_tuple=True)
    pix = torch.stack((j.double(), i.double(), torch.ones_like(i, dtype=torch.float64)))
    rays = torch.linalg.solve(K, pix)
    # z (1 - 0.8 dx) = 3 with dx = ray x / ray z
    z_ref = 3.0 / (1 - 0.8 * rays[0] / rays[2])
    assert fr.depth.dtype == torch.float64
    assert fr.mask.sum() > 200
    assert torch.allclose(fr.depth[0, i, j], z_ref, rtol=1e-10)


def _brute_force_cover(uv, H, W):
    """Pixel centres inside the triangle (inclusive), float64 edge functions."""
    jj, ii = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    e = []
    for k in range(3):
        a, b = uv[(k + 1) % 3], uv[(k + 2) % 3]
        e.append((b[0] - a[0]) * (ii - a[1]) - (b[1] - a[1]) * (jj - a[0]))
    e = np.stack(e)
    return (e >= 0).all(0) | (e <= 0).all(0)


@pytest.mark.parametrize("seed", range(6))
def test_single_triangle_coverage_matches_brute_force(seed):
    g = torch.Generator().manual_seed(seed)
    H, W = 31, 37
    uv = torch.rand(3, 2, generator=g, dtype=torch.float64) * torch.tensor([W + 10.0, H + 10.0]) - 5.0
    z = 1.0 + 3.0 * torch.rand(3, generator=g, dtype=torch.float64)
    K = _K(50.0, 18.0, 15.0, dtype=torch.float64)
    verts = torch.cat(((uv - K[:2, 2]) / 50.0 * z[:, None], z[:, None]), -1)[None]  # back-project
    assert torch.allclose(project_vertices(verts, K[None])[0], uv)
    for faces in (torch.tensor([[0, 1, 2]]), torch.tensor([[0, 2, 1]])):  # both windings
        fr = rasterize(verts, faces, K, (H, W))
        expected = _brute_force_cover(uv.numpy(), H, W)
        assert np.array_equal(fr.mask[0].numpy(), expected)


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_nearer_triangle_wins_regardless_of_face_order(order):
    near = torch.tensor([[-1.0, -1.0, 2.0], [1.0, -1.0, 2.0], [0.0, 1.0, 2.0]])
    far = torch.tensor([[-1.0, 1.0, 3.0], [1.5, 1.0, 3.0], [0.0, -1.5, 3.0]])
    tris = [near, far]
    verts = torch.cat([tris[order[0]], tris[order[1]]])[None]
    faces = torch.tensor([[0, 1, 2], [3, 4, 5]])
    fr = rasterize(verts, faces, _K(20.0, 16.0, 16.0), (32, 32))
    near_id = order.index(0)
    alone_near = rasterize(near[None], faces[:1], _K(20.0, 16.0, 16.0), (32, 32)).mask[0]
    alone_far = rasterize(far[None], faces[:1], _K(20.0, 16.0, 16.0), (32, 32)).mask[0]
    both = alone_near & alone_far
    assert both.sum() > 50
    assert torch.all(fr.face_idx[0][alone_near] == near_id)
    assert torch.all(fr.face_idx[0][alone_far & ~alone_near] == 1 - near_id)
    assert torch.allclose(fr.depth[0][both], torch.tensor(2.0), rtol=1e-6)


def _cube_scene(angle_y=0.5, angle_x=0.3):
    v, f = box_mesh(1.0)
    v = v @ (_rot_x(angle_x) @ _rot_y(angle_y)).T + torch.tensor([0.1, -0.05, 4.0])
    return v[None], f


def test_cube_front_view_is_its_front_square():
    v, f = box_mesh(1.0)
    v = v + torch.tensor([0.0, 0.0, 5.0])
    fr = rasterize(v[None], f, _K(27.0, 10.2, 9.7), (21, 21))
    # front side at z = 4.5: u = 27 x / 4.5 + 10.2 = 6 x + 10.2 in [7.2, 13.2] -> columns 8..13;
    # v = 6 y + 9.7 in [6.7, 12.7] -> rows 7..12
    expected = torch.zeros(21, 21, dtype=torch.bool)
    expected[7:13, 8:14] = True
    assert torch.equal(fr.mask[0], expected)
    assert set(fr.face_idx[0][expected].tolist()) == {8, 9}  # the z = -h side faces the camera
    assert torch.allclose(fr.depth[0][expected], torch.tensor(4.5), rtol=1e-6)


def test_cube_rotated_silhouette_is_convex_hull_and_visible_faces_face_camera():
    from scipy.spatial import Delaunay

    v, f = _cube_scene()
    K = _K(60.0, 31.3, 29.8)
    H, W = 60, 64
    fr = rasterize(v, f, K, (H, W))
    uv = project_vertices(v, K[None])[0].double().numpy()
    jj, ii = np.meshgrid(np.arange(W), np.arange(H))
    hull = Delaunay(uv).find_simplex(np.stack((jj, ii), -1).reshape(-1, 2).astype(np.float64)) >= 0
    assert np.array_equal(fr.mask[0].numpy(), hull.reshape(H, W))
    vis = fr.face_idx[0][fr.mask[0]].unique()
    fv = v[0][f[vis]]
    n = torch.linalg.cross(fv[:, 1] - fv[:, 0], fv[:, 2] - fv[:, 0])
    assert torch.all((n * fv[:, 0]).sum(-1) < 0)  # every visible face is a front face
    assert len(vis) == 6  # three sides seen, two triangles each
    culled = rasterize(v, f, K, (H, W), cull_backfaces=True)
    assert torch.equal(culled.face_idx, fr.face_idx)
    inverted = rasterize(v, f.flip(1), K, (H, W), cull_backfaces=True)
    # flipped winding: the near sides become back faces and the insides of the far sides remain
    assert torch.equal(inverted.mask, fr.mask)
    assert torch.all(inverted.depth[fr.mask] > fr.depth[fr.mask])


def test_barycentrics_interpolate_vertices_onto_the_pixel_ray():
    v, f = _cube_scene(0.7, -0.4)
    v = v.double()
    K = _K(70.0, 35.5, 33.1, fy=65.0, skew=2.0, dtype=torch.float64)
    fr = rasterize(v, f, K, (64, 70))
    b, i, j = torch.nonzero(fr.mask, as_tuple=True)
    corners = v[0][f[fr.face_idx[b, i, j]]]  # (n, 3, 3)
    P = (fr.bary[b, i, j][..., None] * corners).sum(1)
    uv = project_vertices(P[None], K[None])[0]
    assert torch.allclose(uv, torch.stack((j, i), -1).double(), atol=1e-9)
    assert torch.allclose(P[:, 2], fr.depth[b, i, j], rtol=1e-12)
    assert torch.all(fr.bary[b, i, j] >= 0)


# ---------------------------------------------------------------- robustness and options
def test_closed_mesh_has_no_pixel_gaps():
    v, f = ellipsoid_mesh(24, 36, radii=(0.6, 0.9, 0.5))
    v = v @ (_rot_x(0.4) @ _rot_y(0.3)).T + torch.tensor([0.0, 0.0, 3.0])
    fr = rasterize(v[None], f, _K(150.0, 63.5, 63.5), (128, 128))
    m = fr.mask[0].numpy()
    assert m.sum() > 3000
    assert np.array_equal(ndimage.binary_fill_holes(m), m)


def test_near_plane_culls_faces_crossing_it():
    tri = torch.tensor([[[-1.0, -1.0, 2.0], [1.0, -1.0, 2.0], [0.0, 1.0, 0.05]]])
    faces = torch.tensor([[0, 1, 2]])
    K = _K(10.0, 8.0, 8.0)
    assert rasterize(tri, faces, K, (16, 16)).mask.any()
    assert not rasterize(tri, faces, K, (16, 16), near=0.1).mask.any()
    behind = tri.clone()
    behind[0, 2, 2] = -1.0
    fr = rasterize(behind, faces, K, (16, 16))
    assert not fr.mask.any() and torch.isfinite(fr.depth).all()


def test_degenerate_and_nonfinite_faces_render_nothing():
    verts = torch.tensor([[[0.0, 0.0, 2.0], [1.0, 1.0, 2.0], [2.0, 2.0, 2.0], [0.0, 1.0, float("nan")]]])
    faces = torch.tensor([[0, 1, 2], [0, 1, 3], [0, 0, 1]])
    fr = rasterize(verts, faces, _K(4.0, 0.0, 0.0), (12, 12))
    assert not fr.mask.any()
    assert torch.isfinite(fr.bary).all() and torch.isfinite(fr.depth).all()


def test_chunking_and_batching_give_identical_results():
    g = torch.Generator().manual_seed(1)
    v, f = ellipsoid_mesh(10, 16, radii=(0.5, 0.8, 0.4))
    B = 3
    verts = torch.stack([v @ _rot_y(0.5 * k).T + torch.tensor([0.1 * k, 0.0, 2.0 + 0.3 * k])
                         for k in range(B)])
    K = torch.stack([_K(40.0 + 5 * k, 24.0 + k, 20.0) for k in range(B)])
    verts = verts + 0.01 * torch.randn(verts.shape, generator=g)
    full = rasterize(verts, f, K, (40, 48))
    tiny = rasterize(verts, f, K, (40, 48), max_candidates=500)
    for name in ("face_idx", "bary", "depth", "mask"):
        assert torch.equal(getattr(full, name), getattr(tiny, name)), name
    for k in range(B):
        one = rasterize(verts[k : k + 1], f, K[k], (40, 48))
        assert torch.equal(one.face_idx[0], full.face_idx[k])
        assert torch.allclose(one.depth[0], full.depth[k])


def test_output_dtypes_follow_input():
    verts, faces = _square()
    for dtype in (torch.float32, torch.float64, torch.float16):
        fr = rasterize(verts.to(dtype), faces, _K(8.0, 5.3, 3.6), (9, 10))
        assert isinstance(fr, Fragments)
        assert fr.depth.dtype == dtype and fr.bary.dtype == dtype
        assert fr.face_idx.dtype == torch.long and fr.mask.dtype == torch.bool
        assert fr.image_size == (9, 10)


def test_errors_name_the_argument():
    verts, faces = _square()
    K = _K(8.0, 5.3, 3.6)
    with pytest.raises(ShapeError, match=r"verts_cam.*\(B, V, 3\).*got \(4, 3\)"):
        rasterize(verts[0], faces, K, (9, 10))
    with pytest.raises(ShapeError, match=r"faces.*\(F, 3\)"):
        rasterize(verts, faces[:, :2], K, (9, 10))
    with pytest.raises(ShapeError, match=r"K.*\(B, 3, 3\)"):
        rasterize(verts, faces, K.expand(3, 3, 3), (9, 10))
    with pytest.raises(ShapeError, match=r"faces.*\[0, 4\)"):
        rasterize(verts, faces + 3, K, (9, 10))
    with pytest.raises(ShapeError, match="integer"):
        rasterize(verts, faces.float(), K, (9, 10))
    with pytest.raises(ShapeError, match="image_size"):
        rasterize(verts, faces, K, (0, 10))


# ---------------------------------------------------------------- gradients
def test_depth_and_bary_gradcheck_wrt_vertices():
    verts = torch.tensor([[[-1.0, -0.9, 2.0], [1.1, -1.0, 2.5], [0.1, 1.0, 3.0]]], dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2]])
    K = _K(6.0, 4.3, 4.1, dtype=torch.float64)

    def fn(v):
        fr = rasterize(v, faces, K, (9, 9))
        return fr.depth, fr.bary

    torch.autograd.gradcheck(fn, (verts.clone().requires_grad_(),), eps=1e-7, atol=1e-6)


def test_hard_mask_has_no_gradient_path_but_depth_does():
    verts, faces = _square()
    verts = verts.clone().requires_grad_()
    fr = rasterize(verts, faces, _K(8.0, 5.3, 3.6), (9, 10))
    assert not fr.mask.requires_grad and fr.depth.requires_grad
    fr.depth.sum().backward()
    assert torch.isfinite(verts.grad).all() and verts.grad[..., 2].abs().sum() > 0


# ---------------------------------------------------------------- GPU twin
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    from hpskit.testing.meshes import figure_mesh

    v, f, _ = figure_mesh()
    R = torch.diag(torch.tensor([1.0, -1.0, -1.0]))
    B = 4
    verts = torch.stack([(v - torch.tensor([0.0, 0.92, 0.0])) @ (R @ _rot_y(0.8 * k)).T for k in range(B)])
    verts = verts + torch.tensor([0.0, 0.0, 3.0])
    K = _K(316.8, 111.5, 111.5)
    cpu = rasterize(verts, f, K, (224, 224))
    gpu = rasterize(verts.cuda(), f.cuda(), K.cuda(), (224, 224))
    assert (gpu.mask.cpu() == cpu.mask).float().mean() > 0.9999
    assert (gpu.face_idx.cpu() == cpu.face_idx).float().mean() > 0.999
    labels = torch.arange(v.shape[0]) % 7
    from hpskit.render import Renderer

    out = Renderer(f.cuda(), (224, 224), vertex_labels=labels.cuda())(verts.cuda(), K.cuda())
    ref = Renderer(f, (224, 224), vertex_labels=labels)(verts, K)
    assert (out.part_labels.cpu() == ref.part_labels).float().mean() > 0.999
    assert torch.allclose(gpu.depth.cpu(), cpu.depth, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- independent reference: trimesh ray casting
@functools.lru_cache(maxsize=1)
def _standin_body_verts():
    """Posed stand-in body (via smplx) if hpskit.body provides it, else None."""
    try:
        from hpskit.body import SMPLXBody, standin_path  # noqa: F401
    except ImportError:
        return None
    import roma

    try:
        body = SMPLXBody("standin")
    except OSError:  # stand-in asset not built in this checkout
        return None
    g = torch.Generator().manual_seed(3)
    body_pose = roma.rotvec_to_rotmat(0.35 * torch.randn(1, 21, 3, generator=g))
    out = body(global_orient=torch.eye(3)[None, None], body_pose=body_pose, betas=torch.zeros(1, 11))
    v = out.vertices[0].detach()
    return v - v.mean(0) + torch.tensor([0.0, 0.92, 0.0]), body.faces.long()


def _ray_cast(verts, faces, K, H, W):
    trimesh = pytest.importorskip("trimesh")
    pytest.importorskip("rtree")  # trimesh's pure-numpy intersector uses an r-tree broad phase
    from trimesh.ray.ray_triangle import RayMeshIntersector

    mesh = trimesh.Trimesh(verts.numpy(), faces.numpy(), process=False)
    jj, ii = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    dirs = np.stack((jj.ravel(), ii.ravel(), np.ones(H * W)), -1) @ np.linalg.inv(K.numpy()).T
    tri, ray, loc = RayMeshIntersector(mesh).intersects_id(
        np.zeros_like(dirs), dirs, multiple_hits=False, return_locations=True
    )
    face = np.full(H * W, -1)
    face[ray] = tri
    depth = np.zeros(H * W)
    depth[ray] = loc[:, 2]
    return face.reshape(H, W), depth.reshape(H, W)


@pytest.mark.parametrize("mesh", ["figure", "standin"])
@pytest.mark.parametrize("angle", [0.6, 2.2])
def test_matches_trimesh_ray_casting(mesh, angle):
    if mesh == "figure":
        from hpskit.testing.meshes import figure_mesh

        v, f, _ = figure_mesh()
    else:
        got = _standin_body_verts()
        if got is None:
            pytest.skip("stand-in body not available (hpskit.body.standin_path)")
        v, f = got
    R = torch.diag(torch.tensor([1.0, -1.0, -1.0])) @ _rot_x(0.15) @ _rot_y(angle)
    verts = ((v - torch.tensor([0.0, 0.92, 0.0])) @ R.T + torch.tensor([0.05, 0.0, 3.2])).double()
    H = W = 96
    K = _K(160.0, 47.3, 47.6, dtype=torch.float64)
    ref_face, ref_depth = _ray_cast(verts, f, K, H, W)
    fr = rasterize(verts[None].float(), f, K.float(), (H, W))
    mask, ref_mask = fr.mask[0].numpy(), ref_face >= 0
    both = mask & ref_mask
    assert ref_mask.sum() > 800
    assert (mask & ref_mask).sum() / (mask | ref_mask).sum() >= 0.99
    assert (fr.face_idx[0].numpy()[both] == ref_face[both]).mean() >= 0.99
    rel = np.abs(fr.depth[0].double().numpy()[both] - ref_depth[both]) / ref_depth[both]
    assert (rel < 1e-3).mean() >= 0.99
