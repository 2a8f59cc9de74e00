"""The sample schema and collate."""

from __future__ import annotations

import pytest
import torch

from hpskit.core import ShapeError
from hpskit.data import FLAG_NAMES, Batch, Sample, collate_samples


def test_blank_is_zeros_with_flags_off():
    s = Sample.blank("x", 3, res=32).validate()
    assert s.img.shape == (3, 32, 32) and s.depth.shape == (1, 32, 32) and s.parts.shape == (32, 32)
    assert s.kp2d.shape == (24, 3) and s.pose_rotmat.shape == (22, 3, 3) and s.betas.shape == (11,)
    assert not any(getattr(s, f) for f in FLAG_NAMES)
    assert all(float(getattr(s, n).abs().sum()) == 0 for n in ("img", "K", "kp2d", "pose_rotmat", "depth"))


def test_validate_names_field_and_shapes():
    s = Sample.blank(res=16)
    s.kp2d = torch.zeros(17, 3)
    with pytest.raises(ShapeError, match=r"kp2d.*\(24, 3\).*got \(17, 3\)"):
        s.validate()
    s = Sample.blank(res=16)
    s.betas[0] = float("nan")
    with pytest.raises(ShapeError, match="betas.*NaN"):
        s.validate()
    s = Sample.blank(res=16)
    s.parts = s.parts.float()
    with pytest.raises(ShapeError, match="parts.*int64"):
        s.validate()
    s = Sample.blank(res=16)
    s.has_vertices = True
    with pytest.raises(ShapeError, match="has_vertices"):
        s.validate()


def test_collate_stacks_and_fills_vertices():
    a, b = Sample.blank("a", 0, 16), Sample.blank("b", 1, 16)
    a.vertices, a.has_vertices, a.has_depth = torch.ones(5, 3), True, True
    a.gender = "male"
    batch = collate_samples([a, b])
    assert isinstance(batch, Batch) and len(batch) == 2
    assert batch.vertices.shape == (2, 5, 3) and batch.vertices[1].abs().sum() == 0
    assert batch.has_vertices.tolist() == [True, False] and batch.has_depth.tolist() == [True, False]
    assert (
        batch.index.tolist() == [0, 1] and batch.dataset == ["a", "b"] and batch.gender == ["male", "neutral"]
    )
    assert batch.parts.dtype == torch.long and batch.scale.shape == (2,)
    moved = batch.to("cpu")
    assert moved.img.data_ptr() == batch.img.data_ptr() and moved.dataset == batch.dataset
    b.vertices, b.has_vertices = torch.ones(6, 3), True
    with pytest.raises(ShapeError, match="vertices.*6890"):
        collate_samples([a, b])
    with pytest.raises(ShapeError, match="empty"):
        collate_samples([])
    with pytest.raises(ShapeError, match="img"):
        collate_samples([Sample.blank(res=16), Sample.blank(res=8)])


def test_batch_has_exactly_the_sample_fields_in_order():
    """Sample and Batch spell their fields out for type checkers and docs; they must not drift apart."""
    from dataclasses import fields

    from hpskit.data.sample import _SHAPES

    names = [f.name for f in fields(Sample)]
    assert [f.name for f in fields(Batch)] == names
    other = (*FLAG_NAMES, "vertices", "dataset", "index", "gender")
    assert set(_SHAPES) == {n for n in names if n not in other}
