"""hpskit.detect: the Detector contract, the registry, the op-graph runtime and the BlazePose detector."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hpskit.core import ShapeError, UnknownNameError
from hpskit.detect import (
    BLAZEPOSE_KEYPOINTS,
    COCO_KEYPOINTS,
    BlazePoseDetector,
    Detections,
    Detector,
    TorchvisionDetector,
    create_detector,
    list_detectors,
    register_detector,
)
from hpskit.detect._graph import OpGraph
from hpskit.detect.blazepose import WEIGHTS_DIR, _rois, box_iou, pose_anchors, weighted_nms

skimage_data = pytest.importorskip("skimage.data")
sys.path.insert(0, str(Path(__file__).parent))


# ---------------------------------------------------------------------------------------------
# photos (public domain) and hand-checked person boxes (x0, y0, x1, y1): hair/hat top to the image
# bottom, left and right edge of the body (the astronaut's helmet and the tripod are not the person)
def _photos() -> dict[str, tuple[np.ndarray, list[float]]]:
    from matplotlib import cbook
    from PIL import Image

    cam = skimage_data.camera()
    grace = np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB"))
    return {
        "astronaut": (skimage_data.astronaut(), [20, 14, 362, 512]),
        "camera": (np.repeat(cam[..., None], 3, axis=2), [0, 63, 330, 512]),
        "grace_hopper": (grace, [0, 25, 512, 600]),
    }


@pytest.fixture(scope="module")
def photos():
    return _photos()


@pytest.fixture(scope="module")
def blazepose():
    return BlazePoseDetector()


# ---------------------------------------------------------------------------------------------
# contract
def test_detections_validates_shapes():
    d = Detections(np.zeros((2, 4)), np.array([0.9, 0.8]), np.zeros((2, 5, 3)), tuple("abcde"))
    assert d.boxes.dtype == np.float32 and len(d) == 2
    assert len(d.select(np.array([False, True]))) == 1
    e = Detections.empty(33)
    assert e.boxes.shape == (0, 4) and e.keypoints.shape == (0, 33, 3)
    with pytest.raises(ShapeError, match=r"boxes must be \(N, 4\)"):
        Detections(np.zeros((2, 5)), np.zeros(2))
    with pytest.raises(ShapeError, match="scores"):
        Detections(np.zeros((2, 4)), np.zeros(3))
    with pytest.raises(ShapeError, match="keypoints"):
        Detections(np.zeros((2, 4)), np.zeros(2), np.zeros((2, 5, 2)))
    with pytest.raises(ShapeError, match="finite"):
        Detections(np.full((1, 4), np.nan), np.zeros(1))


class _Fixed(Detector):
    """Returns fixed boxes, to test what the base class does with them."""

    def detect_one(self, image):
        return Detections(np.array([[-5, -5, 10, 10], [2, 2, 6, 6], [1, 1, 1.5, 9], [0, 0, 4, 4]]),
                          np.array([0.6, 0.9, 0.8, 0.3]))


def test_base_sorts_thresholds_clips_and_caps():
    img = np.zeros((8, 12, 3), np.uint8)
    d = _Fixed(score_threshold=0.5)([img, img])
    assert len(d) == 2
    # best first; 0.3 dropped; the box 0.5 px wide dropped; (-5, -5, 10, 10) clipped to the image,
    # which spans [-0.5, W - 0.5] × [-0.5, H - 0.5] (pixel centres at integers)
    np.testing.assert_allclose(d[0].scores, [0.9, 0.6])
    np.testing.assert_allclose(d[0].boxes, [[2, 2, 6, 6], [-0.5, -0.5, 10, 7.5]])
    assert len(_Fixed(score_threshold=0.0, max_people=1)([img])[0]) == 1


def test_input_checks_say_what_is_wrong():
    det = _Fixed()
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ShapeError, match=r"pass a list of images: \[image\]"):
        det(img)
    with pytest.raises(ShapeError, match="uint8"):
        det([img.astype(np.float32)])
    with pytest.raises(ShapeError, match=r"\(H, W, 3\)"):
        det([np.zeros((8, 8), np.uint8)])
    assert len(det(np.stack([img, img]))) == 2  # a (B, H, W, 3) array is a batch


def test_registry_plugs_in_user_detectors():
    assert {"blazepose", "torchvision_fasterrcnn", "torchvision_keypointrcnn"} <= set(list_detectors())

    @register_detector("_test_center")
    class Center(Detector):
        def detect_one(self, image):
            H, W = image.shape[:2]
            return Detections([[W / 4, H / 4, 3 * W / 4, 3 * H / 4]], [1.0])

    out = create_detector("_test_center")([np.zeros((8, 16, 3), np.uint8)])
    np.testing.assert_allclose(out[0].boxes, [[4, 2, 12, 6]])
    with pytest.raises(UnknownNameError, match="blazepose"):
        create_detector("blazepos")


# ---------------------------------------------------------------------------------------------
# op graph and BlazePose pieces
def test_op_graph_matches_tflite_runtime():
    """Raw outputs agree with the TFLite runtime (``ai-edge-litert`` 2.3.0 on the original float16
    .tflite files, recorded once when converting): the astronaut resized to the input with PIL bilinear.
    The shipped files hold 9-bit weights: measured here, detector logits within 0.005 and box values
    within 0.03 of the runtime's; landmarks within 0.25 px of 256, visibility logit within 0.25; the
    pose-present flag 0.990 against 0.902 (the flag's logit is the output most moved by the 9 bits:
    on the 122 person crops of the detector's test scenes at most 2.7, no flag crossed 0.5)."""
    from PIL import Image

    img = Image.fromarray(skimage_data.astronaut())
    det = OpGraph(WEIGHTS_DIR / "blazepose_detector.safetensors")
    assert det.input_size == (224, 224)
    x = torch.from_numpy(np.asarray(img.resize((224, 224), Image.BILINEAR), np.float32)).permute(2, 0, 1)
    out = det(x[None] / 127.5 - 1)
    assert out["Identity"].shape == (1, 2254, 12) and out["Identity_1"].shape == (1, 2254, 1)
    scores = out["Identity_1"][0, :, 0]
    top = torch.argsort(scores, descending=True)[:3]
    assert top.tolist() == [583, 527, 1718]
    np.testing.assert_allclose(scores[top].numpy(), [1.50576, 0.99715, 0.91621], atol=1e-2)
    np.testing.assert_allclose(out["Identity"][0, 583, :6].numpy(),
                               [1.34411, -2.53861, 44.73776, 44.73763, -25.39988, 157.36049], atol=5e-2)
    lmk = OpGraph(WEIGHTS_DIR / "blazepose_landmark_full.safetensors")
    x = torch.from_numpy(np.asarray(img.resize((256, 256), Image.BILINEAR), np.float32)).permute(2, 0, 1)
    out = lmk(x[None] / 255)
    # the shipped file keeps x, y, visibility of the first 35 points (of the runtime's 39 × 5 values)
    assert out["Identity"].shape == (1, 105)
    assert 0.9 <= float(out["Identity_1"]) <= 1.0  # runtime: 0.90243
    np.testing.assert_allclose(out["Identity"][0, :3].numpy(), [117.3432, 58.43493, 12.16211], atol=0.5)


def test_quantised_constants_round_trip(tmp_path):
    """The converter's 9-bit quantisation, written in format 2 and read back by OpGraph, is within half
    a step of the weights (per output channel), pruned zeros stay exactly zero, and the packing is exact."""
    import importlib.util

    from safetensors.numpy import save_file

    from hpskit.detect._graph import pack_ints, unpack_ints

    for bits in (2, 9, 16):
        lim = 2 ** (bits - 1) - 1
        q = np.random.default_rng(bits).integers(-lim, lim + 1, 1001)
        q[:2] = [-lim, lim]
        packed = pack_ints(q, bits)
        assert packed.dtype == np.uint8 and packed.size == -(-1001 * bits // 8)
        np.testing.assert_array_equal(unpack_ints(packed, bits, 1001), q)
    with pytest.raises(ValueError, match="9 bits"):
        pack_ints(np.array([256]), 9)

    spec = importlib.util.spec_from_file_location("convert_mp", Path(__file__).parents[2] / "tools"
                                                  / "convert_mediapipe_pose.py")
    conv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conv)
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((6, 4, 3, 3)) * np.array([1e-3, 0.1, 1, 10, 0, 3])[:, None, None, None])
    w[rng.random(w.shape) < 0.5] = 0  # pruned
    w = w.astype(np.float16).astype(np.float32)
    q, absmax = conv.quantise(w, 9)
    mask = w != 0
    tensors = {"c1.q": pack_ints(q[mask], 9), "c1.bits": np.array([9], np.uint8), "c1.absmax": absmax,
               "c1.mask": np.packbits(mask), "c1.shape": np.array(w.shape, np.int64)}
    graph = {"input": 0, "input_shape_nhwc": [1, 3, 3, 4], "outputs": {"y": 2},
             "ops": [{"op": "CONV_2D", "inputs": [0, 1], "outputs": [2],
                      "options": {"padding": "valid", "stride": [1, 1], "dilation": [1, 1], "act": None}}]}
    save_file(tensors, str(tmp_path / "q.safetensors"), metadata={"graph": json.dumps(graph),
                                                                   "format": "hpskit-opgraph-2"})
    g = OpGraph(tmp_path / "q.safetensors")
    back = g.c1.numpy()
    step = absmax.astype(np.float32) / 255
    assert np.all(np.abs(back - w) <= step[:, None, None, None] / 2 + 1e-7)
    assert np.all(back[~mask] == 0) and np.all(back[4] == 0)  # the all-zero channel
    x = torch.randn(1, 4, 3, 3)
    np.testing.assert_allclose(g(x)["y"].numpy().ravel(), np.einsum("oihw,ihw->o", back, x[0].numpy()),
                               rtol=1e-5, atol=1e-5)


