"""hpskit.body.joint_sets against smplx's own tables and formats.md."""

from __future__ import annotations

import pytest
import smplx.joint_names

from hpskit.body import (
    H36M_JOINT_NAMES,
    H36M_TO_J14,
    H36M_TO_J17,
    J14_NAMES,
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


def test_names_match_smplx():
    assert list(SMPLX_JOINT_NAMES) == smplx.joint_names.JOINT_NAMES[:127]
    assert len(set(SMPLX_JOINT_NAMES)) == 127
    assert list(SMPL_JOINT_NAMES[:22]) == list(SMPLX_JOINT_NAMES[:22])


def test_parents():
    text = ("-1,0,0,0,1,2,3,4,5,6,7,8,9,9,9,12,13,14,16,17,18,19,15,15,15,20,25,26,20,28,29,"
            "20,31,32,20,34,35,20,37,38,21,40,41,21,43,44,21,46,47,21,49,50,21,52,53")  # formats.md §1.4
    formats = [int(x) for x in text.split(",")]
    assert list(SMPLX_PARENTS) == formats
    assert all(0 <= p < i for i, p in enumerate(SMPLX_PARENTS) if i)
    assert SMPL_PARENTS[:22] == SMPLX_PARENTS[:22] and SMPL_PARENTS[22:] == (20, 21)


@pytest.mark.parametrize("perm, names", [
    (SMPLX_BODY_FLIP_PERM, SMPLX_JOINT_NAMES[:22]), (SMPLX_FLIP_PERM, SMPLX_JOINT_NAMES[:55]),
    (SMPLX_JOINTS127_FLIP_PERM, SMPLX_JOINT_NAMES), (SMPL_FLIP_PERM, SMPL_JOINT_NAMES),
])
def test_flip_perms_are_mirror_involutions(perm, names):
    assert len(perm) == len(names) and sorted(perm) == list(range(len(names)))
    assert [perm[p] for p in perm] == list(range(len(names)))
    for i, p in enumerate(perm):
        a, b = names[i], names[p]
        if a.startswith("left"):
            assert b == "right" + a[4:]
        elif a.startswith("right"):
            assert b == "left" + a[5:]
        else:
            assert p == i


def test_flip_spot_checks():
    assert SMPLX_BODY_FLIP_PERM[:6] == (0, 2, 1, 3, 5, 4)
    assert SMPLX_FLIP_PERM[22:25] == (22, 24, 23)  # jaw stays, eyes swap
    assert SMPLX_FLIP_PERM[25] == 40 and SMPLX_FLIP_PERM[54] == 39  # hands swap finger by finger
    with pytest.raises(ValueError, match="no mirror"):
        flip_permutation(["left_hip"])


def test_h36m_subsets():
    assert H36M_TO_J14 == (6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10)
    assert H36M_TO_J17 == (6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10, 0, 7, 9)
    assert [H36M_JOINT_NAMES[i] for i in H36M_TO_J14] == list(J14_NAMES)
    assert 0 not in H36M_TO_J14 and len(H36M_JOINT_NAMES) == 17
