"""Depth losses: the paper's foreground L1 + (1 − SSIM) (kornia) and the authors' MSE + even-window SSIM."""

import math

import kornia
import numpy as np
import pytest
import torch

from hpskit.core import ShapeError
from hpskit.losses import (
    DepthLoss,
    DepthMSESSIMLoss,
    depth_l1_loss,
    depth_loss,
    depth_mse_loss,
    depth_mse_ssim_loss,
    depth_ssim_loss,
    gaussian_ssim,
    gaussian_ssim_loss,
)

C1, C2 = 1e-4, 9e-4


def _person_map(B=2, H=12, W=12, dtype=torch.float64):
    t = torch.zeros(B, 1, H, W, dtype=dtype)
    h0, h1, w0, w1 = H // 4, H - H // 4, W // 3, W - W // 3
    t[:, :, h0:h1, w0:w1] = torch.rand(B, 1, h1 - h0, w1 - w0, dtype=dtype) * 0.9 + 0.1
    return t


def test_l1_hand_value_and_background_ignored():
    target = torch.zeros(1, 1, 4, 4)
    target[0, 0, 1, 1], target[0, 0, 1, 2], target[0, 0, 2, 1] = 0.5, 0.6, 0.7
    pred = torch.full_like(target, 0.4)
    # foreground: 3 pixels with errors 0.1, 0.2, 0.3 -> 0.2
    assert depth_l1_loss(pred, target).item() == pytest.approx(0.2, abs=1e-6)
    pred2 = pred.clone()
    pred2[target == 0] = 123.0  # background prediction must not matter
    assert depth_l1_loss(pred2, target).item() == pytest.approx(0.2, abs=1e-6)
    # explicit mask: only the first pixel
    fg = torch.zeros_like(target, dtype=torch.bool)
    fg[0, 0, 1, 1] = True
    assert depth_l1_loss(pred, target, foreground=fg).item() == pytest.approx(0.1, abs=1e-6)


def test_ssim_constant_maps_hand_value():
    # Full foreground, constant maps a, b: reflect padding keeps them constant, so σ = 0 everywhere and
    # SSIM = (2ab + C1) / (a² + b² + C1) at every pixel.
    a, b = 0.4, 0.7
    pred = torch.full((1, 1, 16, 16), a, dtype=torch.float64)
    target = torch.full_like(pred, b)
    expected = 1 - (2 * a * b + C1) / (a * a + b * b + C1)
    assert depth_ssim_loss(pred, target).item() == pytest.approx(expected, rel=1e-10)
    both = depth_loss(pred, target, l1_weight=0.1, ssim_weight=0.02)
    assert both.item() == pytest.approx(0.1 * abs(a - b) + 0.02 * expected, rel=1e-10)


def test_ssim_identical_and_background_has_no_gradient():
    target = _person_map()
    assert depth_ssim_loss(target.clone(), target).item() == pytest.approx(0.0, abs=1e-12)
    pred = (target + 0.05 * torch.rand_like(target)).requires_grad_()
    loss = depth_loss(pred, target)
    loss.backward()
    bg = target == 0
    assert torch.isfinite(pred.grad).all()
    assert pred.grad[bg].abs().max() == 0
    assert pred.grad[~bg].abs().max() > 0
    pred2 = pred.detach().clone()
    pred2[bg] = torch.rand(int(bg.sum()), dtype=pred2.dtype)
    assert depth_loss(pred2, target).item() == pytest.approx(loss.item(), rel=1e-12)


def test_sample_mask_and_empty_foreground():
    target = _person_map(B=3)
    pred = torch.rand_like(target)
    mask = torch.tensor([True, False, True])
    ref = depth_loss(pred, target, mask=mask)
    target2 = target.clone()
    target2[1] = float("nan")  # an unsupervised sample's GT is never read
    assert depth_loss(pred, target2, mask=mask).item() == pytest.approx(ref.item(), rel=1e-12)
    per = depth_l1_loss(pred, target, mask=mask, reduction="none")
    assert per[1] == 0 and per.shape == (3,)
    assert ref.item() == pytest.approx(
        (depth_loss(pred[:1], target[:1]) + depth_loss(pred[2:], target[2:])).item() / 2, rel=1e-10)
    # A flagged sample with no foreground is dropped, not counted as a zero.
    target3 = target.clone()
    target3[1] = 0
    assert depth_l1_loss(pred, target3).item() == pytest.approx(depth_l1_loss(pred, target, mask=mask).item())
    # No supervised sample: exactly 0, differentiable.
    p = pred.clone().requires_grad_()
    z = depth_loss(p, target, mask=torch.zeros(3, dtype=torch.bool))
    z.backward()
    assert z.item() == 0 and (p.grad == 0).all()


def test_gradcheck_foreground_losses():
    target = _person_map(B=1, H=6, W=6)
    pred = (target + 0.1 * torch.rand_like(target) + 0.05).requires_grad_()
    # fast_mode: kornia's SSIM backward is kornia's to test; this checks our masking around it.
    assert torch.autograd.gradcheck(lambda p: depth_loss(p, target, window_size=5), (pred,), fast_mode=True)
    assert torch.autograd.gradcheck(lambda p: depth_l1_loss(p, target), (pred,))


