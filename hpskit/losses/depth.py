"""Depth-map losses: the paper's foreground L1 + (1 − SSIM), and the authors' whole-map MSE + SSIM.

Paper (D-PoSE §3.3, eq. 2): ``λ1·|D_gt − D| + λ2·(1 − SSIM(D_gt, D))`` with the background ignored. hpskit
computes both parts on the foreground only: the L1 is averaged over foreground pixels, and the SSIM map
(kornia's SSIM: Gaussian window, σ = 1.5, reflect padding) of the masked maps is averaged over foreground
pixels, so the prediction on the background gets no gradient at all. That SSIM map is computed here by
:func:`gaussian_ssim` on reflect-padded maps, not by ``kornia.metrics.ssim``: kornia builds its window from
``torch.tensor(sigma, device=...)``, a host → device copy that waits for the GPU in every training step. The
two agree to float32 rounding (the map within 1e-5, the loss within 1e-6; ``tests/losses/test_depth.py``).

Authors' code (docs/authors-code.md (g), formats.md §11): MSE over the whole map (background included) plus
``0.2 · 0.5 · (1 − SSIM)`` where SSIM uses an **8×8** Gaussian window (σ 1.5, taps at offsets −4..3), zero
padding 4 (a 224² map gives a 225² SSIM map), C1 = 1e-4, C2 = 9e-4, averaged over the whole map.

Every function returns one value per sample (``reduction="none"``) or their mean over the samples flagged in
``mask`` (``reduction="mean"``; exactly 0 when none is flagged).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hpskit.core import check_shape

from ._common import _check_reduction, _reduce, _sample_mask, _select

__all__ = [
    "depth_l1_loss",
    "depth_ssim_loss",
    "depth_loss",
    "DepthLoss",
    "gaussian_ssim",
    "depth_mse_loss",
    "gaussian_ssim_loss",
    "depth_mse_ssim_loss",
    "DepthMSESSIMLoss",
]


def _check_maps(pred: Tensor, target: Tensor, where: str) -> dict[str, int]:
    dims = check_shape(pred, ("B", "C", "H", "W"), "pred", where)
    check_shape(target, ("B", "C", "H", "W"), "target", where, dims=dims,
                hint="`pred` and `target` must be maps of the same size; resize the ground truth first.")
    return dims


def _foreground(target: Tensor, foreground: Tensor | None, where: str) -> Tensor:
    """Foreground mask (B, C, H, W) bool: ``foreground`` if given, else ``target > 0``."""
    if foreground is None:
        return target > 0
    check_shape(foreground, tuple(target.shape), "foreground", where,
                hint="Pass a mask the size of the depth map, or None to use `target > 0`.")
    return foreground.to(device=target.device, dtype=torch.bool)


def _fg_setup(pred, target, foreground, mask, where):
    """Shared checks for the foreground losses: masks, the sanitised target and the per-sample pixel count."""
    dims = _check_maps(pred, target, where)
    m = _sample_mask(mask, dims["B"], pred, where)
    target = _select(m, target)
    fg = _foreground(target, foreground, where) & m.view(-1, 1, 1, 1)
    count = fg.flatten(1).sum(1)
    # A flagged sample with an empty foreground has nothing to supervise: drop it from the mean.
    m = m & (count > 0)
    return m, target, fg, count.clamp(min=1).to(pred.dtype)


def depth_l1_loss(
    pred: Tensor,
    target: Tensor,
    foreground: Tensor | None = None,
    mask: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Mean absolute depth error over the foreground pixels (paper eq. 2, first part).

    Args:
        pred: Predicted depth, shape (B, 1, H, W) (any C works), in the ground truth's normalised units.
        target: Ground-truth depth, shape (B, 1, H, W); 0 on the background.
        foreground: Foreground mask, shape (B, 1, H, W), bool; None uses ``target > 0``.
        mask: Samples that have depth supervision, shape (B,), bool; None means all. A flagged sample with an
            empty foreground counts as unsupervised.
        reduction: ``"mean"`` (scalar, mean over supervised samples) or ``"none"`` (shape (B,)).

    Returns:
        Per sample: ``sum_fg |pred − target| / #fg``; reduced as requested.

    Example:
        >>> t = torch.tensor([[[[0.0, 0.5], [0.5, 0.0]]]])
        >>> depth_l1_loss(torch.full_like(t, 0.7), t)
        tensor(0.2000)
    """
    where = "depth_l1_loss"
    _check_reduction(reduction, where)
    m, target, fg, count = _fg_setup(pred, target, foreground, mask, where)
    err = torch.where(fg, (pred - target).abs(), pred.new_zeros(()))
    return _reduce(err.flatten(1).sum(1) / count, m, reduction)


