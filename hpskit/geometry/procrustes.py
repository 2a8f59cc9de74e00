"""Batched similarity Procrustes (scale, rotation, translation), as used by PA-MPJPE.

Follows the reference implementation (SPIN / D-PoSE ``compute_similarity_transform``,
formats.md §7): centre both point sets, SVD of ``X̄ᵀ Ȳ`` (3×3), flip the sign of the last singular
direction when needed so that det(R) = +1, scale = tr(R K) / ‖X̄‖², t = μ_Y − s R μ_X.
Written here in torch (rather than taken from roma/kornia) because it must be batched, differentiable,
keep the reference's scale formula and upcast half precision.

Example:
    >>> import torch
    >>> X = torch.randn(2, 14, 3, generator=torch.Generator().manual_seed(0))
    >>> s, R, t = similarity_procrustes(X, 2.0 * X + 1.0)
    >>> s.round(decimals=4), t.round(decimals=4)
    (tensor([2., 2.]), tensor([[1., 1., 1.],
            [1., 1., 1.]]))
"""

from __future__ import annotations

import torch
from torch import Tensor

from hpskit.core import check_shape

__all__ = ["similarity_procrustes", "procrustes_align"]

_HALF = (torch.float16, torch.bfloat16)


def similarity_procrustes(X: Tensor, Y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Least-squares similarity transform mapping ``X`` onto ``Y``: ``Y ≈ s · R X + t`` per sample.

    Half-precision inputs are computed in float32 (the SVD needs it); float32 and float64 are kept.
    Outputs are cast back to the input dtype. Degenerate inputs (all points of ``X`` equal) give
    s = 0 rather than NaN. The transform is differentiable (SVD backward), except where singular
    values of the cross-covariance coincide.

    Args:
        X: Source points, shape (B, N, 3).
        Y: Target points, shape (B, N, 3).

    Returns:
        ``(s, R, t)``: scales (B,), rotations (B, 3, 3) with det = +1 (column vectors), and
        translations (B, 3), such that ``Y[b, i] ≈ s[b] * R[b] @ X[b, i] + t[b]``.

    Raises:
        ShapeError: If the shapes differ or are not (B, N, 3).
    """
    where = "similarity_procrustes"
    dims = check_shape(X, ("B", "N", 3), "X", where, hint="Add a batch dim with X[None].")
    check_shape(Y, ("B", "N", 3), "Y", where, dims=dims,
                hint="X and Y must hold the same points, in the same order.")
    dtype = X.dtype
    work = torch.float32 if dtype in _HALF else dtype
    X = X.to(work)
    Y = Y.to(work)
    mu_x = X.mean(dim=1, keepdim=True)
    mu_y = Y.mean(dim=1, keepdim=True)
    Xc = X - mu_x
    Yc = Y - mu_y
    var_x = (Xc * Xc).sum(dim=(1, 2))
    # K = Σ_i x_i y_iᵀ (3×3), the reference's X1 · X2ᵀ with points as columns.
    K = Xc.transpose(1, 2) @ Yc
    U, _, Vh = torch.linalg.svd(K)
    V = Vh.transpose(1, 2)
    # Det fix: Z = diag(1, 1, sign(det(V Uᵀ))) so that R is a proper rotation.
    d = torch.sign(torch.linalg.det(V @ U.transpose(1, 2)))
    d = torch.where(d == 0, torch.ones_like(d), d)
    Z = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], dim=-1))
    R = V @ Z @ U.transpose(1, 2)
    s = torch.diagonal(R @ K, dim1=1, dim2=2).sum(-1) / var_x.clamp_min(torch.finfo(work).tiny)
    t = mu_y[:, 0] - s[:, None] * (R @ mu_x[:, 0, :, None])[..., 0]
    return s.to(dtype), R.to(dtype), t.to(dtype)


def procrustes_align(X: Tensor, Y: Tensor) -> Tensor:
    """Align ``X`` onto ``Y`` with the best similarity transform (see :func:`similarity_procrustes`).

    Args:
        X: Source points (e.g. predicted joints), shape (B, N, 3).
        Y: Target points (e.g. ground-truth joints), shape (B, N, 3).

    Returns:
        ``s R X + t``, shape (B, N, 3), dtype of ``X``.

    Example:
        >>> X = torch.randn(1, 5, 3)
        >>> torch.allclose(procrustes_align(X, 3 * X - 2), 3 * X - 2, atol=1e-5)
        True
    """
    s, R, t = similarity_procrustes(X, Y)
    work = torch.float32 if X.dtype in _HALF else X.dtype
    s, R, t = s.to(work), R.to(work), t.to(work)
    out = s[:, None, None] * (X.to(work) @ R.transpose(1, 2)) + t[:, None, :]
    return out.to(X.dtype)