def test_gaussian_ssim_matches_kornia_with_odd_window():
    # Same Gaussian (σ 1.5), odd window, no padding ⇔ kornia's 'valid' map (eps 0): they must agree.
    x = torch.rand(2, 2, 20, 18, dtype=torch.float64)
    y = (x + 0.2 * torch.rand_like(x)).clamp(0, 1)
    ours = gaussian_ssim(x, y, window_size=11, sigma=1.5, padding=0, c1=C1, c2=C2)
    ref = kornia.metrics.ssim(x, y, 11, max_val=1.0, eps=0.0, padding="valid")
    assert ours.shape == ref.shape == (2, 2, 10, 8)
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12)


def _numpy_ssim_even(x, y, ws=8, sigma=1.5, pad=4):
    """Brute-force per-pixel SSIM with the authors' 8-tap window (offsets −4..3) and zero padding."""
    g = np.exp(-((np.arange(ws) - ws // 2) ** 2) / (2 * sigma**2))
    g /= g.sum()
    w2 = np.outer(g, g)
    H, W = x.shape
    xp, yp = np.pad(x, pad), np.pad(y, pad)
    out = np.zeros((H + 2 * pad - ws + 1, W + 2 * pad - ws + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            px, py = xp[i:i + ws, j:j + ws], yp[i:i + ws, j:j + ws]
            mx, my = (w2 * px).sum(), (w2 * py).sum()
            vx = (w2 * px * px).sum() - mx * mx
            vy = (w2 * py * py).sum() - my * my
            cxy = (w2 * px * py).sum() - mx * my
            out[i, j] = (2 * mx * my + C1) * (2 * cxy + C2) / ((mx * mx + my * my + C1) * (vx + vy + C2))
    return out


def test_gaussian_ssim_even_window_vs_bruteforce():
    x = torch.rand(1, 1, 7, 9, dtype=torch.float64)
    y = torch.rand(1, 1, 7, 9, dtype=torch.float64)
    ours = gaussian_ssim(x, y)  # authors' defaults: 8×8, σ 1.5, padding 4, C1 1e-4, C2 9e-4
    ref = _numpy_ssim_even(x[0, 0].numpy(), y[0, 0].numpy())
    assert ours.shape == (1, 1, 8, 10)  # one pixel larger than the input (224 → 225)
    np.testing.assert_allclose(ours[0, 0].numpy(), ref, rtol=1e-10, atol=1e-12)


def test_gaussian_ssim_even_window_constant_hand_value():
    # Constant a, b with zero padding: at an output pixel whose taps inside the image sum to w,
    # μ = a·w, σx² = a²w(1−w), σxy = ab·w(1−w). The window is not centred (taps −4..3).
    a, b, H = 0.3, 0.8, 6
    x = torch.full((1, 1, H, H), a, dtype=torch.float64)
    y = torch.full_like(x, b)
    g = np.exp(-((np.arange(8) - 4) ** 2) / (2 * 1.5**2))
    g /= g.sum()
    s1 = np.array([sum(g[k] for k in range(8) if 0 <= o - 4 + k < H) for o in range(H + 1)])
    w = np.outer(s1, s1)
    v = w * (1 - w)
    expected = ((2 * a * b * w * w + C1) * (2 * a * b * v + C2)) / (((a * a + b * b) * w * w + C1)
                                                                     * ((a * a + b * b) * v + C2))
    np.testing.assert_allclose(gaussian_ssim(x, y)[0, 0].numpy(), expected, rtol=1e-10)
    assert gaussian_ssim_loss(x, y).item() == pytest.approx(1 - expected.mean(), rel=1e-10)


def test_authors_depth_loss_composition_and_masking():
    target = _person_map(B=3)
    pred = torch.rand_like(target)
    mse = ((pred - target) ** 2).mean()
    ssim = gaussian_ssim(pred, target).mean()
    total = depth_mse_ssim_loss(pred, target)
    assert total.item() == pytest.approx((mse + 0.2 * 0.5 * (1 - ssim)).item(), rel=1e-10)
    assert depth_mse_loss(pred, target).item() == pytest.approx(mse.item(), rel=1e-12)
    m = torch.tensor([False, True, False])
    assert depth_mse_ssim_loss(pred, target, m).item() == pytest.approx(
        depth_mse_ssim_loss(pred[1:2], target[1:2]).item(), rel=1e-12)
    assert DepthMSESSIMLoss()(pred, target).item() == pytest.approx(total.item(), rel=1e-12)
    assert DepthLoss(0.1, 0.02)(pred, target).item() == pytest.approx(
        depth_loss(pred, target, l1_weight=0.1, ssim_weight=0.02).item(), rel=1e-12)


def test_gradcheck_gaussian_ssim():
    x = torch.rand(1, 1, 6, 6, dtype=torch.float64, requires_grad=True)
    y = torch.rand(1, 1, 6, 6, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a: gaussian_ssim_loss(a, y), (x,))


def test_shape_errors():
    with pytest.raises(ShapeError, match=r"target.*\(B, C, H, W\).*got \(2, 1, 8, 9\)"):
        depth_l1_loss(torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 9))
    with pytest.raises(ShapeError, match="mask"):
        depth_mse_loss(torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8), mask=torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="reduction"):
        depth_mse_loss(torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8), reduction="sum")
    assert math.isfinite(depth_l1_loss(torch.rand(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)).item())
