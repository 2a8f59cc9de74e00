"""hpskit demo: render a few people, run D-PoSE on the picture, and draw what it predicts.

    python examples/demo.py --out demo_out                       # random weights, HRNet-W48, CPU
    python examples/demo.py --out demo_out --encoder hrnet_w18   # smaller and faster
    python examples/demo.py --out demo_out --weights path/or/org-name   # trained weights

Runs offline with no licence-gated file: people are the licence-free stand-in body (or your SMPL-X model when
$HPSKIT_BODY_MODELS points to it), rendered with hpskit.render over a procedural floor at a known camera, with
boxes from the renders (standing in for a person detector). Writes to --out:

    01_input_boxes.png   the input picture and the person boxes
    02_mesh_overlay.png  predicted SMPL-X meshes drawn with the predicted camera
    03_depth.png         predicted relative depth, pasted back into the image (nearest person on top)
    04_parts.png         predicted part labels | part labels rendered from the true bodies
    05_crops.png         per person: network crop, crop depth, crop parts
    outputs.json         the Prediction's fields and shapes, settings, timings

With random weights (the default) the predicted poses, depth and parts are meaningless: the demo then shows
the pipeline, not the model. Trained weights come from recipes/dpose/train.py or from the authors' released
checkpoint through hpskit.models.convert_dpose.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from hpskit.body import PART_PALETTE, vertex_parts_from_weights
from hpskit.geometry import axis_angle_to_rotmat, crop_images, intrinsics_from_focal
from hpskit.models import DPoSE, DPoSEConfig
from hpskit.render import overlay, part_labels_from_fragments, rasterize, shade_lambert

PERSON_COLORS = [(0.85, 0.35, 0.3), (0.3, 0.55, 0.85), (0.4, 0.75, 0.4), (0.85, 0.7, 0.3), (0.7, 0.4, 0.8)]
SKIN, PANTS, SHOES = (0.86, 0.68, 0.56), (0.2, 0.22, 0.3), (0.12, 0.1, 0.1)
PANTS_PARTS, SHOE_PARTS = {2, 5, 14, 20, 22}, {6, 7, 12, 18}
SKIN_PARTS = {1, 4, 15, 16, 17, 21}


def log(msg: str, t0: float) -> None:
    print(f"[{time.time() - t0:6.1f}s] {msg}", flush=True)


def make_people(body, n: int, g: torch.Generator, half_fov: float):
    """n posed bodies side by side, 3.5–6 m from the camera: (vertices (n, V, 3), rotations, betas).

    ``half_fov`` = W / (2 fx): the people are spread over 80 % of the view's width.
    """
    pose = torch.zeros(n, 22, 3)
    yaw = (torch.rand(n, generator=g) - 0.5) * 1.6
    try:  # natural poses from the synthetic-data engine's sampler, when this hpskit has it
        from hpskit.data.synthetic import PoseSampler

        pose = PoseSampler().sample(n, g).float()  # 0 = pelvis tilt (body frame), 1..21 body joints
    except (ImportError, AttributeError, TypeError):  # a hand-set relaxed standing pose otherwise
        arms = 0.9 + 0.4 * torch.rand(n, generator=g)  # lower the T-pose arms
        pose[:, 16, 2], pose[:, 17, 2] = -arms, arms
        pose[:, 18, 1], pose[:, 19, 1] = -0.6 * torch.rand(n, generator=g), 0.6 * torch.rand(n, generator=g)
        pose[:, 1, 0], pose[:, 2, 0] = -0.3 * torch.rand(n, generator=g), 0.3 * torch.rand(n, generator=g)
        pose[:, 4, 0], pose[:, 5, 0] = 0.5 * torch.rand(n, generator=g), 0.2 * torch.rand(n, generator=g)
    R = axis_angle_to_rotmat(pose)
    # root: upright and facing the camera (180° about x: camera y points down), turned by yaw, then tilted
    face = axis_angle_to_rotmat(torch.tensor([math.pi, 0.0, 0.0])).expand(n, 3, 3)
    turn = axis_angle_to_rotmat(torch.stack([torch.zeros(n), yaw, torch.zeros(n)], -1))
    R[:, 0] = face @ turn @ R[:, 0]
    betas = torch.randn(n, body.num_betas, generator=g) * 0.6
    with torch.no_grad():
        verts = body.forward_pose(R, betas).vertices
    # every sole on the floor 1 m below the camera (camera y points down, so the soles are the max y)
    floor_y = 1.0 - verts[..., 1].amax(1)
    z = 3.5 + 2.5 * torch.rand(n, generator=g)
    x = ((torch.arange(n) + 0.5) / n * 2 - 1) * 0.8 * z * half_fov  # spread over the view's width
    transl = torch.stack([x, floor_y, z], -1)
    return verts + transl[:, None], R, betas


def floor_background(K: torch.Tensor, H: int, W: int, floor_y: float) -> torch.Tensor:
    """Sky gradient and a checkered floor plane y = floor_y (camera frame), as a (3, H, W) float image."""
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    Kinv = np.linalg.inv(K.double().numpy())
    rays = np.einsum("ij,jhw->ihw", Kinv, np.stack([u, v, np.ones_like(u)]))
    sky = np.stack([0.55 + 0.2 * v / H, 0.7 + 0.15 * v / H, 0.9 + 0.0 * v]) * np.ones((3, H, W))
    ground = rays[1] > 1e-6  # rays that go down hit the floor at distance t
    t = floor_y / np.where(ground, rays[1], 1.0)
    X, Z = rays[0] * t, t
    checker = ((np.floor(X / 0.6) + np.floor(Z / 0.6)) % 2)[None]
    floor = np.where(checker > 0, 0.62, 0.48) * np.array([1.0, 0.95, 0.85])[:, None, None]
    fog = np.clip(Z / 30.0, 0, 1)[None]
    floor = floor * (1 - fog) + np.array([0.75, 0.78, 0.82])[:, None, None] * fog
    return torch.from_numpy(np.where(ground[None], floor, sky)).float()


def clothes(labels: torch.Tensor, shirt) -> torch.Tensor:
    col = torch.tensor(shirt).expand(labels.shape[0], 3).clone()
    for parts, c in ((SKIN_PARTS, SKIN), (PANTS_PARTS, PANTS), (SHOE_PARTS, SHOES)):
        col[torch.isin(labels, torch.tensor(sorted(parts)))] = torch.tensor(c)
    return col


def scene_mesh(verts: torch.Tensor, faces: torch.Tensor):
    """Concatenate n meshes of one topology into one: (1, n·V, 3), (n·F, 3), person id per face."""
    n, V = verts.shape[:2]
    f = torch.cat([faces + i * V for i in range(n)])
    return verts.reshape(1, -1, 3), f, torch.arange(n).repeat_interleave(faces.shape[0])


def to_png(img: torch.Tensor) -> np.ndarray:
    """(3, H, W) float [0, 1] or uint8 → (H, W, 3) uint8 BGR for cv2."""
    if img.is_floating_point():
        img = (img.clamp(0, 1) * 255).round().to(torch.uint8)
    return cv2.cvtColor(img.permute(1, 2, 0).cpu().numpy(), cv2.COLOR_RGB2BGR)


def stretch(d: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Min-max normalise a depth map over ``valid`` pixels for display."""
    v = d[valid] if valid is not None else d
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < 1e-6:  # a flat map (e.g. random weights): show it mid-scale
        return np.full_like(d, 0.5)
    return (d - lo) / (hi - lo)


