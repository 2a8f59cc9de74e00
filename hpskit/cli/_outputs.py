"""What ``hpskit predict`` writes per image: overlay / depth / part PNGs, a JSON and an NPZ.

Every file is written atomically (temporary file + rename, :mod:`hpskit.core.files`). The JSON is always
valid JSON: a non-finite number (NaN or infinity, which JSON cannot hold) is written as ``null``, its field
is listed under ``"non_finite"`` and a warning names the image. The pictures of a large image are drawn at
most :data:`MAX_PICTURE_SIDE` pixels on the long side (the NPZ and JSON keep full-resolution geometry and
maps), which bounds the time and memory the pictures cost.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import torch

from hpskit import __version__
from hpskit.body import PART_NAMES, PART_PALETTE
from hpskit.core import atomic_write, atomic_write_text
from hpskit.render import overlay, rasterize, shade_lambert

from ._common import write_png

logger = logging.getLogger("hpskit.cli")

#: Mesh colours, one per person (cycled).
PERSON_COLORS = ((0.85, 0.45, 0.35), (0.35, 0.6, 0.9), (0.45, 0.8, 0.45), (0.9, 0.75, 0.35),
                 (0.75, 0.45, 0.85))
# Nine samples of matplotlib's "viridis" (0, 1/8, ..., 1), linearly interpolated: a perceptually ordered
# depth colour map without a matplotlib dependency.
_VIRIDIS = np.array([[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
                     [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]], np.float64)
_DIM = 0.35  # brightness of the photo under the depth / part maps
#: Longest side, in pixels, of the PNG pictures (larger images are drawn scaled down; geometry is not).
MAX_PICTURE_SIDE = 2048
CONVENTIONS = ("OpenCV camera frame (x right, y down, z forward), metres, radians (axis-angle), pixels with "
               "pixel centres at integer coordinates; SMPL-X body frame; joints: the 127 SMPL-X joints "
               "(hpskit.body.SMPLX_JOINT_NAMES); see docs/conventions.md.")


def colorize_depth(depth: np.ndarray) -> np.ndarray:
    """Relative depth in [0, 1] (H, W) → (H, W, 3) uint8 viridis colours (near = dark violet)."""
    x = np.clip(depth, 0.0, 1.0) * (len(_VIRIDIS) - 1)
    lo = np.minimum(np.floor(x).astype(np.int64), len(_VIRIDIS) - 2)
    t = (x - lo)[..., None]
    return np.round(_VIRIDIS[lo] * (1 - t) + _VIRIDIS[lo + 1] * t).astype(np.uint8)


def _composite_maps(pred, people: list[int], H: int, W: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Per-person pasted maps → one (H, W) depth and one (H, W) label map, nearest person on top."""
    order = sorted(people, key=lambda k: -float(pred.transl[k, 2]))  # far first, the nearest drawn last
    depth = None
    if pred.depth is not None:
        depth = np.zeros((H, W), np.float32)
        for k in order:
            d = pred.depth[k].float().cpu().numpy()
            depth = np.where(d > 0, d, depth)
    labels = None
    if pred.part_labels is not None:
        labels = np.zeros((H, W), np.uint8)
        for k in order:
            lab = pred.part_labels[k].cpu().numpy()
            labels = np.where(lab > 0, lab, labels).astype(np.uint8)
    return depth, labels


def _mesh_overlay(rgb: np.ndarray, pred, people: list[int], K: torch.Tensor) -> tuple[np.ndarray, int]:
    """Predicted meshes drawn with intrinsics ``K`` (3, 3) over the photo ``rgb`` (its own size); also returns
    the covered pixels."""
    H, W = rgb.shape[:2]
    verts = pred.vertices[people].float()
    n, V = verts.shape[:2]
    faces = pred.faces.to(verts.device)
    scene_f = torch.cat([faces + j * V for j in range(n)])
    colors = torch.cat([verts.new_tensor(PERSON_COLORS[j % len(PERSON_COLORS)]).expand(V, 3)
                        for j in range(n)])
    scene_v = verts.reshape(1, n * V, 3)
    K = K.float().to(verts.device)[None]
    frags = rasterize(scene_v, scene_f, K, (H, W))
    shaded = shade_lambert(frags, scene_v, scene_f, vertex_colors=colors)
    image = torch.from_numpy(rgb).permute(2, 0, 1)[None].to(verts.device)
    out = overlay(image, shaded.clamp(0, 1), frags.mask, alpha=0.85)[0]
    return out.permute(1, 2, 0).cpu().numpy(), int(frags.mask.sum())


