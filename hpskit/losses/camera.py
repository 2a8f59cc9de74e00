"""Full-image 2D reprojection through the CLIFF camera (D-PoSE §3.7, eq. 6); the authors' camera-scale term.

Reprojection: the crop camera (s, tx, ty) becomes a full-image translation t
(:func:`hpskit.geometry.crop_cam_to_full_transl`, from the box centre/scale and the full intrinsics K), the
body-frame joints are projected with K (:func:`hpskit.geometry.perspective_project`), and both the projection
and the ground-truth pixels are normalised per axis to ``(2x/W − 1, 2y/H − 1)`` (formats.md §8). The squared
error is weighted by the keypoint confidence (negative confidences — the authors' −2 marker — count as 0)
and, optionally, by the authors' box-size factor ``(W / (200·s), H / (200·s))``, then averaged over joints
and axes.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hpskit.core import ShapeError, check_shape
from hpskit.geometry import crop_cam_to_full_transl, perspective_project

from ._common import _check_reduction, _reduce, _sample_mask

__all__ = [
    "normalize_keypoints", "reprojection_loss", "ReprojectionLoss", "camera_scale_loss", "CameraScaleLoss",
]

_BOX_UNIT = 200.0  # box side in pixels = 200 · scale (SPIN/authors)


def normalize_keypoints(kp_px: Tensor, image_size: Tensor) -> Tensor:
    """Map full-image pixel coordinates to [−1, 1] per axis: ``(2x/W − 1, 2y/H − 1)`` (formats.md §8).

    Args:
        kp_px: Pixel coordinates (x, y), shape (B, N, 2).
        image_size: Image sizes (W, H) in pixels, shape (B, 2).

    Returns:
        Normalised coordinates, shape (B, N, 2).

    Example:
        >>> normalize_keypoints(torch.tensor([[[0.0, 240.0]]]), torch.tensor([[640.0, 480.0]]))
        tensor([[[-1.,  0.]]])
    """
    dims = check_shape(kp_px, ("B", "N", 2), "kp_px", "normalize_keypoints")
    check_shape(image_size, ("B", 2), "image_size", "normalize_keypoints", dims=dims,
                hint="Pass (W, H) per sample.")
    return 2.0 * kp_px / image_size[:, None, :].to(kp_px.dtype) - 1.0


def reprojection_loss(
    joints3d: Tensor,
    cam: Tensor,
    center: Tensor,
    scale: Tensor,
    K: Tensor,
    image_size: Tensor,
    target: Tensor,
    mask: Tensor | None = None,
    num_joints: int | None = None,
    bbox_factor: bool = False,
    reduction: str = "mean",
) -> Tensor:
    """Confidence-weighted squared 2D error in the full image, through the CLIFF crop → full camera.

    Args:
        joints3d: Predicted body-frame joints (metres, no translation), shape (B, J, 3).
        cam: Predicted crop camera (s, tx, ty), shape (B, 3).
        center: Box centres (cx, cy) in full-image pixels, shape (B, 2).
        scale: Box scales (side = 200·scale px; the authors use the augmented scale), shape (B,).
        K: Full-image intrinsics, shape (B, 3, 3).
        image_size: Full-image sizes (W, H) in pixels, shape (B, 2).
        target: Ground-truth keypoints in full-image pixels, shape (B, J', 3) as (x, y, confidence) or
            (B, J', 2) (confidence 1). Negative confidences (the authors' −2) are treated as 0.
        mask: Samples with 2D keypoint supervision, shape (B,), bool; None means all.
        num_joints: Compare only the first ``num_joints`` joints (the authors: 24); None needs J = J'.
        bbox_factor: Multiply the x / y squared errors by W / (200·s) and H / (200·s) (the authors).
        reduction: ``"mean"`` (scalar, mean over supervised samples) or ``"none"`` (shape (B,)).

    Returns:
        Per sample ``mean_{j,d} w_j · (p̂_jd − p_jd)² [· f_d]`` in normalised units; reduced as requested.

    Raises:
        ShapeError: If a shape disagrees.

    Example:
        >>> K = torch.tensor([[[1000.0, 0, 500], [0, 1000.0, 500], [0, 0, 1]]])
        >>> joints, gt = torch.tensor([[[1.0, 0.0, 0.0]]]), torch.tensor([[[500.0, 500.0, 1.0]]])
        >>> reprojection_loss(joints, torch.tensor([[1.0, 0, 0]]), torch.tensor([[500.0, 500.0]]),
        ...                   torch.tensor([1.0]), K, torch.tensor([[1000.0, 1000.0]]), gt)  # (0.2² + 0) / 2
        tensor(0.0200)
    """
    where = "reprojection_loss"
    _check_reduction(reduction, where)
    dims = check_shape(joints3d, ("B", "J", 3), "joints3d", where)
    check_shape(cam, ("B", 3), "cam", where, dims=dims, hint="cam is (s, tx, ty) per sample.")
    check_shape(center, ("B", 2), "center", where, dims=dims)
    check_shape(scale, ("B",), "scale", where, dims=dims)
    check_shape(K, ("B", 3, 3), "K", where, dims=dims, hint="Expand a shared K with K.expand(B, 3, 3).")
    check_shape(image_size, ("B", 2), "image_size", where, dims=dims, hint="Pass (W, H) per sample.")
    check_shape(target, ("B", "*", "*"), "target", where, dims=dims)
    if target.shape[-1] not in (2, 3):
        raise ShapeError(f"{where}: `target` must have shape (B, J, 3) as (x, y, conf) or (B, J, 2); "
                         f"got {tuple(target.shape)}.", expected_shape=("B", "J", 3),
                         actual_shape=tuple(target.shape))
    n = num_joints if num_joints is not None else dims["J"]
    if num_joints is None and target.shape[1] != dims["J"]:
        raise ShapeError(f"{where}: `target` has {target.shape[1]} joints and `joints3d` {dims['J']}; pass "
                         "num_joints=n to compare the first n.")
    if n > min(dims["J"], target.shape[1]):
        raise ShapeError(f"{where}: num_joints={n} but `joints3d` has {dims['J']} joints and `target` "
                         f"{target.shape[1]}.")
    m = _sample_mask(mask, dims["B"], joints3d, where)
    dt = joints3d.dtype

    # Unsupervised samples get harmless stand-in inputs (torch.where, so no gradient and no NaN from them,
    # e.g. a zero K or a zero camera scale would otherwise divide by zero in the backward pass).
    def pick(x: Tensor, safe: Tensor) -> Tensor:
        mm = m.view(-1, *([1] * (x.dim() - 1)))
        return torch.where(mm, x.to(dt), safe.to(device=x.device, dtype=dt))

    eye = torch.eye(3, device=joints3d.device, dtype=dt)
    joints = pick(joints3d[:, :n], joints3d.new_zeros(()))
    cam = pick(cam, eye[0])  # (1, 0, 0) made on the device: torch.tensor(...) would copy from the host
    center = pick(center, joints3d.new_zeros(()))
    scale = pick(scale, joints3d.new_ones(()))
    K = pick(K, eye)
    image_size = pick(image_size, joints3d.new_full((), 2.0))
    target = pick(target[:, :n], joints3d.new_zeros(()))

    transl = crop_cam_to_full_transl(cam, center, scale, K)
    pred_norm = normalize_keypoints(perspective_project(joints, K, transl), image_size)
    gt_norm = normalize_keypoints(target[..., :2], image_size)
    conf = target[..., 2].clamp(min=0) if target.shape[-1] == 3 else target.new_ones(target.shape[:2])
    err = conf[..., None] * (pred_norm - gt_norm).pow(2)  # (B, n, 2)
    if bbox_factor:
        err = err * (image_size / (_BOX_UNIT * scale[:, None]))[:, None, :]
    return _reduce(err.flatten(1).mean(1), m, reduction)


class ReprojectionLoss(nn.Module):
    """Module form of :func:`reprojection_loss`.

    Shape:
        - joints3d: (B, J, 3); cam: (B, 3); center: (B, 2); scale: (B,); K: (B, 3, 3); image_size: (B, 2);
          target: (B, J', 3) or (B, J', 2); mask: (B,) bool or None.
        - output: scalar.
    """

    def __init__(self, num_joints: int | None = None, bbox_factor: bool = False):
        super().__init__()
        self.num_joints, self.bbox_factor = num_joints, bbox_factor

    def forward(self, joints3d: Tensor, cam: Tensor, center: Tensor, scale: Tensor, K: Tensor,
                image_size: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return reprojection_loss(joints3d, cam, center, scale, K, image_size, target, mask,
                                 self.num_joints, self.bbox_factor)

    def extra_repr(self) -> str:
        return f"num_joints={self.num_joints}, bbox_factor={self.bbox_factor}"


def camera_scale_loss(cam: Tensor, mask: Tensor | None = None, reduction: str = "mean") -> Tensor:
    """The authors' camera-scale term: ``exp(−10 · clip(s, −0.5, 0.5))²`` (not in the paper).

    It pushes the crop scale s to be positive; above s = 0.5 it is the constant e⁻²⁰ with zero gradient.

    Args:
        cam: Predicted crop camera (s, tx, ty), shape (B, 3).
        mask: Samples to include, shape (B,), bool; None means all (the authors).
        reduction: ``"mean"`` or ``"none"`` (shape (B,)).

    Returns:
        Per sample ``exp(−10·clip(s, −0.5, 0.5))²``; reduced as requested.

    Example:
        >>> camera_scale_loss(torch.tensor([[0.0, 0.3, 0.1]]))
        tensor(1.)
    """
    where = "camera_scale_loss"
    _check_reduction(reduction, where)
    dims = check_shape(cam, ("B", 3), "cam", where, hint="cam is (s, tx, ty) per sample.")
    m = _sample_mask(mask, dims["B"], cam, where)
    return _reduce(torch.exp(-10.0 * cam[:, 0].clamp(-0.5, 0.5)).pow(2), m, reduction)


class CameraScaleLoss(nn.Module):
    """Module form of :func:`camera_scale_loss`.

    Shape:
        - cam: (B, 3); mask: (B,) bool or None.
        - output: scalar.
    """

    def forward(self, cam: Tensor, mask: Tensor | None = None) -> Tensor:
        return camera_scale_loss(cam, mask)
