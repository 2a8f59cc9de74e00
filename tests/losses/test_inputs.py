"""LossInputs / LossTargets assembled from a network output and a data batch."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from hpskit.data import Sample, collate_samples
from hpskit.losses import LossInputs, LossTargets


def test_targets_from_batch_take_every_field_and_flag():
    batch = collate_samples([Sample.blank("toy", i, res=16) for i in range(3)])
    batch.has_smplx = torch.tensor([True, False, True])
    j, v = torch.randn(3, 24, 3), torch.randn(3, 10, 3)
    t = LossTargets.from_batch(batch, j, v)
    assert t.joints3d is j and t.vertices is v and t.pose is batch.pose_rotmat and t.betas is batch.betas
    assert t.image_size is batch.img_size and t.K is batch.K and t.kp2d is batch.kp2d
    assert t.depth is batch.depth and t.parts is batch.parts and t.depth_mask is None
    for flag in ("has_smplx", "has_joints3d", "has_vertices"):  # joints/vertices follow the SMPL-X flag
        assert getattr(t, flag) is batch.has_smplx
    assert t.has_kp2d is batch.has_kp2d and t.has_depth is batch.has_depth and t.has_parts is batch.has_parts


def test_inputs_from_output_are_float32():
    out = SimpleNamespace(pose_rotmat=torch.randn(2, 22, 3, 3, dtype=torch.bfloat16),
                          betas=torch.randn(2, 11, dtype=torch.bfloat16), cam=torch.randn(2, 3),
                          depth=torch.rand(2, 1, 8, 8, dtype=torch.bfloat16), part_logits=None)
    j, v = torch.randn(2, 24, 3), torch.randn(2, 10, 3)
    x = LossInputs.from_output(out, j, v)
    assert x.pose_rotmat.dtype == x.betas.dtype == x.depth.dtype == torch.float32
    assert x.cam is out.cam and x.joints3d is j and x.vertices is v and x.part_logits is None
    torch.testing.assert_close(x.betas, out.betas.float())