def _reflect_ssim(x: Tensor, y: Tensor, window_size: int, max_val: float) -> Tensor:
    """kornia's SSIM map (``kornia.metrics.ssim(x, y, window_size, max_val, eps=0)``: Gaussian window,
    σ = 1.5, reflect padding, same size as the input) by :func:`gaussian_ssim`, with no host copy.

    Args:
        x: First image, shape (B, C, H, W), H and W > window_size // 2.
        y: Second image, same shape.
        window_size: Odd window size.
        max_val: Dynamic range (C1 = (0.01·max_val)², C2 = (0.03·max_val)²).

    Returns:
        SSIM map, shape (B, C, H, W).
    """
    if window_size < 1 or window_size % 2 == 0:
        raise ValueError(f"depth_ssim_loss: `window_size` must be odd and positive; got {window_size}.")
    r = window_size // 2
    pad = (r, r, r, r)
    return gaussian_ssim(F.pad(x, pad, mode="reflect"), F.pad(y, pad, mode="reflect"), window_size, 1.5,
                         padding=0, c1=(0.01 * max_val) ** 2, c2=(0.03 * max_val) ** 2)


def depth_ssim_loss(
    pred: Tensor,
    target: Tensor,
    foreground: Tensor | None = None,
    mask: Tensor | None = None,
    window_size: int = 11,
    max_val: float = 1.0,
    reduction: str = "mean",
) -> Tensor:
    """``1 − SSIM`` over the foreground pixels (paper eq. 2, second part), with kornia's SSIM.

    Both maps are multiplied by the foreground mask before SSIM (so the background prediction has no
    influence), and the SSIM map is averaged over the foreground pixels only. kornia's SSIM
    (:func:`kornia.metrics.ssim`, computed here without its host copy, see the module docstring): Gaussian
    window, σ = 1.5, ``window_size`` taps (odd), reflect padding; C1 = (0.01·max_val)², C2 = (0.03·max_val)².

    Args:
        pred: Predicted depth, shape (B, 1, H, W); H, W > window_size // 2.
        target: Ground-truth depth, shape (B, 1, H, W); 0 on the background.
        foreground: Foreground mask, shape (B, 1, H, W), bool; None uses ``target > 0``.
        mask: Samples that have depth supervision, shape (B,), bool; None means all.
        window_size: Odd Gaussian window size.
        max_val: Dynamic range of the depth values (1 for the [0.1, 1] normalised maps).
        reduction: ``"mean"`` or ``"none"`` (shape (B,)).

    Returns:
        Per sample: ``1 − mean_fg SSIM(pred·fg, target·fg)``; reduced as requested.

    Example:
        >>> t = torch.full((1, 1, 8, 8), 0.5)
        >>> float(depth_ssim_loss(t, t))
        0.0
    """
    where = "depth_ssim_loss"
    _check_reduction(reduction, where)
    m, target, fg, count = _fg_setup(pred, target, foreground, mask, where)
    fgf = fg.to(pred.dtype)
    ssim_map = _reflect_ssim(pred * fgf, target * fgf, window_size, float(max_val))
    mean_ssim = (ssim_map * fgf).flatten(1).sum(1) / count
    return _reduce(1.0 - mean_ssim, m, reduction)


def depth_loss(
    pred: Tensor,
    target: Tensor,
    foreground: Tensor | None = None,
    mask: Tensor | None = None,
    l1_weight: float = 1.0,
    ssim_weight: float = 1.0,
    window_size: int = 11,
    reduction: str = "mean",
) -> Tensor:
    """Paper depth loss (eq. 2) with the background ignored: ``l1_weight·L1 + ssim_weight·(1 − SSIM)``.

    With ``l1_weight = λ1 = 0.1`` and ``ssim_weight = λ2 = 0.02`` this is the paper's L_depth. See
    :func:`depth_l1_loss` and :func:`depth_ssim_loss` for the two parts and the arguments.

    Returns:
        Scalar (``"mean"``) or shape (B,) (``"none"``).
    """
    l1 = depth_l1_loss(pred, target, foreground, mask, reduction)
    ssim = depth_ssim_loss(pred, target, foreground, mask, window_size, 1.0, reduction)
    return l1_weight * l1 + ssim_weight * ssim


