"""hpskit demo: render a few people, run D-PoSE on the picture, draw what it predicts, print its errors.

    python examples/demo.py --out demo_out                       # the built-in trained model, CPU
    python examples/demo.py --out demo_out --weights path/or/org-name   # other weights
    python examples/demo.py --out demo_out --random-weights      # a random-weight HRNet-W48 (pipeline only)

Runs offline with no licence-gated file. The model is the one that ships inside hpskit
(``dpose_efficientnet_lite0.synthetic``: trained on hpskit's synthetic humans, a synthetic-domain model).
The people
are the licence-free stand-in body drawn as the training data draws them (``hpskit.data.synthetic.
render_people``) over a procedural floor at a known camera, with boxes from the renders (standing in for a
person detector), so every prediction is scored against the known truth. Writes to --out:

    01_input_boxes.png   the input picture and the person boxes
    02_mesh_overlay.png  predicted SMPL-X meshes drawn with the predicted camera
    03_depth.png         predicted relative depth, pasted back into the image (nearest person on top)
    04_parts.png         predicted part labels | part labels rendered from the true bodies
    05_crops.png         per person: network crop, crop depth, crop parts
    outputs.json         the Prediction's fields and shapes, settings, timings

and prints, per person, MPJPE / PA-MPJPE / PVE (mm, pelvis-aligned, SMPL-X joints 0-23) and the error of the
predicted translation against the rendered truth. With --random-weights the predicted poses, depth and parts
are meaningless: the demo then shows the pipeline, not a model.
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

from hpskit.body import PART_PALETTE
from hpskit.data.synthetic import SyntheticConfig, SyntheticHumans, render_people
from hpskit.geometry import axis_angle_to_rotmat, crop_images, intrinsics_from_focal
from hpskit.metrics import smplx24_pelvis_errors, to_mm
from hpskit.models import DPoSE, DPoSEConfig, list_pretrained
from hpskit.render import overlay, rasterize, shade_lambert

PERSON_COLORS = [(0.85, 0.35, 0.3), (0.3, 0.55, 0.85), (0.4, 0.75, 0.4), (0.85, 0.7, 0.3), (0.7, 0.4, 0.8)]
DEFAULT_WEIGHTS = "dpose_efficientnet_lite0.synthetic"


def person_errors(pred, gt_joints: torch.Tensor, gt_verts: torch.Tensor, gt_transl: torch.Tensor
                  ) -> list[dict]:
    """Per person: MPJPE / PA-MPJPE / PVE in mm (SMPL-X joints 0–23, each body aligned by its own pelvis)
    and the distance between predicted and true translation in metres."""
    err = smplx24_pelvis_errors(pred.joints, pred.vertices, gt_joints, gt_verts)
    e = {f"{k}_mm": to_mm(v) for k, v in err.items()}
    e["transl_err_m"] = (pred.transl.float() - gt_transl.float()).norm(dim=-1)
    return [{k: round(float(v[i]), 3 if k == "transl_err_m" else 1) for k, v in e.items()}
            for i in range(len(gt_transl))]


def log(msg: str, t0: float) -> None:
    print(f"[{time.time() - t0:6.1f}s] {msg}", flush=True)


def make_people(body, n: int, g: torch.Generator, half_fov: float):
    """n posed bodies side by side, 3.5–6 m from the camera: (rotations, betas, translation).

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
    return R, betas, transl


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
    ap.add_argument("--weights", default=DEFAULT_WEIGHTS,
                    help=f"built-in weights ({', '.join(list_pretrained())}), a save_pretrained folder or a "
                         f"Hub id (default: {DEFAULT_WEIGHTS})")
    ap.add_argument("--random-weights", action="store_true",
                    help="a random-weight model instead (pipeline only)")
    ap.add_argument("--encoder", default="hrnet_w48", help="encoder of the --random-weights model")
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

    if not args.random_weights:
        log(f"loading weights {args.weights}", t0)
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
    R, betas, transl = make_people(body, args.people, g, half_fov=W / 2 / float(K[0, 0, 0]))
    engine = SyntheticHumans(body, SyntheticConfig(), backgrounds="procedural")
    floor_y = float((body.forward_pose(R, betas).vertices + transl[:, None])[..., 1].max())
    scene = render_people(engine, R, betas, transl, K[0], (W, H), seed=args.seed,
                          background=floor_background(K[0], H, W, floor_y))
    image = scene.image.permute(2, 0, 1).contiguous()  # (3, H, W) uint8
    gt_parts = scene.parts
    # boxes from the visible pixels of each person (a detector's job in real use)
    seen = (scene.visible >= 50).nonzero().squeeze(1)
    for i in sorted(set(range(args.people)) - set(seen.tolist())):
        print(f"  person {i} is (almost) hidden; no box")
    boxes = scene.boxes[seen]

    log(f"running DPoSE.predict on {args.device}", t0)
    model.to(args.device)
    t_pred = time.time()
    pred = model.predict(image, boxes, K=K[0])  # one image, (n, 4) boxes, the camera of the picture
    t_pred = time.time() - t_pred
    gt_t = transl[seen]
    gt_j, gt_v = scene.joints[seen] - gt_t[:, None], scene.vertices[seen] - gt_t[:, None]
    errors = person_errors(pred, gt_j, gt_v, gt_t)
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
    nv = pred_cpu["vertices"].shape[1]
    pcol = torch.cat([torch.tensor(PERSON_COLORS[i % len(PERSON_COLORS)]).expand(nv, 3)
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
        "errors_vs_truth": errors,
        "outputs": {k: shape(v) for k, v in pred_cpu.items()},
    }
    (out / "outputs.json").write_text(json.dumps(info, indent=2))
    log(f"wrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out}/", t0)
    print("\nErrors against the rendered truth (mm; pelvis-aligned, SMPL-X joints 0-23; translation in m):")
    print(f"  {'person':>6} {'MPJPE':>7} {'PA-MPJPE':>9} {'PVE':>7} {'transl':>7}")
    for i, e in zip(seen.tolist(), errors):
        print(f"  {i:>6} {e['mpjpe_mm']:>7.1f} {e['pa_mpjpe_mm']:>9.1f} {e['pve_mm']:>7.1f} "
              f"{e['transl_err_m']:>7.3f}")
    if random_weights:
        print("\nNOTE: this model has RANDOM weights (--random-weights), so the predicted poses, depth and "
              "part maps are meaningless;\nthe demo shows the pipeline only.")


if __name__ == "__main__":
    main()
