"""People detection: a swappable :class:`Detector` (images → person boxes, scores, optional keypoints).

The default, :class:`BlazePoseDetector` (``create_detector("blazepose")``), works offline: its weights
ship with hpskit. ``"torchvision_fasterrcnn"`` and ``"torchvision_keypointrcnn"`` are optional COCO
backends whose weights torchvision downloads on first use.
"""

from .base import (
    DETECTORS,
    Detections,
    Detector,
    check_images,
    create_detector,
    find_people,
    list_detectors,
    register_detector,
)
from .blazepose import BLAZEPOSE_KEYPOINTS, BlazePoseDetector
from .torchvision_backend import COCO_KEYPOINTS, TorchvisionDetector

__all__ = [
    "BLAZEPOSE_KEYPOINTS",
    "COCO_KEYPOINTS",
    "DETECTORS",
    "BlazePoseDetector",
    "Detections",
    "Detector",
    "TorchvisionDetector",
    "check_images",
    "create_detector",
    "find_people",
    "list_detectors",
    "register_detector",
]