def test_unpack_ints_matches_a_bitwise_reference():
    """The grouped unpacking agrees with reading the bit stream one bit at a time, for every width and
    for counts around the groups of eight; too few bytes is a corrupt file."""
    from hpskit.core import CorruptFileError
    from hpskit.detect._graph import pack_ints, unpack_ints

    def bitwise(packed, bits, count):  # most significant bit first, offset binary
        b = np.unpackbits(packed)[: count * bits].reshape(count, bits).astype(np.int64)
        return b @ (1 << np.arange(bits - 1, -1, -1)) - 2 ** (bits - 1)

    rng = np.random.default_rng(0)
    for bits in range(2, 17):
        lim = 2 ** (bits - 1) - 1
        for count in (0, 1, 7, 8, 9, 15, 16, 17, 1003):
            q = rng.integers(-lim, lim + 1, count)
            packed = pack_ints(q, bits)
            got = unpack_ints(packed, bits, count)
            assert got.dtype == np.int32 and got.shape == (count,)
            np.testing.assert_array_equal(got, bitwise(packed, bits, count))
            np.testing.assert_array_equal(got, q)
    with pytest.raises(CorruptFileError, match="cannot hold"):
        unpack_ints(np.zeros(8, np.uint8), 9, 8)


def test_op_graph_rejects_missing_and_foreign_files(tmp_path):
    from safetensors.numpy import save_file

    from hpskit.core import CorruptFileError, MissingFileError

    with pytest.raises(MissingFileError, match="not found"):
        OpGraph(tmp_path / "absent.safetensors")
    save_file({"w": np.zeros(3, np.float32)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(CorruptFileError, match="not an hpskit op graph"):
        OpGraph(tmp_path / "plain.safetensors")
    # the shipped files carry their provenance and the licence notice sits beside them
    assert "mediapipe==0.10.21" in OpGraph(WEIGHTS_DIR / "blazepose_detector.safetensors").source
    assert "Apache License, Version 2.0" in (WEIGHTS_DIR / "NOTICE").read_text()


def test_anchors_layout():
    a = pose_anchors()
    assert a.shape == (2254, 2)
    np.testing.assert_allclose(a[0], [0.5 / 28, 0.5 / 28])  # stride 8, two anchors per cell
    np.testing.assert_allclose(a[1], a[0])
    np.testing.assert_allclose(a[1568], [0.5 / 14, 0.5 / 14])  # stride 16 starts after 28·28·2
    np.testing.assert_allclose(a[-1], [6.5 / 7, 6.5 / 7])


def test_weighted_nms_merges_overlaps_and_keeps_others():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.6, 0.9, 0.7], np.float32)
    extra = np.array([[0.0], [10.0], [5.0]], np.float32)
    b, s, e = weighted_nms(boxes, scores, extra, iou=0.3)
    np.testing.assert_allclose(s, [0.9, 0.7])
    np.testing.assert_allclose(b[0], [0.6, 0, 10.6, 10], atol=1e-5)  # (0.6·0 + 0.9·1) / 1.5
    np.testing.assert_allclose(e[:, 0], [6.0, 5.0], atol=1e-5)
    np.testing.assert_allclose(box_iou(b[:1], boxes[:1]), [[10 * 9.4 / (10 * 10.6)]], atol=1e-5)


