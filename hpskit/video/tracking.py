"""Identity tracking of person boxes across frames: IoU plus a constant-velocity motion term, matched with
the Hungarian algorithm (:func:`scipy.optimize.linear_sum_assignment`).

Each track keeps its last box and a smoothed box velocity (centre and size, pixels per frame). In a new
frame every track predicts its box (last box + velocity × frames since it was seen), and the cost of giving
detection ``d`` to track ``k`` is

    cost = (1 − IoU(predicted_k, d)) + motion_weight · ‖centre(predicted_k) − centre(d)‖ / size_k

with ``size_k = √(w·h)`` of the predicted box. A pair is allowed only if ``IoU ≥ min_iou`` or the centre
distance is at most ``max_distance`` box sizes. The motion term is what keeps two people apart when they
cross: at the crossing their boxes overlap (IoU alone is ambiguous) but each track's prediction moves on
along its own path. A track unmatched for more than ``max_missed`` frames ends; an unmatched detection
starts a new track.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from hpskit.core import ConfigError, ShapeError

__all__ = ["box_iou", "IoUTracker"]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (N, 4) with every box of ``b`` (M, 4), xyxy pixels → (N, M).

    Example:
        >>> box_iou(np.array([[0, 0, 2, 2]]), np.array([[1, 0, 3, 2], [5, 5, 6, 6]])).round(3).tolist()
        [[0.333, 0.0]]
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clip(0, None).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clip(0, None).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _to_cxcywh(b: np.ndarray) -> np.ndarray:
    return np.concatenate([(b[..., :2] + b[..., 2:]) / 2, b[..., 2:] - b[..., :2]], -1)


def _to_xyxy(c: np.ndarray) -> np.ndarray:
    return np.concatenate([c[..., :2] - c[..., 2:] / 2, c[..., :2] + c[..., 2:] / 2], -1)


@dataclass
class _Track:
    track_id: int
    state: np.ndarray  # (4,) cx, cy, w, h of the last matched box
    last_frame: int
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    hits: int = 1

    def predict(self, frame: int) -> np.ndarray:
        s = self.state + self.velocity * (frame - self.last_frame)
        s[2:] = np.maximum(s[2:], 1.0)
        return s


class IoUTracker:
    """Give each person box a track id that persists across frames.

    Args:
        motion_weight: Weight of the centre-distance term (in box sizes) against ``1 − IoU``.
        min_iou: A pair with IoU below this is allowed only if its centres are close (``max_distance``).
        max_distance: Largest allowed centre distance, in predicted box sizes, for a low-IoU pair.
        max_missed: Frames a track may go unmatched (occluded, missed) before it ends.
        velocity_momentum: Weight of the old velocity when a match updates it (0 = last step only).

    Example:
        >>> tracker = IoUTracker()
        >>> tracker.update(np.array([[0, 0, 10, 20], [50, 0, 60, 20]]), frame=0).tolist()
        [0, 1]
        >>> tracker.update(np.array([[52, 0, 62, 20], [2, 0, 12, 20]]), frame=1).tolist()
        [1, 0]
    """

    def __init__(self, motion_weight: float = 1.0, min_iou: float = 0.1, max_distance: float = 1.0,
                 max_missed: int = 15, velocity_momentum: float = 0.5) -> None:
        if motion_weight < 0 or not 0 <= min_iou <= 1 or max_distance < 0 or max_missed < 0 \
                or not 0 <= velocity_momentum < 1:
            raise ConfigError(f"IoUTracker: need motion_weight ≥ 0, 0 ≤ min_iou ≤ 1, max_distance ≥ 0, "
                              f"max_missed ≥ 0 and 0 ≤ velocity_momentum < 1; got {motion_weight}, "
                              f"{min_iou}, {max_distance}, {max_missed}, {velocity_momentum}.")
        self.motion_weight = float(motion_weight)
        self.min_iou = float(min_iou)
        self.max_distance = float(max_distance)
        self.max_missed = int(max_missed)
        self.velocity_momentum = float(velocity_momentum)
        self._tracks: list[_Track] = []
        self._next_id = 0

    @property
    def active_ids(self) -> list[int]:
        """Ids of the tracks still alive."""
        return [t.track_id for t in self._tracks]

    def cost_matrix(self, boxes: np.ndarray, frame: int) -> np.ndarray:
        """(num_tracks, n) matching costs of the live tracks against ``boxes``; ``inf`` = not allowed."""
        if not self._tracks or len(boxes) == 0:
            return np.zeros((len(self._tracks), len(boxes)))
        pred = np.stack([t.predict(frame) for t in self._tracks])  # (K, 4) cxcywh
        iou = box_iou(_to_xyxy(pred), boxes)
        det = _to_cxcywh(np.asarray(boxes, np.float64))
        size = np.sqrt(pred[:, 2] * pred[:, 3])[:, None]
        dist = np.linalg.norm(pred[:, None, :2] - det[None, :, :2], axis=-1) / size
        cost = (1.0 - iou) + self.motion_weight * dist
        allowed = (iou >= self.min_iou) | (dist <= self.max_distance)
        return np.where(allowed, cost, np.inf)

    def update(self, boxes, frame: int) -> np.ndarray:
        """Match the boxes of ``frame`` (frames must increase) to the tracks.

        Args:
            boxes: (n, 4) person boxes x0, y0, x1, y1 in pixels (n may be 0).
            frame: The frame index.

        Returns:
            (n,) int64 track id of each box, in the order of ``boxes``.

        Raises:
            ShapeError: For boxes that are not (n, 4) finite values.
        """
        boxes = np.asarray(boxes, np.float64)
        if boxes.size == 0:
            boxes = boxes.reshape(0, 4)
        if boxes.ndim != 2 or boxes.shape[1] != 4 or not np.isfinite(boxes).all():
            raise ShapeError(f"IoUTracker.update: `boxes` must be finite (n, 4) xyxy; got shape "
                             f"{boxes.shape}.")
        ids = np.full(len(boxes), -1, np.int64)
        cost = self.cost_matrix(boxes, frame)
        matched_tracks = set()
        if cost.size:
            rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e9))
            for r, c in zip(rows, cols):
                if not np.isfinite(cost[r, c]):
                    continue
                track = self._tracks[r]
                new = _to_cxcywh(boxes[c])
                step = max(frame - track.last_frame, 1)
                v = (new - track.state) / step
                m = self.velocity_momentum if track.hits > 1 else 0.0
                track.velocity = m * track.velocity + (1 - m) * v
                track.state, track.last_frame = new, frame
                track.hits += 1
                ids[c] = track.track_id
                matched_tracks.add(r)
        self._tracks = [t for i, t in enumerate(self._tracks)
                        if i in matched_tracks or frame - t.last_frame <= self.max_missed]
        for c in np.flatnonzero(ids < 0):
            self._tracks.append(_Track(self._next_id, _to_cxcywh(boxes[c]), frame))
            ids[c] = self._next_id
            self._next_id += 1
        return ids
