"""Joint names, kinematic trees, left/right flip permutations and joint subsets.

Sources (``formats.md`` §1.4, §1.5, §2.1, §3): the SMPL-X order is smplx's (55 skeleton joints, then the
21 vertex-picked extras, then 51 static face landmarks = 127, as ``smplx.SMPLXLayer`` returns them, with
smplx's own names). The H36M regressor rows and the LSP-14 subset follow SPIN / D-PoSE
(``H36M_TO_J14``, ``H36M_TO_J17``).

A flip permutation ``perm`` maps index i of the mirrored subject to index ``perm[i]`` of the original:
``joints_flipped = mirror(joints[..., perm, :])``. Every one here is an involution (``perm[perm] = id``).
Flipping a *pose* also needs the mirrored rotations (negate the y and z axis-angle components); that
belongs to the augmentation code, not here.

Example:
    >>> SMPLX_JOINT_NAMES[SMPLX_BODY_FLIP_PERM[1]]
    'right_hip'
    >>> J14_NAMES[0], H36M_JOINT_NAMES[H36M_TO_J14[0]]
    ('right_ankle', 'right_ankle')
"""

from __future__ import annotations

__all__ = [
    "NUM_SMPLX_BODY_JOINTS",
    "NUM_SMPLX_BODY_POSE_JOINTS",
    "NUM_SMPLX_HAND_JOINTS",
    "SMPLX_JOINT_NAMES",
    "SMPLX_PARENTS",
    "SMPLX_BODY_FLIP_PERM",
    "SMPLX_FLIP_PERM",
    "SMPLX_JOINTS127_FLIP_PERM",
    "SMPL_JOINT_NAMES",
    "SMPL_PARENTS",
    "SMPL_FLIP_PERM",
    "H36M_JOINT_NAMES",
    "H36M_TO_J17",
    "H36M_TO_J14",
    "J14_NAMES",
    "flip_permutation",
]

#: Joints D-PoSE predicts rotations for: 0 = global orientation (pelvis), 1..21 = body; the rows of
#: ``pose_rotmat`` (``hpskit.data.Sample``) and of the model's pose output.
NUM_SMPLX_BODY_JOINTS = 22
#: Rotations in SMPL-X's ``body_pose`` argument: the body joints 1..21 without the global orientation.
NUM_SMPLX_BODY_POSE_JOINTS = NUM_SMPLX_BODY_JOINTS - 1
#: Rotations in each of SMPL-X's ``left_hand_pose`` / ``right_hand_pose`` arguments.
NUM_SMPLX_HAND_JOINTS = 15

_HAND = ("index1", "index2", "index3", "middle1", "middle2", "middle3", "pinky1", "pinky2", "pinky3",
         "ring1", "ring2", "ring3", "thumb1", "thumb2", "thumb3")
_SKELETON = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "jaw",
    "left_eye_smplhf", "right_eye_smplhf",
    *(f"left_{n}" for n in _HAND), *(f"right_{n}" for n in _HAND),
)
# Vertex-picked extras, in the order of smplx's VertexJointSelector (formats.md §1.5).
_EXTRAS = (
    "nose", "right_eye", "left_eye", "right_ear", "left_ear",
    "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel",
    "left_thumb", "left_index", "left_middle", "left_ring", "left_pinky",
    "right_thumb", "right_index", "right_middle", "right_ring", "right_pinky",
)
# 51 static face landmarks (iBUG-68 without the 17 contour points), smplx's names: the names pair
# mirror-image points (e.g. right_eye1 <-> left_eye1), which the flip permutation relies on.
_FACE = (
    *(f"right_eye_brow{i}" for i in range(1, 6)), *(f"left_eye_brow{i}" for i in range(5, 0, -1)),
    "nose1", "nose2", "nose3", "nose4", "right_nose_2", "right_nose_1", "nose_middle", "left_nose_1",
    "left_nose_2",
    *(f"right_eye{i}" for i in range(1, 7)), "left_eye4", "left_eye3", "left_eye2", "left_eye1", "left_eye6",
    "left_eye5",
    "right_mouth_1", "right_mouth_2", "right_mouth_3", "mouth_top", "left_mouth_3", "left_mouth_2",
    "left_mouth_1", "left_mouth_5", "left_mouth_4", "mouth_bottom", "right_mouth_4", "right_mouth_5",
    "right_lip_1", "right_lip_2", "lip_top", "left_lip_2", "left_lip_1", "left_lip_3", "lip_bottom",
    "right_lip_3",
)
#: The 127 joints ``smplx.SMPLXLayer`` returns (no face contour): 55 skeleton + 21 extras + 51 landmarks.
SMPLX_JOINT_NAMES: tuple[str, ...] = _SKELETON + _EXTRAS + _FACE

