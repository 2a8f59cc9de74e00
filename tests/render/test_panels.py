"""The training image panel draws the mesh where the camera puts it: the ground-truth body placed with its
ground-truth crop camera covers the ground-truth part map."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from hpskit.body import SMPLXBody
from hpskit.core import ShapeError
from hpskit.data.synthetic import SyntheticConfig, SyntheticHumans
from hpskit.data.transforms import unnormalize_imagenet
from hpskit.geometry import full_transl_to_crop_cam
from hpskit.render import make_panel


def test_mesh_overlay_lands_on_the_person():
    body = SMPLXBody("standin")
    res = 64
    batch = SyntheticHumans(body, SyntheticConfig(res=res), batch_size=2,
                            backgrounds="procedural").generate(2, seed=3)
    cam = full_transl_to_crop_cam(batch.transl, batch.center, batch.scale, batch.K)
    logits = torch.nn.functional.one_hot(batch.parts, 23).permute(0, 3, 1, 2).float()
    out = SimpleNamespace(cam=cam, part_logits=logits, depth=batch.depth)
    verts = batch.vertices - batch.transl[:, None]
    rgb = unnormalize_imagenet(batch.img)
    panel = make_panel(rgb, batch, out, verts, body.faces, n=5)  # n above the batch size: every sample
    assert panel.shape == (3, 2 * res, 6 * res) and 0 <= panel.min() and panel.max() <= 1
    cols = panel.reshape(3, 2, res, 6, res).permute(1, 3, 0, 2, 4)  # (sample, column, 3, R, R)
    drawn = (cols[:, 1] - cols[:, 0]).abs().sum(1) > 1e-4  # where the overlay changed the input
    person = batch.parts > 0
    iou = (drawn & person).sum() / (drawn | person).sum()
    assert iou > 0.8, float(iou)
    assert torch.equal(cols[:, 2], cols[:, 3])  # GT parts vs. (here perfect) predicted parts
    assert torch.allclose(cols[:, 4, 0], batch.depth[:, 0]) and torch.equal(cols[:, 4], cols[:, 5])
    assert torch.allclose(cols[:, 0], rgb.clamp(0, 1))  # the input column is the crop itself
    with pytest.raises(ShapeError):
        make_panel(rgb[:, :1], batch, out, verts, body.faces)
