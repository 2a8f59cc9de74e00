"""``hpskit predict`` with ``--export`` on images and on a video (a random-weight model, a known-box
detector standing in for hpskit's detector): the files, their agreement with the NPZ, and the validator."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from _gltf_validator import assert_valid_gltf
from PIL import Image

from hpskit.cli import main
from hpskit.export import read_bvh, read_glb
from hpskit.video import VideoSource, VideoWriter

from .conftest import HAVE_STANDIN

pytestmark = pytest.mark.skipif(not HAVE_STANDIN, reason="meshes need the packaged stand-in body")
FRAMES, FPS = 5, 10.0


def test_image_export(weights_dir, images, tmp_path):
    argv = ["predict", "--weights", str(weights_dir), str(images["street.png"]), "--boxes",
            "20,30,110,220;170,20,300,236", "--device", "cpu", "--body-model", "standin", "--out",
            str(tmp_path), "--export", "obj,ply,glb"]
    assert main(argv) == 0
    npz = np.load(tmp_path / "street.npz")
    for k in range(2):
        for fmt in ("obj", "ply"):
            mesh = trimesh.load(tmp_path / f"street_person{k}.{fmt}", process=False)
            np.testing.assert_allclose(mesh.vertices, npz["vertices"][k], atol=1e-5)
    report = assert_valid_gltf(tmp_path / "street.glb")
    assert report["info"]["totalVertexCount"] == 2 * npz["vertices"].shape[1]
    gltf, _ = read_glb(tmp_path / "street.glb")
    cam = next(n for n in gltf["nodes"] if "camera" in n)
    np.testing.assert_allclose(cam["extras"]["K"], npz["K"], rtol=1e-6)


@pytest.fixture(scope="module")
def video_file(images, tmp_path_factory):
    """A 5-frame mp4: the street image panning 4 px per frame."""
    rgb = np.asarray(Image.open(images["street.png"]).convert("RGB"))
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    with VideoWriter(path, FPS, (rgb.shape[0], rgb.shape[1] - 4 * FRAMES)) as w:
        for k in range(FRAMES):
            w.write(np.ascontiguousarray(rgb[:, 4 * k:4 * k + rgb.shape[1] - 4 * FRAMES]))
    return path


class _MovingBoxes:
    """Two people moving apart, returned in alternating order (the tracker must sort them out)."""

    def __init__(self):
        self.k = 0

    def __call__(self, images):
        k, self.k = self.k, self.k + 1
        boxes = np.array([[20 + 3 * k, 30, 110 + 3 * k, 220], [170 - 3 * k, 20, 290 - 3 * k, 236]], float)
        return [boxes[::-1] if k % 2 else boxes]


def test_video(weights_dir, video_file, tmp_path, monkeypatch):
    from hpskit.video import pipeline

    monkeypatch.setattr(pipeline, "default_detector", _MovingBoxes)
    argv = ["predict", "--weights", str(weights_dir), str(video_file), "--device", "cpu", "--body-model",
            "standin", "--out", str(tmp_path), "-q"]
    assert main(argv) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    tracks = [f"clip_track{i}.{x}" for i in (0, 1) for x in ("bvh", "glb", "npz")]
    assert names == ["clip_overlay.mp4"] + tracks
    for i, x0 in ((0, 20), (1, 170)):
        npz = np.load(tmp_path / f"clip_track{i}.npz")
        np.testing.assert_array_equal(npz["frames"], np.arange(FRAMES))
        np.testing.assert_allclose(npz["boxes"][:, 0], x0 + (3 if i == 0 else -3) * np.arange(FRAMES))
        assert npz["pose_rotmat"].shape == (FRAMES, 22, 3, 3) and npz["fps"] == pytest.approx(FPS)
        assert_valid_gltf(tmp_path / f"clip_track{i}.glb")
        assert read_bvh(tmp_path / f"clip_track{i}.bvh")["motion"].shape == (FRAMES, 69)
    overlay = VideoSource(tmp_path / "clip_overlay.mp4")
    assert len(list(overlay)) == FRAMES and overlay.fps == pytest.approx(FPS)


def test_video_errors(weights_dir, video_file, tmp_path, capsys):
    base = ["predict", "--weights", str(weights_dir), "--device", "cpu", "--out", str(tmp_path)]
    assert main(base + [str(video_file), "--boxes", "1,2,3,4"]) == 1
    assert "--boxes / --boxes-json apply to images" in capsys.readouterr().err
    assert main(base + [str(video_file), str(video_file)]) == 1
    assert "one video" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(base + [str(video_file), "--export", "stl"])
    assert "choose from obj,ply,glb" in capsys.readouterr().err
