"""Whole pictures of several people, drawn the way :class:`~hpskit.data.synthetic.SyntheticHumans` draws
its training crops (same clothes, skin, hair, lighting and finger curl), at poses and places you choose.

Training crops show one person each; demos, detectors, video tests and the shipped model's examples need a
full image with several people at known positions. :func:`render_people` poses every person with the body
model, rasterizes each one into the full image, keeps the nearest surface per pixel, shades it with the
engine's appearance model and pastes it over a background. Everything it returns is exact ground truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from hpskit.core import ShapeError
from hpskit.render import rasterize

from .appearance import sample_appearance, shade_pixels, vertex_regions
from .poses import hand_curl
from .render import foreground_attributes, part_map

__all__ = ["Scene", "render_people"]


@dataclass
class Scene:
    """A rendered picture of ``n`` people and its ground truth.

    Attributes:
        image: (H, W, 3) uint8 RGB.
        boxes: (n, 4) xyxy boxes of each person's visible pixels (float, pixel edges); a person with no
            visible pixel gets NaN.
        visible: (n,) visible pixels per person.
        owner: (H, W) long, index of the person seen at each pixel, -1 on the background.
        parts: (H, W) long part labels (0 = background).
        vertices: (n, V, 3) camera-frame vertices as drawn (curled fingers), metres.
        joints: (n, J, 3) camera-frame joints, metres.
        K: (3, 3) intrinsics.
    """

    image: Tensor
    boxes: Tensor
    visible: Tensor
    owner: Tensor
    parts: Tensor
    vertices: Tensor
    joints: Tensor
    K: Tensor


@torch.no_grad()
def render_people(engine, pose_rotmat: Tensor, betas: Tensor, transl: Tensor, K: Tensor,
                  image_size: tuple[int, int], *, seed: int = 0, background: Tensor | None = None) -> Scene:
    """Draw several posed people into one picture.

    Args:
        engine: A :class:`~hpskit.data.synthetic.SyntheticHumans` (its body, part labels, appearance config).
        pose_rotmat: (n, 22, 3, 3) SMPL-X rotations (0 = global orientation in the camera frame).
        betas: (n, num_betas) shape.
        transl: (n, 3) camera-frame translation, metres.
        K: (3, 3) intrinsics.
        image_size: ``(W, H)`` in pixels.
        seed: Seed of the clothes, lighting and finger curl.
        background: Optional (3, H, W) float image in [0, 1]; default a mid-grey vertical gradient.

    Returns:
        A :class:`Scene`.
    """
    n = pose_rotmat.shape[0]
    if pose_rotmat.shape[1:] != (22, 3, 3) or betas.shape[0] != n or transl.shape != (n, 3):
        raise ShapeError(f"render_people: need pose_rotmat (n, 22, 3, 3), betas (n, B), transl (n, 3); got "
                         f"{tuple(pose_rotmat.shape)}, {tuple(betas.shape)}, {tuple(transl.shape)}.")
    W, H = int(image_size[0]), int(image_size[1])
    dev, dt = engine.device, engine.body.v_template.dtype
    g = torch.Generator().manual_seed(int(seed))
    cfg = engine.config
    lo, hi = cfg.pose.hand_curl_deg
    curl = (lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64)) * math.pi / 180
    left, right = hand_curl(curl, 0.7 + 0.6 * torch.rand(n, 15, generator=g, dtype=torch.float64))
    app = sample_appearance(n, cfg.appearance, g)
    to = dict(device=dev, dtype=dt)
    pose = pose_rotmat.to(**to)
    out = engine.body(pose[:, :1], pose[:, 1:], betas.to(**to), left_hand_pose=left.to(**to),
                      right_hand_pose=right.to(**to), transl=transl.to(**to))
    verts = out.vertices
    Kd = K.to(**to).reshape(1, 3, 3).expand(n, 3, 3)
    frags = rasterize(verts, engine.faces, Kd, (H, W))
    depth = torch.where(frags.mask, frags.depth, torch.full_like(frags.depth, float("inf")))
    nearest = depth.argmin(0)  # (H, W)
    any_fg = frags.mask.any(0)
    owner = torch.where(any_fg, nearest, -1)
    keep = frags.mask & (torch.arange(n, device=dev)[:, None, None] == owner[None])
    app_d = {k: v.to(dev) if not v.is_floating_point() else v.to(**to) for k, v in app.items()}
    px = foreground_attributes(frags, engine.faces, keep, verts, engine.regions.rest,
                               vertex_regions(engine.regions, app_d))
    colour = shade_pixels(px["b"], px["value"], px["rest"], px["normal"], app_d).to(dt)
    if background is None:
        ramp = torch.linspace(0.62, 0.38, H, device=dev, dtype=dt)
        background = ramp[None, :, None].expand(3, H, W)
    img = background.to(**to).reshape(3, H * W).T.clone()
    img[px["pix"]] = colour
    image = (img.T.reshape(3, H, W).clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0)
    parts = part_map(frags, engine.faces, engine.vertex_parts, keep).amax(0)
    boxes = torch.full((n, 4), float("nan"), device=dev, dtype=dt)
    visible = keep.flatten(1).sum(1)
    for i in range(n):
        ys, xs = torch.nonzero(keep[i], as_tuple=True)
        if len(xs):
            boxes[i] = torch.stack([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]).to(dt)
    return Scene(image=image, boxes=boxes, visible=visible, owner=owner, parts=parts, vertices=verts,
                 joints=out.joints, K=K.to(**to))
