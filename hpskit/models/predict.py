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

Where the pieces live: the accepted inputs and their checks in :mod:`hpskit.models.inputs`; the records
passed between the steps and the result in :mod:`hpskit.models.prediction`; each person's window crop and
paste-back (pure crop geometry) in :mod:`hpskit.geometry.windows`. Their public names (``ImagesLike``,
``BoxesLike``, ``PreparedInputs``, ``ChunkResult``, ``Prediction``) are re-exported here.

Threads: the model's train/eval flags are switched under a per-model lock (:func:`hpskit.core.eval_mode`),
so several threads may call ``predict`` with one model; their calls on that model run one at a time.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import Tensor, nn

from hpskit.core import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ConfigError,
    ShapeError,
    eval_mode,
)
from hpskit.geometry import (
    authors_crop_window,
    boxes_xyxy_to_center_scale,
    check_crop_mode,
    cliff_bbox_info,
    crop_cam_to_full_transl,
    crop_person,
    crop_person_authors,
    paste_person_map,
    perspective_project,
    rotmat_to_axis_angle,
)

from .inputs import BoxesLike, ImagesLike, _as_boxes, _as_images, _as_intrinsics
from .prediction import ChunkResult, Prediction, PreparedInputs

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


# ------------------------------------------------------------------------------------------ 1. prepare


_DETECTOR_ATTR = "_hpskit_default_detector"


def _boxes_when_none(model: nn.Module, images: list[Tensor], detector) -> list:
    """What ``boxes=None`` means: :mod:`hpskit.detect` finds the people (the one place where missing boxes
    are resolved). Without a ``detector`` the built-in one is made once per model and kept on it (a plain
    attribute, not a submodule: it is not in the state dict), so repeated calls do not rebuild it (~60 ms)."""
    from hpskit.detect import create_detector, find_people

    if detector is None:
        detector = model.__dict__.get(_DETECTOR_ATTR)
        if detector is None:
            detector = create_detector("blazepose")
            object.__setattr__(model, _DETECTOR_ATTR, detector)
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
        boxes = _boxes_when_none(model, imgs, detector)
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


def _crops(prep: PreparedInputs, sl: slice, device) -> Tensor:
    """Normalised crops of the people ``sl``, shape (n, 3, res, res)."""
    idx = prep.image_index[sl].tolist()
    if prep.crop_mode == "authors":
        crops = [crop_person_authors(prep.images[i], prep.windows[sl][k], prep.res, prep.dtype, device)
                 for k, i in enumerate(idx)]
    else:
        crops = [crop_person(prep.images[i], prep.center[sl][k], prep.scale[sl][k], prep.res, prep.antialias,
                             prep.dtype) for k, i in enumerate(idx)]
    return (torch.cat(crops) - prep.mean[:, None, None]) / prep.std[:, None, None]


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
        part_maps = [paste_person_map(out.part_logits[k:k + 1], center[k], scale[k], hw, labels=True)
                     for k, hw in enumerate(sizes)]
        if out.depth is not None:
            depth_maps = [paste_person_map(out.depth[k:k + 1], center[k], scale[k], hw, labels=False)
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
