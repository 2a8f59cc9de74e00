"""Crop parameters (the authors' jitter and vertical random crop) and the anti-aliased crop."""

from __future__ import annotations

import pytest
import torch

from hpskit.core import ConfigError
from hpskit.data import CropConfig, crop_full_image, sample_crop_box
from hpskit.geometry import crop_affine


def test_config_validation_lists_every_problem():
    with pytest.raises(ConfigError) as e:
        CropConfig(res=3, scale_jitter=-1, random_crop_prob=2, antialias="box")
    msg = str(e.value)
    assert all(k in msg for k in ("res", "scale_jitter", "random_crop_prob", "antialias"))
    cfg = CropConfig.dpose_train()
    assert cfg.augments and cfg.scale_jitter == 0.25 and cfg.random_crop_prob == 0.2
    assert not CropConfig().augments


def test_no_augmentation_is_identity():
    c, s = sample_crop_box(torch.tensor([10.0, 20.0]), torch.tensor(0.5), CropConfig(rescale=1.2))
    assert c.tolist() == [10.0, 20.0] and float(s) == pytest.approx(0.6)


def test_jitter_distribution_and_determinism():
    cfg = CropConfig(scale_jitter=0.25)
    draws = torch.tensor(
        [
            float(
                sample_crop_box(torch.zeros(2), torch.tensor(1.0), cfg, torch.Generator().manual_seed(i))[1]
            )
            for i in range(400)
        ]
    )
    assert draws.min() >= 0.75 and draws.max() <= 1.25
    # clip(1 + 0.25 N) hits each bound with probability P(|N| > 1) / 2 ≈ 0.159
    assert (
        0.09 < float((draws == 0.75).float().mean()) < 0.23
        and 0.09 < float((draws == 1.25).float().mean()) < 0.23
    )
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    assert (
        sample_crop_box(torch.zeros(2), torch.tensor(1.0), cfg, g1)[1]
        == sample_crop_box(torch.zeros(2), torch.tensor(1.0), cfg, g2)[1]
    )


def test_vertical_random_crop_stays_in_the_box():
    cfg = CropConfig(random_crop_prob=1.0, random_crop_factor=0.5)
    c0, s0 = torch.tensor([50.0, 80.0]), torch.tensor(0.4)  # box side 80: y in [40, 120]
    ys = []
    for i in range(200):
        c, s = sample_crop_box(c0, s0, cfg, torch.Generator().manual_seed(i))
        assert float(s) == pytest.approx(0.2) and float(c[0]) == 50.0
        top, bottom = float(c[1]) - 20, float(c[1]) + 20
        assert 40 - 1e-4 <= top and bottom <= 120 + 1e-4
        ys.append(float(c[1]))
    assert min(ys) < 62 and max(ys) > 98  # spread over the whole allowed range [60, 100]


@pytest.mark.parametrize("antialias", ["fast", "gaussian"])
def test_crop_places_a_point_where_the_affine_says(antialias):
    img = torch.zeros(1, 1, 300, 400)
    img[..., 120:123, 250:253] = 1.0  # 3×3 block centred on (251, 121)
    center, scale = torch.tensor([[230.0, 140.0]]), torch.tensor([1.5])
    out = crop_full_image(img, center, scale, res=64, antialias=antialias)[0, 0]
    ys, xs = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    got = torch.stack([(out * xs).sum(), (out * ys).sum()]) / out.sum()
    A = crop_affine(center, scale, 64)[0]
    expected = A[:, :2] @ torch.tensor([251.0, 121.0]) + A[:, 2]
    assert torch.allclose(got, expected, atol=0.05)
    # mass is conserved up to the area ratio (crop px per image px)²
    assert float(out.sum()) == pytest.approx(9 * (64 / 300) ** 2, rel=0.05)
    # without a low-pass, point sampling at 4.7 image px per crop px misses the 3-px block entirely
    assert float(crop_full_image(img, center, scale, res=64, antialias="none").sum()) == 0


def test_fast_antialias_low_passes():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(1, 1, 400, 400, generator=g)
    args = (torch.tensor([[200.0, 200.0]]), torch.tensor([1.8]))
    plain = crop_full_image(img, *args, res=40, antialias="none")
    fast = crop_full_image(img, *args, res=40, antialias="fast")
    assert fast.std() < 0.5 * plain.std()  # noise averaged over ~9×9 source pixels
    assert abs(float(fast.mean()) - 0.5) < 0.02


def test_authors_crop_mode_in_crop_full_image():
    from hpskit.geometry import crop_images_authors

    g = torch.Generator().manual_seed(0)
    img = torch.rand(1, 3, 90, 120, generator=g)
    c, s = torch.tensor([[50.3, 40.8]]), torch.tensor([0.7])
    out = crop_full_image(img, c, s, 32, crop_mode="authors")
    assert torch.equal(out, crop_images_authors(img, c, s, 32))
    assert not torch.allclose(out, crop_full_image(img, c, s, 32), atol=1e-3)
    with pytest.raises(ConfigError, match="mode must be one of"):
        CropConfig(mode="spin")
    with pytest.raises(ConfigError, match="nearest"):
        crop_full_image(img, c, s, 32, mode="nearest", crop_mode="authors")


def test_dataset_samples_use_the_authors_crop_when_asked(bedlam_root, smplx_body):
    """A dataset with CropConfig(mode="authors") crops its frames with the authors' rule; the box, the CLIFF
    vector and the crop affine stay those of the continuous box."""
    from hpskit.data import BEDLAM, IMAGENET_MEAN, IMAGENET_STD
    from hpskit.geometry import crop_images_authors

    exact = BEDLAM(bedlam_root, body_model=smplx_body, depth=False)
    authors = BEDLAM(bedlam_root, body_model=smplx_body, depth=False, crop=CropConfig(mode="authors"))
    for j in (0, len(exact) - 1):
        a, e = authors[j], exact[j]
        for name in ("center", "scale", "bbox_info", "crop_to_img"):
            assert torch.equal(getattr(a, name), getattr(e, name)), name
        frame = authors._load_frame(int(authors._rows[j]))
        img = torch.from_numpy(frame.image.copy()).permute(2, 0, 1)[None].float() / 255
        ref = crop_images_authors(img, a.center[None], a.scale[None], 224)[0]
        m, sd = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
        torch.testing.assert_close(a.img * sd + m, ref, atol=1e-5, rtol=0)
        assert not torch.allclose(a.img, e.img, atol=1e-2)