def colorize_depth(d: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    out = cv2.applyColorMap((np.clip(d, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS)
    if valid is not None:
        out[~valid] = 0
    return out


def caption(img: np.ndarray, text: str) -> None:
    """Write ``text`` on a dark band at the top of a BGR image, in place."""
    img[:30] = (img[:30] * 0.35).astype(np.uint8)
    cv2.putText(img, text, (8, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="demo_out", help="output folder")
    ap.add_argument("--encoder", default="hrnet_w48",
                    help="encoder of a random-weight model (hrnet_w18 is faster)")
    ap.add_argument("--weights", default=None, help="a save_pretrained folder or a Hub id (default: random)")
    ap.add_argument("--people", type=int, default=3)
    ap.add_argument("--size", default="640x480", help="image WxH")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = ap.parse_args()
    t0 = time.time()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    W, H = (int(s) for s in args.size.lower().split("x"))
    g = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)

    if args.weights:
        log(f"loading weights from {args.weights}", t0)
        model = DPoSE.from_pretrained(args.weights)
        random_weights = False
    else:
        log(f"building a RANDOM-WEIGHT D-PoSE ({args.encoder})", t0)
        model = DPoSE(DPoSEConfig(encoder=args.encoder))
        random_weights = True
    body = model.body_model
    log(f"{model.num_parameters():,} parameters; body model: "
        f"{'licence-free stand-in body' if body.is_standin else body.model_path}", t0)

    log(f"rendering {args.people} people into a {W}x{H} picture", t0)
    K = intrinsics_from_focal(torch.tensor([1.1 * W]), W, H)
    verts, _, _ = make_people(body, args.people, g, half_fov=W / 2 / float(K[0, 0, 0]))
    parts = vertex_parts_from_weights(body.lbs_weights.float()).cpu()
    sv, sf, owner = scene_mesh(verts, body.faces.cpu())
    colors = torch.cat([clothes(parts, PERSON_COLORS[i % len(PERSON_COLORS)]) for i in range(args.people)])
    frags = rasterize(sv, sf, K, (H, W))
    rgb = shade_lambert(frags, sv, sf, vertex_colors=colors)[0]
    background = floor_background(K[0], H, W, float(verts[..., 1].max()))
    image = torch.where(frags.mask[0][None], rgb, background)
    image = (image.clamp(0, 1) * 255).round().to(torch.uint8)
    gt_parts = part_labels_from_fragments(frags, sf, parts.repeat(args.people))[0]
    # boxes from the visible pixels of each person (a detector's job in real use)
    who = torch.where(frags.mask[0], owner[frags.face_idx[0].clamp(min=0)], -1)
    boxes = []
    for i in range(args.people):
        ys, xs = torch.nonzero(who == i, as_tuple=True)
        if len(xs) < 50:
            print(f"  person {i} is (almost) hidden; no box")
            continue
        boxes.append([float(xs.min()), float(ys.min()), float(xs.max()) + 1, float(ys.max()) + 1])
    boxes = torch.tensor(boxes)

    log(f"running DPoSE.predict on {args.device}", t0)
    model.to(args.device)
    t_pred = time.time()
    pred = model.predict(image, boxes)  # one image, (n, 4) boxes; default K = √(W²+H²), centre
    t_pred = time.time() - t_pred
    pred_cpu = {k: (v.cpu() if isinstance(v, torch.Tensor) else v) for k, v in vars(pred).items()}
    log(f"predicted {len(pred)} people in {t_pred:.1f}s; transl z = "
        f"{[round(float(z), 2) for z in pred.transl[:, 2]]} m", t0)

    log("drawing", t0)
    draw = to_png(image).copy()
    for i, b in enumerate(boxes.round().int().tolist()):
        cv2.rectangle(draw, b[:2], b[2:], (0, 0, 255), 2)
        cv2.putText(draw, str(i), (b[0] + 3, b[1] + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 255), 2)
    cv2.imwrite(str(out / "01_input_boxes.png"), draw)

    pv, pf, _ = scene_mesh(pred_cpu["vertices"], pred_cpu["faces"])
    pfr = rasterize(pv, pf, pred_cpu["K"][:1], (H, W))
    pcol = torch.cat([torch.tensor(PERSON_COLORS[i % len(PERSON_COLORS)]).expand(verts.shape[1], 3)
                      for i in range(len(pred))])
    mesh = shade_lambert(pfr, pv, pf, vertex_colors=pcol)
    mesh_img = to_png(overlay(image[None].float() / 255, mesh, pfr.mask, alpha=0.85)[0]).copy()
    caption(mesh_img, "predicted meshes" + (" (random weights)" if random_weights else ""))
    cv2.imwrite(str(out / "02_mesh_overlay.png"), mesh_img)
    if not bool(pfr.mask.any()):
        print("  note: no predicted mesh is in front of the camera (expected with random weights)")

    order = torch.argsort(pred_cpu["transl"][:, 2], descending=True)  # far first, nearest drawn last
    dimmed = (to_png(image) * 0.35).astype(np.uint8)
    if pred_cpu["depth"] is not None:
        depth_img = dimmed.copy()
        for k in order.tolist():
            d = pred_cpu["depth"][k].numpy()
            valid = d > 0
            depth_img[valid] = colorize_depth(stretch(d, valid), valid)[valid]
        note = " (random weights)" if random_weights else ""
        caption(depth_img, "predicted relative depth, per-person min-max (near = dark)" + note)
        cv2.imwrite(str(out / "03_depth.png"), depth_img)
    palette = PART_PALETTE.numpy()[:, ::-1]  # RGB → BGR
    part_img = dimmed.copy()
    for k in order.tolist():
        lab = pred_cpu["part_labels"][k].numpy()
        part_img[lab > 0] = palette[lab[lab > 0]]
    gt_img = dimmed.copy()
    gt = gt_parts.numpy()
    gt_img[gt > 0] = palette[gt[gt > 0]]
    caption(part_img, "predicted parts" + (" (random weights)" if random_weights else ""))
    caption(gt_img, "parts of the rendered bodies")
    cv2.imwrite(str(out / "04_parts.png"), np.concatenate([part_img, gt_img], axis=1))

    R = 160
    crops = crop_images(image[None].float().expand(len(pred), -1, -1, -1) / 255, pred_cpu["center"],
                        pred_cpu["scale"], res=224)
    rows = []
    for k in range(len(pred)):
        tiles = [to_png(crops[k])]
        if pred_cpu["depth_crop"] is not None:
            tiles.append(colorize_depth(stretch(pred_cpu["depth_crop"][k, 0].numpy())))
        tiles.append(np.ascontiguousarray(palette[pred_cpu["part_labels_crop"][k].numpy()]).astype(np.uint8))
        rows.append(np.concatenate([cv2.resize(t, (R, R), interpolation=cv2.INTER_AREA) for t in tiles], 1))
    header = np.zeros((26, rows[0].shape[1], 3), np.uint8)
    names = ["network crop"] + (["depth (min-max)"] if pred_cpu["depth_crop"] is not None else []) + ["parts"]
    for j, name in enumerate(names):
        cv2.putText(header, name, (j * R + 6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1,
                    cv2.LINE_AA)
    cv2.imwrite(str(out / "05_crops.png"), np.concatenate([header, *rows], 0))

    def shape(v):
        if isinstance(v, torch.Tensor):
            return f"{tuple(v.shape)} {str(v.dtype).replace('torch.', '')}"
        if isinstance(v, list):
            return [f"{tuple(x.shape)} {str(x.dtype).replace('torch.', '')}" for x in v]
        return None

    info = {
        "weights": args.weights or "random (meaningless poses, depth and parts)",
        "encoder": model.config.encoder, "parameters": model.num_parameters(),
        "body_model": "stand-in" if body.is_standin else str(body.model_path),
        "image_size_wh": [W, H], "people": len(pred), "device": args.device,
        "predict_seconds": round(t_pred, 2), "total_seconds": round(time.time() - t0, 2),
        "boxes_xyxy": boxes.tolist(),
        "transl_m": [[round(x, 3) for x in t] for t in pred_cpu["transl"].tolist()],
        "outputs": {k: shape(v) for k, v in pred_cpu.items()},
    }
    (out / "outputs.json").write_text(json.dumps(info, indent=2))
    log(f"wrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out}/", t0)
    if random_weights:
        print("\nNOTE: this model has RANDOM weights, so the predicted poses, depth and part maps are "
              "meaningless;\nthe demo shows the pipeline only. Train weights with recipes/dpose/train.py, or "
              "convert the\nauthors' released checkpoint with hpskit.models.convert_dpose, then pass "
              "--weights <folder or Hub id>.")


if __name__ == "__main__":
    main()
