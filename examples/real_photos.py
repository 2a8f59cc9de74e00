"""The shipped model on three real, public-domain photographs (the pictures of docs/results.md).

    python examples/real_photos.py --out real_out              # results in real_out/, pictures in docs/img/
    python examples/real_photos.py --out real_out --img-dir none  # results only

The photographs come with installed packages, so this runs offline: ``skimage.data.astronaut()`` (NASA),
``skimage.data.camera()`` (the "cameraman", scikit-image's own public-domain copy) and matplotlib's
``sample_data/grace_hopper.jpg`` (US Navy). Each is written to ``--out/photos/`` and given to
``hpskit predict`` exactly as a user would run it: no boxes (the built-in offline BlazePose detector finds
the person), the built-in weights ``dpose_efficientnet_lite0.synthetic`` and ``--export obj,glb``. The
overlays are then saved as small JPEGs ``real_<name>.jpg`` in ``--img-dir``.

The model is a synthetic-domain model (trained only on hpskit's rendered stand-in people, whole bodies,
standing, 3.5-8 m away): these pictures show how it does far outside that domain, not a real-photo model.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from hpskit.cli import main as hpskit_main

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = "dpose_efficientnet_lite0.synthetic"


def photos() -> dict[str, np.ndarray]:
    """name → (H, W, 3) uint8 RGB of the three public-domain photographs."""
    import matplotlib.cbook
    import skimage.data

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        hopper = np.asarray(Image.open(f).convert("RGB"))
    return {"astronaut": skimage.data.astronaut(),
            "camera": np.repeat(skimage.data.camera()[..., None], 3, axis=-1),  # grey → RGB
            "grace_hopper": hopper}


def save_jpeg(src: Path, dst: Path, width: int, max_bytes: int = 150_000) -> int:
    """``src`` resized to ``width`` pixels wide, written as a JPEG under ``max_bytes`` (atomically)."""
    img = Image.open(src).convert("RGB")
    img = img.resize((width, round(img.height * width / img.width)), Image.LANCZOS)
    tmp = dst.with_name(dst.name + ".tmp")
    for quality in (85, 75, 65, 55):
        img.save(tmp, format="JPEG", quality=quality, optimize=True)
        if tmp.stat().st_size <= max_bytes:
            break
    tmp.replace(dst)
    return dst.stat().st_size


def run(out: Path, img_dir: Path | None, device: str = "cpu", width: int = 400) -> list[Path]:
    photo_dir = out / "photos"
    photo_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, rgb in photos().items():
        p = photo_dir / f"{name}.png"
        Image.fromarray(rgb).save(p)
        paths.append(p)
    results = out / "predict"
    if results.exists():
        shutil.rmtree(results)
    code = hpskit_main(["predict", "--weights", WEIGHTS, *map(str, paths), "--out", str(results),
                        "--export", "obj,glb", "--device", device])
    if code != 0:
        raise SystemExit(f"hpskit predict failed (exit status {code})")
    written = []
    for p in paths:
        info = json.loads((results / f"{p.stem}.json").read_text())
        boxes = [[round(v) for v in person["box_xyxy"]] for person in info["people"]]
        print(f"{p.name}: {len(boxes)} person(s) found, boxes {boxes}")
        for f in sorted(results.glob(f"{p.stem}*")):
            print(f"  wrote {f}")
            written.append(f)
        if img_dir is not None:
            img_dir.mkdir(parents=True, exist_ok=True)
            dst = img_dir / f"real_{p.stem}.jpg"
            size = save_jpeg(results / f"{p.stem}_overlay.png", dst, width)
            print(f"  wrote {dst} ({size / 1000:.0f} KB)")
            written.append(dst)
    return written


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="real_out",
                    help="output folder for the photos and hpskit predict's results")
    ap.add_argument("--img-dir", default=str(REPO / "docs" / "img"),
                    help="where the small overlay JPEGs go ('none': not written)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--width", type=int, default=400, help="width of the JPEGs in pixels")
    args = ap.parse_args()
    run(Path(args.out), None if args.img_dir == "none" else Path(args.img_dir), args.device, args.width)
