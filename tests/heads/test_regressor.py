"""DPoSERegressor: the authors' tensors, token assembly order, one update step, no-depth variant."""

from __future__ import annotations

import pytest
import torch
from _reference import HPSKIT_BLOCK_PARAMS

from hpskit.core import ShapeError
from hpskit.heads import DPoSERegressor


def _count(m):
    return sum(p.numel() for p in m.parameters())


def test_matches_reference_tensors(reference_block):
    head = DPoSERegressor()
    ref = [(k, s) for k, s, _, _ in reference_block("model.head.")]
    ours = [(k, tuple(v.shape)) for k, v in head.state_dict().items()]
    assert ours == ref  # names, shapes, order; buffers init_pose/init_shape/init_cam included
    ref_params = sum(n for _, _, n, kind in reference_block("model.head.") if kind == "param")
    assert _count(head) == HPSKIT_BLOCK_PARAMS["regressor"] == ref_params
    counts = {n: _count(getattr(head, n)) for n in ("p", "s", "c", "decpose", "decshape", "deccam")}
    assert counts == {"p": 547_712, "s": 543_168, "c": 542_912,
                      "decpose": 4_356, "decshape": 363, "deccam": 99}
    assert all(n in dict(head.named_buffers()) for n in ("init_pose", "init_shape", "init_cam"))


def _manual(head, att, bbox, depth):
    """Assemble tokens and run every head with explicit loops (docs/authors-code.md (e))."""
    b, j = att.shape[:2]
    dbar = depth.mean(dim=(2, 3))
    tokens = torch.stack([torch.stack([torch.cat([att[bi, ji], bbox[bi], dbar[bi]]) for ji in range(j)])
                          for bi in range(b)])  # (B, J, 720+3+48)
    flat = torch.stack([torch.cat([tokens[bi, ji] for ji in range(j)]) for bi in range(b)])  # joint-major
    pose0 = head.init_pose.view(j, 6)
    pose = torch.zeros(b, j, 6)
    for bi in range(b):
        for ji in range(j):
            h = torch.relu(head.p[0].weight[ji] @ torch.cat([pose0[ji], tokens[bi, ji]]) + head.p[0].bias[ji])
            pose[bi, ji] = pose0[ji] + head.decpose.weight[ji] @ h + head.decpose.bias[ji]
    shape0, cam0 = head.init_shape[0], head.init_cam[0]
    betas = torch.stack([shape0 + head.decshape(torch.relu(head.s[0](torch.cat([shape0, flat[bi]]))))
                         for bi in range(b)])
    cam = torch.stack([cam0 + head.deccam(torch.relu(head.c[0](torch.cat([cam0, flat[bi]]))))
                       for bi in range(b)])
    return tokens, pose, betas, cam


def test_token_order_and_update_against_manual_assembly():
    torch.manual_seed(1)
    head = DPoSERegressor()
    with torch.no_grad():  # non-trivial start values
        head.init_pose.add_(torch.randn_like(head.init_pose) * 0.1)
        head.init_shape.normal_()
        head.init_cam.normal_()
    att, bbox, depth = torch.randn(2, 22, 720), torch.randn(2, 3), torch.randn(2, 48, 5, 7)
    with torch.no_grad():
        out = head(att, bbox, depth)
        tokens, pose, betas, cam = _manual(head, att, bbox, depth)
        torch.testing.assert_close(head.assemble_tokens(att, bbox, depth), tokens)
    torch.testing.assert_close(out.pose_6d, pose, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.betas, betas, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.cam, cam, rtol=1e-5, atol=1e-6)
    assert out.pose_rotmat.shape == (2, 22, 3, 3)
    # the matrices are orthonormal with det +1 and their first two columns are the normalised 6D (row-major)
    R = out.pose_rotmat
    torch.testing.assert_close(R.transpose(-1, -2) @ R, torch.eye(3).expand_as(R), atol=1e-5, rtol=0)
    a1 = pose.view(2, 22, 3, 2)[..., 0]
    torch.testing.assert_close(R[..., 0], a1 / a1.norm(dim=-1, keepdim=True), atol=1e-5, rtol=1e-5)


