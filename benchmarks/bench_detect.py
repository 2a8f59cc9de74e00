"""Benchmark the built-in person detector (``hpskit.detect.BlazePoseDetector``) on CPU.

    python benchmarks/bench_detect.py --out bench_detect.json
    python benchmarks/bench_detect.py --weights 9-bit=hpskit/detect/weights --weights float16=DIR \\
        --tiles 0 2 3 4 --repeats 15 --out bench_detect.json   # shipped vs float16 files, side by side

Times ``detector([image])`` (the whole call: letterbox + tiles, detector passes, decoding, weighted
NMS, the landmark model per candidate, boxes) on the public-domain astronaut photo upscaled to about
one megapixel (1024 × 1024) and on a 1280 × 720 scene of three synthetic people, for each ``--tiles``
(default 0, 2 (the default) and 3); one detector pass (one 224 × 224 window) and one landmark pass (one
256 × 256 person crop); and building the detector (reading and decoding both weight files).

Each ``--weights LABEL=DIR`` is a folder of weight files (``BlazePoseDetector(weights_dir=DIR)``;
default: the shipped 9-bit files), e.g. the float16 files of ``tools/convert_mediapipe_pose.py
--bits 16``. Variants are interleaved call by call (their order rotates each round), so that a shared
machine's load changes hit them alike. Reports per measurement the median, min and max wall time over
``--repeats`` rounds after a warm-up call, the median process CPU time, the load average before and
after, torch's threads, the machine and the date.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from hpskit.core.files import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]


def _images() -> dict[str, np.ndarray]:
    import skimage.data
    from PIL import Image

    astro = np.asarray(Image.fromarray(skimage.data.astronaut()).resize((1024, 1024), Image.BICUBIC))
    sys.path.insert(0, str(ROOT / "tests" / "detect"))
    from _scenes import compose_scene, synthetic_people

    img, mask, _ = synthetic_people(3, seed=1, res=256)
    scene, _ = compose_scene(img, mask, [500, 420, 350], seed=0)
    return {"astronaut_1024x1024": astro, "synthetic_1280x720": scene}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _timed(fn, repeats: int, rotate: list) -> dict:
    """Run ``fn(key)`` for every key of ``rotate``, ``repeats`` rounds, the keys' order rotating each
    round; one warm-up call per key first. Returns key -> {median_s, min_s, max_s, cpu_s}."""
    for key in rotate:
        fn(key)
    wall: dict = {k: [] for k in rotate}
    cpu: dict = {k: [] for k in rotate}
    for r in range(repeats):
        for key in rotate[r % len(rotate):] + rotate[:r % len(rotate)]:
            t, c = time.perf_counter(), time.process_time()
            fn(key)
            wall[key].append(time.perf_counter() - t)
            cpu[key].append(time.process_time() - c)
    return {k: {"median_s": statistics.median(wall[k]), "min_s": min(wall[k]), "max_s": max(wall[k]),
                "cpu_s": statistics.median(cpu[k])} for k in rotate}


def _fmt(s: dict) -> str:
    return f"median {s['median_s']:.4f} s [{s['min_s']:.4f}, {s['max_s']:.4f}] (cpu {s['cpu_s']:.4f})"


def weight_variants(ap: argparse.ArgumentParser, specs: list[str] | None) -> dict[str, Path | None]:
    """``--weights LABEL=DIR`` options → {label: folder}; none given: {"shipped": None} (packaged files)."""
    if not specs:
        return {"shipped": None}
    variants: dict[str, Path | None] = {}
    for spec in specs:
        label, sep, folder = spec.partition("=")
        if not sep or not label or not folder:
            ap.error(f"--weights wants LABEL=DIR, got {spec!r}")
        variants[label] = Path(folder).expanduser()
    return variants


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--load-repeats", type=int, default=10, help="rounds of building the detector")
    ap.add_argument("--tiles", type=int, nargs="+", default=[0, 2, 3])
    ap.add_argument("--weights", action="append", default=None, metavar="LABEL=DIR",
                    help="a folder of weight files to time (repeatable; default: the shipped files)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from hpskit.detect import BlazePoseDetector
    from hpskit.detect.blazepose import _square_windows

    variants = weight_variants(ap, args.weights)
    labels = list(variants)
    load_before = os.getloadavg()
    report: dict = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                    "command": " ".join([Path(sys.executable).name, *sys.argv]),
                    "weights": {k: str(v) if v else "shipped" for k, v in variants.items()},
                    "torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                    "cpu_model": _cpu_model(), "platform": platform.platform(), "loadavg_before": load_before}

    # building the detector: read + decode both weight files (9-bit: unpacking the integers)
    load = _timed(lambda v: BlazePoseDetector(weights_dir=variants[v]), args.load_repeats, labels)
    report["load"] = [{"weights": v, **load[v]} for v in labels]
    for v in labels:
        print(f"load {v:10s} {_fmt(load[v])}", flush=True)

    # one pass of each model, batch of one
    dets = {(v, t): BlazePoseDetector(tiles=t, weights_dir=variants[v]) for v in labels for t in args.tiles}
    first = {v: dets[(v, args.tiles[0])] for v in labels}
    x_det, x_lmk = torch.rand(1, 3, 224, 224) * 2 - 1, torch.rand(1, 3, 256, 256)
    passes = _timed(lambda key: (first[key[1]].detector if key[0] == "detector" else first[key[1]].landmarks)(
        x_det if key[0] == "detector" else x_lmk), args.repeats,
        [(m, v) for m in ("detector", "landmark") for v in labels])
    report["passes"] = [{"model": m, "weights": v, **s} for (m, v), s in passes.items()]
    for (m, v), s in passes.items():
        print(f"{m:8s} pass {v:10s} {_fmt(s)}", flush=True)

    # the whole call per image and tiles
    images = _images()
    keys = [(name, t, v) for name in images for t in args.tiles for v in labels]
    calls = _timed(lambda key: dets[key[2], key[1]]([images[key[0]]]), args.repeats, keys)
    results = []
    for (name, t, v), s in calls.items():
        img = images[name]
        row = {"image": name, "megapixels": img.shape[0] * img.shape[1] / 1e6, "tiles": t, "weights": v,
               "windows": len(_square_windows(*img.shape[:2], t)), "people": len(dets[(v, t)]([img])[0]), **s}
        results.append(row)
        print(f"{name:20s} tiles={t} {v:10s} windows={row['windows']:2d} people={row['people']} "
              f"{_fmt(s)}", flush=True)
    report["results"] = results
    report["loadavg_after"] = os.getloadavg()
    print(f"load average before {load_before}, after {report['loadavg_after']}; "
          f"torch threads {report['threads']}; {report['cpu_model']}, {report['cpus']} CPUs; "
          f"{report['date']}")
    if args.out:
        atomic_write_text(json.dumps(report, indent=2), args.out)


if __name__ == "__main__":
    main()