def test_roi_rotation_follows_the_body_axis():
    # hip at (100, 200); the above-head point straight up, to the right (lying), and tilted 30°
    kps = np.zeros((3, 4, 2), np.float32)
    kps[:, 0] = [100, 200]
    kps[0, 1] = [100, 100]
    kps[1, 1] = [200, 200]
    kps[2, 1] = [100 + 100 * np.sin(np.pi / 6), 200 - 100 * np.cos(np.pi / 6)]
    r = _rois(kps)
    np.testing.assert_allclose(r[:, :2], [[100, 200]] * 3)
    np.testing.assert_allclose(r[:, 2], [250, 250, 250], rtol=1e-5)  # 2 · 100 · 1.25
    np.testing.assert_allclose(r[:, 3], [0, np.pi / 2, np.pi / 6], atol=1e-5)


# ---------------------------------------------------------------------------------------------
# BlazePose on real photos
@pytest.mark.parametrize("name", ["astronaut", "camera", "grace_hopper"])
def test_blazepose_finds_the_person_in_public_domain_photos(blazepose, photos, name):
    img, hand = photos[name]
    (d,) = blazepose([img])
    assert len(d) == 1, d.boxes
    assert box_iou(d.boxes, [hand])[0, 0] >= 0.8
    assert d.keypoints.shape == (1, 33, 3) and d.keypoint_names == BLAZEPOSE_KEYPOINTS
    nose = d.keypoints[0, 0]
    x0, y0, x1, _ = hand
    assert x0 <= nose[0] <= x1 and y0 <= nose[1] <= y0 + 0.5 * (img.shape[0] - y0) and nose[2] > 0.5