def test_zero_update_returns_mean_params():
    head = DPoSERegressor()
    for m in (head.decpose, head.decshape, head.deccam):
        torch.nn.init.zeros_(m.weight)
        torch.nn.init.zeros_(m.bias)
    out = head(torch.randn(1, 22, 720), torch.randn(1, 3), torch.randn(1, 48, 56, 56))
    torch.testing.assert_close(out.pose_6d, head.init_pose.view(1, 22, 6))
    torch.testing.assert_close(out.betas, head.init_shape)
    torch.testing.assert_close(out.cam, head.init_cam)
    # default root: 180° about x; body joints: identity
    torch.testing.assert_close(out.pose_rotmat[0, 0], torch.diag(torch.tensor([1.0, -1.0, -1.0])))
    torch.testing.assert_close(out.pose_rotmat[0, 1:], torch.eye(3).expand(21, 3, 3))


def test_pooled_depth_equals_map():
    head = DPoSERegressor(att_channels=8, hidden=4)
    att, bbox, depth = torch.randn(2, 22, 8), torch.randn(2, 3), torch.randn(2, 48, 3, 3)
    a, b = head(att, bbox, depth), head(att, bbox, depth.mean(dim=(2, 3)))
    torch.testing.assert_close(a.pose_6d, b.pose_6d)


def test_no_depth_slot():
    head = DPoSERegressor(depth_channels=0)
    assert head.token_dim == 723
    assert tuple(head.p[0].weight.shape) == (22, 32, 729)
    assert tuple(head.s[0].weight.shape) == (32, 11 + 22 * 723)
    out = head(torch.randn(1, 22, 720), torch.randn(1, 3))
    assert out.pose_6d.shape == (1, 22, 6) and out.betas.shape == (1, 11)
    with pytest.raises(ShapeError, match="`depth_feat` must be None"):
        head(torch.randn(1, 22, 720), torch.randn(1, 3), torch.randn(1, 48, 2, 2))


def test_gradients_reach_every_parameter():
    head = DPoSERegressor(att_channels=6, hidden=5, depth_channels=4)
    att = torch.randn(2, 22, 6, requires_grad=True)
    out = head(att, torch.randn(2, 3), torch.randn(2, 4, 2, 2))
    (out.pose_rotmat.sum() + out.betas.sum() + out.cam.sum()).backward()
    assert all(p.grad is not None for p in head.parameters()) and att.grad is not None


def test_errors():
    head = DPoSERegressor()
    with pytest.raises(ShapeError, match=r"`tokens` must have shape \(B, 22, 720\); got \(1, 720, 22\)"):
        head(torch.randn(1, 720, 22), torch.randn(1, 3), torch.randn(1, 48, 2, 2))
    with pytest.raises(ShapeError, match="`bbox_info` is required"):
        head(torch.randn(1, 22, 720), None, torch.randn(1, 48, 2, 2))
    msg = r"`depth_feat` must have shape \(B, 48, h, w\); got \(1, 47, 2, 2\)"
    with pytest.raises(ShapeError, match=msg):
        head(torch.randn(1, 22, 720), torch.randn(1, 3), torch.randn(1, 47, 2, 2))
    with pytest.raises(ShapeError, match=r"init_pose.*needs 132 values"):
        head.set_mean_params(torch.zeros(144), torch.zeros(11), torch.zeros(3))


def test_initial_prediction_is_the_zero_update_output():
    """The mean-pose baseline: with the decoders zeroed, forward returns exactly the start values."""
    head = DPoSERegressor(att_channels=8, hidden=4)
    with torch.no_grad():
        for m in (head.decpose, head.decshape, head.deccam):
            for p in m.parameters():
                p.zero_()
    out = head(torch.randn(3, 22, 8), torch.randn(3, 3), torch.randn(3, 48, 7, 7))
    pose, betas = head.initial_prediction(3)
    assert pose.shape == (3, 22, 3, 3) and betas.shape == (3, head.num_betas)
    torch.testing.assert_close(pose, out.pose_rotmat)
    torch.testing.assert_close(betas, out.betas)
