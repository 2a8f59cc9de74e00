"""The default person detector: MediaPipe BlazePose (detector + full landmark model, 9-bit weights), in torch.

Why this model (issue 17, part 1):

- **Licence and install.** The two models come from the ``mediapipe==0.10.21`` wheel on PyPI
  (``modules/pose_detection/pose_detection.tflite`` and ``modules/pose_landmark/pose_landmark_full.tflite``),
  Apache-2.0 like hpskit. They were converted once by ``tools/convert_mediapipe_pose.py`` into
  ``hpskit/detect/weights/*.safetensors`` and ship inside hpskit: no run-time download, no TFLite
  runtime, no ``mediapipe`` dependency (whose last model-carrying wheel pins ``numpy<2``).
  :mod:`hpskit.detect._graph` executes them with torch; with the original float16 weights the raw
  outputs agree with the TFLite runtime (``ai-edge-litert``) to ~1e-5 of their range. See
  ``hpskit/detect/weights/NOTICE``.
- **Size: 9-bit weights (1.6 MB + 3.4 MB).** The repository keeps at most 25 MB of weights, and the
  float16 files (2.2 MB + 6.0 MB) did not fit beside the shipped D-PoSE. The wheel has no smaller
  landmark model (``pose_landmark_lite`` is not in it), and the detector alone gives loose boxes (on the
  test scenes 9 of 60 people at IoU ≥ 0.5 instead of 58) and no keypoints. So the conv weights with
  ≥ 10 000 nonzeros are stored as 9-bit integers with one step per output channel (smaller ones, the
  most sensitive, stay float16), and the landmark model's last conv keeps only the 105 of its 195
  channels read here. Measured against the float16 files on 25 images (the three photos, two people side
  by side, a rotated photo, two empty images, 18 synthetic scenes, 60 people): the same people found
  (58/60 at IoU ≥ 0.5, no false hit, the same count on every image), boxes at mean IoU 0.964 (min 0.85)
  with the float16 ones, keypoints 1.2 % of the box height apart on average. The pipeline's own noise,
  ±1 grey level on the image, moves the float16 results by IoU 0.985 and 0.7 %. The float16 files:
  ``python tools/convert_mediapipe_pose.py MODULES --bits 16 --out DIR`` then
  ``BlazePoseDetector(weights_dir=DIR)``.
  (Also tried: ``tflite2onnx`` cannot read these models' sparse weights; ``ai-edge-litert`` runs them with
  numpy 2 but is a 21 MB binary dependency without Windows wheels; MoveNet MultiPose from npm is tfjs,
  licence of the weights unverified.)
- **Several people.** The detector is an SSD over 2254 anchors; MediaPipe's legacy *solution* API
  tracks one person, but the model itself finds every person whose head and body it can see. Here all
  anchors go through weighted non-maximum suppression (as MediaPipe does), so each image yields every
  person found. Each candidate is then checked and refined by the landmark model (33 keypoints, a
  "pose present" flag), which gives the body-tight box and drops false hits.
- **Small people.** The detector was made for people who fill much of its 224 × 224 input: on the
  letterboxed whole image it finds people taller than ~60 % of the image. ``tiles=2`` (the default) adds
  overlapping square tiles, which find people down to ~35 % of the image height (most at 28 %);
  ``tiles=4`` down to ~18 %, at more cost (``docs/api/detect.md`` has the table, measured with the
  shipped weights by ``benchmarks/eval_detect.py``: on 36 people 350–500 px tall in 1280 × 720 scenes,
  35 found, mean IoU 0.84, no false hit, as with the float16 files).
- **Speed.** On 2 CPU cores (AMD EPYC VM, torch's 2 threads): ~15–19 ms per detector pass and per
  landmark pass; a 1-megapixel photo took 0.09–0.13 s with the default tiles (one to three people;
  ``benchmarks/bench_detect.py``), the same as with the float16 files. Building the detector (reading
  and unpacking both files) takes ~0.05 s (float16 files: ~0.04 s).

What it cannot find: people whose head is cut off or hidden, people smaller than the sizes above, and
lying or strongly tilted people are found less reliably. Boxes of people cut by the image border are
clipped to the image.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ._graph import OpGraph
from .base import Detections, Detector, register_detector

__all__ = ["BlazePoseDetector", "BLAZEPOSE_KEYPOINTS", "pose_anchors", "decode_pose_detections",
           "weighted_nms", "box_iou"]

WEIGHTS_DIR = Path(__file__).parent / "weights"

#: The 33 BlazePose landmark names, in the model's order.
BLAZEPOSE_KEYPOINTS = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)
_DET_RES = 224
_LMK_RES = 256


def pose_anchors() -> np.ndarray:
    """The detector's SSD anchor centres (MediaPipe ``pose_detection_cpu`` options).

    Returns:
        (2254, 2) float32 anchor centres (x, y), normalised to [0, 1] of the 224 × 224 input:
        strides 8, 16, 32 with 2, 2 and 6 anchors per cell (fixed anchor size).
    """
    out = []
    for stride, per_cell in ((8, 2), (16, 2), (32, 6)):
        n = math.ceil(_DET_RES / stride)
        ys, xs = np.meshgrid((np.arange(n) + 0.5) / n, (np.arange(n) + 0.5) / n, indexing="ij")
        cells = np.stack([xs.ravel(), ys.ravel()], axis=1)
        out.append(np.repeat(cells, per_cell, axis=0))
    return np.concatenate(out).astype(np.float32)


_ANCHORS = pose_anchors()


def decode_pose_detections(raw_boxes: np.ndarray, raw_scores: np.ndarray,
                           min_score: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode the detector's raw outputs (MediaPipe ``TensorsToDetectionsCalculator`` semantics).

    Args:
        raw_boxes: (2254, 12) raw regressions: box centre, size, then 4 keypoints (x, y).
        raw_scores: (2254,) logits.
        min_score: Keep anchors whose sigmoid score is at least this.

    Returns:
        boxes (M, 4) face boxes xyxy, keypoints (M, 4, 2), scores (M,); coordinates normalised to the
        224 × 224 input. Keypoints: 0 hip centre, 1 a point above the head (full-body size and
        rotation), 2 shoulder centre, 3 upper-body size point.
    """
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores.astype(np.float64), -100.0, 100.0)))
    keep = np.nonzero(scores >= min_score)[0]
    raw = raw_boxes[keep] / _DET_RES
    anc = _ANCHORS[keep]
    cx, cy = raw[:, 0] + anc[:, 0], raw[:, 1] + anc[:, 1]
    w, h = raw[:, 2], raw[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    kps = raw[:, 4:12].reshape(-1, 4, 2) + anc[:, None, :]
    return boxes, kps, scores[keep]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes: (N, 4), (M, 4) → (N, M)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, extra: np.ndarray, iou: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's weighted non-maximum suppression.

    Boxes overlapping the best remaining one by more than ``iou`` are merged into it: its box and
    ``extra`` (e.g. keypoints) become the score-weighted mean of the group, its score stays the best.

    Args:
        boxes: (M, 4) xyxy. scores: (M,). extra: (M, ...) carried along and averaged.

    Returns:
        boxes (P, 4), scores (P,), extra (P, ...), best first.
    """
    order = np.argsort(-scores, kind="stable")
    remaining = list(order)
    out_b, out_s, out_e = [], [], []
    while remaining:
        best = remaining[0]
        ious = box_iou(boxes[best:best + 1], boxes[remaining])[0]
        group = [r for r, o in zip(remaining, ious) if o > iou]
        remaining = [r for r, o in zip(remaining, ious) if o <= iou]
        w = scores[group][:, None]
        out_b.append((boxes[group] * w).sum(0) / w.sum())
        out_e.append((extra[group].reshape(len(group), -1) * w).sum(0).reshape(extra.shape[1:]) / w.sum())
        out_s.append(scores[best])
    if not out_b:
        return (np.zeros((0, 4), np.float32), np.zeros((0,), np.float32),
                np.zeros((0, *extra.shape[1:]), np.float32))
    return (np.stack(out_b).astype(np.float32), np.asarray(out_s, np.float32),
            np.stack(out_e).astype(np.float32))


def _same_person(a: np.ndarray, b: np.ndarray, tol: float = 0.15) -> bool:
    """Whether two (33, 3) landmark sets describe one person: the median landmark distance is below
    ``tol`` of the larger set's size (a box-IoU test would also merge two people standing close)."""
    size = max(np.ptp(a[:, :2], axis=0).max(), np.ptp(b[:, :2], axis=0).max(), 1e-6)
    return float(np.median(np.linalg.norm(a[:, :2] - b[:, :2], axis=1))) < tol * size


def _rois(kps: np.ndarray) -> np.ndarray:
    """(M, 4, 2) detector keypoints → (M, 4) rotated square body ROIs (cx, cy, side, angle).

    MediaPipe's ``pose_detection_to_roi``: centred on the hip centre, side 2 · |hip → above-head
    point| · 1.25, rotated (radians, clockwise in the image) so that the body axis points up in the crop.
    """
    c, top = kps[:, 0], kps[:, 1]
    d = top - c
    side = 2.0 * np.linalg.norm(d, axis=1) * 1.25
    angle = np.pi / 2 - np.arctan2(-d[:, 1], d[:, 0])
    angle = angle - 2 * np.pi * np.floor((angle + np.pi) / (2 * np.pi))
    return np.concatenate([c, side[:, None], angle[:, None]], axis=1).astype(np.float32)


def _square_windows(H: int, W: int, tiles: int) -> list[tuple[float, float, float]]:
    """Square windows (x0, y0, side) in pixels: the whole image letterboxed, then (``tiles`` ≥ 2) square
    tiles of side ``min(H, W, 1.5 · max(H, W) / tiles)`` covering the image with ≥ 25 % overlap (a
    square image gets a tiles × tiles grid; a wide one a row of short-side squares)."""
    side = float(max(H, W))
    wins = [((W - side) / 2, (H - side) / 2, side)]
    if tiles >= 2:
        t = float(min(H, W, 1.5 * side / tiles))
        nx = math.ceil(max(W - t, 0) / (0.75 * t)) + 1
        ny = math.ceil(max(H - t, 0) / (0.75 * t)) + 1
        for iy in range(ny):
            for ix in range(nx):
                x0 = (W - t) * ix / (nx - 1) if nx > 1 else (W - t) / 2
                y0 = (H - t) * iy / (ny - 1) if ny > 1 else (H - t) / 2
                wins.append((x0, y0, t))
    return wins


def _crop_square(img: torch.Tensor, x0: float, y0: float, side: float, res: int) -> torch.Tensor:
    """(3, H, W) float → (3, res, res): the axis-aligned square window, zero outside, antialiased."""
    H, W = img.shape[-2:]
    ix0, iy0, s = round(x0), round(y0), max(round(side), 1)
    sx0, sy0, sx1, sy1 = max(ix0, 0), max(iy0, 0), min(ix0 + s, W), min(iy0 + s, H)
    patch = img[:, sy0:sy1, sx0:sx1]
    patch = F.pad(patch, (sx0 - ix0, ix0 + s - sx1, sy0 - iy0, iy0 + s - sy1))
    return F.interpolate(patch[None], size=(res, res), mode="bilinear", align_corners=False,
                         antialias=s > res)[0]


def _crop_rotated(img: torch.Tensor, rois: np.ndarray, res: int) -> torch.Tensor:
    """(3, H, W) float, (R, 4) rois (cx, cy, side, angle) in pixels/radians → (R, 3, res, res)."""
    H, W = img.shape[-2:]
    r = torch.as_tensor(rois, dtype=img.dtype, device=img.device)
    cos, sin, s = torch.cos(r[:, 3]), torch.sin(r[:, 3]), r[:, 2]
    theta = torch.stack([
        torch.stack([cos * s / W, -sin * s / W, 2 * r[:, 0] / W - 1], 1),
        torch.stack([sin * s / H, cos * s / H, 2 * r[:, 1] / H - 1], 1)], 1)
    grid = F.affine_grid(theta, [len(rois), 3, res, res], align_corners=False)
    return F.grid_sample(img[None].expand(len(rois), -1, -1, -1), grid, mode="bilinear",
                         padding_mode="zeros", align_corners=False)


@register_detector("blazepose")
class BlazePoseDetector(Detector):
    """Offline multi-person detector: BlazePose detector + full landmark model (33 keypoints).

    Args:
        score_threshold: Keep people whose detector score is at least this (MediaPipe: 0.5).
        max_people: Keep at most this many per image (best first).
        tiles: 0/1: only the letterboxed whole image; n ≥ 2: also an n × n grid of overlapping tiles
            (finds smaller people; n² more detector passes).
        refine: Run the landmark model: tight body boxes, keypoints, and drop candidates whose
            "pose present" flag is below ``presence_threshold``. Without it, boxes are the detector's
            body-circle squares (loose) and there are no keypoints.
        refine_steps: Landmark passes per person; each pass after the first crops the body region
            that the previous pass's landmarks give (as MediaPipe does from frame to frame), which
            corrects a poor first region (a body mostly outside the image, say).
        presence_threshold: Minimum pose-present flag of the landmark model.
        nms_iou: IoU above which two candidates are the same person (face boxes, then body boxes).
        box_margin: Fractional margin added around the keypoints' extent (the keypoints are joints,
            not the silhouette: the top of the head and the hands' and feet's outline lie outside).
        device: Torch device to run on.
        weights_dir: Folder with ``blazepose_detector.safetensors`` and
            ``blazepose_landmark_full.safetensors`` (default: the 9-bit files shipped in hpskit; the
            original float16 ones: ``tools/convert_mediapipe_pose.py --bits 16``).

    Example:
        >>> import skimage.data
        >>> det = BlazePoseDetector()
        >>> found = det([skimage.data.astronaut()])[0]
        >>> found.boxes.shape, found.keypoints.shape
        ((1, 4), (1, 33, 3))
    """

    def __init__(self, score_threshold: float = 0.5, max_people: int | None = None, tiles: int = 2,
                 refine: bool = True, refine_steps: int = 2, presence_threshold: float = 0.5,
                 nms_iou: float = 0.3,
                 box_margin: float = 0.05, device: str | torch.device = "cpu",
                 weights_dir: str | Path | None = None):
        super().__init__(score_threshold, max_people)
        if int(tiles) < 0:
            raise ValueError(f"tiles must be >= 0, got {tiles}")
        self.tiles = int(tiles)
        self.refine = bool(refine)
        if int(refine_steps) < 1:
            raise ValueError(f"refine_steps must be >= 1, got {refine_steps}")
        self.refine_steps = int(refine_steps)
        self.presence_threshold = float(presence_threshold)
        self.nms_iou = float(nms_iou)
        self.box_margin = float(box_margin)
        self.device = torch.device(device)
        wdir = WEIGHTS_DIR if weights_dir is None else Path(weights_dir).expanduser()
        self.detector = OpGraph(wdir / "blazepose_detector.safetensors").to(self.device)
        self.landmarks = OpGraph(wdir / "blazepose_landmark_full.safetensors").to(self.device) \
            if self.refine else None

    def __repr__(self) -> str:
        return (f"BlazePoseDetector(tiles={self.tiles}, score_threshold={self.score_threshold}, "
                f"refine={self.refine}, max_people={self.max_people}, device={str(self.device)!r})")

    # -- stage 1: candidates -------------------------------------------------------------------
    def _candidates(self, img: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Face boxes (M, 4), keypoints (M, 4, 2) in image pixels and scores (M,)."""
        H, W = img.shape[-2:]
        wins = _square_windows(H, W, self.tiles)
        batch = torch.stack([_crop_square(img, x0, y0, s, _DET_RES) for x0, y0, s in wins])
        out = self.detector(batch / 127.5 - 1.0)
        raw_b, raw_s = out["Identity"].cpu().numpy(), out["Identity_1"].cpu().numpy()[..., 0]
        boxes, kps, scores = [], [], []
        for (x0, y0, s), rb, rs in zip(wins, raw_b, raw_s):
            b, k, sc = decode_pose_detections(rb, rs, self.score_threshold)
            b, sc, k = weighted_nms(b, sc, k, self.nms_iou)  # per window, as MediaPipe
            offset = np.array([x0, y0], np.float32)
            boxes.append(b * s + np.tile(offset, 2))
            kps.append(k * s + offset)
            scores.append(sc)
        # across windows: a person already found in a larger window (more context: the whole image
        # first) keeps that finding; tiles only add people found nowhere larger. (Averaging the
        # windows' findings, as within a window, mixes in tiles that cut the person and skews the body.)
        kept_b: list[np.ndarray] = []
        kept_k: list[np.ndarray] = []
        kept_s: list[float] = []
        for w in sorted(range(len(wins)), key=lambda i: -wins[i][2]):
            for j in np.argsort(-scores[w], kind="stable"):
                b = boxes[w][j]
                if kept_b and box_iou(b[None], np.stack(kept_b)).max() > self.nms_iou:
                    continue
                kept_b.append(b)
                kept_k.append(kps[w][j])
                kept_s.append(float(scores[w][j]))
        if not kept_b:
            return np.zeros((0, 4), np.float32), np.zeros((0, 4, 2), np.float32), np.zeros((0,), np.float32)
        return np.stack(kept_b), np.stack(kept_k), np.asarray(kept_s, np.float32)

    # -- stage 2: landmarks --------------------------------------------------------------------
    def _landmarks(self, img: torch.Tensor, rois: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints (M, 35, 3) (x, y in pixels, visibility) and pose-present flags (M,).

        Keypoints 0–32 are the body landmarks; 33 and 34 are MediaPipe's auxiliary points (hip centre,
        above-head point) from which the next region of interest is made."""
        crops = _crop_rotated(img, rois, _LMK_RES) / 255.0
        out = self.landmarks(crops)
        lm = out["Identity"].cpu().numpy().reshape(len(rois), -1)
        if lm.shape[1] == 195:  # all 39 × (x, y, z, visibility, presence), as the .tflite gives them
            lm = lm.reshape(len(rois), 39, 5)[:, :35, [0, 1, 3]]
        else:  # the shipped file keeps only x, y, visibility of the 35 points read here
            lm = lm.reshape(len(rois), 35, 3)
        flag = out["Identity_1"].cpu().numpy().reshape(-1)
        local = (lm[..., :2] / _LMK_RES - 0.5) * rois[:, None, 2:3]
        cos, sin = np.cos(rois[:, 3])[:, None], np.sin(rois[:, 3])[:, None]
        x = cos * local[..., 0] - sin * local[..., 1] + rois[:, None, 0]
        y = sin * local[..., 0] + cos * local[..., 1] + rois[:, None, 1]
        vis = 0.5 * (1.0 + np.tanh(0.5 * lm[..., 2]))  # the logistic, without exp's overflow
        return np.stack([x, y, vis], axis=-1).astype(np.float32), flag.astype(np.float32)

    def _box_from_keypoints(self, kp: np.ndarray) -> np.ndarray:
        """(M, 33, 3) → (M, 4): the extent of the joints and of the top of the head, plus ``box_margin``
        of the body's size on each side (hands', feet's and clothes' outline beyond the joints).

        The head's top is not a landmark: it is put 2.2 eye-to-mouth spans above the eyes, along the
        mouth → eyes direction (checked on the three public-domain test photos, frontal and profile)."""
        xy = kp[..., :2]
        eyes = xy[:, [2, 5]].mean(1)
        mouth = xy[:, [9, 10]].mean(1)
        head_top = eyes + 2.2 * (eyes - mouth)
        pts = np.concatenate([xy, head_top[:, None]], axis=1)
        lo, hi = pts.min(1), pts.max(1)
        m = (self.box_margin * np.maximum(hi[:, 1] - lo[:, 1], hi[:, 0] - lo[:, 0]))[:, None]
        return np.concatenate([lo - m, hi + m], axis=1).astype(np.float32)

    @torch.inference_mode()
    def detect_one(self, image: np.ndarray) -> Detections:
        H, W = image.shape[:2]
        img = torch.from_numpy(np.array(image)).to(self.device).permute(2, 0, 1).float()
        _, kps, scores = self._candidates(img)
        if len(scores) == 0:
            return Detections.empty(33 if self.refine else None, BLAZEPOSE_KEYPOINTS if self.refine else ())
        rois = _rois(kps)
        if not self.refine:
            half = rois[:, 2:3] / 2
            boxes = np.concatenate([rois[:, :2] - half, rois[:, :2] + half], axis=1) - 0.5
            return Detections(boxes, scores)
        for _ in range(self.refine_steps):
            keypoints, flag = self._landmarks(img, rois)
            keep = flag >= self.presence_threshold  # not a person: no further pass
            keypoints, flag, scores = keypoints[keep], flag[keep], scores[keep]
            if not keep.any():
                return Detections.empty(33, BLAZEPOSE_KEYPOINTS)
            rois = _rois(keypoints[:, 33:35, :2])  # MediaPipe's landmarks → next ROI (its tracking step)
        keypoints = keypoints[:, :33]
        boxes = self._box_from_keypoints(keypoints)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, W)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, H)
        # internal coordinates: pixel i covers [i, i + 1); hpskit's: pixel centres at integers
        boxes -= 0.5
        keypoints[..., :2] -= 0.5
        # the same person found twice (by two windows, face boxes apart): same landmarks, keep the best
        order = np.argsort(-scores, kind="stable")
        chosen: list[int] = []
        for i in order:
            if not any(_same_person(keypoints[i], keypoints[j]) for j in chosen):
                chosen.append(int(i))
        chosen_idx = np.asarray(chosen, dtype=np.int64)
        return Detections(boxes[chosen_idx], scores[chosen_idx], keypoints[chosen_idx], BLAZEPOSE_KEYPOINTS)
