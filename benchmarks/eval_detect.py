"""Measure whom the built-in person detector finds: the recall and tiles table of ``docs/api/detect.md``.

    python benchmarks/eval_detect.py --out eval_detect.json
    python benchmarks/eval_detect.py --weights 9-bit=hpskit/detect/weights --weights float16=DIR

Two sets of synthetic scenes with known person boxes (``tests/detect/_scenes.py``: stand-in people,
coloured clothes, any yaw, pasted onto smooth 1280 × 720 backgrounds), deterministic (fixed seeds):

- **Recall**: 36 people (``synthetic_people(36, seed=1)``), three per scene, 500, 420 and 350 px tall,
  12 scenes; ``BlazePoseDetector()`` (default tiles). Reports the people found (box IoU ≥ 0.5 with the
  true box), their mean IoU, false hits (boxes matching nobody) and the people seen from behind found.
- **Size**: 12 people (``synthetic_people(12, seed=2)``) at each of nine heights (500 … 80 px, 0.69 …
  0.11 of the image height), three per scene, four scenes per height; people found for each
  ``--tiles``.

Each ``--weights LABEL=DIR`` is a folder of weight files (``BlazePoseDetector(weights_dir=DIR)``;
default: the shipped 9-bit files), e.g. the float16 files of ``tools/convert_mediapipe_pose.py --bits 16``.
Speed is measured by ``benchmarks/bench_detect.py``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import numpy as np
import torch
from bench_detect import weight_variants  # benchmarks/ is the script's folder, on sys.path

from hpskit.core.files import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
HEIGHTS = [500, 400, 320, 250, 200, 160, 130, 100, 80]


def _match(gt: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, int]:
    """Best IoU of each true box (n,), and the number of found boxes matching no true box."""
    from hpskit.detect.blazepose import box_iou

    if len(boxes) == 0:
        return np.zeros(len(gt)), 0
    iou = box_iou(gt, boxes)
    return iou.max(1), int((iou.max(0) < 0.5).sum())


def recall(weights_dir: Path | None) -> dict:
    """Recall of ``BlazePoseDetector()`` on 36 people, 350–500 px tall in 1280 × 720 scenes."""
    from _scenes import compose_scene, synthetic_people

    from hpskit.detect import BlazePoseDetector

    det = BlazePoseDetector(weights_dir=weights_dir)
    img, mask, facing = synthetic_people(36, seed=1, res=256)
    ious, false_hits = [], 0
    for k in range(12):
        sl = slice(3 * k, 3 * k + 3)
        scene, gt = compose_scene(img[sl], mask[sl], [500, 420, 350], seed=k)
        best, extra = _match(gt, det([scene])[0].boxes)
        ious += best.tolist()
        false_hits += extra
    ious = np.asarray(ious)
    hit, behind = ious >= 0.5, ~facing.numpy()
    return {"people": len(ious), "found": int(hit.sum()), "mean_iou_found": float(ious[hit].mean()),
            "false_hits": false_hits, "behind": int(behind.sum()), "behind_found": int(hit[behind].sum())}


def sizes(weights_dir: Path | None, tiles: list[int]) -> dict:
    """People found (of 12) per person height, for each ``tiles``."""
    from _scenes import compose_scene, synthetic_people

    from hpskit.detect import BlazePoseDetector

    img, mask, _ = synthetic_people(12, seed=2, res=256)
    out = {}
    for t in tiles:
        det = BlazePoseDetector(tiles=t, weights_dir=weights_dir)
        row = []
        for h in HEIGHTS:
            n = 0
            for k in range(4):
                sl = slice(3 * k, 3 * k + 3)
                scene, gt = compose_scene(img[sl], mask[sl], [h] * 3, seed=k)
                n += int((_match(gt, det([scene])[0].boxes)[0] >= 0.5).sum())
            row.append(n)
        out[t] = row
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiles", type=int, nargs="+", default=[0, 2, 3, 4])
    ap.add_argument("--weights", action="append", default=None, metavar="LABEL=DIR",
                    help="a folder of weight files (repeatable; default: the shipped files)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tests" / "detect"))
    variants = weight_variants(ap, args.weights)
    report: dict = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                    "command": " ".join([Path(sys.executable).name, *sys.argv]), "torch": torch.__version__,
                    "heights_px": HEIGHTS, "height_fraction": [round(h / 720, 2) for h in HEIGHTS],
                    "variants": {}}
    for label, folder in variants.items():
        r, s = recall(folder), sizes(folder, args.tiles)
        report["variants"][label] = {"weights": str(folder) if folder else "shipped", "recall": r, "sizes": s}
        print(f"{label}: found {r['found']} of {r['people']} (mean IoU {r['mean_iou_found']:.3f}), "
              f"{r['false_hits']} false hits, {r['behind_found']} of {r['behind']} seen from behind",
              flush=True)
        print("  height / image height " + " ".join(f"{f:5.2f}" for f in report["height_fraction"]))
        for t, row in s.items():
            print(f"  tiles={t:<16d} " + " ".join(f"{n:5d}" for n in row), flush=True)
    if args.out:
        atomic_write_text(json.dumps(report, indent=2), args.out)


if __name__ == "__main__":
    main()
