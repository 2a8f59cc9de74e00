"""``predict`` / ``DPoSE.predict`` without boxes: the detector finds the people; explicit boxes win."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hpskit.core import NoPersonError
from hpskit.detect import Detections, Detector, find_people
from hpskit.models import DPoSE, DPoSEConfig

skimage_data = pytest.importorskip("skimage.data")


class _Boom(Detector):
    def detect_one(self, image):
        raise AssertionError("the detector must not run when boxes are given")


class _Fixed(Detector):
    def __init__(self, boxes):
        super().__init__()
        self.boxes = boxes
        self.seen = []

    def detect_one(self, image):
        self.seen.append(image)
        return Detections(self.boxes, np.ones(len(self.boxes)))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return DPoSE(DPoSEConfig(encoder="hrnet_w18", body_model="none")).eval()


def test_predict_without_boxes_uses_the_builtin_detector(model):
    img = skimage_data.astronaut()
    pred = model.predict(img, crop_size=64, return_maps=False)
    assert len(pred) == 1
    from hpskit.detect.blazepose import box_iou

    # the person (hand-checked box [20, 14, 362, 512]), not the whole image (nor the helmet beside her)
    assert box_iou(pred.boxes.numpy(), [[20, 14, 362, 512]])[0, 0] > 0.75
    assert pred.boxes[0, 2] < 420


def test_explicit_boxes_win_and_detector_is_swappable(model):
    img = np.zeros((60, 80, 3), np.uint8)
    pred = model.predict(img, [[10.0, 5.0, 40.0, 50.0]], crop_size=64, detector=_Boom(), return_maps=False)
    np.testing.assert_allclose(pred.boxes.numpy(), [[10, 5, 40, 50]])
    det = _Fixed([[1.0, 2.0, 30.0, 40.0], [40.0, 2.0, 70.0, 50.0]])
    imgs = [torch.zeros(3, 60, 80), torch.full((3, 60, 80), 0.5)]  # float tensors in [0, 1]
    pred = model.predict(imgs, detector=det, crop_size=64, return_maps=False)
    assert len(pred) == 4 and pred.image_index.tolist() == [0, 0, 1, 1]
    assert det.seen[1].dtype == np.uint8 and det.seen[1].shape == (60, 80, 3) and det.seen[1][0, 0, 0] == 128


def test_no_person_is_said_clearly(model):
    blank = np.full((120, 160, 3), 127, np.uint8)
    with pytest.raises(NoPersonError, match="found no person in the image.*give person boxes"):
        model.predict(blank, crop_size=64)
    with pytest.raises(NoPersonError, match="any of the 2 images"):
        find_people([blank, blank], _Fixed(np.zeros((0, 4))))
    # one image with somebody, one without: boxes for the first, an empty entry for the second
    out = find_people([blank, blank], _FirstOnly())
    assert [b.shape for b in out] == [(1, 4), (0, 4)]


class _FirstOnly(Detector):
    def detect(self, images):
        return [Detections([[1.0, 1.0, 20.0, 30.0]], [0.9])] + [Detections.empty() for _ in images[1:]]


def test_the_builtin_detector_is_made_once_per_model(monkeypatch):
    import hpskit.detect as detect

    made = []
    real = detect.create_detector

    def counting(name, **kw):
        made.append(name)
        return real(name, **kw)

    monkeypatch.setattr(detect, "create_detector", counting)
    torch.manual_seed(0)
    model = DPoSE(DPoSEConfig(encoder="hrnet_w18", body_model="none")).eval()
    img = skimage_data.astronaut()
    first = model.predict(img, crop_size=64, return_maps=False)
    second = model.predict(img, crop_size=64, return_maps=False)
    assert made == ["blazepose"]  # kept on the model, not rebuilt per call
    torch.testing.assert_close(first.boxes, second.boxes)
    assert not any("detector" in k for k in model.state_dict())  # not a submodule: weights unchanged
    model.predict(img, crop_size=64, return_maps=False, detector=_Fixed([[20.0, 14.0, 362.0, 512.0]]))
    assert made == ["blazepose"]  # an explicit detector is used as given
