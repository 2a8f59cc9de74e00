"""hpskit.export.scene: the per-image glTF scene passes the validator, reloads, and its camera projects
like hpskit."""

import math

import numpy as np
import pytest
import torch
import trimesh
from _gltf_eval import world_matrices
from _gltf_validator import assert_valid_gltf

from hpskit.core import ShapeError
from hpskit.export import accessor_array, gltf_perspective, read_glb, write_scene_glb
from hpskit.geometry import perspective_project

H, W = 480, 640


def _project_with_gltf_camera(gltf: dict, points_mesh: np.ndarray, mesh_node: int) -> np.ndarray:
    """glTF's perspective projection (spec §3.10.3) of mesh-space points, to hpskit pixels.

    NDC x = x_view / (−z_view · aspectRatio · tan(yfov/2)), y likewise without the aspect ratio; a W×H
    viewport maps NDC [−1, 1] to [0, W] (y flipped); hpskit's pixel centres are at integers, so −0.5.
    """
    worlds = world_matrices(gltf)
    cam_node = next(i for i, n in enumerate(gltf["nodes"]) if "camera" in n)
    persp = gltf["cameras"][gltf["nodes"][cam_node]["camera"]]["perspective"]
    view = np.linalg.inv(worlds[cam_node]) @ worlds[mesh_node]
    p = points_mesh @ view[:3, :3].T + view[:3, 3]
    tan = math.tan(persp["yfov"] / 2)
    x_ndc = p[:, 0] / (-p[:, 2] * persp["aspectRatio"] * tan)
    y_ndc = p[:, 1] / (-p[:, 2] * tan)
    return np.stack([(x_ndc + 1) / 2 * W - 0.5, (1 - y_ndc) / 2 * H - 0.5], 1)


def test_scene_validates_reloads_and_projects_like_hpskit(tmp_path, body, two_people):
    verts = two_people[0]
    K = np.array([[900.0, 0, (W - 1) / 2], [0, 900.0, (H - 1) / 2], [0, 0, 1]])  # the image centre
    path = write_scene_glb(tmp_path / "scene.glb", verts, body.faces.numpy(), K, (H, W))
    report = assert_valid_gltf(path)
    assert report["issues"]["numWarnings"] == 0
    assert report["info"]["totalVertexCount"] == 2 * verts.shape[1]
    # trimesh reloads both meshes with the same (camera-frame) vertices
    scene = trimesh.load(path, process=False)
    for k in range(2):
        np.testing.assert_allclose(scene.geometry[f"person_{k}"].vertices, verts[k], atol=1e-6)
        np.testing.assert_array_equal(scene.geometry[f"person_{k}"].faces, body.faces.numpy())
    # the glTF camera sees every vertex where hpskit's projection puts it
    gltf, binary = read_glb(path)
    for k in range(2):
        node = next(i for i, n in enumerate(gltf["nodes"]) if n.get("name") == f"person_{k}")
        mesh_v = accessor_array(gltf, binary, gltf["meshes"][gltf["nodes"][node]["mesh"]]["primitives"][0]
                                ["attributes"]["POSITION"]).astype(np.float64)
        uv_gltf = _project_with_gltf_camera(gltf, mesh_v, node)
        uv_hps = perspective_project(torch.from_numpy(verts[k]).double()[None],
                                     torch.from_numpy(K)[None])[0].numpy()
        np.testing.assert_allclose(uv_gltf, uv_hps, atol=1e-3)  # pixels
        assert 0 < uv_hps[:, 0].min() and uv_hps[:, 0].max() < W  # the people are in view


def test_default_k_is_half_a_pixel_off_and_non_square_pixels_are_exact(tmp_path, body, two_people):
    """hpskit's default principal point (W/2, H/2) is not the glTF image centre ((W−1)/2, (H−1)/2): the
    documented half-pixel shift. Different fx and fy are reproduced exactly through aspectRatio."""
    verts = two_people[0][:1]
    K = np.array([[1000.0, 0, W / 2], [0, 800.0, H / 2], [0, 0, 1]])
    path = write_scene_glb(tmp_path / "scene.glb", verts, body.faces.numpy(), K, (H, W))
    assert_valid_gltf(path)
    gltf, binary = read_glb(path)
    node = next(i for i, n in enumerate(gltf["nodes"]) if n.get("name") == "person_0")
    uv_gltf = _project_with_gltf_camera(gltf, verts[0].astype(np.float64), node)
    uv_hps = perspective_project(torch.from_numpy(verts[0]).double()[None], torch.from_numpy(K)[None])[0]
    np.testing.assert_allclose(uv_gltf - uv_hps.numpy(), np.full_like(uv_gltf, -0.5), atol=1e-3)
    cam = next(n for n in gltf["nodes"] if "camera" in n)
    assert cam["extras"]["K"] == K.tolist() and cam["extras"]["image_size"] == [H, W]


def test_gltf_perspective_numbers_and_errors():
    cam = gltf_perspective(np.array([[500.0, 0, 0], [0, 500.0, 0], [0, 0, 1]]), (400, 800))
    assert cam["yfov"] == pytest.approx(2 * math.atan(0.4))  # H / (2 fy) = 400 / 1000
    assert cam["aspectRatio"] == pytest.approx(2.0)
    with pytest.raises(ShapeError, match="positive fx"):
        gltf_perspective(np.zeros((3, 3)), (4, 4))


def test_empty_scene_and_bad_input(tmp_path, body):
    K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    path = write_scene_glb(tmp_path / "empty.glb", np.zeros((0, 5, 3), np.float32), np.zeros((0, 3), int),
                           K, (H, W))
    assert_valid_gltf(path)
    with pytest.raises(ShapeError, match="NaN"):
        write_scene_glb(tmp_path / "nan.glb", np.full((1, 3, 3), np.nan), np.array([[0, 1, 2]]), K, (H, W))
    with pytest.raises(ShapeError, match="faces"):
        write_scene_glb(tmp_path / "oob.glb", np.zeros((1, 3, 3)), np.array([[0, 1, 5]]), K, (H, W))
    assert not (tmp_path / "nan.glb").exists()
