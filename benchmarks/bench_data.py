"""Benchmark the GPU input pipeline: JPEG files → decode → person crop → augmentation → normalised batch.

One self-contained command (CUDA if available, else CPU with a smaller default config):

    python benchmarks/bench_data.py --out bench_data.json

It writes its own JPEG files (``--num-files`` synthetic 1280×720 frames: gradients, value noise and
shapes, quality 90, about as compressible as rendered frames) into a temporary folder, then runs the
training input path of hpskit on them:

1. ``DataLoader(EncodedImageFiles(paths), num_workers=W, collate_fn=collate_encoded)``: workers only
   read bytes;
2. ``decode_images(raw, device)``: one batched ``torchvision.io.decode_jpeg`` (nvJPEG on CUDA);
3. ``crop_images``: a random square person box per image → 224² (bilinear, zero padding);
4. ``PhotometricAugment("authors")`` (two OneOf groups, p = 0.3 each);
5. ImageNet normalisation.

Timing: warmup batches, ``torch.cuda.synchronize()`` per batch, the median batch time over the measured
batches (loader waits included) → images/s; also the total wall time, and each GPU stage alone on one
resident batch (decode, crop, augment, normalise); ``--profile`` adds a torch.profiler table. Prints
one JSON line and writes it to ``--out``.
Goal: ≥ 3,000 images/s at batch 64 on one H100.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from hpskit.data.transforms import (
    EncodedImageFiles,
    PhotometricAugment,
    collate_encoded,
    decode_images,
    normalize_imagenet,
    stack_images,
)
from hpskit.geometry import crop_images


def make_jpegs(folder: Path, n: int, width: int, height: int, quality: int, seed: int = 0) -> list[Path]:
    """Write ``n`` synthetic frames (gradient + multi-octave noise + rectangles) as JPEG files."""
    import torchvision.io as tvio

    g = torch.Generator().manual_seed(seed)
    paths = []
    for i in range(n):
        c = torch.rand(2, 3, 1, 1, generator=g)
        t = torch.linspace(0, 1, width)[None, None, :].expand(1, height, width)
        img = c[0] * (1 - t) + c[1] * t
        for o in (8, 32, 128):
            img = img + 0.15 * F.interpolate(torch.rand(1, 3, o, o * width // height, generator=g),
                                             size=(height, width), mode="bilinear")[0]
        for _ in range(6):
            x0, y0, w, h = (int(torch.randint(lo, hi, (1,), generator=g))
                            for lo, hi in ((0, width - 64), (0, height - 64), (32, 300), (32, 300)))
            img[:, y0:y0 + h, x0:x0 + w] = torch.rand(3, 1, 1, generator=g)
        data = (img.clamp(0, 1) * 255).to(torch.uint8)
        p = folder / f"frame_{i:05d}.jpg"
        p.write_bytes(bytes(tvio.encode_jpeg(data, quality=quality).numpy()))
        paths.append(p)
    return paths


def random_boxes(B: int, W: int, H: int, g: torch.Generator, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Person-like boxes: centre inside the image, side 15–90 % of the image height."""
    side = (0.15 + 0.75 * torch.rand(B, generator=g)) * H
    center = torch.stack([torch.rand(B, generator=g) * W, torch.rand(B, generator=g) * H], 1)
    return center.to(device), (side / 200.0).to(device)


