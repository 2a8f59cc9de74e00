"""``hpskit predict`` in-process: the files it writes, their contents, box handling and errors.

Random weights give meaningless poses, so the checks are on what the command line is responsible for:
boxes and focal length reaching the model, the bookkeeping of the files, and the camera geometry written
to the JSON, recomputed here from the formulas of docs/conventions.md (numpy, float64).
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from PIL import Image
from scipy.spatial.transform import Rotation

from hpskit.cli import main
from hpskit.cli.predict import parse_boxes

from .conftest import HAVE_STANDIN

BOXES = {"street.png": [[20, 30, 110, 220], [170, 20, 300, 236]], "portrait.jpg": [[10, 8, 140, 195]]}
FOCAL = 400.0


def _crop_checks(person: dict, box, K: np.ndarray, rescale: float) -> None:
    """Crop square, CLIFF box vector and full-image translation, from the conventions' formulas."""
    x1, y1, x2, y2 = box
    c = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    s = rescale * max(x2 - x1, y2 - y1) / 200
    np.testing.assert_allclose(person["crop_center"], c, rtol=1e-6)
    np.testing.assert_allclose(person["crop_scale"], s, rtol=1e-6)
    f, px, py = K[0, 0], K[0, 2], K[1, 2]
    expected = [(c[0] - px) / f, (c[1] - py) / f, 200 * s / f]
    np.testing.assert_allclose(person["bbox_info"], expected, rtol=1e-5)
    sc, tx, ty = person["cam_crop"]
    b = 200 * s * sc
    expected = [tx + 2 * (c[0] - px) / b, ty + 2 * (c[1] - py) / b, 2 * f / b]
    np.testing.assert_allclose(person["transl"], expected, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def run_two_images(weights_dir, images, tmp_path_factory):
    """Two images, boxes from a JSON keyed by file name, a fixed focal length, the stand-in body if any."""
    out = tmp_path_factory.mktemp("predict")
    boxes_json = out.parent / "boxes.json"
    boxes_json.write_text(json.dumps(BOXES))
    argv = ["predict", "--weights", str(weights_dir), str(images["street.png"]), str(images["portrait.jpg"]),
            "--boxes-json", str(boxes_json), "--focal", str(FOCAL), "--device", "cpu", "--out", str(out)]
    argv += ["--body-model", "standin" if HAVE_STANDIN else "none"]
    assert main(argv) == 0
    return out


@pytest.mark.parametrize("name", ["street.png", "portrait.jpg"])
def test_predict_json(run_two_images, images, name):
    stem = name.split(".")[0]
    info = json.loads((run_two_images / f"{stem}.json").read_text())
    W, H = Image.open(images[name]).size
    assert info["image_size"] == {"height": H, "width": W}
    K = np.array(info["K"])
    np.testing.assert_allclose(K, [[FOCAL, 0, W / 2], [0, FOCAL, H / 2], [0, 0, 1]])
    assert len(info["people"]) == len(BOXES[name])
    for person, box in zip(info["people"], BOXES[name]):
        assert person["box_xyxy"] == box
        assert np.array(person["global_orient"]).shape == (3,)
        assert np.array(person["body_pose"]).shape == (21, 3)
        assert np.array(person["betas"]).shape == (11,)
        assert np.array(person["transl"]).shape == (3,)
        _crop_checks(person, box, K, rescale=1.2)
        if HAVE_STANDIN:
            joints = np.array(person["joints"])
            assert joints.shape == (127, 3)
            uv = joints @ K.T
            np.testing.assert_allclose(person["joints2d"], uv[:, :2] / uv[:, 2:], rtol=1e-4, atol=1e-3)
        else:
            assert person["joints"] is None
    expected_files = {"depth", "parts", "npz"} | ({"overlay"} if HAVE_STANDIN else set())
    assert set(info["files"]) == expected_files
    assert all((run_two_images / f).is_file() for f in info["files"].values())


@pytest.mark.parametrize("name", ["street.png", "portrait.jpg"])
def test_predict_npz_and_maps(run_two_images, images, name):
    stem = name.split(".")[0]
    z = np.load(run_two_images / f"{stem}.npz")
    info = json.loads((run_two_images / f"{stem}.json").read_text())
    rgb = np.asarray(Image.open(images[name]).convert("RGB"))
    H, W = rgb.shape[:2]
    n = len(BOXES[name])
    assert z["pose_rotmat"].shape == (n, 22, 3, 3)
    assert z["betas"].shape == (n, 11) and z["transl"].shape == (n, 3) and z["body_pose"].shape == (n, 21, 3)
    R = z["pose_rotmat"].astype(np.float64)
    np.testing.assert_allclose(R @ R.transpose(0, 1, 3, 2), np.broadcast_to(np.eye(3), R.shape), atol=1e-5)
    # axis-angle and rotation matrices agree (scipy as the independent reference)
    np.testing.assert_allclose(Rotation.from_rotvec(z["global_orient"]).as_matrix(), R[:, 0], atol=1e-4)
    np.testing.assert_allclose(z["transl"], [p["transl"] for p in info["people"]], rtol=1e-6)
    # depth: relative (0, 1) inside the crop squares, 0 outside them
    depth, labels = z["depth"], z["part_labels"]
    assert depth.shape == (H, W) and labels.shape == (H, W) and labels.max() <= 22
    v, u = np.mgrid[0:H, 0:W]
    inside, outside = np.zeros((H, W), bool), np.ones((H, W), bool)
    for p in info["people"]:
        half, (cx, cy) = 100 * p["crop_scale"], p["crop_center"]
        inside |= (np.abs(u - cx) <= half - 1) & (np.abs(v - cy) <= half - 1)
        outside &= (np.abs(u - cx) > half + 1) | (np.abs(v - cy) > half + 1)
    assert (depth[inside] > 0).all() and (depth <= 1).all()
    assert (depth[outside] == 0).all() and (labels[outside] == 0).all()
    for kind in ("depth", "parts"):
        png = np.asarray(Image.open(run_two_images / f"{stem}_{kind}.png"))
        assert png.shape == (H, W, 3) and png.dtype == np.uint8
    # outside every crop, the maps show the dimmed photo
    dimmed = np.round(rgb.astype(np.float32) * 0.35).astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(Image.open(run_two_images / f"{stem}_parts.png"))[outside],
                                  dimmed[outside])


