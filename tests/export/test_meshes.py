"""hpskit.export.meshes: .obj / .ply round trips through trimesh."""

import numpy as np
import pytest
import trimesh

from hpskit.core import ConfigError, ShapeError
from hpskit.export import write_mesh


@pytest.mark.parametrize("fmt", ["obj", "ply"])
def test_mesh_round_trip(tmp_path, body, two_people, fmt):
    verts, faces = two_people[0][0], body.faces.numpy()
    path = write_mesh(tmp_path / f"p.{fmt}", verts, faces)
    mesh = trimesh.load(path, process=False)
    np.testing.assert_allclose(mesh.vertices, verts, atol=1e-6)
    np.testing.assert_array_equal(mesh.faces, faces)
    up = trimesh.load(write_mesh(tmp_path / f"up.{fmt}", verts, faces, frame="y_up"), process=False)
    np.testing.assert_allclose(up.vertices, verts * [1, -1, -1], atol=1e-6)
    assert up.vertices[:, 1].mean() > 0  # the camera-frame person hangs below the axis (y down)


def test_mesh_errors(tmp_path):
    tri = np.array([[0, 1, 2]])
    with pytest.raises(ConfigError, match=r"\.obj, \.ply"):
        write_mesh(tmp_path / "x.stl", np.zeros((3, 3)), tri)
    with pytest.raises(ShapeError, match="NaN"):
        write_mesh(tmp_path / "x.obj", np.full((3, 3), np.nan), tri)
    with pytest.raises(ShapeError, match=r"\(V, 3\)"):
        write_mesh(tmp_path / "x.obj", np.zeros((3, 2)), tri)
    with pytest.raises(ConfigError, match="frame"):
        write_mesh(tmp_path / "x.obj", np.zeros((3, 3)), tri, frame="z_up")
    assert not list(tmp_path.iterdir())
