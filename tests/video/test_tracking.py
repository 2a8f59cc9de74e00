"""hpskit.video.tracking: IoU numbers, and identities kept through the synthetic crossing."""

import numpy as np
import pytest
from _clip import KnownBoxDetector, T

from hpskit.core import ConfigError, ShapeError
from hpskit.video import IoUTracker, box_iou, detections_to_boxes


def test_box_iou_numbers():
    a = np.array([[0, 0, 10, 10], [0, 0, 4, 4]])
    b = np.array([[5, 0, 15, 10], [0, 0, 10, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(box_iou(a, b), [[50 / 150, 1, 0], [0, 16 / 100, 0]])
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 3)


def _track_clip(clip, tracker):
    det = KnownBoxDetector(clip, seed=1)
    truth_to_ids: dict[int, set] = {0: set(), 1: set()}
    for k in range(T):
        boxes, _ = detections_to_boxes(det([clip.frames[k]])[0])
        ids = tracker.update(boxes, k)
        for person, tid in zip(det.truth, ids):
            truth_to_ids[int(person)].add(int(tid))
    return truth_to_ids, det.missed


def test_identities_kept_through_the_crossing(clip):
    ids, missed = _track_clip(clip, IoUTracker())
    assert missed >= 2  # the person behind is lost for a few frames at the crossing ...
    assert ids == {0: {0}, 1: {1}} or ids == {0: {1}, 1: {0}}  # ... and still keeps one id throughout
    # the two paths really cross: the boxes overlap and their horizontal order swaps
    c = clip.boxes[..., [0, 2]].mean(-1)
    assert c[0, 0] < c[1, 0] and c[0, -1] > c[1, -1]
    assert box_iou(clip.boxes[0], clip.boxes[1]).diagonal().max() > 0.4  # 0.49: the near person is taller


def test_without_motion_prediction_a_track_is_lost(clip):
    """The motion term is what carries the person behind across the crossing: with no velocity
    (momentum that keeps it 0) and no distance gate, the track ends or swaps."""
    tracker = IoUTracker(motion_weight=0.0, max_distance=0.0, min_iou=0.3, max_missed=0)
    ids, _ = _track_clip(clip, tracker)
    assert len(ids[0] | ids[1]) > 2


def test_tracker_errors_and_empty_frames():
    with pytest.raises(ConfigError, match="min_iou"):
        IoUTracker(min_iou=2)
    tr = IoUTracker(max_missed=1)
    with pytest.raises(ShapeError, match=r"\(n, 4\)"):
        tr.update(np.zeros((2, 3)), 0)
    assert tr.update(np.array([[0, 0, 10, 10]]), 0).tolist() == [0]
    assert tr.update(np.zeros((0, 4)), 1).tolist() == [] and tr.active_ids == [0]  # missed 1 frame
    assert tr.update(np.zeros((0, 4)), 2).tolist() == [] and tr.active_ids == []  # missed 2 > 1 frames
    assert tr.update(np.array([[0, 0, 10, 10]]), 3).tolist() == [1]  # a new person


def test_detector_output_forms():
    class Dets:
        boxes = np.array([[0, 0, 1, 1.0]])
        scores = np.array([0.7])

    for result in (Dets(), (Dets.boxes, Dets.scores), {"boxes": Dets.boxes, "scores": Dets.scores},
                   np.array([[0, 0, 1, 1, 0.7]])):
        boxes, scores = detections_to_boxes(result)
        assert boxes.tolist() == [[0, 0, 1, 1]] and scores.tolist() == pytest.approx([0.7])
    assert detections_to_boxes(np.zeros((0, 4)))[0].shape == (0, 4)
    with pytest.raises(ShapeError, match=r"\(n, 4\)"):
        detections_to_boxes(np.zeros((2, 3)))
