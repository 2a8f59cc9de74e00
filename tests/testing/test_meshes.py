"""hpskit.testing.meshes: procedural meshes are closed, consistently wound, outward, body-sized."""

import pytest
import torch

from hpskit.testing.meshes import box_mesh, ellipsoid_mesh, figure_mesh


def _edge_counts(faces):
    e = torch.cat((faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]))
    directed = {tuple(x) for x in e.tolist()}
    assert len(directed) == len(e), "a directed edge appears twice: inconsistent winding"
    return all((b, a) in directed for a, b in directed)  # closed: every edge has its twin


def _signed_volume(v, f):
    a, b, c = v[f[:, 0]].double(), v[f[:, 1]].double(), v[f[:, 2]].double()
    return float((a * torch.linalg.cross(b, c)).sum() / 6)


@pytest.mark.parametrize("make", ["box", "ellipsoid"])
def test_primitives_are_closed_and_outward(make):
    if make == "box":
        v, f = box_mesh(2.0)
        expected = 8.0
    else:
        v, f = ellipsoid_mesh(30, 40, radii=(1.0, 2.0, 0.5))
        expected = 4 / 3 * torch.pi * 1.0
    assert _edge_counts(f)
    assert _signed_volume(v, f) == pytest.approx(expected, rel=0.02)


def test_figure_mesh_size_and_labels():
    v, f, lab = figure_mesh()
    assert v.shape == (13222, 3) and f.shape == (26400, 3) and lab.shape == (13222,)
    assert _edge_counts(f)
    assert _signed_volume(v, f) > 0
    height = float(v[:, 1].max() - v[:, 1].min())
    assert 1.6 < height < 1.9
    assert lab.unique().tolist() == list(range(1, 12))
