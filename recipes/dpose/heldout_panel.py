"""Draw a saved model on held-out synthetic people: one row per person with the input crop, the predicted mesh
(placed by the predicted camera), ground-truth and predicted part maps, ground-truth and predicted depth
(:func:`hpskit.render.make_panel`), written as an image. CPU, float32, offline:

    python recipes/dpose/heldout_panel.py --pretrained dpose_efficientnet_lite0.synthetic \
        --samples 6 --out docs/img/shipped_panel_val.jpg

The people are the first ``--samples`` of the held-out split that ``--config``'s data section defines (the
same people the training run's held-out evaluation scores). Used for docs/results.md, "The shipped model".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lib.config import TrainConfig  # noqa: E402
from _lib.data import heldout_batches  # noqa: E402

from hpskit.core import atomic_write  # noqa: E402
from hpskit.data.transforms.tensor import unnormalize_imagenet  # noqa: E402
from hpskit.engine import load_config  # noqa: E402
from hpskit.models import DPoSE  # noqa: E402
from hpskit.render import make_panel  # noqa: E402


@torch.no_grad()
def heldout_panel(name: str, config: Path, samples: int) -> torch.Tensor:
    """The panel (3, samples·R, 6·R) in [0, 1] of saved model ``name`` on the first ``samples`` held-out
    people of ``config``'s split."""
    net = DPoSE.from_pretrained(name).float().eval()
    cfg = load_config(TrainConfig, str(config), [])
    (batch,) = heldout_batches(cfg.data, net.body_model, samples, samples, torch.device("cpu"))
    out = net(batch.img, batch.bbox_info)
    verts = net.body_model.forward_pose(out.pose_rotmat.float(), out.betas.float()).vertices
    rgb = unnormalize_imagenet(batch.img.float())
    return make_panel(rgb, batch, out, verts, net.body_model.faces, samples)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pretrained", required=True, help="a built-in weight name or a save_pretrained folder")
    p.add_argument("--samples", type=int, default=6, help="held-out people, one row each")
    p.add_argument("--out", type=Path, required=True, help="image file (.jpg or .png)")
    p.add_argument("--config", type=Path,
                   default=Path(__file__).resolve().parent / "configs" / "synthetic_compact.yaml",
                   help="recipe config whose data section defines the held-out split")
    a = p.parse_args(argv)
    if a.samples < 1:
        p.error("--samples must be >= 1")
    from PIL import Image  # noqa: PLC0415

    panel = heldout_panel(a.pretrained, a.config, a.samples)
    img = Image.fromarray((panel.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    fmt = "JPEG" if a.out.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    atomic_write(a.out, lambda fh: img.save(fh, format=fmt, quality=90))
    print(f"wrote {a.out} ({img.width}x{img.height})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
