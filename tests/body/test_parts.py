"""hpskit.body.parts: class list, palette, flip table, part-segm.json reading, weights → parts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hpskit.body import (
    PART_FLIP_PERM,
    PART_NAMES,
    PART_PALETTE,
    SMPLX_FLIP_PERM,
    SMPLX_JOINT_NAMES,
    SMPLX_JOINT_TO_PART,
    load_part_segm_json,
    vertex_parts_from_weights,
)
from hpskit.core import CorruptFileError, ShapeError

# formats.md §10.1: key order of the authors' part-segm.json
JSON_KEYS = ["rightHand", "rightUpLeg", "leftArm", "head", "leftLeg", "leftToeBase", "leftFoot", "spine1",
             "spine2", "leftShoulder", "rightShoulder", "rightFoot", "rightArm", "rightLeg", "leftForeArm",
             "rightForeArm", "neck", "rightToeBase", "spine", "leftUpLeg", "leftHand", "hips"]


def test_class_list_and_palette():
    assert list(PART_NAMES) == ["background", *JSON_KEYS]
    assert PART_PALETTE.shape == (23, 3) and PART_PALETTE.dtype == torch.uint8
    assert PART_PALETTE[0].tolist() == [0, 0, 0]
    p = PART_PALETTE.float()
    dist = torch.cdist(p, p) + 1e9 * torch.eye(23)
    assert dist.min() > 40  # every pair clearly distinct in RGB


def test_flip_perm_matches_formats_table():
    perm = PART_FLIP_PERM.tolist()
    assert perm == [perm.index(i) for i in range(23)]  # a permutation ...
    assert torch.equal(PART_FLIP_PERM[PART_FLIP_PERM], torch.arange(23))  # ... and an involution
    pairs = {1: 21, 2: 20, 3: 13, 5: 14, 6: 18, 7: 12, 10: 11, 15: 16}  # formats.md §10.4, intended labels
    expected = list(range(23))
    for a, b in pairs.items():
        expected[a], expected[b] = b, a
    assert perm == expected


def _write_json(path, parts):
    path.write_text(json.dumps(parts))
    return path


def test_json_round_trip_with_overlaps_and_gaps(tmp_path):
    V = 500
    rng = np.random.default_rng(0)
    truth = rng.integers(1, 23, V)
    truth[:6] = 0  # six vertices in no part, as in the real file
    parts = {k: [int(i) for i in np.flatnonzero(truth == j + 1)] for j, k in enumerate(JSON_KEYS)}
    # an overlap: vertex 10 also listed in an earlier part; the later key (its true label) must win
    v = 10 if truth[10] > 1 else 11
    parts[JSON_KEYS[0]].append(v)
    labels = load_part_segm_json(_write_json(tmp_path / "part-segm.json", parts), num_vertices=V)
    assert labels.dtype == torch.long and labels.shape == (V,)
    assert labels.tolist() == truth.tolist()
    back = {k: [int(i) for i in torch.nonzero(labels == j + 1).flatten()] for j, k in enumerate(JSON_KEYS)}
    parts[JSON_KEYS[0]].remove(v)
    assert back == parts


def test_json_errors(tmp_path):
    good = {k: [i] for i, k in enumerate(JSON_KEYS)}
    with pytest.raises(CorruptFileError, match=r"missing \['hips'\], unknown \['pelvis'\]"):
        bad = {**{k: v for k, v in good.items() if k != "hips"}, "pelvis": [1]}
        load_part_segm_json(_write_json(tmp_path / "a.json", bad), 30)
    with pytest.raises(CorruptFileError, match=r"'head' has vertex ids in \[3, 40\].*\[0, 29\]"):
        load_part_segm_json(_write_json(tmp_path / "b.json", {**good, "head": [3, 40]}), 30)
    with pytest.raises(CorruptFileError, match="JSON object"):
        load_part_segm_json(_write_json(tmp_path / "c.json", [1, 2]), 30)
    (tmp_path / "d.json").write_text("{not json")
    with pytest.raises(CorruptFileError, match="as JSON"):
        load_part_segm_json(tmp_path / "d.json", 30)


def test_joint_to_part_table():
    name = {SMPLX_JOINT_NAMES[j]: PART_NAMES[p] for j, p in enumerate(SMPLX_JOINT_TO_PART.tolist())}
    assert name["pelvis"] == "hips" and name["spine1"] == "spine" and name["spine3"] == "spine2"
    assert name["left_collar"] == "leftShoulder" and name["right_shoulder"] == "rightArm"
    assert name["left_elbow"] == "leftForeArm" and name["right_index3"] == "rightHand"
    assert name["left_foot"] == "leftToeBase" and name["jaw"] == "head" and name["right_knee"] == "rightLeg"
    assert set(SMPLX_JOINT_TO_PART.tolist()) == set(range(1, 23))  # every part is reachable
    # mirror consistency: flipping the joint then mapping == mapping then flipping the part
    flipped = SMPLX_JOINT_TO_PART[torch.tensor(SMPLX_FLIP_PERM)]
    assert torch.equal(flipped, PART_FLIP_PERM[SMPLX_JOINT_TO_PART])


def test_vertex_parts_from_weights():
    w = torch.rand(100, 55)
    dominant = torch.randint(0, 55, (100,))
    w[torch.arange(100), dominant] += 2.0
    labels = vertex_parts_from_weights(w)
    assert torch.equal(labels, SMPLX_JOINT_TO_PART[dominant])
    assert torch.equal(vertex_parts_from_weights(w.double()), labels)
    with pytest.raises(ShapeError, match=r"lbs_weights.*\(V, 55\).*got \(100, 24\)"):
        vertex_parts_from_weights(w[:, :24])
