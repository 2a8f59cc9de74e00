"""DPoSELoss: presets, totals vs manual sums, per-sample masking, missing supervision, gradients."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from hpskit.core import ConfigError, ShapeError
from hpskit.geometry import axis_angle_to_rotmat
from hpskit.losses import (
    PRESETS,
    DPoSELoss,
    LossInputs,
    LossOptions,
    LossTargets,
    LossWeights,
    betas_loss,
    camera_scale_loss,
    depth_l1_loss,
    depth_mse_loss,
    depth_ssim_loss,
    gaussian_ssim,
    joints3d_loss,
    part_cross_entropy,
    pose_rotmat_loss,
    reprojection_loss,
)

B, J, V, HW = 3, 30, 40, 16
D = torch.float64


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)

    def r(*s):
        return torch.rand(*s, generator=g, dtype=D)

    pred = LossInputs(
        pose_rotmat=axis_angle_to_rotmat(r(B, 22, 3) - 0.5),
        betas=r(B, 11) - 0.5,
        cam=torch.cat([0.4 + 0.8 * r(B, 1), 0.1 * (r(B, 2) - 0.5)], -1),
        joints3d=r(B, J, 3) - 0.5,
        vertices=r(B, V, 3) - 0.5,
        depth=r(B, 1, HW, HW),
        part_logits=torch.randn(B, 23, HW, HW, generator=g, dtype=D),
    )
    depth = torch.zeros(B, 1, HW, HW, dtype=D)
    depth[:, :, 4:12, 5:11] = 0.1 + 0.9 * r(B, 1, 8, 6)
    size = torch.tensor([[1920.0, 1080.0]] * B, dtype=D)
    K = torch.tensor([[1500.0, 0, 960], [0, 1500.0, 540], [0, 0, 1]], dtype=D).expand(B, 3, 3).clone()
    tgt = LossTargets(
        pose=r(B, 66) - 0.5, betas=r(B, 10) - 0.5, joints3d=r(B, J, 3) - 0.5, vertices=r(B, V, 3) - 0.5,
        kp2d=torch.cat([size[:, None] * r(B, 24, 2), torch.ones(B, 24, 1, dtype=D)], -1),
        center=size * (0.3 + 0.4 * r(B, 2)), scale=1.0 + r(B), K=K, image_size=size,
        depth=depth, parts=torch.randint(0, 23, (B, HW, HW), generator=g),
    )
    return pred, tgt


def _terms(pred, tgt, opts: LossOptions):
    """Raw terms from the functional losses (themselves tested against hand values)."""
    if opts.depth_form == "paper":
        d = depth_l1_loss(pred.depth, tgt.depth)
        ds = depth_ssim_loss(pred.depth, tgt.depth)
    else:
        d = depth_mse_loss(pred.depth, tgt.depth)
        ds = 1 - gaussian_ssim(pred.depth, tgt.depth).mean()
    return dict(
        depth=d, depth_ssim=ds, parts_ce=part_cross_entropy(pred.part_logits, tgt.parts),
        pose=pose_rotmat_loss(pred.pose_rotmat, tgt.pose, exclude_root=opts.exclude_root),
        betas=betas_loss(pred.betas, tgt.betas),
        joints3d=((pred.joints3d[:, :24] - tgt.joints3d[:, :24]) ** 2).mean(),
        vertices=(pred.vertices - tgt.vertices).abs().mean(),
        kp2d=reprojection_loss(pred.joints3d, pred.cam, tgt.center, tgt.scale, tgt.K, tgt.image_size,
                               tgt.kp2d, num_joints=24, bbox_factor=opts.kp2d_bbox_factor),
        cam_scale=camera_scale_loss(pred.cam),
    )


def test_preset_values_and_lambda_mapping():
    w = LossWeights.preset("paper")
    # λ1..λ8 in the paper's order: depth L1, (1 − SSIM), CE, pose, shape, J3D, V3D, J2D
    lambdas = [w.depth, w.depth_ssim, w.parts_ce, w.pose, w.betas, w.joints3d, w.vertices, w.kp2d]
    assert lambdas == [0.1, 0.02, 0.1, 10, 0.01, 50, 10, 50]
    assert (w.cam_scale, w.overall) == (0.0, 1.0)
    a = LossWeights.preset("authors")
    assert a.overall == 60 and a.cam_scale == 10 and a.parts_ce == 0.1 and a.depth == 0.1
    assert a.depth_ssim == pytest.approx(0.01)
    assert (a.kp2d, a.joints3d, a.pose, a.betas, a.vertices) == pytest.approx((50, 50, 10, 0.01, 10))
    o = LossOptions.preset("authors")
    assert (o.exclude_root, o.joints_align, o.kp2d_bbox_factor, o.depth_form, o.num_joints) == (
        True, "none", True, "authors", 24)
    assert set(PRESETS) == {"paper", "authors"}


def test_paper_total_is_manual_sum():
    pred, tgt = _batch()
    total, terms = DPoSELoss(preset="paper")(pred, tgt)
    t = _terms(pred, tgt, LossOptions.preset("paper"))
    manual = (0.1 * t["depth"] + 0.02 * t["depth_ssim"] + 0.1 * t["parts_ce"] + 10 * t["pose"]
              + 0.01 * t["betas"] + 50 * t["joints3d"] + 10 * t["vertices"] + 50 * t["kp2d"])
    assert total.item() == pytest.approx(manual.item(), rel=1e-12)
    assert "raw/cam_scale" not in terms  # weight 0 → not computed
    for k, v in t.items():
        if k != "cam_scale":
            assert terms[f"raw/{k}"].item() == pytest.approx(v.item(), rel=1e-12)
    assert sum(v for k, v in terms.items() if k.startswith("weighted/")).item() == pytest.approx(total.item())


def test_authors_total_is_manual_sum():
    pred, tgt = _batch(1)
    total, terms = DPoSELoss(preset="authors")(pred, tgt)
    t = _terms(pred, tgt, LossOptions.preset("authors"))
    body = (5 * t["kp2d"] + 5 * t["joints3d"] + 1 * t["pose"] + 0.001 * t["betas"] + 1 * t["vertices"]
            + t["cam_scale"])
    depth = t["depth"] + 0.2 * (0.5 * t["depth_ssim"])
    manual = 60 * (10 * body + 0.1 * t["parts_ce"] + 0.1 * depth)
    assert total.item() == pytest.approx(manual.item(), rel=1e-12)
    # pose loss without the root: changing the predicted root changes nothing
    pred2 = dataclasses.replace(pred, pose_rotmat=pred.pose_rotmat.clone())
    pred2.pose_rotmat[:, 0] = torch.eye(3, dtype=D)
    assert DPoSELoss(preset="authors")(pred2, tgt)[1]["raw/pose"].item() == pytest.approx(
        terms["raw/pose"].item(), rel=1e-12)
    # the shipped config (no depth supervision) = this preset with has_depth all false
    tgt_nd = dataclasses.replace(tgt, has_depth=torch.zeros(B, dtype=torch.bool))
    total_nd, _ = DPoSELoss(preset="authors")(pred, tgt_nd)
    assert total_nd.item() == pytest.approx((manual - 60 * 0.1 * depth).item(), rel=1e-12)


def test_sample_without_depth_contributes_nothing():
    pred, tgt = _batch(2)
    has = torch.tensor([True, False, True])
    loss = DPoSELoss(preset="paper")
    a, ta = loss(pred, dataclasses.replace(tgt, has_depth=has))
    d2 = tgt.depth.clone()
    d2[1] = torch.rand_like(d2[1])
    b, tb = loss(pred, dataclasses.replace(tgt, depth=d2, has_depth=has))
    assert a.item() == b.item() and ta["raw/depth"].item() == tb["raw/depth"].item()
    d2[1] = float("nan")
    c, _ = loss(pred, dataclasses.replace(tgt, depth=d2, has_depth=has))
    assert c.item() == a.item()
    # the masked mean equals the mean over the two supervised samples
    sub = depth_l1_loss(pred.depth[[0, 2]], tgt.depth[[0, 2]])
    assert ta["raw/depth"].item() == pytest.approx(sub.item(), rel=1e-12)


@pytest.mark.parametrize("preset", ["paper", "authors"])
def test_no_supervision_is_zero_with_finite_gradients(preset):
    pred, tgt = _batch(3)
    leaves = {k: v.clone().requires_grad_() for k, v in dataclasses.asdict(pred).items()}
    p = LossInputs(**leaves)
    none = torch.zeros(B, dtype=torch.bool)
    tgt0 = dataclasses.replace(tgt, depth=None, has_depth=None, has_parts=none, has_smplx=none,
                               has_joints3d=none, has_vertices=none, has_kp2d=none)
    total, terms = DPoSELoss(preset=preset)(p, tgt0)
    for k in ("depth", "depth_ssim", "parts_ce", "pose", "betas", "joints3d", "vertices", "kp2d"):
        assert terms[f"raw/{k}"].item() == 0.0
    expected = 600 * camera_scale_loss(pred.cam).item() if preset == "authors" else 0.0
    assert total.item() == pytest.approx(expected)
    total.backward()
    for k, v in leaves.items():
        assert v.grad is None or torch.isfinite(v.grad).all(), k
    # a batch with every target absent still gives a differentiable exact 0 (paper: no cam term)
    tot2, _ = DPoSELoss(preset="paper")(p, LossTargets())
    assert tot2.item() == 0.0 and tot2.requires_grad
    tot2.backward()


def test_gradients_finite_and_reach_every_prediction():
    pred, tgt = _batch(4)
    leaves = {k: v.clone().requires_grad_() for k, v in dataclasses.asdict(pred).items()}
    for preset in ("paper", "authors"):
        total, _ = DPoSELoss(preset=preset)(LossInputs(**leaves), tgt)
        total.backward()
    for k, v in leaves.items():
        assert v.grad is not None and torch.isfinite(v.grad).all() and v.grad.abs().sum() > 0, k


def test_dict_inputs_and_one_hot_parts():
    pred, tgt = _batch(5)
    loss = DPoSELoss()
    ref, _ = loss(pred, tgt)
    pd = dataclasses.asdict(pred) | {"pose_6d": torch.zeros(B, 22, 6)}  # extra keys are ignored
    td = dataclasses.asdict(tgt)
    td["parts"] = F.one_hot(tgt.parts, 23).permute(0, 3, 1, 2).to(D)
    out, _ = loss(pd, td)
    assert out.item() == pytest.approx(ref.item(), rel=1e-12)
    with pytest.raises(ConfigError, match="cam"):
        loss({"pose_rotmat": pred.pose_rotmat, "betas": pred.betas}, tgt)


def test_errors():
    pred, tgt = _batch(6)
    with pytest.raises(ShapeError, match=r"targets.depth` is None but `targets.has_depth"):
        DPoSELoss()(pred, dataclasses.replace(tgt, depth=None, has_depth=torch.ones(B, dtype=torch.bool)))
    with pytest.raises(ShapeError, match=r"\['depth'\].*weights.depth = 0"):
        DPoSELoss()(dataclasses.replace(pred, depth=None), tgt)
    # no depth branch: fine when the depth weights are 0 or no sample has depth
    w = dataclasses.replace(LossWeights.preset("paper"), depth=0.0, depth_ssim=0.0)
    DPoSELoss(weights=w)(dataclasses.replace(pred, depth=None), tgt)
    DPoSELoss()(dataclasses.replace(pred, depth=None), dataclasses.replace(tgt, depth=None))
    with pytest.raises(ShapeError, match="needs `targets.K`"):
        DPoSELoss()(pred, dataclasses.replace(tgt, K=None))
    with pytest.raises(ShapeError, match="has_kp2d"):
        DPoSELoss()(pred, dataclasses.replace(tgt, has_kp2d=torch.ones(B + 1, dtype=torch.bool)))
    with pytest.raises(ConfigError, match="Unknown loss preset 'cliff'"):
        DPoSELoss(preset="cliff")
    with pytest.raises(ConfigError, match="pose=-1"):
        LossWeights(pose=-1.0)
    with pytest.raises(ConfigError, match="depth_form.*ssim_window"):
        LossOptions(depth_form="x", ssim_window=8)


def test_options_reach_the_terms():
    pred, tgt = _batch(7)
    opts = dataclasses.replace(LossOptions.preset("paper"), joints_align="pelvis", pelvis=(1, 2),
                               num_joints=20, exclude_root=True, kp2d_bbox_factor=True)
    _, terms = DPoSELoss(options=opts)(pred, tgt)
    ref = joints3d_loss(pred.joints3d, tgt.joints3d, num_joints=20, align="pelvis", pelvis=[1, 2])
    assert terms["raw/joints3d"].item() == pytest.approx(ref.item(), rel=1e-12)
    assert terms["raw/pose"].item() == pytest.approx(
        pose_rotmat_loss(pred.pose_rotmat, tgt.pose, exclude_root=True).item(), rel=1e-12)
    ref2d = reprojection_loss(pred.joints3d, pred.cam, tgt.center, tgt.scale, tgt.K, tgt.image_size, tgt.kp2d,
                              num_joints=20, bbox_factor=True)
    assert terms["raw/kp2d"].item() == pytest.approx(ref2d.item(), rel=1e-12)
