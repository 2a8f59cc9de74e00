"""Video: frames in, tracked people with smoothed SMPL-X motion out.

* :mod:`~hpskit.video.io`: read a video file or a folder of frames; write an ``.mp4``;
* :mod:`~hpskit.video.tracking`: identities across frames (IoU + motion, Hungarian matching);
* :mod:`~hpskit.video.smoothing`: rotation-aware One-Euro filtering of pose, shape and translation;
* :mod:`~hpskit.video.pipeline`: detection → D-PoSE → tracking → smoothing → overlay video, per-track
  ``.npz``, animated ``.glb`` and ``.bvh``.
"""

from .io import FRAME_SUFFIXES, VIDEO_SUFFIXES, VideoSource, VideoWriter, is_video_input
from .pipeline import (
    TRACK_OUTPUTS,
    Track,
    default_detector,
    detections_to_boxes,
    process_video,
    smooth_tracks,
    track_video,
    write_overlay_video,
    write_tracks,
)
from .smoothing import SmoothingConfig, one_euro, one_euro_rotations, smooth_motion
from .tracking import IoUTracker, box_iou

__all__ = [
    "FRAME_SUFFIXES",
    "IoUTracker",
    "SmoothingConfig",
    "TRACK_OUTPUTS",
    "Track",
    "VIDEO_SUFFIXES",
    "VideoSource",
    "VideoWriter",
    "box_iou",
    "default_detector",
    "detections_to_boxes",
    "is_video_input",
    "one_euro",
    "one_euro_rotations",
    "process_video",
    "smooth_motion",
    "smooth_tracks",
    "track_video",
    "write_overlay_video",
    "write_tracks",
]
