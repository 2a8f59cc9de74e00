"""hpskit.geometry.windows: one person's crop and paste-back on its image window (predict's internals)
equal the whole-image operations, and pasting in bands of rows does not change the result."""

import pytest
import torch

from hpskit.geometry import boxes_xyxy_to_center_scale, crop_images, windows
from hpskit.geometry.windows import crop_person, paste_person_map


@pytest.mark.parametrize("box", [[10.0, 5.0, 100.0, 85.0], [-30.0, -20.0, 50.0, 60.0],
                                 [70.0, 40.0, 119.0, 89.0], [40.0, 30.0, 52.0, 44.0]])
def test_window_crop_equals_whole_image_crop(box):
    """predict's per-person window crop (with the blur margin) equals crop_images on the whole image."""
    g = torch.Generator().manual_seed(2)
    img = torch.randint(0, 256, (3, 90, 120), dtype=torch.uint8, generator=g)
    center, scale = boxes_xyxy_to_center_scale(torch.tensor([box]), rescale=1.2)
    for res in (16, 64):  # strong and no anti-aliasing blur
        ref = crop_images(img.float()[None] / 255, center, scale, res=res, antialias=True)
        got = crop_person(img, center[0], scale[0], res, True, torch.float32)
        torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)


def test_maps_are_pasted_in_bounded_bands(monkeypatch):
    """A person filling a large photo is pasted band by band (bounded memory) with the same result."""
    g = torch.Generator().manual_seed(0)
    maps = torch.randn(1, 23, 56, 56, generator=g)
    center, scale = torch.tensor([300.5, 220.25]), torch.tensor(2.1)
    whole = (paste_person_map(maps, center, scale, (480, 640), True),
             paste_person_map(maps[:, :1], center, scale, (480, 640), False))
    monkeypatch.setattr(windows, "_PASTE_BLOCK", 777)  # 1 row of 640 × 23 channels per band
    banded = (paste_person_map(maps, center, scale, (480, 640), True),
              paste_person_map(maps[:, :1], center, scale, (480, 640), False))
    assert torch.equal(banded[0], whole[0]) and (whole[0] > 0).sum() > 100_000
    torch.testing.assert_close(banded[1], whole[1], atol=1e-4, rtol=0)