class DepthLoss(nn.Module):
    """Module form of :func:`depth_loss` (paper: foreground L1 + (1 − SSIM)).

    Shape:
        - pred, target: (B, 1, H, W); foreground: (B, 1, H, W) bool or None; mask: (B,) bool or None.
        - output: scalar.
    """

    def __init__(self, l1_weight: float = 1.0, ssim_weight: float = 1.0, window_size: int = 11):
        super().__init__()
        self.l1_weight, self.ssim_weight, self.window_size = l1_weight, ssim_weight, window_size

    def forward(self, pred: Tensor, target: Tensor, foreground: Tensor | None = None,
                mask: Tensor | None = None) -> Tensor:
        return depth_loss(pred, target, foreground, mask, self.l1_weight, self.ssim_weight, self.window_size)

    def extra_repr(self) -> str:
        return f"l1_weight={self.l1_weight}, ssim_weight={self.ssim_weight}, window_size={self.window_size}"


def gaussian_ssim(
    x: Tensor,
    y: Tensor,
    window_size: int = 8,
    sigma: float = 1.5,
    padding: int = 4,
    c1: float = 1e-4,
    c2: float = 9e-4,
) -> Tensor:
    """SSIM map with a Gaussian window of any size (even included) and zero padding: the authors' SSIM.

    Written here rather than taken from kornia because the authors' window is **8×8** (taps at offsets
    ``k − window_size // 2`` = −4..3, so it is not centred) with zero padding 4, which makes the map one
    pixel larger than the input; kornia only accepts odd windows with reflect padding. With an odd window
    and ``padding=0`` this equals ``kornia.metrics.ssim(x, y, window_size, padding="valid", eps=0)``.

    Window: ``g_k = exp(−(k − window_size // 2)² / (2σ²))``, normalised to sum 1, outer product with itself,
    applied per channel as a cross-correlation (``conv2d``, ``groups=C``). Per pixel,
    ``SSIM = (2μxμy + c1)(2σxy + c2) / ((μx² + μy² + c1)(σx² + σy² + c2))`` with σx² = E[x²] − μx² etc.

    Args:
        x: First image, shape (B, C, H, W).
        y: Second image, shape (B, C, H, W).
        window_size: Number of taps per axis (the authors: 8).
        sigma: Gaussian standard deviation in pixels (the authors: 1.5).
        padding: Zero padding on every side (the authors: 4).
        c1: Stabiliser of the luminance term (the authors: 1e-4 = (0.01·1)²).
        c2: Stabiliser of the contrast term (the authors: 9e-4 = (0.03·1)²).

    Returns:
        SSIM map, shape (B, C, H + 2·padding − window_size + 1, W + 2·padding − window_size + 1).

    Example:
        >>> gaussian_ssim(torch.rand(1, 1, 224, 224), torch.rand(1, 1, 224, 224)).shape
        torch.Size([1, 1, 225, 225])
    """
    dims = check_shape(x, ("B", "C", "H", "W"), "x", "gaussian_ssim")
    check_shape(y, ("B", "C", "H", "W"), "y", "gaussian_ssim", dims=dims)
    if window_size < 1 or padding < 0:
        raise ValueError(f"gaussian_ssim: need window_size >= 1 and padding >= 0; "
                         f"got {window_size}, {padding}.")
    offsets = torch.arange(window_size, device=x.device, dtype=x.dtype) - window_size // 2
    g = torch.exp(-(offsets**2) / (2.0 * sigma**2))
    g = g / g.sum()
    c = dims["C"]
    window = (g[:, None] * g[None, :]).expand(c, 1, window_size, window_size).contiguous()

    def filt(img: Tensor) -> Tensor:
        return F.conv2d(img, window, padding=padding, groups=c)

    mu_x, mu_y = filt(x), filt(y)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    var_x = filt(x * x) - mu_xx
    var_y = filt(y * y) - mu_yy
    cov = filt(x * y) - mu_xy
    return ((2 * mu_xy + c1) * (2 * cov + c2)) / ((mu_xx + mu_yy + c1) * (var_x + var_y + c2))


