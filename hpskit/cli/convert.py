"""``hpskit convert``: the authors' D-PoSE Lightning checkpoint → an hpskit pretrained folder."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ._common import check_files_exist

logger = logging.getLogger("hpskit.cli")

NAME = "convert"
HELP = "convert the authors' D-PoSE checkpoint (.ckpt) into an hpskit pretrained folder"
DESCRIPTION = """\
Convert the authors' D-PoSE Lightning checkpoint into OUT_DIR (config.json, model.safetensors, README.md),
loadable with `DPoSE.from_pretrained(OUT_DIR)` and `hpskit predict --weights OUT_DIR`.

No arbitrary pickle is executed (hpskit.models.convert_dpose: restricted unpickler, explicit rename and
drop lists). The files are written into a staging folder next to OUT_DIR and strict-loaded into hpskit's
DPoSE there; only then are they renamed into OUT_DIR. A failure leaves OUT_DIR as it was (with --overwrite
too: the old weights survive).
Same as `python -m hpskit.models.convert_dpose CKPT OUT_DIR`.

Example:
  hpskit convert "epoch=3-step=151000.ckpt" weights/dpose_hrnet_w48
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("ckpt", type=Path, metavar="CKPT", help="the authors' Lightning .ckpt")
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace existing weights in OUT_DIR")
    p.add_argument("--no-verify", action="store_true", help="skip the strict load into hpskit's DPoSE")


def run(args: argparse.Namespace) -> int:
    from hpskit.hub import WEIGHTS_NAME
    from hpskit.models.convert_dpose import convert_dpose_checkpoint, verify_with_dpose

    check_files_exist([args.ckpt], "checkpoint CKPT")
    if (args.out_dir / WEIGHTS_NAME).exists() and not args.overwrite:
        raise FileExistsError(f"{args.out_dir / WEIGHTS_NAME} exists; pass --overwrite to replace it (the "
                              "old files are kept until the new ones are written and verified).")
    # Staged next to OUT_DIR and verified there before anything in OUT_DIR changes (see convert_dpose).
    report = convert_dpose_checkpoint(args.ckpt, args.out_dir, overwrite=args.overwrite,
                                      verify=None if args.no_verify else verify_with_dpose)
    if not args.no_verify:
        logger.info("verified: DPoSE.from_pretrained(%s) loads strictly", args.out_dir)
    logger.info("wrote %s: %d tensors (%s values) kept, %d keys dropped (%s); config %s", report.out_dir,
                report.kept, f"{report.numel_kept:,}", report.num_dropped,
                ", ".join(f"{r}: {len(k)}" for r, k in report.dropped.items()) or "none", report.config)
    return 0
