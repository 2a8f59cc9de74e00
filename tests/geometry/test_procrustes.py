import numpy as np
import pytest
import torch

from hpskit.core import ShapeError
from hpskit.geometry import axis_angle_to_rotmat, procrustes_align, similarity_procrustes


def _procrustes_numpy(S1, S2):
    """Independent numpy implementation (Umeyama / SPIN compute_similarity_transform), points as rows."""
    mu1, mu2 = S1.mean(0), S2.mean(0)
    X1, X2 = (S1 - mu1).T, (S2 - mu2).T
    var1 = np.sum(X1**2)
    K = X1 @ X2.T
    U, _, Vt = np.linalg.svd(K)
    V = Vt.T
    Z = np.eye(3)
    Z[-1, -1] *= np.sign(np.linalg.det(U @ V.T))
    R = V @ Z @ U.T
    scale = np.trace(R @ K) / var1
    t = mu2 - scale * (R @ mu1)
    return scale, R, t, (scale * R @ S1.T).T + t


def _random_similarity(B, dtype=torch.float64):
    R = axis_angle_to_rotmat(torch.randn(B, 3, dtype=dtype))
    s = torch.rand(B, dtype=dtype) * 2 + 0.2
    t = torch.randn(B, 3, dtype=dtype)
    return s, R, t


def test_recovers_known_similarity_exactly():
    X = torch.randn(5, 17, 3, dtype=torch.float64)
    s, R, t = _random_similarity(5)
    Y = s[:, None, None] * X @ R.mT + t[:, None]
    s_hat, R_hat, t_hat = similarity_procrustes(X, Y)
    torch.testing.assert_close(s_hat, s)
    torch.testing.assert_close(R_hat, R)
    torch.testing.assert_close(t_hat, t)
    torch.testing.assert_close(procrustes_align(X, Y), Y)


def test_matches_numpy_reference_on_noisy_points():
    X = torch.randn(4, 14, 3, dtype=torch.float64)
    Y = torch.randn(4, 14, 3, dtype=torch.float64)
    s, R, t = similarity_procrustes(X, Y)
    aligned = procrustes_align(X, Y)
    for b in range(4):
        s_ref, R_ref, t_ref, a_ref = _procrustes_numpy(X[b].numpy(), Y[b].numpy())
        np.testing.assert_allclose(s[b].item(), s_ref, rtol=1e-10)
        np.testing.assert_allclose(R[b].numpy(), R_ref, atol=1e-10)
        np.testing.assert_allclose(t[b].numpy(), t_ref, atol=1e-10)
        np.testing.assert_allclose(aligned[b].numpy(), a_ref, atol=1e-10)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(4, dtype=torch.float64))


def test_reflection_is_not_used():
    # Y is a mirror image of X: the best proper rotation must still have det +1.
    X = torch.randn(1, 10, 3, dtype=torch.float64)
    Y = X * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    _, R, _ = similarity_procrustes(X, Y)
    assert torch.linalg.det(R).item() == pytest.approx(1.0)
    s_ref, R_ref, _, _ = _procrustes_numpy(X[0].numpy(), Y[0].numpy())
    np.testing.assert_allclose(R[0].numpy(), R_ref, atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_dtypes(dtype):
    X = torch.randn(3, 14, 3)
    s, R, t = _random_similarity(3, torch.float32)
    Y = s[:, None, None] * X @ R.mT + t[:, None]
    out = procrustes_align(X.to(dtype), Y.to(dtype))
    assert out.dtype == dtype
    tol = 1e-4 if dtype == torch.float32 else 0.1
    torch.testing.assert_close(out.float(), Y, atol=tol, rtol=tol)


def test_degenerate_source_is_finite():
    X = torch.ones(1, 5, 3)
    s, R, t = similarity_procrustes(X, torch.randn(1, 5, 3))
    assert torch.isfinite(s).all() and torch.isfinite(t).all()


def test_gradcheck():
    X = torch.randn(2, 6, 3, dtype=torch.float64, requires_grad=True)
    Y = torch.randn(2, 6, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(procrustes_align, (X, Y))


def test_errors():
    with pytest.raises(ShapeError, match=r"similarity_procrustes: `Y` must have shape \(B, N, 3\); "
                                         r"got \(2, 5, 3\). `N` is 4 elsewhere"):
        similarity_procrustes(torch.zeros(2, 4, 3), torch.zeros(2, 5, 3))
    with pytest.raises(ShapeError, match=r"`X` must have shape \(B, N, 3\); got \(4, 3\).*X\[None\]"):
        procrustes_align(torch.zeros(4, 3), torch.zeros(4, 3))
