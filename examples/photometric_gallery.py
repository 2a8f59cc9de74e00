"""Look at every photometric operation of hpskit's augmentation, one per panel, on a 224² person crop.

    python examples/photometric_gallery.py --out docs/img/photometric_ops.jpg

Each panel forces one operation (``PhotometricConfig.single(op)``, p = 1) with the parameters a batch would
draw for that seed; the bottom row compares the JPEG operation's two codecs at quality 20 (``"torch"`` on
the images' device, ``"libjpeg"`` the real codec on the CPU) and their difference, amplified. The photograph
is scikit-image's ``astronaut`` (public domain; ``pip install scikit-image``). Add ``--device cuda`` to run
the operations on a GPU.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from hpskit.data.transforms import OP_NAMES, PhotometricAugment, PhotometricConfig  # noqa: E402
from hpskit.data.transforms._compression import jpeg_roundtrip, jpeg_simulated  # noqa: E402


def person_crop(res: int = 224) -> torch.Tensor:
    """(1, 3, res, res) in [0, 1]: the astronaut photograph's head and shoulders."""
    try:
        from skimage import data
    except ImportError as e:
        raise SystemExit("photometric_gallery: needs scikit-image for its sample photograph "
                         "(pip install scikit-image).") from e
    img = torch.from_numpy(data.astronaut()).permute(2, 0, 1)[None].float() / 255  # (1, 3, 512, 512)
    crop = img[:, :, 0:400, 40:440]
    return F.interpolate(crop, size=(res, res), mode="area").clamp(0, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("photometric_ops.jpg"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--jpeg-quality", type=int, default=20)
    args = ap.parse_args()

    x = person_crop().to(args.device)
    panels = [("input", x)]
    for op in OP_NAMES:
        aug = PhotometricAugment(PhotometricConfig.single(op))
        panels.append((op.replace("_", " "), aug(x, seed=args.seed)))
    q = args.jpeg_quality
    dev_jpeg = jpeg_simulated(x, torch.tensor([q]))
    lib_jpeg = jpeg_roundtrip(x, [q])
    diff = (dev_jpeg - lib_jpeg).abs()
    levels = float(255 * diff.mean())
    tail = [(f"JPEG q{q}, codec torch", dev_jpeg), (f"JPEG q{q}, codec libjpeg", lib_jpeg),
            (f"|torch − libjpeg| × 10 (mean {levels:.2f} lv)", (10 * diff).clamp(0, 1)),
            ("input (zoom)", x), ("torch (zoom)", dev_jpeg), ("libjpeg (zoom)", lib_jpeg)]

    cols = 6
    rows = -(-len(panels) // cols) + 1
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.35 * rows))
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, img) in zip(axes.flat, panels):
        ax.imshow(img[0].permute(1, 2, 0).cpu().numpy())
        ax.set_title(title, fontsize=9)
    for k, (title, img) in enumerate(tail):
        ax = axes[rows - 1, k]
        if "zoom" in title:
            img = img[:, :, 40:96, 80:136]  # 56 × 56 around the face: the 8 × 8 blocks show
        ax.imshow(img[0].permute(1, 2, 0).cpu().numpy(), interpolation="nearest")
        ax.set_title(title, fontsize=8)
    fig.suptitle(f"PhotometricAugment: each operation forced (seed {args.seed}); bottom: the JPEG codecs",
                 fontsize=11)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    jpeg = args.out.suffix.lower() in (".jpg", ".jpeg")
    fig.savefig(args.out, dpi=80, pil_kwargs={"quality": 92} if jpeg else None)
    print(f"wrote {args.out} ({len(panels)} panels + JPEG comparison; mean |torch − libjpeg| = {levels:.2f} "
          "levels)")


if __name__ == "__main__":
    main()
