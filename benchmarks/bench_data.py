"""Benchmark the GPU input pipeline: JPEG files → decode → person crop → augmentation → normalised batch.

One self-contained command (CUDA if available, else CPU with a smaller default config):

    python benchmarks/bench_data.py --out bench_data.json

It writes its own JPEG files (``--num-files`` synthetic 1280×720 frames: gradients, value noise and
shapes, quality 90, about as compressible as rendered frames) into a temporary folder, then runs the
training input path of hpskit on them:

1. ``DataLoader(EncodedImageFiles(paths), num_workers=W, collate_fn=collate_encoded)``: workers only
   read bytes;
2. ``decode_batch(raw, device)``: one batched ``torchvision.io.decode_jpeg`` (nvJPEG on CUDA), stacked;
3. ``crop_images``: a random square person box per image → 224² (bilinear, zero padding);
4. ``PhotometricAugment("authors")`` (two OneOf groups, p = 0.3 each);
5. ImageNet normalisation.

Timing (each after warmup batches):

* ``images_per_s``: ``torch.cuda.synchronize()`` after every batch, the median batch time over the
  measured batches (loader waits included); ``images_per_s_total`` is the same run's wall time;
* ``images_per_s_pipelined``: the same path with **no** per-batch synchronisation, one at the end, as a
  training loop consumes it (the host queues batch i+1 while the GPU still works on batch i);
* ``images_per_s_prefetch``: pipelined, and decode + crop of batch i+1 run in a worker thread on a side
  CUDA stream while batch i is augmented (:class:`hpskit.data.BackgroundBatches`: the main stream waits
  on the side stream's event before using a batch, and the batch is marked as used on the main stream, so
  the caching allocator cannot recycle it early). nvJPEG releases the GIL while it decodes, so the decode of
  batch i+1 overlaps the augmentation of batch i (with ``--jpeg-codec libjpeg`` the augmentation's
  device-to-host copy stalls both threads);
* ``stages_ms``: each GPU stage alone on one resident batch (decode, crop, augment, normalise), measured
  after the runs above, and ``*_host_ms``: the time until the stage's call returns, without waiting for
  the GPU (what the host spends queueing it); ``decode_ms_fresh`` is the decode of the same batch timed
  first, before anything else ran in the process (were decoding to slow down after the augmentation ran,
  the two would differ);
* ``--per-op``: each photometric op alone (forced, ``p = 1``) on batch 3 and batch 64 at ``res``²,
  synchronised median, and the host's queueing time on batch 3, as ``per_op_ms``; ``--profile`` prints a
  torch.profiler table of one batch, ``--profile-op NAME`` one of three calls of that op on batch 64.

Prints one JSON line and writes it to ``--out``. Goal: ≥ 3,000 images/s at batch 64 on one H100.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from hpskit.data import BackgroundBatches
from hpskit.data.transforms import (
    JPEG_CODECS,
    OP_NAMES,
    EncodedImageFiles,
    PhotometricAugment,
    PhotometricConfig,
    collate_encoded,
    decode_batch,
    normalize_imagenet,
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

    def __init__(self, device: torch.device, res: int, preset: str, seed: int, jpeg_codec: str) -> None:
        self.device, self.res = device, res
        config = dataclasses.replace(PhotometricConfig.preset(preset), jpeg_codec=jpeg_codec)  # re-validated
        self.aug = PhotometricAugment(config).to(device)
        # separate generators: the prefetcher crops in its thread while the main thread augments
        self.crop_g = torch.Generator().manual_seed(seed)
        self.aug_g = torch.Generator().manual_seed(seed + 1)

    def decode(self, raw) -> torch.Tensor:
        return decode_batch(raw, self.device)

    def crop(self, frames: torch.Tensor) -> torch.Tensor:
        B, _, H, W = frames.shape
        center, scale = random_boxes(B, W, H, self.crop_g, self.device)
        return crop_images(frames.float().div_(255.0), center, scale, res=self.res)

    def load(self, raw) -> torch.Tensor:
        """Decode + crop: the part the prefetcher runs ahead."""
        return self.crop(self.decode(raw))

    def augment(self, crops: torch.Tensor) -> torch.Tensor:
        return self.aug(crops, generator=self.aug_g)

    def finish(self, crops: torch.Tensor) -> torch.Tensor:
        return normalize_imagenet(self.augment(crops))

    def __call__(self, raw) -> torch.Tensor:
        return self.finish(self.load(raw))


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


def _host_time(fn, device, reps: int) -> float:
    """Median time until ``fn`` returns, the GPU idle at the start and not waited for at the end: the host's
    cost of queueing the work (Python, launches, copies; plus any wait inside ``fn``)."""
    ts = []
    for _ in range(reps):
        _sync(device)
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    _sync(device)
    return statistics.median(ts)


def per_op_times(crops: torch.Tensor, device: torch.device, reps: int, seed: int, jpeg_codec: str) -> dict:
    """Each photometric op alone (forced) on the first 3 and on 64 crops: synchronised median ms, and the
    host's time to queue the op on 3 crops (``host_b3``)."""
    big = crops.repeat((64 + crops.shape[0] - 1) // crops.shape[0], 1, 1, 1)[:64].contiguous()
    table = {}
    for op in OP_NAMES:
        aug = PhotometricAugment(PhotometricConfig.single(op, p=1.0, jpeg_codec=jpeg_codec)).to(device)
        g = torch.Generator().manual_seed(seed)
        row = {}
        for n in (3, 64):
            x = big[:n]
            aug._apply_op(op, x, g)  # warm-up (first-call setup, caches)
            run = lambda aug=aug, op=op, x=x, g=g: aug._apply_op(op, x, g)  # noqa: E731
            row[f"b{n}"] = round(1e3 * _time(run, device, reps), 3)
            if n == 3:
                row["host_b3"] = round(1e3 * _host_time(run, device, reps), 3)
        table[op] = row
    return table


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
    ap.add_argument("--jpeg-codec", default=PhotometricConfig().jpeg_codec, choices=JPEG_CODECS,
                    help="JPEG augmentation codec (torch: on the device; libjpeg: the real codec, CPU)")
    ap.add_argument("--folder", type=Path, default=None, help="reuse/keep the JPEG files here")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", action="store_true", help="print a torch.profiler table of one batch")
    ap.add_argument("--per-op", action="store_true",
                    help="time each photometric op alone (p=1) on batch 3 and batch 64, into per_op_ms")
    ap.add_argument("--profile-op", default=None, choices=OP_NAMES,
                    help="print a torch.profiler table of this op alone (p=1) on batch 64")
    ap.add_argument("--no-prefetch", action="store_true", help="skip the prefetching measurement")
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

    # One endless epoch (random files with replacement), as a training loop's sampler would give: with a few
    # hundred files, epoch boundaries every few batches would make the loader refill its queue each time.
    files_ds = EncodedImageFiles(paths)
    sampler = torch.utils.data.RandomSampler(files_ds, replacement=True, num_samples=10**9,
                                             generator=torch.Generator().manual_seed(args.seed))
    loader = torch.utils.data.DataLoader(
        files_ds, batch_size=args.batch, sampler=sampler, drop_last=True,
        num_workers=args.workers, collate_fn=collate_encoded, persistent_workers=args.workers > 0,
        prefetch_factor=4 if args.workers > 0 else None)
    pipe = Pipeline(device, args.res, args.preset, args.seed, args.jpeg_codec)

    def batches():
        while True:
            yield from loader

    it = batches()
    # the decode stage alone, before the augmentation has ever run in this process
    _, raw0 = next(it)
    reps = 10 if device.type == "cuda" else 3
    pipe.decode(raw0)
    decode_fresh = _time(lambda: pipe.decode(raw0), device, reps)
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

    # pipelined: no per-batch synchronisation, one at the end
    for _ in range(args.warmup):
        _, raw = next(it)
        pipe(raw)
    _sync(device)
    start = time.perf_counter()
    loader_wait = 0.0
    for _ in range(args.iters):
        t = time.perf_counter()
        _, raw = next(it)
        loader_wait += time.perf_counter() - t
        out = pipe(raw)
    _sync(device)
    pipelined = time.perf_counter() - start

    # pipelined with decode + crop of the next batch in a worker thread / side stream
    prefetched = None
    if not args.no_prefetch:
        # hpskit.data.BackgroundBatches runs the load (decode + crop) of the next batch in its worker thread
        # on its own CUDA stream; here "batch k" is simply the loader's next one (the order is all that
        # matters to a benchmark).
        pre = BackgroundBatches(lambda k: pipe.load(next(it)[1]), device=pipe.device)
        for _ in range(args.warmup):
            pipe.finish(pre.next())
        _sync(device)
        start = time.perf_counter()
        for _ in range(args.iters):
            out = pipe.finish(pre.next())
        _sync(device)
        prefetched = time.perf_counter() - start
        pre.close()  # its batch made ahead was loaded from `it` and is dropped

    # each GPU stage alone on one resident batch
    _, raw = next(it)
    frames = pipe.decode(raw)
    crops = pipe.crop(frames)
    aug = pipe.augment(crops)
    stages = {
        "decode_ms_fresh": 1e3 * decode_fresh,
        "decode_ms": 1e3 * _time(lambda: pipe.decode(raw0), device, reps),
        "crop_ms": 1e3 * _time(lambda: pipe.crop(frames), device, reps),
        "augment_ms": 1e3 * _time(lambda: pipe.augment(crops), device, reps),
        "normalise_ms": 1e3 * _time(lambda: normalize_imagenet(aug), device, reps),
        # the host's share: time until the call returns (decode returns once nvJPEG is done)
        "decode_host_ms": 1e3 * _host_time(lambda: pipe.decode(raw0), device, reps),
        "crop_host_ms": 1e3 * _host_time(lambda: pipe.crop(frames), device, reps),
        "augment_host_ms": 1e3 * _host_time(lambda: pipe.augment(crops), device, reps),
    }
    per_op = per_op_times(crops, device, reps, args.seed, args.jpeg_codec) if args.per_op else None
    if args.profile_op:
        from torch.profiler import ProfilerActivity, profile

        big = crops.repeat((64 + crops.shape[0] - 1) // crops.shape[0], 1, 1, 1)[:64].contiguous()
        single = PhotometricAugment(PhotometricConfig.single(args.profile_op)).to(device)
        g = torch.Generator().manual_seed(args.seed)
        single._apply_op(args.profile_op, big, g)
        _sync(device)
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        with profile(activities=acts) as prof:
            for _ in range(3):
                single._apply_op(args.profile_op, big, g)
            _sync(device)
        key = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
        print(prof.key_averages().table(sort_by=key, row_limit=20))
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
        "jpeg_codec": args.jpeg_codec,
        "res": args.res,
        "measured_batches": args.iters,
        "images_per_s": round(args.batch / med, 1),
        "images_per_s_total": round(args.batch * args.iters / total, 1),
        "images_per_s_pipelined": round(args.batch * args.iters / pipelined, 1),
        "pipelined_loader_wait_ms_per_batch": round(1e3 * loader_wait / args.iters, 2),
        "images_per_s_prefetch": (round(args.batch * args.iters / prefetched, 1) if prefetched is not None
                                  else None),
        "median_ms_per_batch": round(1e3 * med, 2),
        "best_ms_per_batch": round(1e3 * min(times), 2),
        "stages_ms": {k: round(v, 2) for k, v in stages.items()},
        "per_op_ms": per_op,
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
