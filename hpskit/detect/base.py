"""The person-detector contract: :class:`Detections`, the :class:`Detector` base and the registry.

A detector is one call: a list of images ``(H, W, 3)`` uint8 RGB → one :class:`Detections` per image
(person boxes xyxy in pixels, scores, optional 2-D keypoints). Plug in your own by subclassing
:class:`Detector` (implement :meth:`Detector.detect_one` or :meth:`Detector.detect`) and registering a
factory with :func:`register_detector`, or pass the instance wherever hpskit takes a ``detector``.

Example:
    >>> import numpy as np
    >>> from hpskit.detect import Detector, Detections, register_detector, create_detector
    >>> @register_detector("center_box")
    ... class CenterBox(Detector):
    ...     def detect_one(self, image):
    ...         H, W = image.shape[:2]
    ...         return Detections(np.array([[W / 4, H / 4, 3 * W / 4, 3 * H / 4]]), np.array([1.0]))
    >>> create_detector("center_box")([np.zeros((8, 8, 3), np.uint8)])[0].boxes
    array([[2., 2., 6., 6.]], dtype=float32)

Boxes and keypoints follow hpskit's pixel convention (``docs/conventions.md``): pixel centres at
integer coordinates, so an image of width W spans ``x ∈ [-0.5, W - 0.5]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..core.errors import NoPersonError, ShapeError
from ..core.registry import Registry

__all__ = ["Detections", "Detector", "DETECTORS", "register_detector", "create_detector", "list_detectors",
           "check_images", "find_people"]

DETECTORS = Registry("detector")


@dataclass
class Detections:
    """The people found in one image, best score first.

    Attributes:
        boxes: (N, 4) float32 person boxes (x0, y0, x1, y1) in pixels of the image, hpskit's convention
            (pixel centres at integer coordinates: an image of width W spans ``[-0.5, W - 0.5]``),
            clipped to the image.
        scores: (N,) float32 confidences in [0, 1].
        keypoints: optional (N, K, 3) float32 2-D keypoints (x, y, confidence) in the same pixels; a
            keypoint may lie outside the image (predicted, not seen).
        keypoint_names: the K keypoint names (empty without keypoints).
    """

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray | None = None
    keypoint_names: tuple[str, ...] = field(default=())

    def __post_init__(self):
        self.boxes = np.asarray(self.boxes, dtype=np.float32)
        if self.boxes.size == 0:
            self.boxes = self.boxes.reshape(0, 4)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        where = "Detections"
        if self.boxes.ndim != 2 or self.boxes.shape[1] != 4:
            raise ShapeError(f"{where}: boxes must be (N, 4), got {tuple(self.boxes.shape)}.",
                             ("N", 4), tuple(self.boxes.shape))
        n = self.boxes.shape[0]
        if self.scores.shape != (n,):
            raise ShapeError(f"{where}: scores must be ({n},) for {n} boxes, got {tuple(self.scores.shape)}.",
                             (n,), tuple(self.scores.shape))
        if not (np.isfinite(self.boxes).all() and np.isfinite(self.scores).all()):
            raise ShapeError(f"{where}: boxes and scores must be finite.")
        if self.keypoints is not None:
            self.keypoints = np.asarray(self.keypoints, dtype=np.float32)
            k = self.keypoints
            if k.ndim != 3 or k.shape[0] != n or k.shape[2] != 3:
                raise ShapeError(f"{where}: keypoints must be ({n}, K, 3), got {tuple(k.shape)}.",
                                 (n, "K", 3), tuple(k.shape))
            if self.keypoint_names and len(self.keypoint_names) != k.shape[1]:
                raise ShapeError(f"{where}: {len(self.keypoint_names)} keypoint names for "
                                 f"{k.shape[1]} keypoints.")
        self.keypoint_names = tuple(self.keypoint_names)

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def select(self, index) -> Detections:
        """The detections at ``index`` (a mask, slice or index array), same order."""
        kp = None if self.keypoints is None else self.keypoints[index]
        return Detections(self.boxes[index], self.scores[index], kp, self.keypoint_names)

    @classmethod
    def empty(cls, num_keypoints: int | None = None, keypoint_names: Sequence[str] = ()) -> Detections:
        """No person."""
        kp = None if num_keypoints is None else np.zeros((0, num_keypoints, 3), np.float32)
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), kp, tuple(keypoint_names))


def check_images(images, where: str = "detector") -> list[np.ndarray]:
    """Validate detector input: a sequence of (H, W, 3) uint8 RGB arrays or one (B, H, W, 3) array.

    Returns:
        The images as a list of (H, W, 3) uint8 C-contiguous arrays.

    Raises:
        ShapeError: For a single (H, W, 3) image (wrap it in a list), wrong rank/channels/dtype or an
            empty image.
    """
    if isinstance(images, np.ndarray):
        if images.ndim == 3:
            raise ShapeError(f"{where}: got one (H, W, 3) image; pass a list of images: [image].",
                             ("B", "H", "W", 3), tuple(images.shape))
        if images.ndim != 4:
            raise ShapeError(f"{where}: images must be a list of (H, W, 3) arrays or a (B, H, W, 3) array, "
                             f"got shape {tuple(images.shape)}.", ("B", "H", "W", 3), tuple(images.shape))
        images = list(images)
    if not isinstance(images, (list, tuple)):
        raise ShapeError(f"{where}: images must be a list of (H, W, 3) uint8 RGB arrays, got "
                         f"{type(images).__name__}.")
    out = []
    for i, img in enumerate(images):
        if not isinstance(img, np.ndarray):
            raise ShapeError(f"{where}: images[{i}] must be a numpy array (H, W, 3) uint8, got "
                             f"{type(img).__name__}.")
        if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] == 0 or img.shape[1] == 0:
            raise ShapeError(f"{where}: images[{i}] must be (H, W, 3) RGB, got {tuple(img.shape)}.",
                             ("H", "W", 3), tuple(img.shape))
        if img.dtype != np.uint8:
            raise ShapeError(f"{where}: images[{i}] must be uint8 (0..255), got {img.dtype}; convert float "
                             "images with (img * 255).round().clip(0, 255).astype(np.uint8).")
        out.append(np.ascontiguousarray(img))
    return out


class Detector:
    """Base class of person detectors: ``detector(images) -> list[Detections]``.

    Subclasses implement :meth:`detect_one` (one image) or, for batching, :meth:`detect` (all images,
    already validated). ``score_threshold`` and ``max_people`` are applied by :meth:`__call__` after
    the subclass has run, so every detector honours them the same way.

    Args:
        score_threshold: Drop detections scoring below this.
        max_people: Keep at most this many per image (best scores), ``None`` for all.
    """

    def __init__(self, score_threshold: float = 0.5, max_people: int | None = None):
        if not 0.0 <= float(score_threshold) <= 1.0:
            raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold}")
        if max_people is not None and int(max_people) < 1:
            raise ValueError(f"max_people must be >= 1 or None, got {max_people}")
        self.score_threshold = float(score_threshold)
        self.max_people = None if max_people is None else int(max_people)

    def detect_one(self, image: np.ndarray) -> Detections:
        """Detect the people in one (H, W, 3) uint8 RGB image."""
        raise NotImplementedError(f"{type(self).__name__} implements neither detect_one nor detect")

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        """Detect the people in each of the (already validated) images."""
        return [self.detect_one(img) for img in images]

    def __call__(self, images) -> list[Detections]:
        images = check_images(images, type(self).__name__)
        results = self.detect(images)
        if len(results) != len(images):
            raise RuntimeError(f"{type(self).__name__}.detect returned {len(results)} results for "
                               f"{len(images)} images")
        out = []
        for det, img in zip(results, images):
            H, W = img.shape[:2]
            order = np.argsort(-det.scores, kind="stable")
            order = order[det.scores[order] >= self.score_threshold]
            if self.max_people is not None:
                order = order[: self.max_people]
            det = det.select(order)
            det.boxes[:, [0, 2]] = det.boxes[:, [0, 2]].clip(-0.5, W - 0.5)
            det.boxes[:, [1, 3]] = det.boxes[:, [1, 3]].clip(-0.5, H - 0.5)
            keep = (det.boxes[:, 2] - det.boxes[:, 0] >= 1) & (det.boxes[:, 3] - det.boxes[:, 1] >= 1)
            out.append(det.select(keep))
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(score_threshold={self.score_threshold}, max_people={self.max_people})"


def register_detector(name: str | None = None) -> Callable[[Callable], Callable]:
    """Decorator registering a detector factory (a class or a function returning a :class:`Detector`)."""
    return DETECTORS.register(name)


def create_detector(name: str = "blazepose", **kwargs) -> Detector:
    """Build the detector registered as ``name`` (default: the built-in offline ``"blazepose"``).

    Raises:
        UnknownNameError: For an unknown name; the message lists the registered ones.
    """
    det = DETECTORS.create(name, **kwargs)
    if not isinstance(det, Detector):
        raise TypeError(f"detector factory {name!r} returned {type(det).__name__}, not a Detector")
    return det


def list_detectors() -> list[str]:
    """The registered detector names."""
    return DETECTORS.names()


def _to_uint8_hwc(img) -> np.ndarray:
    """A (3, H, W) uint8 / float [0, 1] tensor or an (H, W, 3) uint8 array → (H, W, 3) uint8 numpy."""
    if isinstance(img, np.ndarray):
        return img
    import torch

    t = img.detach()
    if t.is_floating_point():
        t = (t.float() * 255).round().clamp(0, 255)
    return t.to("cpu", torch.uint8).permute(1, 2, 0).contiguous().numpy()


def find_people(images, detector: Detector | str | None = None, device=None) -> list[np.ndarray]:
    """Person boxes for each image, from a detector: what ``predict`` uses when given no boxes.

    Args:
        images: (3, H, W) tensors (uint8, or float in [0, 1]) and/or (H, W, 3) uint8 arrays.
        detector: A :class:`Detector`, a registered name, or ``None`` for the built-in ``"blazepose"``.
        device: Device for a detector built here (default CPU).

    Returns:
        One (n_i, 4) float32 array of boxes (x0, y0, x1, y1) per image, best score first; an image
        where nobody was found gets a (0, 4) array and a logged warning.

    Raises:
        NoPersonError: When nobody was found in any image (the message says how to give boxes).
    """
    import logging

    if detector is None or isinstance(detector, str):
        kwargs = {} if device is None else {"device": device}
        detector = create_detector(detector or "blazepose", **kwargs)
    arrays = [_to_uint8_hwc(im) for im in images]
    found = detector(arrays)
    log = logging.getLogger("hpskit.detect")
    for i, det in enumerate(found):
        if len(det) == 0 and len(found) > 1:
            log.warning("%s found no person in image %d of %d", type(detector).__name__, i, len(found))
    if sum(len(d) for d in found) == 0:
        what = "the image" if len(found) == 1 else f"any of the {len(found)} images"
        raise NoPersonError(
            f"{type(detector).__name__} found no person in {what}. A detector finds people whose face and "
            "body it can see and who are not too small (BlazePose with its default tiles: most people taller "
            "than ~30 % of the image height; tiles=4 down to ~18 %); give person boxes (x0, y0, x1, y1) "
            "explicitly, or another detector (hpskit.detect.create_detector).")
    return [d.boxes for d in found]
