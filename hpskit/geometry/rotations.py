"""Rotation conversions: 6D (the D-PoSE authors' layout) ↔ rotation matrix ↔ axis-angle.

Conventions (see ``docs/conventions.md``):

* Rotation matrices act on **column vectors**: ``x' = R @ x``.
* The 6D representation is the 3×2 matrix of R's first two **columns**, flattened **row-major**:
  ``(R00, R01, R10, R11, R20, R21)``. The identity is ``[1, 0, 0, 1, 0, 0]``. This is the layout of
  the D-PoSE / SPIN / PARE / ReFit code (``x.view(-1, 3, 2)``); HMR2-style code flattens the two
  columns one after the other (``(R00, R10, R20, R01, R11, R21)``) and is **not** interchangeable.
* Axis-angle vectors are in radians, right-hand rule: direction = axis, norm = angle.

Half-precision inputs (float16, bfloat16) are computed in float32 and cast back, because the
normalisations and the trigonometry lose too much precision otherwise.

Example:
    >>> import torch
    >>> rot6d_to_rotmat(torch.tensor([1.0, 0, 0, 1, 0, 0]))
    tensor([[1., 0., 0.],
            [0., 1., 0.],
            [0., 0., 1.]])
"""

from __future__ import annotations

import roma
import torch
from torch import Tensor, nn

from hpskit.core import ShapeError, check_shape

__all__ = [
    "rot6d_to_rotmat",
    "rotmat_to_rot6d",
    "axis_angle_to_rotmat",
    "rotmat_to_axis_angle",
    "rot6d_to_axis_angle",
    "axis_angle_to_rot6d",
    "Rot6dToRotmat",
    "AxisAngleToRotmat",
]

# The authors normalise with F.normalize (eps = 1e-12); the same clamp keeps a zero input finite.
_GS_EPS = 1e-12
_HALF = (torch.float16, torch.bfloat16)


def _compute_dtype(x: Tensor) -> torch.dtype:
    return torch.float32 if x.dtype in _HALF else x.dtype


def _float_input(x: Tensor, name: str, where: str) -> None:
    if not x.is_floating_point():
        raise ShapeError(f"{where}: `{name}` must be a floating-point tensor; got dtype {x.dtype}. "
                         f"Convert it first, e.g. {name}.float().")


def rot6d_to_rotmat(x: Tensor) -> Tensor:
    """Convert 6D rotations in the authors' row-major layout to rotation matrices (Gram-Schmidt).

    The six numbers are viewed as a 3×2 matrix row by row, so its columns are
    ``a1 = (x0, x2, x4)`` and ``a2 = (x1, x3, x5)``. Then ``b1 = a1 / |a1|``,
    ``b2 = normalise(a2 - (b1·a2) b1)``, ``b3 = b1 × b2`` and ``R = [b1 b2 b3]`` (columns).
    Implemented with :func:`roma.special_gramschmidt`, which performs exactly these steps.

    Args:
        x: 6D rotations, shape (..., 6), any float dtype (half precision is computed in float32).

    Returns:
        Rotation matrices, shape (..., 3, 3), same dtype and device as ``x``.

    Raises:
        ShapeError: If the last dimension is not 6.

    Example:
        >>> rot6d_to_rotmat(torch.zeros(2, 22, 6)).shape
        torch.Size([2, 22, 3, 3])
    """
    check_shape(x, ("...", 6), "x", "rot6d_to_rotmat", hint="Pass 6D rotations with shape (..., 6).")
    _float_input(x, "x", "rot6d_to_rotmat")
    m = x.to(_compute_dtype(x)).reshape(*x.shape[:-1], 3, 2)  # row-major 3×2: columns a1, a2
    R = roma.special_gramschmidt(m, epsilon=_GS_EPS)
    return R.to(x.dtype)


def rotmat_to_rot6d(R: Tensor) -> Tensor:
    """Convert rotation matrices to the authors' 6D layout (first two columns, row-major).

    Args:
        R: Rotation matrices, shape (..., 3, 3).

    Returns:
        6D rotations ``(R00, R01, R10, R11, R20, R21)``, shape (..., 6).

    Raises:
        ShapeError: If the last two dimensions are not (3, 3).

    Example:
        >>> rotmat_to_rot6d(torch.eye(3))
        tensor([1., 0., 0., 1., 0., 0.])
    """
    check_shape(R, ("...", 3, 3), "R", "rotmat_to_rot6d")
    return R[..., :, :2].reshape(*R.shape[:-2], 6)


