"""Video in, tracked and smoothed people out: detection per frame → D-PoSE → tracking → smoothing → files.

:func:`track_video` runs a detector and a predictor on every frame (with a tqdm progress bar) and groups
the people into :class:`Track` s with :class:`~hpskit.video.tracking.IoUTracker`; :func:`smooth_tracks`
filters each track (:mod:`hpskit.video.smoothing`); :func:`write_tracks` writes per track an ``.npz`` of
per-frame SMPL-X parameters, an animated skinned ``.glb`` and a ``.bvh``; :func:`write_overlay_video`
renders the tracks over the frames. :func:`process_video` does all of it for a model and a video path.

The detector is any callable ``detector(list of (H, W, 3) uint8 RGB) -> per image result``, where a
result is a ``hpskit.detect.Detections`` (``.boxes`` (n, 4), ``.scores``), a ``(boxes, scores)`` pair,
or a bare (n, 4) / (n, 5) array of boxes (fifth column = score). By default, hpskit's built-in
detector (``hpskit.detect.create_detector()``, imported when first needed).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from hpskit.core import MissingFileError, ShapeError
from hpskit.export import PERSON_COLORS, atomic_write_bytes, body_skeleton, write_animated_glb, write_bvh

from .io import VideoSource, VideoWriter
from .smoothing import SmoothingConfig, smooth_motion
from .tracking import IoUTracker

__all__ = ["Track", "TRACK_OUTPUTS", "default_detector", "detections_to_boxes", "track_video",
           "smooth_tracks", "write_tracks", "write_overlay_video", "process_video"]

logger = logging.getLogger(__name__)

#: Per-track files :func:`write_tracks` can write.
TRACK_OUTPUTS = ("npz", "glb", "bvh")


@dataclass
class Track:
    """One person over the frames where they were found.

    Attributes:
        track_id: Identity (unique in the video).
        frames: (T,) int64 increasing frame indices (gaps where the person was not found).
        pose_rotmat: (T, 22, 3, 3) rotations (0 = global orientation in the camera frame, 1..21 body).
        betas: (T, 11) SMPL-X shape.
        transl: (T, 3) camera-frame translation, metres.
        boxes: (T, 4) detection boxes, xyxy pixels.
        K: (T, 3, 3) intrinsics of each frame.
    """

    track_id: int
    frames: np.ndarray
    pose_rotmat: Tensor
    betas: Tensor
    transl: Tensor
    boxes: Tensor
    K: Tensor

    def __len__(self) -> int:
        return len(self.frames)

    def times(self, fps: float) -> Tensor:
        """(T,) float64 seconds of the frames."""
        return torch.as_tensor(self.frames, dtype=torch.float64) / float(fps)

    def to_npz(self, path: str | os.PathLike, fps: float) -> Path:
        """Write the track as ``.npz`` (atomically): ``frames``, ``times``, ``pose_rotmat``,
        ``global_orient`` / ``body_pose`` (axis-angle), ``betas``, ``transl``, ``boxes``, ``K``, ``fps``,
        ``track_id``."""
        import io

        import roma

        aa = roma.rotmat_to_rotvec(self.pose_rotmat.double()).float()
        arrays = {"track_id": np.int64(self.track_id), "fps": np.float64(fps), "frames": self.frames,
                  "times": self.times(fps).numpy(), "pose_rotmat": self.pose_rotmat,
                  "global_orient": aa[:, 0], "body_pose": aa[:, 1:], "betas": self.betas,
                  "transl": self.transl, "boxes": self.boxes, "K": self.K}
        arrays = {k: (v.detach().float().cpu().numpy() if isinstance(v, Tensor) else v)
                  for k, v in arrays.items()}
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return atomic_write_bytes(buf.getvalue(), path)


def default_detector():
    """hpskit's built-in offline person detector (``hpskit.detect.create_detector()``).

    Raises:
        MissingFileError: If this install has no ``hpskit.detect``; pass a detector explicitly.
    """
    try:
        from hpskit.detect import create_detector  # lazy: detection is optional for the video tools
    except ImportError as e:
        raise MissingFileError(f"no person detector available ({e}); pass a detector (any callable "
                               "images -> per image boxes), or person boxes for images.") from e
    return create_detector()


def detections_to_boxes(result) -> tuple[np.ndarray, np.ndarray]:
    """One image's detector output → ``(boxes (n, 4) float64, scores (n,) float64)``.

    Accepts an object with ``.boxes`` (and optional ``.scores``), a ``(boxes, scores)`` pair, a dict with
    ``"boxes"``, or an (n, 4) / (n, 5) array or tensor (fifth column = score; default score 1).
    """
    scores = None
    if hasattr(result, "boxes"):
        boxes, scores = result.boxes, getattr(result, "scores", None)
    elif isinstance(result, dict):
        boxes, scores = result["boxes"], result.get("scores")
    elif isinstance(result, tuple) and len(result) == 2:
        boxes, scores = result
    else:
        boxes = result
    boxes = np.asarray(boxes.detach().cpu() if isinstance(boxes, Tensor) else boxes, np.float64)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] not in (4, 5):
        raise ShapeError(f"detector output: boxes must be (n, 4) or (n, 5); got {boxes.shape}.")
    if boxes.shape[1] == 5 and scores is None:
        scores = boxes[:, 4]
    boxes = boxes[:, :4]
    scores = np.ones(len(boxes)) if scores is None else np.asarray(
        scores.detach().cpu() if isinstance(scores, Tensor) else scores, np.float64).reshape(-1)
    return boxes, scores


def _progress(iterable, total: int | None, enabled: bool, desc: str):
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is in the video extra; without it, no bar
        return iterable
    return tqdm(iterable, total=total, desc=desc, unit="frame")


def track_video(frames: Iterable[np.ndarray], detector: Callable, predictor: Callable,
                tracker: IoUTracker | None = None, min_score: float = 0.0, min_track_length: int = 1,
                progress: bool = True, total: int | None = None) -> list[Track]:
    """Detect, estimate and track the people of every frame.

    Args:
        frames: (H, W, 3) uint8 RGB frames in order (e.g. a :class:`~hpskit.video.VideoSource`).
        detector: ``detector([frame]) -> [result]`` (see :func:`detections_to_boxes`).
        predictor: ``predictor(frame, boxes (n, 4) tensor) -> Prediction`` with ``pose_rotmat``, ``betas``,
            ``transl`` and ``K`` (e.g. ``lambda f, b: model.predict(f, b, return_maps=False)``).
        tracker: Default :class:`IoUTracker` ().
        min_score: Detections below this score are dropped.
        min_track_length: Tracks with fewer frames are dropped (spurious detections).
        progress: Show a tqdm progress bar.
        total: Number of frames for the bar (default ``len(frames)`` if it has one).

    Returns:
        The tracks, by id, each holding the raw (unsmoothed) per-frame predictions.
    """
    tracker = tracker or IoUTracker()
    total = total if total is not None else (len(frames) if hasattr(frames, "__len__") else None)
    rows: dict[int, list] = {}
    for f, frame in enumerate(_progress(frames, total, progress, "tracking")):
        boxes, scores = detections_to_boxes(detector([frame])[0])
        boxes = boxes[scores >= min_score]
        ids = tracker.update(boxes, f)
        if len(boxes) == 0:
            continue
        pred = predictor(frame, torch.as_tensor(boxes, dtype=torch.float32))
        for k, tid in enumerate(ids.tolist()):
            rows.setdefault(tid, []).append(
                (f, pred.pose_rotmat[k].detach().cpu(), pred.betas[k].detach().cpu(),
                 pred.transl[k].detach().cpu(), boxes[k], pred.K[k].detach().cpu()))
    tracks = []
    for tid in sorted(rows):
        r = rows[tid]
        if len(r) < min_track_length:
            continue
        tracks.append(Track(track_id=tid, frames=np.array([x[0] for x in r], np.int64),
                            pose_rotmat=torch.stack([x[1] for x in r]), betas=torch.stack([x[2] for x in r]),
                            transl=torch.stack([x[3] for x in r]),
                            boxes=torch.tensor(np.stack([x[4] for x in r]), dtype=torch.float32),
                            K=torch.stack([x[5] for x in r])))
    return tracks


def smooth_tracks(tracks: list[Track], fps: float, config: SmoothingConfig | None = None) -> list[Track]:
    """Each track with its pose, shape and translation smoothed (:func:`smooth_motion`); new objects."""
    out = []
    for t in tracks:
        pose, betas, transl = smooth_motion(t.pose_rotmat, t.betas, t.transl, t.times(fps), config)
        out.append(Track(t.track_id, t.frames.copy(), pose, betas, transl, t.boxes.clone(), t.K.clone()))
    return out


def write_tracks(tracks: list[Track], body, out_dir: str | os.PathLike, stem: str, fps: float,
                 image_size: tuple[int, int] | None = None,
                 outputs: Iterable[str] = TRACK_OUTPUTS) -> list[Path]:
    """Write ``STEM_track{id}.npz`` / ``.glb`` / ``.bvh`` per track.

    The ``.glb`` and ``.bvh`` bake the track's shape (the median of its betas) and need ``body``; the
    ``.glb`` also holds the video's camera (the track's first K) when ``image_size`` is given.
    """
    out_dir = Path(out_dir)
    outputs = list(outputs)
    written = []
    for t in tracks:
        base = out_dir / f"{stem}_track{t.track_id}"
        if "npz" in outputs:
            written.append(t.to_npz(base.with_suffix(".npz"), fps))
        if body is None or not ({"glb", "bvh"} & set(outputs)):
            continue
        skeleton = body_skeleton(body, t.betas.median(0).values)
        if "glb" in outputs:
            written.append(write_animated_glb(
                base.with_suffix(".glb"), skeleton, t.pose_rotmat, t.transl, fps, frames=t.frames,
                K=None if image_size is None else t.K[0].numpy(), image_size=image_size,
                name=f"track{t.track_id}", color=PERSON_COLORS[t.track_id % len(PERSON_COLORS)]))
        if "bvh" in outputs:
            written.append(write_bvh(base.with_suffix(".bvh"), skeleton, t.pose_rotmat, t.transl, fps))
    return written


def _label(image: np.ndarray, boxes: list, ids: list) -> np.ndarray:
    from PIL import Image, ImageDraw

    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    for (x0, y0, x1, y1), tid in zip(boxes, ids):
        color = tuple(int(255 * c) for c in PERSON_COLORS[tid % len(PERSON_COLORS)])
        draw.rectangle([x0, y0, x1, y1], outline=color, width=2)
        draw.text((x0 + 3, y0 + 2), f"#{tid}", fill=color)
    return np.asarray(canvas)


def write_overlay_video(frames: Iterable[np.ndarray], tracks: list[Track], body, path: str | os.PathLike,
                        fps: float, size: tuple[int, int], progress: bool = True,
                        total: int | None = None) -> Path:
    """Render every track's mesh (coloured by track id) and its box over the frames into an ``.mp4``."""
    from hpskit.render import overlay, rasterize, shade_lambert

    by_frame: dict[int, list[tuple[Track, int]]] = {}
    for t in tracks:
        for i, f in enumerate(t.frames.tolist()):
            by_frame.setdefault(f, []).append((t, i))
    faces = body.faces if body is not None else None
    with VideoWriter(path, fps, size) as writer:
        for f, frame in enumerate(_progress(frames, total, progress, "overlay")):
            people = by_frame.get(f, [])
            out = frame
            if people and body is not None:
                pose = torch.stack([t.pose_rotmat[i] for t, i in people]).to(faces.device)
                betas = torch.stack([t.betas[i] for t, i in people]).to(faces.device)
                transl = torch.stack([t.transl[i] for t, i in people]).to(faces.device)
                with torch.no_grad():
                    verts = body.forward_pose(pose, betas, transl=transl).vertices.float()
                n, V = verts.shape[:2]
                scene_f = torch.cat([faces + j * V for j in range(n)])
                colors = torch.cat([verts.new_tensor(PERSON_COLORS[t.track_id % len(PERSON_COLORS)])
                                    .expand(V, 3) for t, _ in people])
                K = people[0][0].K[people[0][1]].float()[None].to(verts.device)
                frags = rasterize(verts.reshape(1, n * V, 3), scene_f, K, size)
                shaded = shade_lambert(frags, verts.reshape(1, n * V, 3), scene_f, vertex_colors=colors)
                image = torch.from_numpy(np.array(frame)).permute(2, 0, 1)[None].to(verts.device)
                out = overlay(image, shaded.clamp(0, 1), frags.mask, alpha=0.8)[0]
                out = out.permute(1, 2, 0).cpu().numpy()
            if people:
                out = _label(np.ascontiguousarray(out), [t.boxes[i].tolist() for t, i in people],
                             [t.track_id for t, _ in people])
            writer.write(np.ascontiguousarray(out))
    return Path(path)