def json_safe(obj, path: str = "", bad: list[str] | None = None):
    """A copy of ``obj`` with every non-finite float replaced by ``None``; the dotted paths of the replaced
    values' fields are appended to ``bad`` (once per field)."""
    if isinstance(obj, dict):
        return {k: json_safe(v, f"{path}.{k}" if path else str(k), bad) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v, path, bad) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        if bad is not None and path not in bad:
            bad.append(path)
        return None
    return obj


def dumps_json(obj, level: int = 0) -> str:
    """JSON with one line per key, but each list of numbers (even nested, e.g. joints) on one line.

    Raises:
        ValueError: On a non-finite number (pass the data through :func:`json_safe` first).
    """
    pad, inner = " " * level, " " * (level + 1)
    if isinstance(obj, dict) and obj:
        items = [f"{inner}{json.dumps(str(k))}: {dumps_json(v, level + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and obj and all(isinstance(x, dict) for x in obj):
        return "[\n" + ",\n".join(inner + dumps_json(x, level + 1) for x in obj) + "\n" + pad + "]"
    return json.dumps(obj, allow_nan=False)


def _write_json(path: Path, info: dict, image_path: Path) -> Path:
    bad: list[str] = []
    info = json_safe(info, "", bad)
    if bad:
        info["non_finite"] = bad
        logger.warning("%s: non-finite numbers (NaN/inf) in %s are written as null in %s", image_path,
                       ", ".join(bad), path.name)
    atomic_write_text(dumps_json(info) + "\n", path)
    return path


def output_names(stem: str) -> list[str]:
    """Every file name :func:`write_outputs` may write for ``stem``."""
    return [f"{stem}_overlay.png", f"{stem}_depth.png", f"{stem}_parts.png", f"{stem}.json", f"{stem}.npz"]


def _picture_scale(H: int, W: int, max_side: int | None) -> tuple[int, int]:
    if not max_side or max(H, W) <= max_side:
        return H, W
    s = max_side / max(H, W)
    return max(1, round(H * s)), max(1, round(W * s))


def _scale_K(K: torch.Tensor, sy: float, sx: float) -> torch.Tensor:
    """Intrinsics for an image resized by (sy, sx), pixel centres at integer coordinates."""
    K = K.detach().float().cpu().clone()
    K[0, 0], K[0, 1], K[0, 2] = K[0, 0] * sx, K[0, 1] * sx, (K[0, 2] + 0.5) * sx - 0.5
    K[1, 1], K[1, 2] = K[1, 1] * sy, (K[1, 2] + 0.5) * sy - 0.5
    return K


def _nearest(arr: np.ndarray, h: int, w: int) -> np.ndarray:
    H, W = arr.shape[:2]
    if (H, W) == (h, w):
        return arr
    rows = np.minimum(((np.arange(h) + 0.5) * H / h).astype(np.int64), H - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * W / w).astype(np.int64), W - 1)
    return arr[rows][:, cols]


def _draw_boxes(image: np.ndarray, boxes: torch.Tensor) -> np.ndarray:
    """Outline the input person boxes (1 px, white) on an (H, W, 3) uint8 image."""
    from PIL import Image, ImageDraw

    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    for x1, y1, x2, y2 in boxes.detach().float().cpu().tolist():
        draw.rectangle([x1 + 0.5, y1 + 0.5, x2 - 0.5, y2 - 0.5], outline=(255, 255, 255), width=1)
    return np.asarray(canvas)


def _listed(x: torch.Tensor | None):
    return None if x is None else x.detach().float().cpu().tolist()