def depth_mse_loss(pred: Tensor, target: Tensor, mask: Tensor | None = None,
                   reduction: str = "mean") -> Tensor:
    """Mean squared depth error over the whole map, background included (the authors' "L1" term).

    Args:
        pred: Predicted depth, shape (B, C, H, W).
        target: Ground-truth depth, shape (B, C, H, W).
        mask: Samples that have depth supervision, shape (B,), bool; None means all.
        reduction: ``"mean"`` or ``"none"`` (shape (B,)).

    Returns:
        Per sample ``mean_{c,h,w} (pred − target)²``; reduced as requested.
    """
    where = "depth_mse_loss"
    _check_reduction(reduction, where)
    dims = _check_maps(pred, target, where)
    m = _sample_mask(mask, dims["B"], pred, where)
    target = _select(m, target)
    return _reduce((pred - target).pow(2).flatten(1).mean(1), m, reduction)


def gaussian_ssim_loss(
    pred: Tensor,
    target: Tensor,
    mask: Tensor | None = None,
    window_size: int = 8,
    sigma: float = 1.5,
    padding: int = 4,
    c1: float = 1e-4,
    c2: float = 9e-4,
    reduction: str = "mean",
) -> Tensor:
    """``1 − mean SSIM`` over the whole map with :func:`gaussian_ssim` (defaults: the authors' settings).

    Args:
        pred: Predicted depth, shape (B, C, H, W).
        target: Ground-truth depth, shape (B, C, H, W).
        mask: Samples that have depth supervision, shape (B,), bool; None means all.
        window_size: See :func:`gaussian_ssim`.
        sigma: See :func:`gaussian_ssim`.
        padding: See :func:`gaussian_ssim`.
        c1: See :func:`gaussian_ssim`.
        c2: See :func:`gaussian_ssim`.
        reduction: ``"mean"`` or ``"none"`` (shape (B,)).

    Returns:
        Per sample ``1 − mean(SSIM map)``; reduced as requested. (The authors weight it by 0.2·0.5.)
    """
    where = "gaussian_ssim_loss"
    _check_reduction(reduction, where)
    dims = _check_maps(pred, target, where)
    m = _sample_mask(mask, dims["B"], pred, where)
    target = _select(m, target)
    ssim = gaussian_ssim(pred, target, window_size, sigma, padding, c1, c2)
    return _reduce(1.0 - ssim.flatten(1).mean(1), m, reduction)


def depth_mse_ssim_loss(
    pred: Tensor,
    target: Tensor,
    mask: Tensor | None = None,
    mse_weight: float = 1.0,
    ssim_weight: float = 0.1,
    reduction: str = "mean",
) -> Tensor:
    """The authors' depth loss: ``mse_weight·MSE + ssim_weight·(1 − SSIM)`` over the whole map.

    The authors compute ``MSE + 0.2·(0.5·(1 − SSIM))``, hence the default ``ssim_weight = 0.1``; SSIM is
    :func:`gaussian_ssim` with their 8×8 window. Arguments as in :func:`depth_mse_loss`.

    Returns:
        Scalar (``"mean"``) or shape (B,) (``"none"``).

    Raises:
        ShapeError: If the maps differ in shape.
    """
    mse = depth_mse_loss(pred, target, mask, reduction)
    ssim = gaussian_ssim_loss(pred, target, mask, reduction=reduction)
    return mse_weight * mse + ssim_weight * ssim


class DepthMSESSIMLoss(nn.Module):
    """Module form of :func:`depth_mse_ssim_loss` (the authors' whole-map MSE + 0.1·(1 − SSIM)).

    Shape:
        - pred, target: (B, 1, H, W); mask: (B,) bool or None.
        - output: scalar.
    """

    def __init__(self, mse_weight: float = 1.0, ssim_weight: float = 0.1):
        super().__init__()
        self.mse_weight, self.ssim_weight = mse_weight, ssim_weight

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return depth_mse_ssim_loss(pred, target, mask, self.mse_weight, self.ssim_weight)

    def extra_repr(self) -> str:
        return f"mse_weight={self.mse_weight}, ssim_weight={self.ssim_weight}"
