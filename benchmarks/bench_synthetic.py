"""Benchmark the synthetic data engine: rendered people per second (224² crops with depth and part maps).

One self-contained command (CUDA if available, else CPU with a smaller default config):

    python benchmarks/bench_synthetic.py --out bench_synthetic.json

Times ``SyntheticHumans(device=..., batch_size=B).generate(seed=k)`` (pose, shape, camera, appearance
sampling, SMPL-X-format posing of the stand-in body, crop-space rasterization, part labels, BEDLAM
depth normalisation, shading, backgrounds, compositing, normalisation: a complete
:class:`hpskit.data.Batch`), with warmup, CUDA synchronisation and the median of the measured
batches. ``--profile`` adds a per-stage torch.profiler table. ``--grid PATH`` also writes a picture of
samples (image | depth | part map per sample), as ``docs/img/synthetic_grid.png`` was made:

    python benchmarks/bench_synthetic.py --grid docs/img/synthetic_grid.png --grid-samples 12 \
        --keyposes docs/img/synthetic_keyposes.png

``--keyposes PATH`` draws the key-pose library (front and side views of the stand-in body).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from hpskit.body import PART_PALETTE
from hpskit.data.synthetic import SyntheticConfig, SyntheticHumans
from hpskit.data.transforms import unnormalize_imagenet


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def sample_grid(batch, n: int, cols: int = 3) -> np.ndarray:
    """(rows·R, cols·3R, 3) uint8: image | depth | part map for the first ``n`` samples."""
    tiles = []
    for i in range(n):
        img = unnormalize_imagenet(batch.img[i].float().cpu()).clamp(0, 1).permute(1, 2, 0).numpy()
        d = batch.depth[i, 0].float().cpu().numpy()
        depth = np.stack([d, d, d], -1)
        parts = PART_PALETTE[batch.parts[i].cpu()].numpy() / 255.0
        trip = np.concatenate([img, depth, parts], 1)
        trip[:, [0, -1]] = 1.0  # thin white separators
        trip[[0, -1]] = 1.0
        tiles.append(trip)
    while len(tiles) % cols:
        tiles.append(np.ones_like(tiles[0]))
    rows = [np.concatenate(tiles[r:r + cols], 1) for r in range(0, len(tiles), cols)]
    return (np.concatenate(rows, 0) * 255).round().astype(np.uint8)


def key_pose_sheet(body, size: int = 200, cols: int = 7) -> np.ndarray:
    """Front and side renders of every key pose (grey clay), with names: (rows·2·size, cols·size, 3) uint8."""
    import math

    from PIL import Image, ImageDraw

    from hpskit.data.synthetic.poses import KEY_POSES, _key_pose_table, hand_curl
    from hpskit.geometry import axis_angle_to_rotmat
    from hpskit.render import render_rgb

    names, aa = _key_pose_table()
    P = len(names)
    R = axis_angle_to_rotmat(aa).float()
    flip = axis_angle_to_rotmat(torch.tensor([math.pi, 0.0, 0.0])).expand(P, 3, 3)
    left, right = hand_curl(torch.full((P,), 0.5))
    K = torch.tensor([[size * 1.55, 0, (size - 1) / 2], [0, size * 1.55, (size - 1) / 2], [0, 0, 1.0]])
    views = []
    for yaw in (0.0, 90.0):
        spin = axis_angle_to_rotmat(torch.tensor([0.0, math.radians(yaw), 0.0])).expand(P, 3, 3)
        glob = flip @ spin @ R[:, 0]
        with torch.no_grad():
            out = body(glob[:, None], R[:, 1:], torch.zeros(P, body.num_betas), left_hand_pose=left.float(),
                       right_hand_pose=right.float())
        v = out.vertices - out.vertices.mean(1, keepdim=True) + torch.tensor([0.0, 0.0, 4.2])
        views.append(render_rgb(v, body.faces, K, (size, size), background=1.0).clamp(0, 1))
    tiles = []
    for i, name in enumerate(names):
        tile = torch.cat([views[0][i], views[1][i]], 1).permute(1, 2, 0).numpy()
        img = Image.fromarray((tile * 255).round().astype(np.uint8))
        ImageDraw.Draw(img).text((4, 2), name, fill=(0, 0, 0))
        tiles.append(np.asarray(img))
    assert len(names) == len(KEY_POSES)
    while len(tiles) % cols:
        tiles.append(np.full_like(tiles[0], 255))
    rows = [np.concatenate(tiles[r:r + cols], 1) for r in range(0, len(tiles), cols)]
    return np.concatenate(rows, 0)


def main() -> None:
    cuda = torch.cuda.is_available()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if cuda else "cpu")
    ap.add_argument("--batch", type=int, default=64 if cuda else 16)
    ap.add_argument("--iters", type=int, default=20 if cuda else 3)
    ap.add_argument("--warmup", type=int, default=3 if cuda else 1)
    ap.add_argument("--res", type=int, default=224)
    ap.add_argument("--backgrounds", default="auto", help="auto, procedural, skimage, or a folder")
    ap.add_argument("--split", default="train")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--grid", type=Path, default=None, help="write a PNG grid of samples here")
    ap.add_argument("--grid-samples", type=int, default=12)
    ap.add_argument("--grid-seed", type=int, default=2024)
    ap.add_argument("--keyposes", type=Path, default=None, help="write the key-pose sheet here")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    device = torch.device(args.device)

    t0 = time.perf_counter()
    ds = SyntheticHumans(config=SyntheticConfig(res=args.res), split=args.split, batch_size=args.batch,
                         device=device, backgrounds=args.backgrounds)
    init_s = time.perf_counter() - t0
    for k in range(args.warmup):
        ds.generate(seed=10_000 + k)
    _sync(device)
    times = []
    for k in range(args.iters):
        _sync(device)
        t = time.perf_counter()
        b = ds.generate(seed=k)
        _sync(device)
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    fg = float((b.parts > 0).float().mean())
    result = {
        "benchmark": "bench_synthetic",
        "date": time.strftime("%Y-%m-%d"),
        "device": (torch.cuda.get_device_name(device) if device.type == "cuda"
                   else platform.processor() or "cpu"),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "body": ("standin" if getattr(ds.body, "is_standin", False)
                 else str(getattr(ds.body, "model_path", "?"))),
        "vertices": int(ds.body.v_template.shape[0]),
        "faces": int(ds.faces.shape[0]),
        "batch": args.batch,
        "res": args.res,
        "backgrounds": args.backgrounds,
        "photo_bank": len(ds.bank) if ds.bank is not None else 0,
        "measured_batches": args.iters,
        "images_per_s": round(args.batch / med, 1),
        "median_ms_per_batch": round(1e3 * med, 2),
        "best_ms_per_batch": round(1e3 * min(times), 2),
        "foreground_fraction": round(fg, 3),
        "init_s": round(init_s, 2),
        "peak_gpu_mb": (round(torch.cuda.max_memory_allocated(device) / 2**20) if device.type == "cuda"
                        else None),
    }
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        with profile(activities=acts) as prof:
            ds.generate(seed=777)
            _sync(device)
        key = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
        print(prof.key_averages().table(sort_by=key, row_limit=25))
    line = json.dumps(result)
    print(line)
    if args.out is not None:
        args.out.write_text(line + "\n")
    if args.grid is not None:
        from PIL import Image

        gb = SyntheticHumans(body=ds.body, config=SyntheticConfig(res=args.res), split="val",
                             batch_size=args.grid_samples, device=device,
                             backgrounds=args.backgrounds).generate(seed=args.grid_seed)
        args.grid.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(sample_grid(gb, args.grid_samples)).save(args.grid, optimize=True)
        print(f"wrote {args.grid}")
    if args.keyposes is not None:
        from PIL import Image

        args.keyposes.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(key_pose_sheet(ds.body.cpu())).save(args.keyposes, optimize=True)
        print(f"wrote {args.keyposes}")


if __name__ == "__main__":
    main()
