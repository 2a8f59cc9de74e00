"""Photometric augmentation (kornia, two OneOf groups) and ImageNet normalisation."""

from __future__ import annotations

import pytest
import torch

from hpskit.core import ConfigError, ShapeError
from hpskit.data.transforms import (
    OP_NAMES,
    OneOf,
    PhotometricAugment,
    PhotometricConfig,
    normalize_imagenet,
    photometric_augment,
    unnormalize_imagenet,
)


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    # smooth-ish content (so blur changes it) plus texture
    base = torch.rand(4, 3, 8, 8, generator=g)
    base = torch.nn.functional.interpolate(base, size=(48, 48), mode="bilinear")
    return (0.7 * base + 0.3 * torch.rand(4, 3, 48, 48, generator=g)).clamp(0, 1)


@pytest.mark.parametrize("preset", ["authors", "paper"])
def test_presets_shape_range_and_determinism(images, preset):
    aug = PhotometricAugment(preset)
    assert [g.p for g in aug.config.groups] == [0.3, 0.3]
    out = aug(images, seed=7)
    assert out.shape == images.shape and out.dtype == images.dtype
    assert out.min() >= 0 and out.max() <= 1
    assert torch.equal(out, aug(images, seed=7))
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(aug(images, generator=g1), aug(images, generator=g2))


def test_authors_preset_lists_the_reference_ops():
    a, b = PhotometricConfig.authors().groups
    assert set(a.ops) == {"occlusion", "downscale", "jpeg", "rain", "motion_blur", "blur", "snow"}
    assert set(b.ops) == {"clahe", "grayscale", "brightness_contrast", "multiplicative_noise",
                          "hue_saturation", "posterize", "gamma", "equalize"}
    paper = {o for g in PhotometricConfig.paper().groups for o in g.ops}
    assert {"blur", "motion_blur", "jpeg", "clahe", "equalize", "posterize", "gamma", "hue_saturation",
            "rain", "snow", "erasing"} <= paper


def test_identity_when_p_is_zero(images):
    cfg = PhotometricConfig(groups=[OneOf(ops=list(OP_NAMES), p=0.0), OneOf(ops=["jpeg"], p=0.0)])
    assert torch.equal(PhotometricAugment(cfg)(images, seed=1), images)
    assert torch.equal(PhotometricAugment("none")(images, seed=1), images)


def test_p_one_changes_every_image(images):
    out = PhotometricAugment(PhotometricConfig.authors(groups=[OneOf(ops=["gamma", "grayscale"], p=1.0)]))(
        images, seed=0)
    assert ((out - images).abs().flatten(1).amax(1) > 1e-3).all()


@pytest.mark.parametrize("op", OP_NAMES)
def test_each_op_changes_the_image_when_forced(images, op):
    aug = PhotometricAugment(PhotometricConfig.single(op, p=1.0))
    out = aug(images, seed=5)
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1
    diff = (out - images).abs().flatten(1).amax(1)
    assert (diff > 1e-3).all(), f"{op} left an image unchanged: {diff.tolist()}"
    assert torch.equal(out, aug(images, seed=5))


def test_different_seeds_differ_and_global_rng_untouched(images):
    aug = PhotometricAugment(PhotometricConfig.single("rain"))
    state = torch.get_rng_state()
    a, b = aug(images, seed=1), aug(images, seed=2)
    assert torch.equal(torch.get_rng_state(), state)
    assert not torch.equal(a, b)


def test_per_sample_choice(images):
    """With one group of two ops, samples get different ops within one batch."""
    cfg = PhotometricConfig(groups=[OneOf(ops=["grayscale", "multiplicative_noise"], p=1.0)])
    aug = PhotometricAugment(cfg)
    out = aug(images.repeat(4, 1, 1, 1), seed=0)
    grey = (out[:, 0] - out[:, 1]).abs().flatten(1).amax(1) < 1e-5
    assert grey.any() and not grey.all()


def test_config_validation():
    with pytest.raises(ConfigError, match="unknown ops"):
        PhotometricConfig(groups=[OneOf(ops=["sharpen"])])
    with pytest.raises(ConfigError, match="p must be"):
        PhotometricConfig(groups=[OneOf(ops=["blur"], p=1.5)])
    with pytest.raises(ConfigError, match="preset"):
        PhotometricConfig.preset("strong")
    with pytest.raises(ConfigError, match="jpeg_codec"):
        PhotometricConfig(jpeg_codec="nvjpeg")
    cfg = PhotometricConfig(groups=[{"ops": ["blur"], "p": 0.5}])  # dicts (OmegaConf) become OneOf
    assert isinstance(cfg.groups[0], OneOf)


def test_input_checks(images):
    aug = PhotometricAugment()
    with pytest.raises(ShapeError, match="images"):
        aug(images[0])
    with pytest.raises(ShapeError, match="float"):
        aug((images * 255).to(torch.uint8))


def test_functional_equals_module(images):
    cfg = PhotometricConfig.single("downscale")
    assert torch.equal(photometric_augment(images, cfg, seed=4), PhotometricAugment(cfg)(images, seed=4))