class Pipeline:
    """The GPU part of the path, stage by stage (so each stage can be timed alone too)."""

    def __init__(self, device: torch.device, res: int, preset: str, seed: int) -> None:
        self.device, self.res = device, res
        self.aug = PhotometricAugment(preset).to(device)
        self.g = torch.Generator().manual_seed(seed)

    def decode(self, raw) -> torch.Tensor:
        return stack_images(decode_images(raw, self.device))

    def crop(self, frames: torch.Tensor) -> torch.Tensor:
        B, _, H, W = frames.shape
        center, scale = random_boxes(B, W, H, self.g, self.device)
        return crop_images(frames.float().div_(255.0), center, scale, res=self.res)

    def augment(self, crops: torch.Tensor) -> torch.Tensor:
        return self.aug(crops, generator=self.g)

    def __call__(self, raw) -> torch.Tensor:
        return normalize_imagenet(self.augment(self.crop(self.decode(raw))))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn, device, reps: int) -> float:
    ts = []
    for _ in range(reps):
        _sync(device)
        t = time.perf_counter()
        fn()
        _sync(device)
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main() -> None:
    cuda = torch.cuda.is_available()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if cuda else "cpu")
    ap.add_argument("--batch", type=int, default=64 if cuda else 16)
    ap.add_argument("--iters", type=int, default=40 if cuda else 6, help="measured batches")
    ap.add_argument("--warmup", type=int, default=5 if cuda else 1)
    ap.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 1))
    ap.add_argument("--num-files", type=int, default=512 if cuda else 48)
    ap.add_argument("--size", default="1280x720" if cuda else "640x360", help="WxH of the generated frames")
    ap.add_argument("--quality", type=int, default=90)
    ap.add_argument("--res", type=int, default=224)
    ap.add_argument("--preset", default="authors", help="photometric preset (authors, paper, none)")
    ap.add_argument("--folder", type=Path, default=None, help="reuse/keep the JPEG files here")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", action="store_true", help="print a torch.profiler table of one batch")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    device = torch.device(args.device)
    W, H = (int(x) for x in args.size.lower().split("x"))

    tmp = None
    folder = args.folder
    if folder is None:
        tmp = tempfile.TemporaryDirectory(prefix="hpskit_bench_data_")
        folder = Path(tmp.name)
    folder.mkdir(parents=True, exist_ok=True)
    paths = sorted(folder.glob("frame_*.jpg"))
    t0 = time.perf_counter()
    if len(paths) < args.num_files:
        paths = make_jpegs(folder, args.num_files, W, H, args.quality, args.seed)
    gen_s = time.perf_counter() - t0
    mean_kb = sum(p.stat().st_size for p in paths) / len(paths) / 1024

    loader = torch.utils.data.DataLoader(
        EncodedImageFiles(paths), batch_size=args.batch, shuffle=True, drop_last=True,
        num_workers=args.workers, collate_fn=collate_encoded, persistent_workers=args.workers > 0,
        prefetch_factor=4 if args.workers > 0 else None)
    pipe = Pipeline(device, args.res, args.preset, args.seed)

    def batches():
        while True:
            yield from loader

    it = batches()
    for _ in range(args.warmup):
        _, raw = next(it)
        pipe(raw)
    _sync(device)
    times = []
    start = time.perf_counter()
    for _ in range(args.iters):
        t = time.perf_counter()
        _, raw = next(it)
        out = pipe(raw)
        _sync(device)
        times.append(time.perf_counter() - t)
    total = time.perf_counter() - start

    # each GPU stage alone on one resident batch
    _, raw = next(it)
    frames = pipe.decode(raw)
    crops = pipe.crop(frames)
    aug = pipe.augment(crops)
    reps = 10 if device.type == "cuda" else 3
    stages = {
        "decode_ms": 1e3 * _time(lambda: pipe.decode(raw), device, reps),
        "crop_ms": 1e3 * _time(lambda: pipe.crop(frames), device, reps),
        "augment_ms": 1e3 * _time(lambda: pipe.augment(crops), device, reps),
        "normalise_ms": 1e3 * _time(lambda: normalize_imagenet(aug), device, reps),
    }
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        with profile(activities=acts) as prof:
            pipe(raw)
            _sync(device)
        key = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
        print(prof.key_averages().table(sort_by=key, row_limit=30))
    med = statistics.median(times)
    result = {
        "benchmark": "bench_data",
        "date": time.strftime("%Y-%m-%d"),
        "device": (torch.cuda.get_device_name(device) if device.type == "cuda"
                   else platform.processor() or "cpu"),
        "torch": torch.__version__,
        "batch": args.batch,
        "frame_size": [W, H],
        "jpeg_quality": args.quality,
        "mean_file_kb": round(mean_kb, 1),
        "files": len(paths),
        "workers": args.workers,
        "preset": args.preset,
        "res": args.res,
        "measured_batches": args.iters,
        "images_per_s": round(args.batch / med, 1),
        "images_per_s_total": round(args.batch * args.iters / total, 1),
        "median_ms_per_batch": round(1e3 * med, 2),
        "best_ms_per_batch": round(1e3 * min(times), 2),
        "stages_ms": {k: round(v, 2) for k, v in stages.items()},
        "output": [list(out.shape), str(out.dtype), str(out.device)],
        "file_generation_s": round(gen_s, 1),
        "peak_gpu_mb": (round(torch.cuda.max_memory_allocated(device) / 2**20) if device.type == "cuda"
                        else None),
    }
    line = json.dumps(result)
    print(line)
    if args.out is not None:
        args.out.write_text(line + "\n")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
