"""The authors' crop (``crop_mode="authors"``) against an independent numpy + scikit-image version of
SPIN's rule (docs/authors-code.md (h)), on a real photo."""

import numpy as np
import pytest
import torch
from skimage.data import astronaut
from skimage.transform import resize

from hpskit.core import ConfigError
from hpskit.geometry import (
    authors_crop_window,
    boxes_xyxy_to_center_scale,
    crop_images,
    crop_images_authors,
    crop_square,
)


def _spin_transform(pt, center, scale, res, invert):
    h = 200 * scale
    t = np.zeros((3, 3))
    t[0, 0] = float(res) / h
    t[1, 1] = float(res) / h
    t[0, 2] = res * (-float(center[0]) / h + 0.5)
    t[1, 2] = res * (-float(center[1]) / h + 0.5)
    t[2, 2] = 1
    if invert:
        t = np.linalg.inv(t)
    new_pt = np.array([pt[0] - 1, pt[1] - 1, 1.0]).T
    new_pt = np.dot(t, new_pt)
    return new_pt[:2].astype(int) + 1


def _spin_crop(img, center, scale, res):
    """SPIN's ``crop`` (no rotation) with skimage's resize, as the rule reads: 1-based corners, truncated."""
    ul = np.array(_spin_transform([1, 1], center, scale, res, invert=1)) - 1
    br = np.array(_spin_transform([res + 1, res + 1], center, scale, res, invert=1)) - 1
    new_shape = [br[1] - ul[1], br[0] - ul[0], img.shape[2]]
    new_img = np.zeros(new_shape)
    new_x = max(0, -ul[0]), min(br[0], len(img[0])) - ul[0]
    new_y = max(0, -ul[1]), min(br[1], len(img)) - ul[1]
    old_x = max(0, ul[0]), min(len(img[0]), br[0])
    old_y = max(0, ul[1]), min(len(img), br[1])
    new_img[new_y[0]:new_y[1], new_x[0]:new_x[1]] = img[old_y[0]:old_y[1], old_x[0]:old_x[1]]
    return resize(new_img, (res, res)), (ul, br)  # order 1, anti-aliasing when shrinking (skimage defaults)


# (x0, y0, x1, y1) boxes on the 512×512 astronaut: shrinking, off the image edge, enlarging, non-integer
BOXES = [(150.3, 20.6, 420.9, 505.2), (-40.0, 300.2, 200.7, 640.4), (200.2, 80.9, 301.4, 201.1),
         (10.0, 10.0, 510.0, 500.0)]


@pytest.mark.parametrize("box", BOXES)
@pytest.mark.parametrize("rescale", [1.0, 1.2])
def test_authors_crop_matches_spin_rule_on_a_photo(box, rescale):
    img = astronaut()  # (512, 512, 3) uint8
    center, scale = boxes_xyxy_to_center_scale(torch.tensor([box], dtype=torch.float64), rescale)
    ref, (ul, br) = _spin_crop(img.astype(np.float64), center[0].numpy(), float(scale[0]), 224)
    win = authors_crop_window(center, scale, 224)[0].tolist()
    assert win == [ul[0], ul[1], br[0], br[1]]
    t = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    out = crop_images_authors(t, center.float(), scale, 224)[0].permute(1, 2, 0).numpy()
    diff = np.abs(out - ref / 255)
    assert diff.max() <= 1 / 255, diff.max() * 255
    assert diff.mean() < 0.01 / 255
    # the continuous crop is not the authors' crop: the test above can tell them apart
    exact = crop_images(t, center.float(), scale.float(), 224, antialias=True)[0].permute(1, 2, 0).numpy()
    assert np.abs(exact - ref / 255).max() > 10 / 255


def test_window_truncates_towards_zero_in_one_based_pixels():
    # centre 100.3, side 200: corners 0.3 → 0 and 200.3 → 200; y: −49.3 → −49 (towards zero), 150.7 → 150
    win = authors_crop_window(torch.tensor([[100.3, 50.7]], dtype=torch.float64),
                              torch.tensor([1.0], dtype=torch.float64), 224)
    assert win.tolist() == [[0, -49, 200, 150]]


def test_crop_square_dispatches_and_rejects_unknown_modes():
    t = torch.rand(1, 3, 64, 80)
    c, s = torch.tensor([[40.2, 30.7]]), torch.tensor([0.3])
    assert torch.equal(crop_square(t, c, s, 32, "authors"), crop_images_authors(t, c, s, 32))
    assert torch.equal(crop_square(t, c, s, 32, "exact"), crop_images(t, c, s, 32, antialias=True))
    with pytest.raises(ConfigError, match="crop mode"):
        crop_square(t, c, s, 32, "spin")
