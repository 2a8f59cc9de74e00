"""A short synthetic clip: two stand-in people walking on known straight paths that cross.

Person 0 walks left → right 4.5 m from the camera, person 1 right → left at 6 m, so person 0 passes in
front of person 1 half-way through. Poses are a simple walk cycle (hips, knees, shoulders swinging);
ground truth is kept per frame (pose, betas, translation, joints, boxes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import roma
import torch

from hpskit.render import rasterize, shade_lambert

H, W, FPS, T = 192, 256, 12.0, 24
K = torch.tensor([[260.0, 0, W / 2], [0, 260.0, H / 2], [0, 0, 1]])
S = torch.diag(torch.tensor([1.0, -1.0, -1.0]))
# SMPL-X joint ids: 1/2 hips, 4/5 knees, 16/17 shoulders, 18/19 elbows
_SWING = {1: 0.45, 2: -0.45, 16: -0.35, 17: 0.35}


@dataclass
class Clip:
    frames: np.ndarray  # (T, H, W, 3) uint8
    pose: torch.Tensor  # (P, T, 22, 3, 3)
    betas: torch.Tensor  # (P, 11)
    transl: torch.Tensor  # (P, T, 3)
    joints: torch.Tensor  # (P, T, 55, 3) camera frame
    boxes: np.ndarray  # (P, T, 4) xyxy of the projected mesh


def walk_pose(t: torch.Tensor, direction: float, phase: float) -> torch.Tensor:
    """(T,) seconds → (T, 22, 3, 3): facing the walking direction (±x of the camera), limbs swinging."""
    n = len(t)
    rv = torch.zeros(n, 22, 3)
    s = torch.sin(2 * torch.pi * 1.0 * t + phase)
    for j, amp in _SWING.items():
        rv[:, j, 0] = amp * s
    rv[:, 4, 0] = 0.5 * (1 + s).clamp(min=0)  # knees bend on the back swing
    rv[:, 5, 0] = 0.5 * (1 - s).clamp(min=0)
    rv[:, 18, 1] = -0.3
    rv[:, 19, 1] = 0.3
    R = roma.rotvec_to_rotmat(rv)
    turn = roma.rotvec_to_rotmat(torch.tensor([0.0, direction * torch.pi / 2, 0.0]))
    R[:, 0] = S @ turn  # upright (body y up → image up), facing ±x
    return R


def make_clip(body) -> Clip:
    t = torch.arange(T) / FPS
    speed = 1.2  # m/s
    paths = [(-1.4 + speed * t, 4.5, 1.0, 0.0), (1.5 - speed * t, 6.0, -1.0, 1.3)]
    g = torch.Generator().manual_seed(7)
    betas = 0.6 * torch.randn(2, 11, generator=g)
    pose = torch.stack([walk_pose(t, d, ph) for _, _, d, ph in paths])
    transl = torch.stack([torch.stack([x, torch.full_like(x, 0.2), torch.full_like(x, z)], 1)
                          for x, z, _, _ in paths])
    verts, joints = [], []
    with torch.no_grad():
        for p in range(2):
            out = body.forward_pose(pose[p], betas[p].expand(T, -1), transl=transl[p])
            verts.append(out.vertices)
            joints.append(out.joints[:, :55])
    verts, joints = torch.stack(verts), torch.stack(joints)  # (2, T, V, 3)
    uv = verts[..., :2] / verts[..., 2:] * K[0, 0] + K[:2, 2]
    boxes = torch.cat([uv.amin(2), uv.amax(2)], -1).numpy()
    boxes[..., [0, 2]] = boxes[..., [0, 2]].clip(-0.5, W - 0.5)
    boxes[..., [1, 3]] = boxes[..., [1, 3]].clip(-0.5, H - 0.5)
    faces = body.faces
    V = verts.shape[2]
    colors = torch.cat([torch.tensor([0.9, 0.4, 0.3]).expand(V, 3),
                        torch.tensor([0.3, 0.5, 0.9]).expand(V, 3)])
    frames = []
    yy, xx = np.mgrid[0:H, 0:W]
    background = np.stack([90 + 40 * yy / H, 110 + 30 * xx / W, 100 + 0 * xx], -1)
    for k in range(T):
        scene_v = verts[:, k].reshape(1, 2 * V, 3)
        scene_f = torch.cat([faces, faces + V])
        frags = rasterize(scene_v, scene_f, K[None], (H, W))
        rgb = shade_lambert(frags, scene_v, scene_f, vertex_colors=colors)[0].permute(1, 2, 0).numpy()
        mask = frags.mask[0].numpy()[..., None]
        frames.append(np.where(mask, rgb * 255, background).round().clip(0, 255).astype(np.uint8))
    return Clip(np.stack(frames), pose, betas, transl, joints, boxes)


class KnownBoxDetector:
    """Returns the true boxes of the visible people in a shuffled order; misses a person whose box is
    mostly covered by the other's (the one behind at the crossing), as a real detector would."""

    def __init__(self, clip: Clip, seed: int = 0) -> None:
        self.clip = clip
        self.rng = np.random.default_rng(seed)
        self.frame = 0
        self.missed = 0

    def __call__(self, images):
        k = self.frame
        self.frame += 1
        boxes = self.clip.boxes[:, k]
        keep = [0]
        back = boxes[1]
        front = boxes[0]
        inter = np.clip(np.minimum(back[2:], front[2:]) - np.maximum(back[:2], front[:2]), 0, None).prod()
        area = np.prod(back[2:] - back[:2])
        if inter / area < 0.6:
            keep.append(1)
        else:
            self.missed += 1
        order = self.rng.permutation(keep)
        self.truth = order  # which person each returned box is
        return [(boxes[order], np.ones(len(order)))]
