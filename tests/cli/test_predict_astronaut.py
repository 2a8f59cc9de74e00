"""Issue 17's "must show": ``hpskit predict`` on ``skimage.data.astronaut()`` saved as a file, with no boxes
and the shipped weights, finds the person offline and writes the overlay, an ``.obj`` and a ``.glb``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh
from _gltf_validator import assert_valid_gltf
from PIL import Image

from hpskit.cli import main
from hpskit.detect.blazepose import box_iou
from hpskit.export import read_glb
from hpskit.models import list_pretrained

from .conftest import HAVE_STANDIN

skimage_data = pytest.importorskip("skimage.data")
WEIGHTS = "dpose_efficientnet_lite0.synthetic"
pytestmark = [pytest.mark.slow,  # ~9 s on 2 CPU cores (detector + a real model + the validator)
              pytest.mark.skipif(not HAVE_STANDIN, reason="meshes need the packaged stand-in body"),
              pytest.mark.skipif(WEIGHTS not in list_pretrained(), reason=f"{WEIGHTS} is not shipped")]


def test_predict_astronaut_shipped_weights_overlay_obj_glb(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no network: the weights and the detector ship inside hpskit
    photo = tmp_path / "astronaut.png"
    Image.fromarray(skimage_data.astronaut()).save(photo)
    out = tmp_path / "out"
    code = main(["predict", "--weights", WEIGHTS, str(photo), "--out", str(out), "--device", "cpu",
                 "--export", "obj,glb"])
    assert code == 0

    info = json.loads((out / "astronaut.json").read_text())
    (person,) = info["people"]  # the detector found exactly the one person
    assert box_iou([person["box_xyxy"]], [[20, 14, 362, 512]])[0, 0] > 0.75  # hand-checked person box

    overlay = np.asarray(Image.open(out / "astronaut_overlay.png").convert("RGB"))
    assert overlay.shape == (512, 512, 3)
    assert np.abs(overlay.astype(int) - skimage_data.astronaut()).max() > 50  # a mesh was drawn on it

    npz = np.load(out / "astronaut.npz")
    n_vertices = npz["vertices"].shape[1]
    assert n_vertices == 13718  # the stand-in body's SMPL-X-sized mesh (the shipped weights' body model)
    mesh = trimesh.load(out / "astronaut_person0.obj", process=False)
    assert mesh.vertices.shape == (n_vertices, 3)
    np.testing.assert_allclose(mesh.vertices, npz["vertices"][0], atol=1e-5)
    assert mesh.faces.shape[0] > 0 and mesh.faces.max() < n_vertices

    report = assert_valid_gltf(out / "astronaut.glb")
    assert report["info"]["totalVertexCount"] == n_vertices
    gltf, _ = read_glb(out / "astronaut.glb")
    cam = next(n for n in gltf["nodes"] if "camera" in n)
    np.testing.assert_allclose(cam["extras"]["K"], npz["K"], rtol=1e-6)
