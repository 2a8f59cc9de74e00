"""Fixed random loss inputs for the sync-free loss tests (tests/losses/test_no_host_reads.py), edge cases
included. Importable from the test (importlib mode: tests/losses is not a package, so the test adds its folder
to ``sys.path``)."""

from __future__ import annotations

import torch

from hpskit.geometry import axis_angle_to_rotmat
from hpskit.losses import LossInputs, LossTargets

B, J, V, P, H = 4, 24, 60, 23, 16
CASES = ("full", "mixed", "none_supervised", "all_ignore", "missing_depth", "empty_foreground", "soft_parts")


def make_case(name: str, seed: int = 0) -> tuple[LossInputs, LossTargets]:
    """Predictions and targets of case ``name`` (B = 4 samples, 16×16 maps, 60 vertices, 24 joints)."""
    g = torch.Generator().manual_seed(seed)

    def rn(*shape, scale=1.0):
        return scale * torch.randn(*shape, generator=g)

    pred = LossInputs(
        pose_rotmat=axis_angle_to_rotmat(rn(B, 22, 3, scale=0.5)), betas=rn(B, 11),
        cam=torch.stack([0.6 + 0.3 * torch.rand(B, generator=g), rn(B, scale=0.1), rn(B, scale=0.1)], 1),
        joints3d=rn(B, 127, 3, scale=0.4), vertices=rn(B, V, 3, scale=0.4),
        depth=torch.rand(B, 1, H, H, generator=g), part_logits=rn(B, P, H, H))
    fg = torch.rand(B, 1, H, H, generator=g) > 0.4
    depth = torch.where(fg, 0.1 + 0.9 * torch.rand(B, 1, H, H, generator=g), 0.0)
    parts = torch.randint(0, P, (B, H, H), generator=g)
    parts = torch.where(torch.rand(B, H, H, generator=g) < 0.1, -100, parts)
    K = torch.tensor([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]]).expand(B, 3, 3).clone()
    kp2d = torch.cat([320 + 100 * rn(B, J, 2), (torch.rand(B, J, 1, generator=g) > 0.2).float()], -1)
    kp2d[:, :3, 2] = -2.0  # the authors' unusable marker
    ones = torch.ones(B, dtype=torch.bool)
    tgt = LossTargets(
        pose=axis_angle_to_rotmat(rn(B, 22, 3, scale=0.5)), betas=rn(B, 10), joints3d=rn(B, J, 3, scale=0.4),
        vertices=rn(B, V, 3, scale=0.4), kp2d=kp2d, center=320 + 20 * rn(B, 2),
        scale=1.0 + 0.2 * torch.rand(B, generator=g), K=K,
        image_size=torch.tensor([[640.0, 480.0]]).expand(B, 2).clone(), depth=depth,
        parts=parts, has_smplx=ones.clone(), has_joints3d=ones.clone(), has_vertices=ones.clone(),
        has_kp2d=ones.clone(), has_depth=ones.clone(), has_parts=ones.clone())
    if name == "mixed":  # some samples unsupervised per group, with NaN in their targets
        for flag, fields in (("has_smplx", ("pose", "betas")), ("has_joints3d", ("joints3d",)),
                             ("has_vertices", ("vertices",)), ("has_kp2d", ("kp2d",)),
                             ("has_depth", ("depth",)), ("has_parts", ())):
            m = torch.rand(B, generator=g) > 0.5
            m[0], m[1] = True, False
            setattr(tgt, flag, m)
            for f in fields:
                getattr(tgt, f)[1] = float("nan")
    elif name == "none_supervised":  # terms whose flag is false for every sample
        for flag in ("has_depth", "has_parts", "has_kp2d", "has_vertices"):
            setattr(tgt, flag, torch.zeros(B, dtype=torch.bool))
        tgt.depth[:] = float("nan")
    elif name == "all_ignore":  # every part label of the batch is ignore_index
        tgt.parts = torch.full((B, H, H), -100)
    elif name == "missing_depth":  # no depth target and no depth prediction (AGORA-like batch)
        tgt.depth, tgt.has_depth, pred.depth = None, None, None
    elif name == "empty_foreground":  # a flagged sample with an empty foreground; one all-ignore part map
        tgt.depth[2] = 0.0
        tgt.parts[3] = -100
    elif name == "soft_parts":  # one-hot part maps (the authors' form)
        onehot = torch.nn.functional.one_hot(parts.clamp(min=0), P).permute(0, 3, 1, 2).float()
        tgt.parts = onehot
    return pred, tgt
