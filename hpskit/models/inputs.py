"""What :func:`hpskit.models.predict` accepts, checked and normalised: images (tensors and/or numpy arrays
of any sizes → a list of (3, H, W) tensors), person boxes (one (n_i, 4) tensor per image, checked against
the image sizes) and intrinsics (one (3, 3) ``K`` per image, or the default camera).

These are in-memory inputs; reading image files is the command line's job (:mod:`hpskit.cli`). Errors name
``hpskit.models.predict``, the function the user called.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from hpskit.core import ShapeError, check_finite, check_shape
from hpskit.geometry import default_focal, intrinsics_from_focal

__all__ = ["ImagesLike", "BoxesLike"]

_WHERE = "hpskit.models.predict"

#: What :func:`predict` accepts as images: a (B, 3, H, W) tensor, one (3, H, W) tensor or (H, W, 3) array,
#: or a list of them (any sizes).
ImagesLike = Tensor | np.ndarray | Sequence[Tensor | np.ndarray]
#: What :func:`predict` accepts as boxes: a (B, 4) tensor/array or one (n_i, 4) entry per image.
BoxesLike = Tensor | np.ndarray | Sequence[Tensor | np.ndarray | Sequence[Sequence[float]]]


def _hwc_hint(shape: tuple, batch: bool = False) -> str:
    lead = "-1, " if batch else ""
    if len(shape) == 3 and shape[-1] in (1, 3, 4) and shape[0] not in (1, 3, 4):
        perm = "0, 3, 1, 2" if batch else "2, 0, 1"
        return (f"It looks channels-last: pass a tensor as x.permute({perm}) (numpy arrays stay "
                "(H, W, 3)).")
    if len(shape) == 3 and shape[0] in (1, 4):
        return (f"Images must be RGB: expand grayscale with x.expand({lead}3, -1, -1); drop alpha with "
                f"x[{':, ' if batch else ''}:3].")
    return ""


def _check_values(img: Tensor, name: str) -> None:
    if img.dtype == torch.uint8:
        return
    if not img.is_floating_point():
        raise ShapeError(f"{_WHERE}: `{name}` must be uint8 (0..255) or float in [0, 1]; got dtype "
                         f"{img.dtype}.")
    check_finite(img, name, _WHERE)
    lo, hi = float(img.min()), float(img.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ShapeError(f"{_WHERE}: float `{name}` must hold values in [0, 1]; got [{lo:.4g}, {hi:.4g}]. "
                         "Divide 0..255 values by 255 (or pass uint8 images).")


def _as_images(images) -> tuple[list[Tensor], bool]:
    """→ (list of (3, H, W) uint8/float tensors, whether a single image was given)."""
    single = False
    if isinstance(images, np.ndarray) and images.ndim == 3:
        images, single = [images], True
    elif isinstance(images, Tensor) and images.dim() == 3:
        images, single = [images], True
    if isinstance(images, Tensor):
        hint = _hwc_hint(tuple(images.shape[1:]), batch=True) or "Pass (B, 3, H, W) RGB or a list of images."
        check_shape(images, ("B", 3, "H", "W"), "images", _WHERE, hint=hint)
        _check_values(images, "images")
        return list(images.unbind(0)), False
    if isinstance(images, np.ndarray):
        raise ShapeError(f"{_WHERE}: a numpy `images` must be one (H, W, 3) uint8 RGB image; got shape "
                         f"{images.shape}. Pass several images as a list.")
    if not isinstance(images, (list, tuple)) or not images:
        raise ShapeError(f"{_WHERE}: `images` must be a (B, 3, H, W) tensor or a non-empty list of (3, H, W) "
                         f"tensors / (H, W, 3) numpy arrays; got {type(images).__name__}.")
    out = []
    for i, img in enumerate(images):
        name = "images" if single else f"images[{i}]"
        if isinstance(img, np.ndarray):
            if img.ndim != 3 or img.shape[-1] != 3:
                raise ShapeError(f"{_WHERE}: numpy `{name}` must be (H, W, 3) RGB; got shape {img.shape}.")
            if not img.flags.writeable:  # e.g. np.asarray(PIL image): copy, or torch warns on every call
                img = img.copy()
            img = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)
        elif not isinstance(img, Tensor):
            raise ShapeError(f"{_WHERE}: `{name}` must be a torch.Tensor or numpy array; got "
                             f"{type(img).__name__}.")
        check_shape(img, (3, "H", "W"), name, _WHERE, hint=_hwc_hint(tuple(img.shape)))
        _check_values(img, name)
        out.append(img)
    return out, single


def _as_boxes(boxes, sizes: list[tuple[int, int]], single: bool, device, dtype) -> list[Tensor]:
    """→ one (n_i, 4) float tensor per image, checked against the image sizes."""
    B = len(sizes)
    if single:  # boxes of the one image: (n, 4) / (4,) in any form, or a one-entry per-image list
        first = boxes[0] if isinstance(boxes, (list, tuple)) and len(boxes) == 1 else None
        per_image = isinstance(first, (Tensor, np.ndarray)) or (
            isinstance(first, (list, tuple)) and len(first) > 0 and isinstance(first[0], (list, tuple)))
        if not per_image:
            boxes = [boxes]
    if isinstance(boxes, (Tensor, np.ndarray)):
        boxes = torch.as_tensor(boxes)
        check_shape(boxes, ("N", 4), "boxes", _WHERE,
                    hint="Boxes are (x0, y0, x1, y1) pixels, one row per image.")
        if boxes.shape[0] != B:
            raise ShapeError(f"{_WHERE}: got {boxes.shape[0]} boxes for {B} images; a (N, 4) `boxes` holds "
                             "one person per image. For several (or no) people per image pass a list of "
                             "(n_i, 4).")
        boxes = list(boxes[:, None])
    if not isinstance(boxes, (list, tuple)):
        raise ShapeError(f"{_WHERE}: `boxes` must be a (B, 4) tensor/array or a list of (n_i, 4); got "
                         f"{type(boxes).__name__}.")
    if len(boxes) != B:
        raise ShapeError(f"{_WHERE}: `boxes` is a list of {len(boxes)} entries for {B} images; give one "
                         "(n_i, 4) entry per image (n_i may be 0).")
    out = []
    for i, (b, (H, W)) in enumerate(zip(boxes, sizes)):
        name = f"boxes[{i}]"
        b = torch.as_tensor(b, dtype=dtype, device=device)
        if b.dim() == 1 and b.numel() == 4:
            b = b[None]
        if b.numel() == 0:
            b = b.reshape(0, 4)
        check_shape(b, ("n", 4), name, _WHERE, hint="Boxes are (x0, y0, x1, y1) pixels.")
        check_finite(b, name, _WHERE)
        bad = torch.nonzero((b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1])).flatten().tolist()
        if bad:
            raise ShapeError(f"{_WHERE}: `{name}` rows {bad} are empty (need x1 > x0 and y1 > y0): "
                             f"{b[bad].tolist()}. Boxes are (x0, y0, x1, y1), not (x, y, w, h).")
        # The image covers [-0.5, W - 0.5] × [-0.5, H - 0.5] (pixel centres at integers).
        out_of = (b[:, 2] <= -0.5) | (b[:, 0] >= W - 0.5) | (b[:, 3] <= -0.5) | (b[:, 1] >= H - 0.5)
        bad = torch.nonzero(out_of).flatten().tolist()
        if bad:
            raise ShapeError(f"{_WHERE}: `{name}` rows {bad} lie entirely outside the {W}×{H} (W×H) image: "
                             f"{b[bad].tolist()}. Check the box order and the image they belong to.")
        out.append(b)
    return out


def _as_intrinsics(K, sizes: list[tuple[int, int]], device, dtype) -> Tensor:
    """→ (B, 3, 3) per image: the given K, or f = √(W² + H²) and (W/2, H/2) computed per image."""
    B = len(sizes)
    hw = torch.tensor(sizes, dtype=dtype, device=device)
    if K is None:
        return intrinsics_from_focal(default_focal(hw[:, 1], hw[:, 0]), hw[:, 1], hw[:, 0])
    K = torch.as_tensor(K).to(device=device, dtype=dtype)
    if K.dim() == 2:
        check_shape(K, (3, 3), "K", _WHERE)
        K = K.expand(B, 3, 3)
    check_shape(K, (B, 3, 3), "K", _WHERE,
                hint=f"Pass one (3, 3) intrinsics matrix per image ({B} images), or one (3, 3) for all.")
    check_finite(K, "K", _WHERE)
    if bool((K[:, 0, 0] <= 0).any() or (K[:, 1, 1] <= 0).any()):
        raise ShapeError(f"{_WHERE}: `K` must have positive focal lengths K[:, 0, 0], K[:, 1, 1]; got "
                         f"{K[:, 0, 0].tolist()}, {K[:, 1, 1].tolist()}.")
    if not torch.equal(K[:, 2], K.new_tensor([0.0, 0.0, 1.0]).expand(B, 3)):
        raise ShapeError(f"{_WHERE}: the last row of every `K` must be (0, 0, 1); got {K[:, 2].tolist()}.")
    return K.contiguous()
