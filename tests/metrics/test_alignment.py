import pytest
import torch

from hpskit.core import ShapeError
from hpskit.metrics import (
    H36M_PELVIS,
    H36M_TO_J14,
    J24_TO_J14,
    LSP14_HIPS,
    SMPL_HIPS,
    align_root,
    root_from_joints,
)


def test_index_lists_match_reference():
    # SPIN / D-PoSE constants.py (formats.md §7, contract)
    assert tuple(H36M_TO_J14) == (6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10)
    assert J24_TO_J14 == (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 18)
    assert H36M_PELVIS == (0,) and SMPL_HIPS == (1, 2) and LSP14_HIPS == (2, 3)


def test_same_as_body_joint_sets():
    joint_sets = pytest.importorskip("hpskit.body.joint_sets")
    assert H36M_TO_J14 is joint_sets.H36M_TO_J14
    assert joint_sets.J14_NAMES[LSP14_HIPS[0]] == "right_hip"
    assert joint_sets.SMPL_JOINT_NAMES[SMPL_HIPS[0]] == "left_hip"
    assert joint_sets.SMPL_JOINT_NAMES[SMPL_HIPS[1]] == "right_hip"


def test_root_and_align():
    joints = torch.tensor([[[1.0, 1, 1], [0, 2, 0], [2, 0, 4]], [[0.0, 0, 0], [1, 1, 1], [3, 3, 3]]])
    torch.testing.assert_close(root_from_joints(joints, H36M_PELVIS), joints[:, 0])
    torch.testing.assert_close(root_from_joints(joints, SMPL_HIPS), torch.tensor([[1.0, 1, 2], [2, 2, 2]]))
    aligned = align_root(joints, root_from_joints(joints, SMPL_HIPS))
    torch.testing.assert_close(aligned[:, 1:].mean(1), torch.zeros(2, 3))


def test_errors():
    with pytest.raises(ShapeError,
                       match=r"`indices` \(1, 5\) must be a non-empty list of joint indices below J = 3"):
        root_from_joints(torch.zeros(1, 3, 3), (1, 5))
    with pytest.raises(ShapeError, match=r"align_root: `root` must have shape \(B, 3\); got \(3\)"):
        align_root(torch.zeros(1, 4, 3), torch.zeros(3))