def test_blazepose_several_people_and_rotation(blazepose, photos):
    astro, grace = photos["astronaut"][0], photos["grace_hopper"][0][44:556]
    (d,) = blazepose([np.concatenate([astro, grace], axis=1)])  # 1024 × 512, two people
    assert len(d) == 2
    left, right = sorted(d.boxes.tolist())
    assert box_iou([left], [[20, 14, 362, 512]])[0, 0] > 0.7
    assert box_iou([right], [[512, 0, 1024, 512]])[0, 0] > 0.7
    # the astronaut turned 90° counter-clockwise: the box turns with her (x' = y, y' = W - x)
    (r,) = blazepose([np.ascontiguousarray(np.rot90(astro))])
    assert len(r) == 1
    assert box_iou(r.boxes, [[14, 512 - 362, 512, 512 - 20]])[0, 0] > 0.7


def test_blazepose_finds_nobody_in_empty_images(blazepose):
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    out = blazepose([noise, np.full((300, 400, 3), 128, np.uint8)])
    assert [len(d) for d in out] == [0, 0]
    assert out[0].keypoints.shape == (0, 33, 3)


def test_blazepose_without_refinement_gives_loose_boxes(photos):
    img, hand = photos["astronaut"]
    (d,) = BlazePoseDetector(refine=False, tiles=0)([img])
    assert len(d) == 1 and d.keypoints is None
    assert box_iou(d.boxes, [hand])[0, 0] > 0.5


