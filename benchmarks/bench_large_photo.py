"""Time and peak memory of ``DPoSE.predict`` on one very large photo with one large box (issue 16).

The photo is ``skimage.data.astronaut()`` resized to 6000×6000 and cut to 6000 wide × 4000 high (uint8);
the box is (500, 0, 5000, 4000), so the exact crop (with anti-aliasing, the default) downsamples a
~5400-px square by ~24×. Peak RSS is the process's ``ru_maxrss`` (Linux: KiB), printed before and after
the timed calls, so the growth is what ``predict`` adds on top of the model and the photo.

Usage::

    python benchmarks/bench_large_photo.py [--repeat 3] [--threads 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import torch
from PIL import Image
from skimage.data import astronaut

from hpskit.models import DPoSE


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default="dpose_efficientnet_lite0.synthetic")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    photo = np.asarray(Image.fromarray(astronaut()).resize((6000, 6000), Image.BILINEAR))[:4000]
    photo = np.ascontiguousarray(photo)  # (4000, 6000, 3) uint8
    boxes = [[500.0, 0.0, 5000.0, 4000.0]]
    model = DPoSE.from_pretrained(args.model).to(args.device)
    model.predict(photo[:400, :600], [[50.0, 0.0, 500.0, 400.0]], return_maps=False)  # warm-up, small
    before = _peak_mb()
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        pred = model.predict(photo, boxes, return_maps=False)
        times.append(time.perf_counter() - t0)
    after = _peak_mb()
    print(json.dumps({
        "model": args.model, "device": args.device, "threads": args.threads,
        "image_hw": list(photo.shape[:2]), "box": boxes[0],
        "seconds": [round(t, 3) for t in times], "median_s": round(float(np.median(times)), 3),
        "peak_rss_mb_before": round(before), "peak_rss_mb_after": round(after),
        "transl": [round(float(x), 4) for x in pred.transl[0]],
    }))


if __name__ == "__main__":
    main()
