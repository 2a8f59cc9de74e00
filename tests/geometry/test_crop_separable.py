"""The separable anti-aliased crop (``crop_images(..., antialias=True)``, bilinear) against the reference
path it replaces: blur the whole image with kornia's Gaussian (reflect border), then ``grid_sample``."""

import pytest
import torch

from hpskit.geometry import apply_affine, crop_affine, crop_images, invert_affine
from hpskit.geometry.antialias import _antialias
from hpskit.geometry.boxes import _pixel_grid
from hpskit.geometry.crop import _sample


def _blur_then_sample(img, c, s, res):
    A_inv = invert_affine(crop_affine(c, s.to(c.dtype), res))
    pts = apply_affine(A_inv, _pixel_grid(img.shape[0], res, res, c))
    return _sample(_antialias(img, s, res), pts, (res, res), "bilinear")


def _random_boxes(gen, B, H, W, dtype):
    # centres up to 30 % outside the image on each side, so many boxes hang over the border
    c = torch.stack([torch.rand(B, generator=gen, dtype=dtype) * 1.6 * W - 0.3 * W,
                     torch.rand(B, generator=gen, dtype=dtype) * 1.6 * H - 0.3 * H], -1)
    side = torch.rand(B, generator=gen, dtype=dtype) * 1.5 * max(H, W) + 4
    return c, side / 200


@pytest.mark.parametrize("hw", [(40, 55), (123, 97), (256, 180), (7, 300)])
@pytest.mark.parametrize("res", [16, 33])
def test_matches_blur_then_grid_sample_float32(hw, res):
    H, W = hw
    gen = torch.Generator().manual_seed(H * 1000 + W + res)
    img = torch.rand(4, 3, H, W, generator=gen)
    c, s = _random_boxes(gen, 4, H, W, torch.float32)
    s[0] = 0.5 * res / 200  # one upsampling crop in the batch (no blur for it)
    out = crop_images(img, c, s, res=res, antialias=True)
    ref = _blur_then_sample(img, c, s, res)
    assert out.shape == (4, 3, res, res) and out.dtype == torch.float32
    assert ref.abs().amax() > 0.1  # the comparison is not between two zero crops
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def test_matches_float64_partly_outside_and_mixed_scales():
    gen = torch.Generator().manual_seed(3)
    img = torch.rand(3, 2, 90, 130, generator=gen, dtype=torch.float64)
    c = torch.tensor([[-10.0, 20.5], [65.2, 45.1], [128.7, 88.3]], dtype=torch.float64)
    s = torch.tensor([60 / 200, 200 / 200, 11 / 200], dtype=torch.float64)  # ×3.75, ×12.5 down; ×1.45 up
    out = crop_images(img, c, s, res=16, antialias=True)
    torch.testing.assert_close(out, _blur_then_sample(img, c, s, 16), atol=1e-12, rtol=0)
    # the box over the left edge: its crop's left columns sample only padding
    assert (out[0, :, :, 0] == 0).all() and (out[0, :, 8:, -1] != 0).all()


def test_upsampling_only_equals_plain_bilinear():
    gen = torch.Generator().manual_seed(4)
    img = torch.rand(2, 3, 30, 40, generator=gen)
    c = torch.tensor([[12.3, 17.9], [35.0, 2.0]])
    s = torch.tensor([20 / 200, 9 / 200])
    torch.testing.assert_close(crop_images(img, c, s, res=32, antialias=True),
                               crop_images(img, c, s, res=32), atol=1e-6, rtol=0)


def test_reads_only_the_support_and_zero_outside():
    # pixels further than the kernel radius from every sample are never read (NaN there stays out)
    img = torch.rand(1, 3, 400, 500, dtype=torch.float64)
    c, res = torch.tensor([[150.0, 120.0]], dtype=torch.float64), 20
    s = torch.tensor([0.5], dtype=torch.float64)
    sigma = (100 / res - 1) / 2
    r = int(4 * sigma + 0.5)
    clean = crop_images(img, c, s, res=res, antialias=True)
    poisoned = img.clone()
    poisoned[..., 120 + 50 + r + 2:, :] = float("nan")
    poisoned[..., :, 150 + 50 + r + 2:] = float("nan")
    torch.testing.assert_close(crop_images(poisoned, c, s, res=res, antialias=True), clean, atol=0, rtol=0)
    # a box entirely outside the image gives a zero crop
    far = crop_images(img, torch.tensor([[-500.0, 100.0]], dtype=torch.float64), s, res=res, antialias=True)
    assert far.shape == (1, 3, res, res) and (far == 0).all()


def test_gradient_matches_reference():
    img = torch.rand(1, 1, 24, 30, dtype=torch.float64, requires_grad=True)
    c, s = torch.tensor([[14.2, 11.7]], dtype=torch.float64), torch.tensor([26 / 200], dtype=torch.float64)
    w = torch.rand(1, 1, 6, 6, dtype=torch.float64)
    (g_new,) = torch.autograd.grad((crop_images(img, c, s, res=6, antialias=True) * w).sum(), img)
    (g_ref,) = torch.autograd.grad((_blur_then_sample(img, c, s, 6) * w).sum(), img)
    torch.testing.assert_close(g_new, g_ref, atol=1e-12, rtol=0)