# ---------------------------------------------------------------------------------------------
# synthetic scenes with known boxes
def test_blazepose_on_synthetic_scenes(blazepose):
    """Stand-in people (untextured-ish, coloured clothes, any yaw: some seen from behind), three per
    1280 × 720 scene, 350–500 px tall. Measured here (12 people, shipped 9-bit weights): 11 found at
    IoU ≥ 0.5, their mean IoU 0.84 (float16: 0.83), no false hit. (A larger run, 36 people,
    ``benchmarks/eval_detect.py``: 35 found, mean IoU 0.84, no false hit.)"""
    from _scenes import compose_scene, synthetic_people

    img, mask, _ = synthetic_people(12, seed=1, res=256)
    ious, extra = [], 0
    for k in range(4):
        sl = slice(3 * k, 3 * k + 3)
        scene, gt = compose_scene(img[sl], mask[sl], [500, 420, 350], seed=k)
        (d,) = blazepose([scene])
        iou = box_iou(gt, d.boxes) if len(d) else np.zeros((3, 1))
        ious += iou.max(1).tolist()
        extra += int((iou.max(0) < 0.5).sum()) if len(d) else 0
    ious = np.asarray(ious)
    recall = (ious >= 0.5).mean()
    assert recall >= 0.8, ious.round(2)
    assert ious[ious >= 0.5].mean() >= 0.8
    assert extra == 0


def test_tiles_find_smaller_people(blazepose):
    """Six stand-in people 250 px tall (35 % of the 720 px height): the whole-image pass alone finds
    few (measured 1 of 6), the default 2-tile search nearly all (measured 5 of 6)."""
    from _scenes import compose_scene, synthetic_people

    img, mask, _ = synthetic_people(6, seed=2, res=256)
    found = {}
    for tiles, det in ((0, BlazePoseDetector(tiles=0)), (2, blazepose)):
        n = 0
        for k in range(2):
            scene, gt = compose_scene(img[3 * k:3 * k + 3], mask[3 * k:3 * k + 3], [250] * 3, seed=k)
            (d,) = det([scene])
            n += int((box_iou(gt, d.boxes).max(1) >= 0.5).sum()) if len(d) else 0
        found[tiles] = n
    assert found[2] >= 5 and found[2] >= found[0] + 3, found


# ---------------------------------------------------------------------------------------------
# torchvision backend (no download: a stand-in model with torchvision's output format)
class _FakeTV(torch.nn.Module):
    def forward(self, images):
        assert images[0].dtype == torch.float32 and images[0].max() <= 1.0
        return [{"boxes": torch.tensor([[1.0, 2, 5, 7], [0, 0, 3, 3], [2, 2, 6, 6]]),
                 "labels": torch.tensor([1, 3, 1]), "scores": torch.tensor([0.9, 0.99, 0.4]),
                 "keypoints": torch.rand(3, 17, 3), "keypoints_scores": torch.zeros(3, 17)}
                for _ in images]


def test_torchvision_backend_keeps_people_only():
    det = TorchvisionDetector("keypointrcnn", model=_FakeTV(), score_threshold=0.5)
    (d,) = det([np.full((8, 8, 3), 255, np.uint8)])
    # the car (label 3) and the 0.4 person dropped; torchvision's [i, i + 1) pixels → centres at integers
    np.testing.assert_allclose(d.boxes, [[0.5, 1.5, 4.5, 6.5]])
    assert d.keypoints.shape == (1, 17, 3) and d.keypoint_names == COCO_KEYPOINTS
    np.testing.assert_allclose(d.keypoints[..., 2], 0.5)  # sigmoid of the keypoint scores
    with pytest.raises(ValueError, match="arch"):
        TorchvisionDetector("yolo", model=_FakeTV())
