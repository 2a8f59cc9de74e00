"""The 23 body-part classes D-PoSE segments, their colours, the left/right swap, and vertex → part tables.

Classes (``formats.md`` §10): 0 = background, then the 22 keys of the authors' ``part-segm.json`` in
file order, so JSON key k has label k + 1. These are the authors' *intended* labels; hpskit does not
reproduce their labelling bug (in which rightHand collapses onto label 2, §10.2).

Two vertex → part tables are supported:

* real SMPL-X: :func:`load_part_segm_json` reads ``part-segm.json`` (22 keys → SMPL-X vertex ids);
* any SMPL-X-format body (the stand-in included): :func:`vertex_parts_from_weights` labels each vertex
  with the part of its dominant skinning joint, through :data:`SMPLX_JOINT_TO_PART`.

Example:
    >>> PART_NAMES[1], PART_NAMES[PART_FLIP_PERM[1]]
    ('rightHand', 'leftHand')
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..core import CorruptFileError, check_shape
from .joint_sets import flip_permutation

__all__ = [
    "PART_NAMES",
    "NUM_PARTS",
    "PART_PALETTE",
    "PART_FLIP_PERM",
    "SMPLX_JOINT_TO_PART",
    "load_part_segm_json",
    "vertex_parts_from_weights",
]

#: 23 class names; index = label. 1..22 follow the key order of ``part-segm.json``.
PART_NAMES: tuple[str, ...] = (
    "background", "rightHand", "rightUpLeg", "leftArm", "head", "leftLeg", "leftToeBase", "leftFoot",
    "spine1", "spine2", "leftShoulder", "rightShoulder", "rightFoot", "rightArm", "rightLeg", "leftForeArm",
    "rightForeArm", "neck", "rightToeBase", "spine", "leftUpLeg", "leftHand", "hips",
)
#: Number of classes including background (23).
NUM_PARTS = len(PART_NAMES)

# Hand-picked: the subject's left side in blues/greens, the right side in reds/oranges/pinks, the
# midline in neutral earth tones; neighbouring segments of one limb differ clearly in lightness/hue.
_COLOURS = {
    "background": (0, 0, 0),
    "head": (240, 220, 170), "neck": (205, 160, 110), "spine2": (150, 110, 80), "spine1": (120, 130, 140),
    "spine": (180, 180, 190), "hips": (95, 80, 120),
    "leftShoulder": (40, 90, 160), "leftArm": (30, 144, 255), "leftForeArm": (100, 210, 240),
    "leftHand": (175, 230, 255), "leftUpLeg": (20, 120, 60), "leftLeg": (60, 190, 90),
    "leftFoot": (160, 230, 120), "leftToeBase": (0, 150, 150),
    "rightShoulder": (160, 30, 40), "rightArm": (235, 70, 40), "rightForeArm": (250, 150, 30),
    "rightHand": (255, 215, 90), "rightUpLeg": (180, 30, 120), "rightLeg": (240, 100, 170),
    "rightFoot": (255, 180, 200), "rightToeBase": (140, 60, 200),
}
#: (23, 3) uint8 RGB colours, background black.
PART_PALETTE: Tensor = torch.tensor([_COLOURS[n] for n in PART_NAMES], dtype=torch.uint8)
#: (23,) long: label of the mirror part (rightHand ↔ leftHand, …; midline parts and background fixed).
PART_FLIP_PERM: Tensor = torch.tensor(flip_permutation(PART_NAMES), dtype=torch.long)

_J2P = {
    "pelvis": "hips", "left_hip": "leftUpLeg", "right_hip": "rightUpLeg", "spine1": "spine",
    "left_knee": "leftLeg", "right_knee": "rightLeg", "spine2": "spine1", "left_ankle": "leftFoot",
    "right_ankle": "rightFoot", "spine3": "spine2", "left_foot": "leftToeBase", "right_foot": "rightToeBase",
    "neck": "neck", "left_collar": "leftShoulder", "right_collar": "rightShoulder", "head": "head",
    "left_shoulder": "leftArm", "right_shoulder": "rightArm", "left_elbow": "leftForeArm",
    "right_elbow": "rightForeArm", "left_wrist": "leftHand", "right_wrist": "rightHand",
    "jaw": "head", "left_eye_smplhf": "head", "right_eye_smplhf": "head",
}
#: (55,) long: part label of each SMPL-X skeleton joint. A joint labels the segment it rotates, i.e. the
#: bone from it to its child: pelvis→hips, spine1→spine, spine2→spine1, spine3→spine2, neck→neck,
#: head/jaw/eyes→head, collars→Shoulder, shoulders→Arm, elbows→ForeArm, wrists and all finger
#: joints→Hand, hips→UpLeg, knees→Leg, ankles→Foot, feet→ToeBase.
SMPLX_JOINT_TO_PART: Tensor = torch.tensor(
    [PART_NAMES.index(_J2P[n]) for n in (
        "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
        "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "jaw",
        "left_eye_smplhf", "right_eye_smplhf")]
    + [PART_NAMES.index("leftHand")] * 15 + [PART_NAMES.index("rightHand")] * 15,
    dtype=torch.long,
)


def load_part_segm_json(path: str | os.PathLike, num_vertices: int = 10475) -> Tensor:
    """Read the authors' ``part-segm.json`` into per-vertex labels.

    The file is a JSON object of 22 keys (the part names), each a list of vertex ids. The real file
    lists 470 vertices in two or more parts; they are resolved as the authors' own label maps resolve
    them: parts are written in the canonical (file) order of :data:`PART_NAMES` and a later part wins.
    Vertices listed in no part (6 in the real file) keep label 0; no nearest-part guess is made.

    Args:
        path: The JSON file.
        num_vertices: V, the mesh's vertex count (10475 for SMPL-X).

    Returns:
        Labels, shape (V,), long, in 0..22.

    Raises:
        CorruptFileError: Not JSON, not an object, missing or unknown keys, or ids outside [0, V).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CorruptFileError(f"Cannot read '{path}' as JSON ({type(e).__name__}: {e}).") from e
    if not isinstance(data, dict):
        raise CorruptFileError(f"'{path}' must hold a JSON object of 22 part names → vertex ids; got "
                               f"{type(data).__name__}.")
    expected = set(PART_NAMES[1:])
    missing, unknown = sorted(expected - set(data)), sorted(set(data) - expected)
    if missing or unknown:
        raise CorruptFileError(f"'{path}' must have exactly the 22 part keys {list(PART_NAMES[1:])}; missing "
                               f"{missing}, unknown {unknown}.")
    labels = np.zeros(num_vertices, dtype=np.int64)
    for label, name in enumerate(PART_NAMES[1:], start=1):
        ids = data[name]
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise CorruptFileError(f"'{path}': part '{name}' must be a list of integer vertex ids.")
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= num_vertices):
            raise CorruptFileError(f"'{path}': part '{name}' has vertex ids in [{ids.min()}, {ids.max()}]; "
                                   f"they must lie in [0, {num_vertices - 1}] (num_vertices={num_vertices}).")
        labels[ids] = label
    return torch.from_numpy(labels)


def vertex_parts_from_weights(lbs_weights: Tensor) -> Tensor:
    """Label each vertex with the part of its dominant skinning joint (:data:`SMPLX_JOINT_TO_PART`).

    Used for bodies without a ``part-segm.json`` (the stand-in). Ties go to the lower joint index.

    Args:
        lbs_weights: Skinning weights, shape (V, 55), SMPL-X joint order.

    Returns:
        Labels, shape (V,), long, in 1..22, on the weights' device.

    Example:
        >>> w = torch.zeros(2, 55); w[0, 0] = 1; w[1, 21] = 1
        >>> labels = vertex_parts_from_weights(w)
        >>> PART_NAMES[labels[0]], PART_NAMES[labels[1]]
        ('hips', 'rightHand')
    """
    check_shape(lbs_weights, ("V", 55), "lbs_weights", "vertex_parts_from_weights")
    return SMPLX_JOINT_TO_PART.to(lbs_weights.device)[lbs_weights.argmax(dim=1)]
