"""Render the pictures of docs/standin.md with hpskit itself (hpskit.body + hpskit.render; no Anny).

    python tools/standin_pictures.py            # writes docs/img/standin_*.png

Camera: OpenCV (x right, y down, z forward); the body is turned 180 degrees about x into it, as
D-PoSE's mean root orientation does, and seen from the front.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import roma
import torch
from PIL import Image, ImageDraw

from hpskit.body import PART_PALETTE, SMPLXBody
from hpskit.body.standin import standin_path, standin_vertex_parts
from hpskit.render import face_labels_from_vertex_labels, rasterize, render_rgb

OUT = Path(__file__).resolve().parents[1] / "docs" / "img"
DEG = np.pi / 180


def body_pose(**joints) -> torch.Tensor:
    """(1, 21, 3, 3) from {'j<k>': (rx, ry, rz) degrees} for SMPL-X body joints k = 1..21."""
    aa = torch.zeros(21, 3)
    for k, v in joints.items():
        aa[int(k[1:]) - 1] = torch.tensor(v, dtype=torch.float32) * DEG
    return roma.rotvec_to_rotmat(aa)[None]


POSES = {
    "T-pose, betas 0": (body_pose(), {}),
    "walking, beta0 = +2 (tall)": (body_pose(j1=(-30, 0, 0), j2=(20, 0, 0), j4=(45, 0, 0), j5=(10, 0, 0),
                                             j16=(0, 0, -70), j17=(0, 0, 70), j18=(0, -35, 0), j19=(0, 35, 0),
                                             j3=(5, 0, 0)), {0: 2.0}),
    "sitting, beta2 = +2": (body_pose(j1=(-85, 0, 5), j2=(-85, 0, -5), j4=(90, 0, 0), j5=(90, 0, 0),
                                      j16=(0, -20, -60), j17=(0, 20, 60), j18=(0, -70, 0), j19=(0, 70, 0),
                                      j15=(0, 25, 0)), {2: 2.0}),
    "reaching, beta0 = -2 (short)": (body_pose(j16=(0, 0, 50), j17=(0, 60, 30), j19=(0, 40, 0), j3=(20, 0, 0),
                                               j6=(10, 10, 0), j9=(10, 0, 0), j2=(0, 0, -15), j5=(30, 0, 0),
                                               j8=(-10, 0, 0), j12=(0, -20, 0)), {0: -2.0}),
    "arms up, beta4 = +2": (body_pose(j16=(0, 0, 80), j17=(0, 0, -80), j18=(0, 0, 20), j19=(0, 0, -20),
                                      j1=(0, 0, 10), j2=(0, 0, -10), j15=(15, 0, 0)), {4: 2.0}),
}


def camera(verts: torch.Tensor, size: tuple[int, int], focal: float = 900.0):
    """Body -> OpenCV camera (180 deg about x), distance chosen to frame the body; (verts_cam, K)."""
    R = torch.diag(torch.tensor([1.0, -1.0, -1.0]))
    v = verts @ R.T
    centre = (v.amax(1) + v.amin(1)) / 2
    extent = (v.amax(1) - v.amin(1))[:, :2]
    H, W = size
    dist = focal * torch.maximum(extent[:, 0] / (0.9 * W), extent[:, 1] / (0.9 * H))
    t = torch.stack([-centre[:, 0], -centre[:, 1], dist - centre[:, 2] + 0.5 * extent.amax(1)], 1)
    v = v + t[:, None]
    K = torch.tensor([[focal, 0.0, (W - 1) / 2], [0.0, focal, (H - 1) / 2], [0.0, 0.0, 1.0]])
    return v, K


def look_at(verts: torch.Tensor, centre, extent: float, R, size: int = 320, dist: float = 1.0):
    """Close-up camera: ``R`` (body -> camera axes), ``centre`` in view, ``extent`` metres across."""
    R = torch.as_tensor(R, dtype=torch.float32)
    v = (verts - torch.as_tensor(centre, dtype=torch.float32)) @ R.T + torch.tensor([0.0, 0.0, dist])
    f = size * dist / extent
    K = torch.tensor([[f, 0.0, (size - 1) / 2], [0.0, f, (size - 1) / 2], [0.0, 0.0, 1.0]])
    return v, K


def marks(img: np.ndarray, uv: np.ndarray, colour, r: int = 3) -> np.ndarray:
    im = Image.fromarray(img)
    draw = ImageDraw.Draw(im)
    for u, v in uv:
        draw.ellipse([u - r, v - r, u + r, v + r], fill=colour, outline=(0, 0, 0))
    return np.asarray(im)


def details(body, faces, hands) -> np.ndarray:
    """Face landmarks + face extras, a relaxed hand with finger tips, a foot with toes and heel, skeleton."""
    front = [[1, 0, 0], [0, -1, 0], [0, 0, -1]]
    top = [[1, 0, 0], [0, 0, 1], [0, -1, 0]]
    side = [[0, 0, -1], [0, -1, 0], [-1, 0, 0]]
    with torch.no_grad():
        out = body(global_orient=torch.eye(3)[None], body_pose=body_pose(), betas=torch.zeros(1, 11),
                   left_hand_pose=hands[0], right_hand_pose=hands[1])
    verts, joints = out.vertices, out.joints
    j = joints[0]
    tiles = []
    blue, red = (40, 90, 255), (255, 40, 40)
    views = (
        (j[15] + torch.tensor([0.0, 0.02, 0.0]), 0.26, front, [(range(76, 127), blue), (range(55, 60), red)],
         "51 face landmarks, nose/eyes/ears"),
        (j[20] + torch.tensor([0.1, 0.0, 0.0]), 0.26, top, [(range(66, 71), red), (range(25, 40), blue)],
         "relaxed hand: finger joints, tips"),
        (j[7] + torch.tensor([0.0, -0.03, 0.06]), 0.3, side, [(range(60, 63), red), ([7, 10], blue)],
         "foot: ankle, toes joint, big/small toe, heel"),
        (j[3] + torch.tensor([0.0, -0.15, 0.0]), 2.0, front, [(range(0, 25), blue)], "skeleton: body joints"),
    )
    for centre, extent, R, groups, text in views:
        v, K = look_at(verts, centre, extent, R)
        rgb = render_rgb(v, faces, K, (320, 320), background=1.0)[0].permute(1, 2, 0).clamp(0, 1).numpy()
        rgb = (rgb * 255).astype(np.uint8)
        pj, _ = look_at(joints, centre, extent, R)
        uv = (pj[0] @ K.T)[:, :2] / (pj[0] @ K.T)[:, 2:]
        for ids, colour in groups:
            rgb = marks(rgb, uv[list(ids)].numpy(), colour)
        tiles.append(label(rgb, text))
    return np.concatenate(tiles, 1)


def depth_image(depth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    d = np.zeros_like(depth)
    lo, hi = depth[mask].min(), depth[mask].max()
    d[mask] = 1.0 - (depth[mask] - lo) / max(hi - lo, 1e-6)  # near = bright
    rgb = (matplotlib.colormaps["magma"](d)[..., :3] * 255).astype(np.uint8)
    rgb[~mask] = 255
    return rgb


def label(img: np.ndarray, text: str) -> np.ndarray:
    im = Image.fromarray(img)
    ImageDraw.Draw(im).text((6, 4), text, fill=(0, 0, 0))
    return np.asarray(im)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    body = SMPLXBody("standin", num_betas=11)
    faces = body.faces
    parts = standin_vertex_parts()
    palette = torch.as_tensor(np.asarray(PART_PALETTE), dtype=torch.float32) / 255.0
    face_col = palette[face_labels_from_vertex_labels(faces, parts)]
    with np.load(standin_path()) as z:  # relaxed hands (the file's mean hand pose)
        hands = [roma.rotvec_to_rotmat(torch.from_numpy(z[k]).reshape(1, 15, 3))
                 for k in ("hands_meanl", "hands_meanr")]
    size = (384, 224)
    panels = []
    for name, (pose, betas) in POSES.items():
        b = torch.zeros(1, 11)
        for k, val in betas.items():
            b[0, k] = val
        with torch.no_grad():
            out = body(global_orient=torch.eye(3)[None], body_pose=pose, betas=b, left_hand_pose=hands[0],
                       right_hand_pose=hands[1])
        v, K = camera(out.vertices, size)
        frags = rasterize(v, faces, K, size)
        rgb = render_rgb(v, faces, K, size, face_colors=face_col, background=1.0)[0].permute(1, 2, 0)
        rgb = (rgb.clamp(0, 1).numpy() * 255).astype(np.uint8)
        dep = depth_image(frags.depth[0].numpy(), frags.mask[0].numpy())
        panels.append(np.concatenate([label(rgb, name), dep], 1))
    rows = [np.concatenate(panels[i:i + 3] + [np.full_like(panels[0], 255)] * (3 - len(panels[i:i + 3])), 1)
            for i in range(0, len(panels), 3)]
    Image.fromarray(np.concatenate(rows, 0)).save(OUT / "standin_poses.png", optimize=True)

    # shapes: T-pose, clay, each of the first betas at -2 / +2
    clay = []
    for k in range(6):
        for val in (-2.0, 2.0):
            b = torch.zeros(1, 11)
            b[0, k] = val
            with torch.no_grad():
                out = body(global_orient=torch.eye(3)[None], betas=b, left_hand_pose=hands[0],
                           body_pose=body_pose(j16=(0, 0, -60), j17=(0, 0, 60)), right_hand_pose=hands[1])
            clay.append(out.vertices)
    verts = torch.cat(clay)
    v, K = camera(verts, (320, 160), focal=700.0)
    v = v - v.mean(1, keepdim=True) + v.mean((0, 1))  # same distance for all: heights compare
    rgb = render_rgb(v, faces, K, (320, 160), background=1.0).permute(0, 2, 3, 1).clamp(0, 1).numpy()
    tiles = [label((r * 255).astype(np.uint8), f"beta{i // 2} = {'-2' if i % 2 == 0 else '+2'}")
             for i, r in enumerate(rgb)]
    Image.fromarray(np.concatenate(tiles, 1)).save(OUT / "standin_shapes.png", optimize=True)
    Image.fromarray(details(body, faces, hands)).save(OUT / "standin_details.png", optimize=True)
    print("wrote", sorted(p.name for p in OUT.glob("standin_*.png")))


if __name__ == "__main__":
    main()
