"""``hpskit predict IMAGE`` without boxes: the built-in detector finds the people, offline."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from PIL import Image

from hpskit.cli import main
from hpskit.detect.blazepose import box_iou

skimage_data = pytest.importorskip("skimage.data")


def test_predict_finds_the_astronaut_without_boxes(weights_dir, tmp_path, caplog):
    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(skimage_data.astronaut()).save(photo, quality=95)
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((120, 160, 3), 127, np.uint8)).save(blank)
    out = tmp_path / "out"
    with caplog.at_level(logging.INFO, logger="hpskit"):
        code = main(["predict", "--weights", str(weights_dir), str(photo), str(blank), "--out", str(out),
                     "--device", "cpu"])
    assert code == 0
    info = json.loads((out / "astronaut.json").read_text())
    (person,) = info["people"]
    assert box_iou([person["box_xyxy"]], [[20, 14, 362, 512]])[0, 0] > 0.75  # hand-checked person box
    assert info["box_rescale"] == 1.2  # a tight detector box gets the usual context
    assert (out / "astronaut_depth.png").is_file() and (out / "astronaut.npz").is_file()
    # nobody in the blank image: said in a warning, and an empty JSON, not a crash or a whole-image crop
    assert json.loads((out / "blank.json").read_text())["people"] == []
    assert any("blank.png" in r.getMessage() and "found no person" in r.getMessage() for r in caplog.records)
