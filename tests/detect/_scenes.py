"""Synthetic multi-person scenes with known person boxes, for the detector tests.

People come from :class:`hpskit.data.synthetic.SyntheticHumans` (stand-in body, ``val`` split, whole
body in view, upright): each sample's crop is un-normalised, its person pixels (part map > 0) are
scaled and pasted side by side onto a smooth random background, and the box of the pasted pixels is
the ground truth.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from hpskit.data.synthetic import SyntheticConfig, SyntheticHumans
from hpskit.data.synthetic.cameras import CameraConfig

_MEAN = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
_STD = torch.tensor([0.229, 0.224, 0.225])[:, None, None]


def synthetic_people(n: int, seed: int = 0, res: int = 320):
    """n people: (n, 3, res, res) float RGB in [0, 1], (n, res, res) bool masks, (n,) facing-camera flags."""
    cam = CameraConfig(framing_weights=(1.0, 0.0, 0.0), full_fraction=(0.6, 0.9), p_lying=0.0,
                       p_any_rotation=0.0, pitch_deg=5.0, roll_deg=2.0)
    ds = SyntheticHumans(split="val", batch_size=n, config=SyntheticConfig(res=res, camera=cam),
                         backgrounds=None)
    b = ds.generate(n, seed=seed)
    img = (b.img * _STD + _MEAN).clamp(0, 1)
    mask = b.parts > 0
    # the body's front (+z of the root in SMPL-X) in the camera frame; the camera looks along +z
    front_z = b.pose_rotmat[:, 0, 2, 2]
    return img, mask, front_z < 0


def compose_scene(people: torch.Tensor, masks: torch.Tensor, heights: list[int], size=(1280, 720),
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Paste people (cropped to their mask box, scaled to ``heights`` px) left to right on a background.

    Returns:
        image (H, W, 3) uint8 and the true boxes (n, 4) xyxy float32: the pasted pixels' extent, pixel
        centres at integer coordinates (hpskit's convention).
    """
    W, H = size
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, 4, 6, generator=g) * 0.6 + 0.2
    canvas = F.interpolate(low, size=(H, W), mode="bicubic", align_corners=False)[0].clamp(0, 1)
    boxes = []
    slot = W / len(heights)
    for i, (p, m, h) in enumerate(zip(people, masks, heights)):
        ys, xs = torch.nonzero(m, as_tuple=True)
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        s = h / (y1 - y0)
        w = max(1, round((x1 - x0) * s))
        pp = F.interpolate(p[None, :, y0:y1, x0:x1], size=(h, w), mode="bilinear", align_corners=False,
                           antialias=True)[0]
        mm = F.interpolate(m[None, None, y0:y1, x0:x1].float(), size=(h, w), mode="bilinear",
                           align_corners=False)[0, 0] > 0.5
        cx = int(slot * (i + 0.5) - w / 2)
        cy = int(H - h - 20 - torch.randint(0, max(1, H - h - 40), (1,), generator=g))
        cx, cy = max(0, min(W - w, cx)), max(0, min(H - h, cy))
        region = canvas[:, cy:cy + h, cx:cx + w]
        canvas[:, cy:cy + h, cx:cx + w] = torch.where(mm, pp, region)
        yy, xx = torch.nonzero(mm, as_tuple=True)
        boxes.append([cx + int(xx.min()) - 0.5, cy + int(yy.min()) - 0.5, cx + int(xx.max()) + 0.5,
                      cy + int(yy.max()) + 0.5])
    img = (canvas.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return img, np.asarray(boxes, np.float32)