def axis_angle_to_rotmat(aa: Tensor) -> Tensor:
    """Convert axis-angle vectors (radians) to rotation matrices (Rodrigues' formula).

    Uses :func:`roma.rotvec_to_rotmat`, which switches to a first-order expansion below 1e-6 rad so
    gradients stay finite at zero (this matches :func:`kornia.geometry.conversions.
    axis_angle_to_rotation_matrix` and ``smplx.lbs.batch_rodrigues`` to float precision).

    Args:
        aa: Axis-angle vectors, shape (..., 3), radians.

    Returns:
        Rotation matrices, shape (..., 3, 3).

    Raises:
        ShapeError: If the last dimension is not 3.

    Example:
        >>> R = axis_angle_to_rotmat(torch.tensor([0.0, 0.0, torch.pi / 2]))
        >>> (R @ torch.tensor([1.0, 0.0, 0.0])).round(decimals=6)  # 90° about z maps x to y
        tensor([0., 1., 0.])
    """
    check_shape(aa, ("...", 3), "aa", "axis_angle_to_rotmat",
                hint="Pass axis-angle vectors with shape (..., 3), e.g. pose.view(B, -1, 3).")
    _float_input(aa, "aa", "axis_angle_to_rotmat")
    R = roma.rotvec_to_rotmat(aa.to(_compute_dtype(aa)))
    return R.to(aa.dtype)


def rotmat_to_axis_angle(R: Tensor) -> Tensor:
    """Convert rotation matrices to axis-angle vectors with angle in [0, π].

    Uses :func:`roma.rotmat_to_rotvec` (through a unit quaternion), which stays accurate near π
    where the ``acos((tr R - 1)/2)`` formula loses precision. ``R`` is assumed to be a rotation; for
    other matrices the result corresponds to a nearby rotation.

    Args:
        R: Rotation matrices, shape (..., 3, 3).

    Returns:
        Axis-angle vectors, shape (..., 3), radians.

    Raises:
        ShapeError: If the last two dimensions are not (3, 3).

    Example:
        >>> rotmat_to_axis_angle(torch.eye(3))
        tensor([0., 0., 0.])
    """
    check_shape(R, ("...", 3, 3), "R", "rotmat_to_axis_angle")
    _float_input(R, "R", "rotmat_to_axis_angle")
    aa = roma.rotmat_to_rotvec(R.to(_compute_dtype(R)))
    return aa.to(R.dtype)


def rot6d_to_axis_angle(x: Tensor) -> Tensor:
    """6D (authors' layout) → axis-angle: :func:`rot6d_to_rotmat` then :func:`rotmat_to_axis_angle`.

    Args:
        x: 6D rotations, shape (..., 6).

    Returns:
        Axis-angle vectors, shape (..., 3), radians.
    """
    return rotmat_to_axis_angle(rot6d_to_rotmat(x))


def axis_angle_to_rot6d(aa: Tensor) -> Tensor:
    """Axis-angle → 6D (authors' layout): :func:`axis_angle_to_rotmat` then :func:`rotmat_to_rot6d`.

    Args:
        aa: Axis-angle vectors, shape (..., 3), radians.

    Returns:
        6D rotations, shape (..., 6).
    """
    return rotmat_to_rot6d(axis_angle_to_rotmat(aa))


class Rot6dToRotmat(nn.Module):
    """Module twin of :func:`rot6d_to_rotmat` (no parameters).

    Shape:
        - Input: (..., 6)
        - Output: (..., 3, 3)

    Example:
        >>> Rot6dToRotmat()(torch.zeros(4, 6)).shape
        torch.Size([4, 3, 3])
    """

    def forward(self, x: Tensor) -> Tensor:
        return rot6d_to_rotmat(x)


class AxisAngleToRotmat(nn.Module):
    """Module twin of :func:`axis_angle_to_rotmat` (no parameters).

    Shape:
        - Input: (..., 3)
        - Output: (..., 3, 3)

    Example:
        >>> AxisAngleToRotmat()(torch.zeros(4, 3)).shape
        torch.Size([4, 3, 3])
    """

    def forward(self, aa: Tensor) -> Tensor:
        return axis_angle_to_rotmat(aa)