@pytest.mark.skipif(not HAVE_STANDIN, reason="the packaged stand-in body asset is missing")
def test_predict_overlay_draws_the_meshes_where_they_project(run_two_images, images):
    rgb = np.asarray(Image.open(images["street.png"]).convert("RGB"))
    over = np.asarray(Image.open(run_two_images / "street_overlay.png"))
    z = np.load(run_two_images / "street.npz")
    assert over.shape == rgb.shape
    assert z["vertices"].ndim == 3 and z["vertices"].shape[0] == 2 and z["vertices"].shape[2] == 3
    uvw = z["vertices"].astype(np.float64) @ z["K"].T.astype(np.float64)
    uv = uvw[..., :2] / uvw[..., 2:]
    changed = (over != rgb).any(-1)
    H, W = changed.shape
    for x1, y1, x2, y2 in BOXES["street.png"]:  # box outlines are drawn too: leave them out
        for x in (x1, x2):
            changed[:, max(0, int(x) - 1):int(x) + 2] = False
        for y in (y1, y2):
            changed[max(0, int(y) - 1):int(y) + 2, :] = False
    ys, xs = np.nonzero(changed)
    assert len(xs) > 100, "no mesh was drawn"
    lo, hi = uv.reshape(-1, 2).min(0) - 1.5, uv.reshape(-1, 2).max(0) + 1.5
    assert (xs >= lo[0]).all() and (xs <= hi[0]).all() and (ys >= lo[1]).all() and (ys <= hi[1]).all()


