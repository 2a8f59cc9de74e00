"""Benchmark the built-in person detector (``hpskit.detect.BlazePoseDetector``) on CPU.

    python benchmarks/bench_detect.py --out bench_detect.json

Times ``detector([image])`` (the whole call: letterbox + tiles, detector passes, decoding, weighted
NMS, the landmark model per candidate, boxes) on the public-domain astronaut photo upscaled to about
one megapixel (1024 × 1024) and on a 1280 × 720 scene of three synthetic people, for ``tiles`` 0, 2
and 3 (the default).
Reports the median wall time over ``--repeats`` calls after a warm-up, the process CPU time per call,
the load average (timings on a shared machine are only meaningful at a low load) and torch's threads.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch


def _images() -> dict[str, np.ndarray]:
    import skimage.data
    from PIL import Image

    astro = np.asarray(Image.fromarray(skimage.data.astronaut()).resize((1024, 1024), Image.BICUBIC))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "detect"))
    from _scenes import compose_scene, synthetic_people

    img, mask, _ = synthetic_people(3, seed=1, res=256)
    scene, _ = compose_scene(img, mask, [500, 420, 350], seed=0)
    return {"astronaut_1024x1024": astro, "synthetic_1280x720": scene}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from hpskit.detect import BlazePoseDetector

    results = []
    for name, img in _images().items():
        for tiles in (0, 2, 3):
            det = BlazePoseDetector(tiles=tiles)
            found = det([img])[0]
            wall, cpu = [], []
            for _ in range(args.repeats):
                t, c = time.perf_counter(), time.process_time()
                det([img])
                wall.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
            row = {"image": name, "megapixels": img.shape[0] * img.shape[1] / 1e6, "tiles": tiles,
                   "people": len(found), "median_s": statistics.median(wall), "min_s": min(wall),
                   "cpu_s": statistics.median(cpu)}
            results.append(row)
            print(f"{name:22s} tiles={tiles} people={row['people']} median {row['median_s']:.3f} s "
                  f"(min {row['min_s']:.3f}, cpu {row['cpu_s']:.3f})", flush=True)
    report = {"results": results, "torch": torch.__version__, "threads": torch.get_num_threads(),
              "cpus": os.cpu_count(), "loadavg": os.getloadavg(), "platform": platform.platform()}
    print(f"load average {report['loadavg']}, torch threads {report['threads']}")
    if args.out:
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(report, indent=2))
        os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
