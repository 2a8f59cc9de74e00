"""Whole-image inference: images + person boxes → SMPL-X meshes in the camera frame.

:func:`predict` does the whole job for a D-PoSE-style model (``model(crops, bbox_info) -> DPoSEOutput``
and a ``model.body_model``) in three steps, each a function of its own:

1. :func:`prepare_inputs` checks the images, boxes and intrinsics and fixes everything per person: square
   crop (``box_rescale`` context), the CLIFF box vector from each image's intrinsics, the crop rule and the
   normalisation the weights want (:class:`PreparedInputs`);
2. :func:`run_network` crops and normalises the people in chunks and runs the network, the body model and
   the camera (one :class:`ChunkResult` per chunk), under :func:`hpskit.core.eval_mode`;
3. :func:`assemble_prediction` joins the chunks into one :class:`Prediction`.

The crop rule and the normalisation come from the model's config when it has one
(``DPoSEConfig.crop_mode``, ``image_mean``, ``image_std``): weights converted from the authors' checkpoint
ask for the authors' crop (``"authors"``, docs/authors-code.md (h)), hpskit-trained ones for the exact crop.

Differences from the authors' demo (docs/dpose.md): the default focal length √(W² + H²) is computed per
image (the authors' ``repeat``/``view`` mixes samples when image sizes differ), and the principal point is
read from ``K`` (the authors force it to (W/2, H/2), which is also hpskit's default ``K``).

Threads: the model's train/eval flags are switched under a per-model lock (:func:`hpskit.core.eval_mode`),
so several threads may call ``predict`` with one model; their calls on that model run one at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from hpskit.core import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ConfigError,
    ShapeError,
    check_finite,
    check_shape,
    eval_mode,
)
from hpskit.geometry import (
    authors_crop_window,
    boxes_xyxy_to_center_scale,
    check_crop_mode,
    cliff_bbox_info,
    crop_cam_to_full_transl,
    crop_images,
    default_focal,
    intrinsics_from_focal,
    paste_back,
    perspective_project,
    resize_like_skimage,
    rotmat_to_axis_angle,
)
from hpskit.geometry.crop_authors import copy_window

__all__ = [
    "ImagesLike",
    "BoxesLike",
    "PreparedInputs",
    "ChunkResult",
    "Prediction",
    "prepare_inputs",
    "run_network",
    "assemble_prediction",
    "predict",
]

logger = logging.getLogger(__name__)

_WHERE = "hpskit.models.predict"

#: What :func:`predict` accepts as images: a (B, 3, H, W) tensor, one (3, H, W) tensor or (H, W, 3) array,
#: or a list of them (any sizes).
ImagesLike = Tensor | np.ndarray | Sequence[Tensor | np.ndarray]
#: What :func:`predict` accepts as boxes: a (B, 4) tensor/array or one (n_i, 4) entry per image.
BoxesLike = Tensor | np.ndarray | Sequence[Tensor | np.ndarray | Sequence[Sequence[float]]]


@dataclass
class Prediction:
    """The people found in a set of images, flattened over images (N people in total).

    Attributes:
        pose_rotmat: (N, 22, 3, 3) rotations; 0 = global orientation in the camera frame, 1..21 body joints.
        pose_6d: (N, 22, 6) the same in hpskit's 6D layout.
        global_orient: (N, 3) axis-angle of joint 0 (radians).
        body_pose: (N, 21, 3) axis-angle of joints 1..21.
        betas: (N, 11) SMPL-X shape.
        cam_crop: (N, 3) the network's crop camera (s, tx, ty).
        transl: (N, 3) body translation in the camera frame (metres), from ``cam_crop`` and the box.
        vertices: (N, V, 3) camera-frame vertices (body + ``transl``), or ``None`` without a body model.
        joints: (N, 127, 3) camera-frame joints, or ``None``.
        joints2d: (N, 127, 2) ``joints`` projected with ``K``, image pixels (pixel centres at integers),
            or ``None``.
        K: (N, 3, 3) intrinsics of each person's image.
        image_index: (N,) long, the image each person comes from.
        boxes: (N, 4) the input boxes (x0, y0, x1, y1) in pixels.
        center: (N, 2) centre of the square crop, pixels.
        scale: (N,) crop scale (side = 200·scale pixels, ``box_rescale`` included).
        bbox_info: (N, 3) the CLIFF box vector given to the network.
        image_sizes: (num_images, 2) long, (H, W) of every input image.
        depth_crop: (N, 1, R, R) relative depth in (0, 1) on the crop (larger = farther), or ``None`` for a
            model without depth branch or with ``depth_map=False``.
        part_labels_crop: (N, R, R) long part labels on the crop (0 = background, 1..22 parts).
        depth: Per person, an (H, W) depth map of its image: ``depth_crop`` pasted back, 0 outside the crop;
            ``None`` if not asked for (``return_maps=False``) or no depth branch.
        part_labels: Per person, an (H, W) long label map: part logits pasted back then arg-maxed, 0 outside
            the crop; ``None`` if not asked for.
        faces: (F, 3) long triangles of the body mesh, or ``None``.
    """

    pose_rotmat: Tensor
    pose_6d: Tensor
    global_orient: Tensor
    body_pose: Tensor
    betas: Tensor
    cam_crop: Tensor
    transl: Tensor
    vertices: Tensor | None
    joints: Tensor | None
    joints2d: Tensor | None
    K: Tensor
    image_index: Tensor
    boxes: Tensor
    center: Tensor
    scale: Tensor
    bbox_info: Tensor
    image_sizes: Tensor
    depth_crop: Tensor | None
    part_labels_crop: Tensor
    depth: list[Tensor] | None
    part_labels: list[Tensor] | None
    faces: Tensor | None

    def __len__(self) -> int:
        return int(self.image_index.shape[0])

    def people_in(self, image: int) -> Tensor:
        """Indices (into the N people) of the people of image ``image``, shape (n,) long."""
        return torch.nonzero(self.image_index == image).flatten()


# --------------------------------------------------------------------------------------------- input checks


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


# ------------------------------------------------------------------------------------------ 1. prepare


@dataclass
class PreparedInputs:
    """Everything :func:`run_network` needs, fixed per person (N people over B images).

    Attributes:
        images: The B images, each (3, H, W) uint8 or float in [0, 1], on their original device.
        sizes: (H, W) of each image.
        boxes: (N, 4) input boxes (x0, y0, x1, y1), pixels.
        image_index: (N,) long, the image of each person.
        center: (N, 2) crop centres, pixels.
        scale: (N,) crop scales (side = 200·scale px).
        windows: (N, 4) long integer crop windows (x0, y0, x1, y1) for ``crop_mode="authors"``, else ``None``.
        K: (N, 3, 3) intrinsics of each person's image.
        bbox_info: (N, 3) CLIFF box vectors.
        res: Crop resolution.
        crop_mode: ``"exact"`` or ``"authors"`` (:data:`hpskit.geometry.CROP_MODES`).
        antialias: Skimage-style pre-blur of the exact crop.
        mean: (3,) RGB normalisation mean. std: (3,) its standard deviation.
        dtype: Floating dtype of the model.
    """

    images: list[Tensor]
    sizes: list[tuple[int, int]]
    boxes: Tensor
    image_index: Tensor
    center: Tensor
    scale: Tensor
    windows: Tensor | None
    K: Tensor
    bbox_info: Tensor
    res: int
    crop_mode: str
    antialias: bool
    mean: Tensor
    std: Tensor
    dtype: torch.dtype

    def __len__(self) -> int:
        return int(self.image_index.shape[0])


def _boxes_when_none(images: list[Tensor], detector) -> list:
    """What ``boxes=None`` means: :mod:`hpskit.detect` finds the people (the one place where missing boxes
    are resolved)."""
    from hpskit.detect import find_people

    return find_people(images, detector)


def _config_value(model: nn.Module, name: str, default):
    return getattr(getattr(model, "config", None), name, default)


def prepare_inputs(
    model: nn.Module,
    images: ImagesLike,
    boxes: BoxesLike | None,
    K: Tensor | np.ndarray | None = None,
    box_rescale: float = 1.2,
    crop_size: int | None = None,
    crop_mode: str | None = None,
    antialias: bool = True,
    detector=None,
) -> PreparedInputs:
    """Check the inputs of :func:`predict` and fix each person's crop, camera and normalisation.

    Arguments as in :func:`predict`.

    Returns:
        A :class:`PreparedInputs`.
    """
    if not box_rescale > 0:
        raise ConfigError(f"{_WHERE}: `box_rescale` must be > 0; got {box_rescale}.")
    param = next(model.parameters())
    device, dtype = param.device, param.dtype if param.is_floating_point() else torch.float32
    res = int(crop_size or getattr(model, "input_size", 224))
    mode = check_crop_mode(crop_mode or _config_value(model, "crop_mode", "exact"), _WHERE)
    mean = torch.tensor(_config_value(model, "image_mean", IMAGENET_MEAN), dtype=dtype, device=device)
    std = torch.tensor(_config_value(model, "image_std", IMAGENET_STD), dtype=dtype, device=device)
    imgs, single = _as_images(images)
    sizes = [(int(im.shape[1]), int(im.shape[2])) for im in imgs]
    if boxes is None:
        boxes = _boxes_when_none(imgs, detector)
    # float64 boxes: the authors' integer window truncates, so its centre and scale are computed exactly
    box_list = _as_boxes(boxes, sizes, single, device, torch.float64)
    K_img = _as_intrinsics(K, sizes, device, dtype)
    counts = torch.tensor([b.shape[0] for b in box_list], device=device)
    if int(counts.sum()) == 0:
        raise ShapeError(f"{_WHERE}: `boxes` holds no person in any of the {len(imgs)} images; "
                         "nothing to predict.")
    image_index = torch.repeat_interleave(torch.arange(len(imgs), device=device), counts)
    all_boxes = torch.cat(box_list)
    center64, scale64 = boxes_xyxy_to_center_scale(all_boxes, rescale=float(box_rescale))
    windows = authors_crop_window(center64, scale64, res) if mode == "authors" else None
    center, scale = center64.to(dtype), scale64.to(dtype)
    K_p = K_img[image_index]
    return PreparedInputs(
        images=imgs, sizes=sizes, boxes=all_boxes.to(dtype), image_index=image_index, center=center,
        scale=scale, windows=windows, K=K_p, bbox_info=cliff_bbox_info(center, scale, K_p), res=res,
        crop_mode=mode, antialias=bool(antialias), mean=mean, std=std, dtype=dtype)


# ---------------------------------------------------------------------------------------------- 2. run


@dataclass
class ChunkResult:
    """The results of one chunk of n people (see :class:`Prediction` for each field's meaning)."""

    pose_rotmat: Tensor
    pose_6d: Tensor
    betas: Tensor
    cam: Tensor
    transl: Tensor
    vertices: Tensor | None
    joints: Tensor | None
    joints2d: Tensor | None
    depth_crop: Tensor | None
    part_labels_crop: Tensor
    depth: list[Tensor] | None
    part_labels: list[Tensor] | None


def _paste_person(maps: Tensor, center: Tensor, scale: Tensor, size: tuple[int, int]) -> tuple:
    """Paste one person's crop maps (1, C, R, R) into its image; only the crop's window is resampled.

    Returns ``(pasted (C, h, w), inside (h, w) bool, (y0, y1, x0, x1))`` for the window of the image that the
    crop square ``[c − b/2, c + b/2]`` (b = 200·scale) covers.
    """
    H, W = size
    half = 100.0 * float(scale)
    cx, cy = float(center[0]), float(center[1])
    x0, x1 = max(0, int(np.ceil(cx - half))), min(W, int(np.floor(cx + half)) + 1)
    y0, y1 = max(0, int(np.ceil(cy - half))), min(H, int(np.floor(cy + half)) + 1)
    if x1 <= x0 or y1 <= y0:
        return None, None, (0, 0, 0, 0)
    shifted = (center - center.new_tensor([x0, y0]))[None]
    pasted = paste_back(maps, shifted, scale[None], (y1 - y0, x1 - x0))[0]
    u = torch.arange(x0, x1, device=maps.device, dtype=center.dtype)
    v = torch.arange(y0, y1, device=maps.device, dtype=center.dtype)
    inside = ((v - cy).abs() <= half)[:, None] & ((u - cx).abs() <= half)[None, :]
    return pasted, inside, (y0, y1, x0, x1)


def _to_unit(x: Tensor, dtype: torch.dtype) -> Tensor:
    return x.to(dtype) / 255 if x.dtype == torch.uint8 else x.to(dtype).clamp(0, 1)


def _crop_person(img: Tensor, center: Tensor, scale: Tensor, res: int, antialias: bool,
                 dtype: torch.dtype) -> Tensor:
    """Exact crop of one person (1, 3, res, res) from the window of ``img`` (3, H, W) around its square.

    Equal to ``crop_images`` on the whole image, but only the window (plus the anti-aliasing kernel's
    radius) is converted, blurred and sampled, so large images with many people stay cheap.
    """
    H, W = img.shape[-2:]
    half = 100.0 * float(scale)
    sigma = max(0.0, (2 * half / res - 1) / 2) if antialias else 0.0
    margin = int(4 * sigma + 0.5) + 2
    cx, cy = float(center[0]), float(center[1])
    x0, x1 = max(0, int(np.floor(cx - half)) - margin), min(W, int(np.ceil(cx + half)) + margin + 1)
    y0, y1 = max(0, int(np.floor(cy - half)) - margin), min(H, int(np.ceil(cy + half)) + margin + 1)
    window = _to_unit(img[:, y0:y1, x0:x1].to(center.device), dtype)
    shifted = (center - center.new_tensor([x0, y0]))[None]
    return crop_images(window[None], shifted, scale[None], res=res, antialias=antialias)


def _crop_person_authors(img: Tensor, window: Tensor, res: int, dtype: torch.dtype, device) -> Tensor:
    """The authors' crop of one person (1, 3, res, res): only its integer window is converted and resized
    (equal to :func:`hpskit.geometry.crop_images_authors` on the whole image)."""
    patch = _to_unit(copy_window(img, window.tolist()).to(device), dtype)
    return resize_like_skimage(patch[None], (res, res))


def _crops(prep: PreparedInputs, sl: slice, device) -> Tensor:
    """Normalised crops of the people ``sl``, shape (n, 3, res, res)."""
    idx = prep.image_index[sl].tolist()
    if prep.crop_mode == "authors":
        crops = [_crop_person_authors(prep.images[i], prep.windows[sl][k], prep.res, prep.dtype, device)
                 for k, i in enumerate(idx)]
    else:
        crops = [_crop_person(prep.images[i], prep.center[sl][k], prep.scale[sl][k], prep.res, prep.antialias,
                              prep.dtype) for k, i in enumerate(idx)]
    return (torch.cat(crops) - prep.mean[:, None, None]) / prep.std[:, None, None]


#: Largest number of pasted values (channels × pixels) held at once: a person filling a large photo is pasted
#: band by band (23 part logits over a 4,500-pixel-wide box would otherwise take ~1.9 GB per person).
_PASTE_BLOCK = 1 << 24


def _pasted_map(maps: Tensor, center: Tensor, scale: Tensor, size: tuple[int, int], labels: bool):
    """(1, C, R, R) crop maps → (H, W) image map: depth (C = 1) or arg-maxed labels; 0 outside the crop.

    The crop's window is resampled in bands of rows (each pixel's value does not depend on the band), so
    memory stays bounded by :data:`_PASTE_BLOCK` values whatever the image size.
    """
    H, W = size
    canvas = maps.new_zeros(H, W, dtype=torch.long if labels else maps.dtype)
    half = 100.0 * float(scale)
    cy = float(center[1])
    y0, y1 = max(0, int(np.ceil(cy - half))), min(H, int(np.floor(cy + half)) + 1)
    band = max(1, _PASTE_BLOCK // (maps.shape[1] * W))
    for b0 in range(y0, y1, band):
        b1 = min(y1, b0 + band)
        shifted = center - center.new_tensor([0.0, float(b0)])
        pasted, inside, (py0, py1, x0, x1) = _paste_person(maps, shifted, scale, (b1 - b0, W))
        if pasted is not None:
            value = pasted.argmax(0) if labels else pasted[0]
            canvas[b0 + py0:b0 + py1, x0:x1] = torch.where(inside, value, torch.zeros_like(value))
    return canvas


def _run_chunk(model: nn.Module, prep: PreparedInputs, sl: slice, return_maps: bool,
               depth_map: bool = True) -> ChunkResult:
    """One chunk: crops → network → body → camera → pasted maps."""
    center, scale, K = prep.center[sl], prep.scale[sl], prep.K[sl]
    crops = _crops(prep, sl, center.device)
    out = model(crops, prep.bbox_info[sl]) if depth_map else model(crops, prep.bbox_info[sl], depth_map=False)
    transl = crop_cam_to_full_transl(out.cam, center, scale, K)
    verts = joints = joints2d = None
    body = getattr(model, "body_model", None)
    if body is not None:
        posed = body.forward_pose(out.pose_rotmat, out.betas, transl=transl)
        verts, joints = posed.vertices, posed.joints
        joints2d = perspective_project(joints, K)
    depth_maps = part_maps = None
    if return_maps:
        sizes = [prep.sizes[i] for i in prep.image_index[sl].tolist()]
        part_maps = [_pasted_map(out.part_logits[k:k + 1], center[k], scale[k], hw, labels=True)
                     for k, hw in enumerate(sizes)]
        if out.depth is not None:
            depth_maps = [_pasted_map(out.depth[k:k + 1], center[k], scale[k], hw, labels=False)
                          for k, hw in enumerate(sizes)]
    return ChunkResult(pose_rotmat=out.pose_rotmat, pose_6d=out.pose_6d, betas=out.betas, cam=out.cam,
                       transl=transl, vertices=verts, joints=joints, joints2d=joints2d, depth_crop=out.depth,
                       part_labels_crop=out.part_logits.argmax(1), depth=depth_maps, part_labels=part_maps)


def run_network(model: nn.Module, prep: PreparedInputs, batch_size: int = 16,
                return_maps: bool = True, depth_map: bool = True) -> list[ChunkResult]:
    """Run the model on the prepared people in chunks of ``batch_size`` (``return_maps``, ``depth_map`` as in
    :func:`predict`).

    The model runs in eval mode under ``torch.inference_mode``; its own flags are restored afterwards
    (:func:`hpskit.core.eval_mode`, which also serialises threads that share the model).

    Returns:
        One :class:`ChunkResult` per chunk, in order.
    """
    if int(batch_size) < 1:
        raise ConfigError(f"{_WHERE}: `batch_size` must be ≥ 1; got {batch_size}.")
    step = int(batch_size)
    with eval_mode(model), torch.inference_mode():
        return [_run_chunk(model, prep, slice(j, j + step), return_maps, depth_map)
                for j in range(0, len(prep), step)]


# ----------------------------------------------------------------------------------------- 3. assemble


def _cat(chunks: list[ChunkResult], name: str) -> Tensor | None:
    parts = [getattr(c, name) for c in chunks]
    return None if parts[0] is None else torch.cat(parts)


def _maps(chunks: list[ChunkResult], name: str) -> list[Tensor] | None:
    if getattr(chunks[0], name) is None:
        return None
    return [m.clone() for c in chunks for m in getattr(c, name)]


def assemble_prediction(prep: PreparedInputs, chunks: list[ChunkResult], faces: Tensor | None) -> Prediction:
    """Join the chunks into one :class:`Prediction` (concatenated and cloned outside inference mode, so every
    output is an ordinary tensor)."""
    pose_rotmat = _cat(chunks, "pose_rotmat")
    aa = rotmat_to_axis_angle(pose_rotmat)
    return Prediction(
        pose_rotmat=pose_rotmat, pose_6d=_cat(chunks, "pose_6d"), global_orient=aa[:, 0], body_pose=aa[:, 1:],
        betas=_cat(chunks, "betas"), cam_crop=_cat(chunks, "cam"), transl=_cat(chunks, "transl"),
        vertices=_cat(chunks, "vertices"), joints=_cat(chunks, "joints"), joints2d=_cat(chunks, "joints2d"),
        K=prep.K, image_index=prep.image_index, boxes=prep.boxes, center=prep.center, scale=prep.scale,
        bbox_info=prep.bbox_info,
        image_sizes=torch.tensor(prep.sizes, dtype=torch.long, device=prep.image_index.device),
        depth_crop=_cat(chunks, "depth_crop"), part_labels_crop=_cat(chunks, "part_labels_crop"),
        depth=_maps(chunks, "depth"), part_labels=_maps(chunks, "part_labels"), faces=faces)


def predict(
    model: nn.Module,
    images: ImagesLike,
    boxes: BoxesLike | None = None,
    K: Tensor | np.ndarray | None = None,
    box_rescale: float = 1.2,
    batch_size: int = 16,
    return_maps: bool = True,
    crop_size: int | None = None,
    antialias: bool = True,
    crop_mode: str | None = None,
    detector=None,
    depth_map: bool = True,
) -> Prediction:
    """Estimate SMPL-X pose, shape and camera-frame meshes of the people in whole images.

    Runs on the model's device, in eval mode and under ``torch.inference_mode``; each sub-module's training
    flag is restored afterwards, under a per-model lock, so threads may share a model. The returned tensors
    are ordinary tensors (not inference tensors) without gradient.

    Args:
        model: A :class:`~hpskit.models.DPoSE` (or any model with its ``forward(images, bbox_info)``
            output and an optional ``body_model``).
        images: RGB images: a (B, 3, H, W) tensor, a list of (3, H, W) tensors and/or (H, W, 3) numpy
            arrays of any sizes, or one such image. uint8 (0..255) or float in [0, 1]. (OpenCV loads BGR:
            convert first.)
        boxes: Person boxes (x0, y0, x1, y1) in image pixels: a (B, 4) tensor/array (one person per
            image), or a list with one (n_i, 4) entry per image (several or no people). For a single
            image, (n, 4). ``None``: ``detector`` finds the people (explicit boxes always win).
        K: Optional intrinsics, (B, 3, 3) one per image or (3, 3) shared; any principal point. Default per
            image: f = √(W² + H²), principal point (W/2, H/2) (the authors' test-time camera).
        box_rescale: The square crop's side is ``box_rescale · max(w, h)`` of the box (1.2 adds context
            around a tight detector box; 1.0 is the authors' demo rule and fits boxes that already are
            the crop).
        batch_size: People per network forward.
        return_maps: Also paste the depth and part maps back into image space (``depth``, ``part_labels``).
        crop_size: Crop resolution; default ``model.input_size`` (224, what the model was trained at). Other
            multiples of 32 run but change the predictions (useful for quick tests).
        antialias: For the exact crop: blur before downsampling as ``skimage.transform.resize`` does.
        crop_mode: ``"exact"`` or ``"authors"``; default the model's ``config.crop_mode`` (``"authors"``
            for weights converted from the authors' checkpoint), else ``"exact"``.
        detector: Used only when ``boxes`` is ``None``: a :class:`hpskit.detect.Detector`, a registered
            name, or ``None`` for the built-in offline ``"blazepose"`` (pass an instance to reuse it).
        depth_map: ``False`` skips the depth decoder's full-resolution layers (a D-PoSE model's
            ``forward(..., depth_map=False)``): pose, shape and meshes are unchanged, ``depth_crop`` and
            ``depth`` are ``None``. With ``return_maps=False`` this is the leanest path (CPU speed:
            docs/benchmarks.md, "CPU predict").

    Returns:
        A :class:`Prediction` over all N people, in the order of ``boxes``.

    Example:
        >>> from hpskit.models import DPoSE, DPoSEConfig
        >>> model = DPoSE(DPoSEConfig(encoder="hrnet_w18", body_model="none"))
        >>> image = torch.zeros(120, 90, 3, dtype=torch.uint8).numpy()  # (H, W, 3) RGB
        >>> pred = predict(model, image, [[10.0, 5.0, 60.0, 110.0]], crop_size=64)
        >>> tuple(pred.pose_rotmat.shape), tuple(pred.transl.shape), tuple(pred.depth[0].shape)
        ((1, 22, 3, 3), (1, 3), (120, 90))
        >>> pred.K[0, :2].tolist()  # default: f = √(W² + H²) = 150, principal point (W/2, H/2)
        [[150.0, 0.0, 45.0], [0.0, 150.0, 60.0]]

    Raises:
        ShapeError: Wrong image dtype/shape/channels, float images outside [0, 1], NaN or infinite
            values, empty boxes (x1 ≤ x0), boxes entirely outside their image, a box/image count
            mismatch, a wrong ``K``, or no box at all.
        NoPersonError: ``boxes`` is ``None`` and the detector found nobody in any image.
        ConfigError: A non-positive ``box_rescale`` or ``batch_size``, or an unknown ``crop_mode``.
    """
    if int(batch_size) < 1:
        raise ConfigError(f"{_WHERE}: `batch_size` must be ≥ 1; got {batch_size}.")
    prep = prepare_inputs(model, images, boxes, K, box_rescale=box_rescale, crop_size=crop_size,
                          crop_mode=crop_mode, antialias=antialias, detector=detector)
    chunks = run_network(model, prep, batch_size=batch_size, return_maps=return_maps, depth_map=depth_map)
    body = getattr(model, "body_model", None)
    return assemble_prediction(prep, chunks, None if body is None else body.faces)