#: Parent of each of the 55 SMPL-X skeleton joints (-1 for the pelvis), ``formats.md`` §1.4.
SMPLX_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
    20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
    21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53,
)

#: The 24 SMPL joints (DP ``SMPL_24``); 22/23 are SMPL's hands, *not* SMPL-X's jaw/eye (formats.md §1.5).
SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand",
)
#: Parent of each SMPL joint, ``formats.md`` §2.1.
SMPL_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)

#: Rows of ``J_regressor_h36m.npy`` (SPIN convention; the physical side of rows 1–6 is unverified, and
#: irrelevant to metrics since GT and prediction use the same regressor).
H36M_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "left_knee", "left_ankle", "right_hip", "right_knee", "right_ankle", "spine",
    "neck", "jaw", "head_top", "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow",
    "right_wrist",
)
#: H36M rows → SPIN's 17 evaluation joints (LSP-14 followed by pelvis, spine, jaw).
H36M_TO_J17: tuple[int, ...] = (6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10, 0, 7, 9)
#: H36M rows → the LSP-14 joints used for MPJPE / PA-MPJPE on 3DPW and EMDB (pelvis not included).
H36M_TO_J14: tuple[int, ...] = H36M_TO_J17[:14]
#: Names of the LSP-14 joints, in ``H36M_TO_J14`` order.
J14_NAMES: tuple[str, ...] = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "right_wrist",
    "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist", "neck", "head_top",
)


def _mirror_name(name: str) -> str:
    for a, b in (("left", "right"), ("right", "left")):
        if name.startswith(a + "_"):
            return b + name[len(a):]
        if name.startswith(a) and name[len(a):][:1].isupper():  # camelCase part names: leftArm
            return b + name[len(a):]
    return name


def flip_permutation(names: tuple[str, ...] | list[str]) -> tuple[int, ...]:
    """Left/right swap permutation for a list of names (``left_x`` ↔ ``right_x``, ``leftX`` ↔ ``rightX``).

    Args:
        names: Joint or part names.

    Returns:
        ``perm`` with ``names[perm[i]]`` the mirror of ``names[i]`` (itself for midline names).

    Raises:
        ValueError: If a name's mirror image is not in ``names``.

    Example:
        >>> flip_permutation(["pelvis", "left_hip", "right_hip"])
        (0, 2, 1)
    """
    index = {n: i for i, n in enumerate(names)}
    out = []
    for n in names:
        m = _mirror_name(n)
        if m not in index:
            raise ValueError(f"flip_permutation: '{n}' has no mirror '{m}' in the list.")
        out.append(index[m])
    return tuple(out)


#: Flip permutation of the 22 body joints D-PoSE predicts.
SMPLX_BODY_FLIP_PERM: tuple[int, ...] = flip_permutation(SMPLX_JOINT_NAMES[:NUM_SMPLX_BODY_JOINTS])
#: Flip permutation of the 55 SMPL-X skeleton joints (hands and eyes swap; jaw stays).
SMPLX_FLIP_PERM: tuple[int, ...] = flip_permutation(SMPLX_JOINT_NAMES[:55])
#: Flip permutation of all 127 joints, from smplx's landmark names.
SMPLX_JOINTS127_FLIP_PERM: tuple[int, ...] = flip_permutation(SMPLX_JOINT_NAMES)
#: Flip permutation of the 24 SMPL joints.
SMPL_FLIP_PERM: tuple[int, ...] = flip_permutation(SMPL_JOINT_NAMES)