def process_video(model, source: str | os.PathLike, out_dir: str | os.PathLike,
                  detector: Callable | None = None, fps: float | None = None, K=None,
                  smoothing: SmoothingConfig | None | bool = None,
                  outputs: Iterable[str] = ("overlay", *TRACK_OUTPUTS), tracker: IoUTracker | None = None,
                  min_track_length: int = 3, progress: bool = True, **predict_kwargs) -> dict:
    """Run the whole video pipeline on a file or folder of frames and write the results to ``out_dir``.

    Args:
        model: A :class:`~hpskit.models.DPoSE` (its ``body_model`` is used for meshes and skeletons).
        source: A video file or a folder of frames.
        out_dir: Output folder (created).
        detector: Person detector; default :func:`default_detector`.
        fps: Override the video's frame rate (a folder of frames: default 30).
        K: Optional (3, 3) intrinsics for every frame (default per :func:`hpskit.models.predict`).
        smoothing: A :class:`SmoothingConfig`, ``None`` for the default, ``False`` for raw predictions.
        outputs: Any of ``"overlay"`` (``STEM_overlay.mp4``), ``"npz"``, ``"glb"``, ``"bvh"`` (per track).
        tracker: Default :class:`IoUTracker` ().
        min_track_length: Tracks shorter than this many frames are dropped.
        progress: tqdm progress bars.
        **predict_kwargs: Passed to ``model.predict`` (e.g. ``batch_size``, ``box_rescale``).

    Returns:
        ``{"tracks": [Track, ...] (as written), "files": [Path, ...], "fps": float, "num_frames": int}``.
    """
    video = VideoSource(source, fps=fps)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(source).stem if Path(source).is_file() else Path(source).name
    detector = detector if detector is not None else default_detector()
    predict_kwargs = {"return_maps": False, **predict_kwargs}

    def predictor(frame, boxes):
        return model.predict(frame, boxes, K=K, **predict_kwargs)

    tracks = track_video(video, detector, predictor, tracker=tracker, min_track_length=min_track_length,
                         progress=progress, total=len(video))
    if smoothing is not False:
        config = smoothing if isinstance(smoothing, SmoothingConfig) else None
        tracks = smooth_tracks(tracks, video.fps, config)
    body = getattr(model, "body_model", None)
    files = write_tracks(tracks, body, out_dir, stem, video.fps, image_size=tuple(video.size),
                         outputs=[o for o in outputs if o in TRACK_OUTPUTS])
    if "overlay" in outputs:
        files.append(write_overlay_video(video, tracks, body, out_dir / f"{stem}_overlay.mp4", video.fps,
                                         tuple(video.size), progress=progress, total=len(video)))
    logger.info("%s: %d frames, %d tracks → %s", source, len(video), len(tracks), out_dir)
    return {"tracks": tracks, "files": files, "fps": video.fps, "num_frames": len(video)}
