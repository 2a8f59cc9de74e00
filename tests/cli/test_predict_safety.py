"""Issue 16 for ``hpskit predict``: unique output names (item 2), no silent overwrite, high-bit-depth images
(item 3), always-valid JSON (item 6), bad images found before the model loads, bounded picture size."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hpskit.cli import main
from hpskit.cli._common import read_rgb
from hpskit.cli._outputs import _mesh_overlay, _scale_K, dumps_json, json_safe
from hpskit.cli.predict import unique_stems
from hpskit.core import CorruptFileError

from .conftest import HAVE_STANDIN


def _argv(weights_dir, out, *images, extra=()):
    return ["predict", "--weights", str(weights_dir), *map(str, images), "--device", "cpu", "--out", str(out),
            "--body-model", "none", "--detector", "whole-image", *extra]


def test_inputs_with_the_same_name_keep_all_results(weights_dir, images, tmp_path):
    """Item 2: a/x.png b/x.png a/x_1.png → three sets of outputs, each naming its input."""
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(images["street.png"], tmp_path / folder / "x.png")
    shutil.copy(images["portrait.jpg"], tmp_path / "a" / "x_1.png")
    inputs = [tmp_path / "a" / "x.png", tmp_path / "b" / "x.png", tmp_path / "a" / "x_1.png"]
    out = tmp_path / "o"
    assert main(_argv(weights_dir, out, *inputs)) == 0
    jsons = sorted(out.glob("*.json"))
    assert len(jsons) == 3
    recorded = {json.loads(p.read_text())["image"]: p.name for p in jsons}
    assert recorded == {str(inputs[0]): "a__x.png.json", str(inputs[1]): "b__x.png.json",
                        str(inputs[2]): "x_1.json"}


def test_unique_stems():
    assert unique_stems([Path("p/photo.jpg"), Path("q/other.png")]) == ["photo", "other"]
    assert unique_stems([Path("a/x.png"), Path("a/x.jpg")]) == ["x.png", "x.jpg"]
    assert unique_stems([Path("a/c/x.png"), Path("b/c/x.png")]) == ["a__c__x.png", "b__c__x.png"]
    assert unique_stems([Path("a/X.png"), Path("b/x.png")]) == ["a__X.png", "b__x.png"]  # case-insensitive
    with pytest.raises(Exception, match="more than once"):
        unique_stems([Path("a/x.png"), Path("a/../a/x.png")])


def test_existing_outputs_are_not_overwritten_without_the_flag(weights_dir, images, tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "street.json").write_text("my notes\n")
    assert main(_argv(weights_dir, out, images["street.png"])) == 1
    err = capsys.readouterr().err
    assert "street.json" in err and "--overwrite" in err and err.count("\n") == 1
    assert (out / "street.json").read_text() == "my notes\n"
    assert sorted(p.name for p in out.iterdir()) == ["street.json"]
    assert main(_argv(weights_dir, out, images["street.png"], extra=["--overwrite"])) == 0
    assert json.loads((out / "street.json").read_text())["image"] == str(images["street.png"])


def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path):
    """Item 3: a 16-bit PNG with mean 128·257 reads as mean ≈ 128, not all 255."""
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (40, 60)).astype(np.uint16) * 257
    Image.fromarray(gray).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    rgb = read_rgb(tmp_path / "g16.png")
    assert rgb.shape == (40, 60, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[..., 0], gray // 257)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])


def test_float_images_in_unit_range_are_scaled_others_refused(tmp_path):
    f = np.linspace(0, 1, 50 * 30, dtype=np.float32).reshape(30, 50)
    Image.fromarray(f).save(tmp_path / "f.tif")
    rgb = read_rgb(tmp_path / "f.tif")
    np.testing.assert_array_equal(rgb[..., 1], np.round(f.astype(np.float64) * 255).astype(np.uint8))
    assert abs(rgb.mean() - 127.5) < 0.6
    Image.fromarray(f * 1000).save(tmp_path / "hdr.tif")
    with pytest.raises(CorruptFileError, match=r"hdr\.tif: a float image .* values in \[0, 1000\].*Tone-map"):
        read_rgb(tmp_path / "hdr.tif")
    Image.fromarray(np.full((4, 4), -5, np.int32)).save(tmp_path / "neg.tif")
    with pytest.raises(CorruptFileError, match=r"neg\.tif: a 32-bit integer image with values in \[-5, -5\]"):
        read_rgb(tmp_path / "neg.tif")


def test_alpha_channel_is_dropped_with_a_message(tmp_path, caplog):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 0
    Image.fromarray(rgba).save(tmp_path / "a.png")
    with caplog.at_level(logging.WARNING, logger="hpskit.cli"):
        rgb = read_rgb(tmp_path / "a.png")
    assert (rgb[..., 0] == 200).all() and "alpha channel is dropped" in caplog.text


def test_json_is_always_valid():
    """Item 6: NaN/inf never reach the JSON text; they become null and their fields are listed."""
    bad: list[str] = []
    data = json_safe({"people": [{"transl": [0.1, float("nan"), float("inf")], "betas": [1.0]}]}, "", bad)
    text = dumps_json(data)
    strict = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    assert strict["people"][0]["transl"] == [0.1, None, None] and bad == ["people.transl"]
    with pytest.raises(ValueError):
        dumps_json({"x": float("nan")})


def test_nan_predictions_give_valid_json(weights_dir, images, tmp_path, caplog):
    from hpskit.models import DPoSE

    out = tmp_path / "o"
    folder = tmp_path / "nan_weights"
    model = DPoSE.from_pretrained(weights_dir)
    with torch.no_grad():
        model.regressor.init_shape.fill_(float("nan"))  # every predicted beta is NaN
    model.save_pretrained(folder)
    with caplog.at_level(logging.WARNING, logger="hpskit.cli"):
        assert main(_argv(folder, out, images["portrait.jpg"])) == 0
    info = json.loads((out / "portrait.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert info["people"][0]["betas"] == [None] * 11
    assert "people.betas" in info["non_finite"] and "written as null" in caplog.text


def test_bad_image_is_found_before_any_output(weights_dir, images, tmp_path, capsys):
    """Weak spot: a corrupt image among the inputs stops the run before anything is written."""
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    out = tmp_path / "o"
    assert main(_argv(weights_dir, out, images["street.png"], bad, images["portrait.jpg"])) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "nothing was done" in err
    assert not out.exists()


def test_truncated_image_is_skipped_and_the_exit_status_says_so(weights_dir, images, tmp_path, capsys):
    data = images["street.png"].read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(data[: len(data) // 2])  # the header reads, the pixels do not
    out = tmp_path / "o"
    assert main(_argv(weights_dir, out, images["portrait.jpg"], cut)) == 1
    err = capsys.readouterr().err
    assert "1 of 2 IMAGE(s) could not be read" in err and str(cut) in err
    assert (out / "portrait.json").is_file() and not (out / "cut.json").exists()


@pytest.mark.slow  # ~30 s on 2 cores: predict() itself pastes full-resolution maps
@pytest.mark.skipif(not HAVE_STANDIN, reason="needs the stand-in body asset")
def test_large_image_pictures_are_capped(weights_dir, tmp_path):
    """Weak spot: pictures of a large image are drawn at the cap; the geometry stays full resolution."""
    rng = np.random.default_rng(0)
    big = Image.fromarray(rng.integers(0, 256, (75, 100, 3), dtype=np.uint8)).resize((3000, 2250))
    big.save(tmp_path / "big.png")
    out = tmp_path / "o"
    argv = _argv(weights_dir, out, tmp_path / "big.png", extra=["--boxes", "900,300,2100,2200"])
    argv[argv.index("none")] = "standin"
    assert main(argv) == 0
    info = json.loads((out / "big.json").read_text())
    assert info["image_size"] == {"height": 2250, "width": 3000}
    assert info["pictures_size"] == {"height": 1536, "width": 2048}
    for name in ("overlay", "depth", "parts"):
        assert Image.open(out / info["files"][name]).size == (2048, 1536)
    npz = np.load(out / "big.npz")
    assert npz["depth"].shape == (2250, 3000)
    np.testing.assert_allclose(npz["K"][0, 2], 1500.0)


def test_scaled_intrinsics_project_to_the_scaled_pixel():
    K = torch.tensor([[1000.0, 0, 1499.5], [0, 1000.0, 1124.5], [0, 0, 1]])
    p = torch.tensor([0.3, -0.2, 4.0])
    uv = (K @ p)[:2] / p[2]
    s = 2048 / 3000
    uv_small = (_scale_K(K, s, s) @ p)[:2] / p[2]
    torch.testing.assert_close(uv_small, (uv + 0.5) * s - 0.5)
    assert _mesh_overlay is not None