def test_downscale_is_nearest_pixelation():
    x = torch.arange(16.0).view(1, 1, 1, 16).expand(1, 3, 4, 16) / 16
    out = PhotometricAugment(PhotometricConfig.single("downscale", downscale=(0.5, 0.5)))(x, seed=0)
    # factor 0.5: pixel i takes input pixel floor(floor(i / 2) * 2) = 2 * floor(i / 2)
    assert torch.equal(out[0, 0, 0], x[0, 0, 0, torch.arange(16) // 2 * 2])


def test_imagenet_normalisation_round_trip(images):
    n = normalize_imagenet(images)
    assert torch.allclose(n[:, 0], (images[:, 0] - 0.485) / 0.229)
    assert torch.allclose(unnormalize_imagenet(n), images, atol=1e-6)


def _changed(out: torch.Tensor, x: torch.Tensor) -> list[bool]:
    return ((out - x).abs().flatten(1).amax(1) > 1e-3).tolist()


@pytest.mark.parametrize("preset", ["authors", "paper"])
def test_samples_do_not_see_each_other(images, preset):
    """A sample's result depends only on its own pixels and the seed: giving the other samples different
    content leaves it bit for bit the same. Catches sample-index and per-sample-parameter plumbing that
    mixes samples up (the kind of bug that otherwise only shows on a GPU)."""
    x = torch.cat([images, images.flip(-1), 1 - images, images.transpose(-1, -2)]).repeat(2, 1, 1, 1)  # 32
    y = x.clone()
    y[1::2] = torch.rand(y[1::2].shape, generator=torch.Generator().manual_seed(1))
    groups = [OneOf(ops=g.ops, p=0.9) for g in PhotometricConfig.preset(preset).groups]
    aug = PhotometricAugment(PhotometricConfig(groups=groups))
    a, b = aug(x, seed=11), aug(y, seed=11)
    assert torch.equal(a[0::2], b[0::2])
    assert sum(_changed(a, x)) >= 24  # most samples got an op


@pytest.mark.parametrize("op", OP_NAMES)
def test_op_samples_do_not_see_each_other(images, op):
    """The same, one op forced on every sample (each op's own batching)."""
    x = torch.cat([images, images.flip(-1)])
    y = x.clone()
    y[1::2] = torch.rand(y[1::2].shape, generator=torch.Generator().manual_seed(2))
    aug = PhotometricAugment(PhotometricConfig.single(op))
    assert torch.equal(aug(x, seed=3)[0::2], aug(y, seed=3)[0::2]), op


@pytest.mark.gpu
@pytest.mark.parametrize("preset", ["authors", "paper"])
def test_gpu_presets(images, preset):
    """CPU twin: test_presets_shape_range_and_determinism. The parameters come from the same CPU
    generator on both devices, so the CUDA result is held to the CPU result of the same seed: the same
    images change (snow, say, leaves an image without pixels darker than its threshold unchanged on
    both). The values are compared in test_transforms_ops.py::test_gpu_ops_match_cpu."""
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    aug = PhotometricAugment(preset).cuda()
    x = images.repeat(8, 1, 1, 1)
    xc = x.cuda()
    state = torch.cuda.get_rng_state()
    out = aug(xc, seed=3)
    assert torch.equal(torch.cuda.get_rng_state(), state)
    assert out.device.type == "cuda" and out.shape == x.shape and 0 <= out.min() and out.max() <= 1
    assert torch.equal(out, aug(xc, seed=3))
    ref = aug(x, seed=3)
    assert _changed(out.cpu(), x) == _changed(ref, x)
    for op in OP_NAMES:
        single = PhotometricAugment(PhotometricConfig.single(op))
        y, y_cpu = single(xc[:4], seed=1).cpu(), single(x[:4], seed=1)
        assert _changed(y, x[:4]) == _changed(y_cpu, x[:4]), op


@pytest.mark.gpu
@pytest.mark.parametrize("preset", ["authors", "paper"])
def test_gpu_augmentation_never_waits_for_the_gpu(images, preset):
    """A CUDA call queues its kernels and returns: under ``set_sync_debug_mode("error")`` (every host wait
    on the GPU raises) whole batches and each op alone run through. The real-codec JPEG does wait, and
    the mode catches it, so the check can fail."""
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    x = images.repeat(16, 1, 1, 1).cuda()
    aug = PhotometricAugment(preset)
    singles = {op: PhotometricAugment(PhotometricConfig.single(op)) for op in OP_NAMES}
    aug(x, seed=0)  # first calls fill kornia's and hpskit's small caches of constants (one wait each)
    for single in singles.values():
        single(x[:4], seed=0)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for s in range(1, 6):
            aug(x, seed=s)
        for op, single in singles.items():
            single(x[:4], seed=1)
        with pytest.raises(RuntimeError, match="synchroniz"):
            PhotometricAugment(PhotometricConfig.single("jpeg", jpeg_codec="libjpeg"))(x[:4], seed=1)
    finally:
        torch.cuda.set_sync_debug_mode(0)