def write_outputs(out_dir: Path, stem: str, image_path: Path, rgb: np.ndarray, pred, model, meta: dict,
                  K: torch.Tensor | None = None,
                  max_picture_side: int | None = MAX_PICTURE_SIDE) -> list[Path]:
    """Write ``STEM_overlay.png``, ``STEM_depth.png``, ``STEM_parts.png``, ``STEM.json``, ``STEM.npz``.

    Args:
        out_dir: Output folder.
        stem: File-name stem of this image.
        image_path: The input file (recorded in the JSON).
        rgb: The image, (H, W, 3) uint8.
        pred: The :class:`hpskit.models.Prediction` of this image alone, or ``None`` (nobody: JSON only).
        model: The model (config and body model are recorded).
        meta: Extra run settings recorded in the JSON.
        K: Intrinsics (3, 3) used when ``pred`` is ``None``.
        max_picture_side: Longest side of the PNG pictures (``None``: the image's size).

    Returns:
        The written paths.
    """
    H, W = rgb.shape[:2]
    body = model.body_model
    info = {
        "image": str(image_path), "image_size": {"height": H, "width": W},
        "hpskit_version": __version__, **meta,
        "model": {"encoder": model.config.encoder, "body_model": None if body is None else
                  "standin" if body.is_standin else str(body.model_path)},
        "conventions": CONVENTIONS,
        "K": None, "files": {}, "people": [],
    }
    written: list[Path] = []
    if pred is None or len(pred) == 0:
        info["K"] = _listed(K)
        return [_write_json(out_dir / f"{stem}.json", info, image_path)]
    people = list(range(len(pred)))
    info["K"] = _listed(pred.K[0])
    h, w = _picture_scale(H, W, max_picture_side)
    sy, sx = h / H, w / W
    pic = rgb
    if (h, w) != (H, W):
        from PIL import Image

        pic = np.array(Image.fromarray(rgb).resize((w, h), Image.BILINEAR))
        info["pictures_size"] = {"height": h, "width": w}
        logger.info("%s: %d×%d image; pictures drawn at %d×%d (NPZ/JSON keep full resolution)", image_path,
                    W, H, w, h)
    dimmed = (pic.astype(np.float32) * _DIM).round().astype(np.uint8)
    files = {}
    if pred.vertices is not None:
        over, covered = _mesh_overlay(pic, pred, people, _scale_K(pred.K[people[0]], sy, sx))
        files["overlay"] = f"{stem}_overlay.png"
        boxes = pred.boxes.detach().float().cpu().clone()
        boxes[:, 0::2] = (boxes[:, 0::2] + 0.5) * sx - 0.5
        boxes[:, 1::2] = (boxes[:, 1::2] + 0.5) * sy - 0.5
        write_png(out_dir / files["overlay"], _draw_boxes(over, boxes))
        if covered == 0:
            logger.warning("%s: no predicted mesh is in view (untrained weights, or boxes that miss the "
                           "people?)", image_path)
    else:
        logger.warning("%s: the model has no body model (body_model='none'), so no mesh overlay, vertices or "
                       "joints; pass --body-model auto or standin", image_path)
    depth, labels = _composite_maps(pred, people, H, W)
    if depth is not None:
        small = _nearest(depth, h, w)
        img = np.where((small > 0)[..., None], colorize_depth(small), dimmed)
        files["depth"] = f"{stem}_depth.png"
        write_png(out_dir / files["depth"], img)
    if labels is not None:
        palette = PART_PALETTE.cpu().numpy().astype(np.float32)
        small = _nearest(labels, h, w)
        blend = 0.3 * pic.astype(np.float32) + 0.7 * palette[small]
        img = np.where((small > 0)[..., None], blend, dimmed).round().astype(np.uint8)
        files["parts"] = f"{stem}_parts.png"
        write_png(out_dir / files["parts"], img)
    files["npz"] = f"{stem}.npz"
    info["files"] = files
    info["part_names"] = list(PART_NAMES)
    for k in people:
        person = {
            "box_xyxy": _listed(pred.boxes[k]), "crop_center": _listed(pred.center[k]),
            "crop_scale": float(pred.scale[k]), "bbox_info": _listed(pred.bbox_info[k]),
            "global_orient": _listed(pred.global_orient[k]), "body_pose": _listed(pred.body_pose[k]),
            "betas": _listed(pred.betas[k]), "cam_crop": _listed(pred.cam_crop[k]),
            "transl": _listed(pred.transl[k]),
            "joints": _listed(None if pred.joints is None else pred.joints[k]),
            "joints2d": _listed(None if pred.joints2d is None else pred.joints2d[k]),
        }
        info["people"].append(person)
    arrays = {
        "boxes": pred.boxes, "crop_center": pred.center, "crop_scale": pred.scale,
        "bbox_info": pred.bbox_info,
        "pose_rotmat": pred.pose_rotmat, "global_orient": pred.global_orient, "body_pose": pred.body_pose,
        "betas": pred.betas, "cam_crop": pred.cam_crop, "transl": pred.transl, "K": pred.K[0],
        "joints": pred.joints, "joints2d": pred.joints2d, "vertices": pred.vertices,
    }
    arrays = {k: v.detach().float().cpu().numpy() for k, v in arrays.items() if v is not None}
    if depth is not None:
        arrays["depth"] = depth
    if labels is not None:
        arrays["part_labels"] = labels
    atomic_write(out_dir / files["npz"], lambda fh: np.savez_compressed(fh, **arrays))
    path = _write_json(out_dir / f"{stem}.json", info, image_path)
    written = [out_dir / f for f in files.values()] + [path]
    return written