def test_predict_whole_image_without_boxes_warns(weights_dir, images, tmp_path, caplog):
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="hpskit"):
        code = main(["predict", "--weights", str(weights_dir), str(images["portrait.jpg"]), "--out", str(out),
                     "--device", "cpu", "--detector", "whole-image"])
    assert code == 0
    assert any("whole-image" in r.getMessage() and "whole image" in r.getMessage() for r in caplog.records)
    info = json.loads((out / "portrait.json").read_text())
    W, H = 150, 200
    (person,) = info["people"]
    assert person["box_xyxy"] == [-0.5, -0.5, W - 0.5, H - 0.5]
    assert info["box_rescale"] == 1.0
    K = np.array(info["K"])
    f = np.hypot(W, H)
    np.testing.assert_allclose(K, [[f, 0, W / 2], [0, f, H / 2], [0, 0, 1]], rtol=1e-6)
    _crop_checks(person, person["box_xyxy"], K, rescale=1.0)
    assert not (out / "portrait_overlay.png").exists()  # the weights' config has no body model
    assert (out / "portrait_depth.png").is_file() and (out / "portrait.npz").is_file()


def test_parse_boxes():
    assert parse_boxes("1,2,3,4") == [[1.0, 2.0, 3.0, 4.0]]
    assert parse_boxes("1, 2, 3.5, 4e1; 0,0,5,5") == [[1.0, 2.0, 3.5, 40.0], [0.0, 0.0, 5.0, 5.0]]
    for bad in ("1,2,3", "a,b,c,d", "10,10,5,20", ""):
        with pytest.raises(Exception, match="box"):
            parse_boxes(bad)


def test_malformed_box_is_a_usage_error(weights_dir, images, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["predict", "--weights", str(weights_dir), str(images["street.png"]), "--boxes", "10,10,5,20",
              "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "x2 > x1" in capsys.readouterr().err


def test_missing_image(weights_dir, tmp_path, capsys):
    absent = tmp_path / "nope.jpg"
    assert main(["predict", "--weights", str(weights_dir), str(absent), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "IMAGE not found" in err and str(absent) in err
    assert not (tmp_path / "o").exists()


def test_missing_weights_dir(images, tmp_path, capsys):
    absent = tmp_path / "no_such_weights"
    assert main(["predict", "--weights", str(absent), str(images["street.png"]), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "--weights" in err and str(absent) in err


def test_box_count_must_match_images(weights_dir, images, tmp_path, capsys):
    code = main(["predict", "--weights", str(weights_dir), str(images["street.png"]),
                 str(images["portrait.jpg"]), "--boxes", "1,1,50,50", "--out", str(tmp_path)])
    assert code == 1
    assert "once per image" in capsys.readouterr().err


def test_boxes_json_without_an_image(weights_dir, images, tmp_path, capsys):
    file = tmp_path / "b.json"
    file.write_text(json.dumps({"street.png": [[1, 1, 50, 50]]}))
    code = main(["predict", "--weights", str(weights_dir), str(images["street.png"]),
                 str(images["portrait.jpg"]), "--boxes-json", str(file), "--out", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err
    assert "no entry for" in err and "portrait.jpg" in err


def test_cuda_device_without_cuda(weights_dir, images, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    code = main(["predict", "--weights", str(weights_dir), str(images["street.png"]), "--device", "cuda",
                 "--out", str(tmp_path)])
    assert code == 1
    assert "CUDA is not available" in capsys.readouterr().err


def test_box_outside_the_image_names_the_image(weights_dir, images, tmp_path, capsys):
    code = main(["predict", "--weights", str(weights_dir), str(images["portrait.jpg"]), "--boxes",
                 "400,10,500,100", "--out", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err
    assert "portrait.jpg (150×200" in err and "outside" in err
