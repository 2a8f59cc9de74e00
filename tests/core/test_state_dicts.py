"""hpskit.core.check_state_dict: every missing, unexpected and mis-shaped key, grouped by prefix."""

import pytest
import torch

from hpskit.core import WeightsMismatchError, check_state_dict


def test_check_state_dict_groups_by_prefix():
    expected = {"enc.a": (2,), "enc.b": (3,), "head.w": (1, 2)}
    found = {"enc.a": torch.zeros(2), "head.w": torch.zeros(2, 1), "junk.x": torch.zeros(1), "junk.y": (1,)}
    with pytest.raises(WeightsMismatchError) as info:
        check_state_dict(expected, found, what="Net", source="f.safetensors")
    msg = str(info.value)
    assert "Net from f.safetensors" in msg
    assert "enc.* (1): enc.b" in msg and "junk.* (2): junk.x, junk.y" in msg
    assert "head.w: file (2, 1) vs model (1, 2)" in msg
    check_state_dict(expected, {"enc.a": (2,), "enc.b": torch.zeros(3), "head.w": torch.Size([1, 2])})
    assert info.value.missing == ["enc.b"] and info.value.unexpected == ["junk.x", "junk.y"]
    assert info.value.mismatched == ["head.w"]
