"""Body models: SMPL-X (and the licence-free stand-in body in the same format), SMPL for evaluation,
file resolution and validation, joint sets and the 23 part classes.

Files are looked for in: explicit argument → ``$HPSKIT_BODY_MODELS`` → the user data dir, with smplx's
layout (``<root>/smplx/SMPLX_NEUTRAL.npz``, ``<root>/smpl/SMPL_NEUTRAL.pkl``). Without a licensed SMPL-X
file, ``SMPLXBody()`` falls back to the stand-in body (``hpskit.body.standin``) and logs a warning.
"""

from .io import (
    SMPL_URL,
    SMPLX_URL,
    SMPLXFileInfo,
    load_h36m_regressor,
    load_smpl_model,
    load_smplx2smpl,
    load_smplx_npz,
    resolve_smpl_path,
    resolve_smplx_path,
    restricted_pickle_load,
    validate_smplx_npz,
)
from .joint_sets import (
    H36M_JOINT_NAMES,
    H36M_TO_J14,
    H36M_TO_J17,
    J14_NAMES,
    NUM_SMPLX_BODY_JOINTS,
    NUM_SMPLX_BODY_POSE_JOINTS,
    NUM_SMPLX_HAND_JOINTS,
    SMPL_FLIP_PERM,
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
    SMPLX_BODY_FLIP_PERM,
    SMPLX_FLIP_PERM,
    SMPLX_JOINT_NAMES,
    SMPLX_JOINTS127_FLIP_PERM,
    SMPLX_PARENTS,
    flip_permutation,
)
from .parts import (
    NUM_PARTS,
    PART_FLIP_PERM,
    PART_NAMES,
    PART_PALETTE,
    SMPLX_JOINT_TO_PART,
    load_part_segm_json,
    vertex_parts_from_weights,
)
from .smpl_layer import SMPLBody, SMPLXToSMPL, regress_joints, smplx_to_smpl_vertices
from .smplx_layer import BodyOutput, SMPLXBody

# The stand-in body lives in hpskit.body.standin; its names are re-exported lazily, so importing
# hpskit.body never depends on (or does I/O for) the stand-in.
_STANDIN_NAMES = ("standin_path", "standin_vertex_parts", "standin_num_vertices")


def __getattr__(name: str):
    if name in _STANDIN_NAMES:
        from . import standin

        return getattr(standin, name)
    raise AttributeError(f"module 'hpskit.body' has no attribute {name!r}")

__all__ = [
    "BodyOutput",
    "H36M_JOINT_NAMES",
    "H36M_TO_J14",
    "H36M_TO_J17",
    "J14_NAMES",
    "NUM_PARTS",
    "NUM_SMPLX_BODY_JOINTS",
    "NUM_SMPLX_BODY_POSE_JOINTS",
    "NUM_SMPLX_HAND_JOINTS",
    "PART_FLIP_PERM",
    "PART_NAMES",
    "PART_PALETTE",
    "SMPLBody",
    "SMPLXBody",
    "SMPLXFileInfo",
    "SMPLXToSMPL",
    "SMPLX_BODY_FLIP_PERM",
    "SMPLX_FLIP_PERM",
    "SMPLX_JOINTS127_FLIP_PERM",
    "SMPLX_JOINT_NAMES",
    "SMPLX_JOINT_TO_PART",
    "SMPLX_PARENTS",
    "SMPLX_URL",
    "SMPL_FLIP_PERM",
    "SMPL_JOINT_NAMES",
    "SMPL_PARENTS",
    "SMPL_URL",
    "flip_permutation",
    "load_h36m_regressor",
    "load_part_segm_json",
    "load_smpl_model",
    "load_smplx2smpl",
    "load_smplx_npz",
    "regress_joints",
    "resolve_smpl_path",
    "resolve_smplx_path",
    "restricted_pickle_load",
    "smplx_to_smpl_vertices",
    "standin_num_vertices",
    "standin_path",
    "standin_vertex_parts",
    "validate_smplx_npz",
    "vertex_parts_from_weights",
]
