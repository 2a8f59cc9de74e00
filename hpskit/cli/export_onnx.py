"""``hpskit export-onnx``: the D-PoSE network forward as an ONNX file, checked with onnxruntime."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ._common import add_device_argument, add_weights_argument, load_model, resolve_device

logger = logging.getLogger("hpskit.cli")

NAME = "export-onnx"
HELP = "export the network forward to ONNX (verified with onnxruntime when installed)"
DESCRIPTION = """\
Export the D-PoSE network forward (no body model) to ONNX:
  inputs  images (B, 3, 224, 224) ImageNet-normalised crops, bbox_info (B, 3) CLIFF box vector
  outputs pose_rotmat (B, 22, 3, 3), betas (B, 11), cam (B, 3), depth (B, 1, 224, 224),
          part_logits (B, 23, 224, 224)
then run it with onnxruntime (if installed) on random inputs and report the largest difference from
PyTorch; the exit status is 1 when that exceeds --atol.

Example:
  hpskit export-onnx --weights weights/dpose_hrnet_w48 --out dpose.onnx --opset 17 --batch dynamic
"""


def _batch(text: str) -> int | None:
    if text.strip().lower() == "dynamic":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"--batch is 'dynamic' or a positive integer; got {text!r}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_weights_argument(p, body_model=False)  # the graph has no body model
    p.add_argument("--out", type=Path, required=True, metavar="FILE.onnx", help="output ONNX file")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--batch", type=_batch, default=None, metavar="dynamic|N",
                   help="'dynamic' (default): a symbolic batch axis; N: a fixed batch size")
    p.add_argument("--exporter", choices=("torchscript", "dynamo"), default="torchscript",
                   help="torch.onnx exporter (default torchscript; dynamo needs onnxscript and is slower)")
    p.add_argument("--no-verify", action="store_true", help="skip the onnxruntime check")
    p.add_argument("--atol", type=float, default=1e-4, help="largest accepted |onnx - torch| (default 1e-4)")
    add_device_argument(p)


def run(args: argparse.Namespace) -> int:
    import torch

    from hpskit.models.export import export_onnx

    device = resolve_device(args.device)
    model = load_model(args.weights, "none", device)  # the graph has no body model
    report = export_onnx(model, args.out, opset=args.opset, batch=args.batch, exporter=args.exporter,
                         verify=not args.no_verify, generator=torch.Generator().manual_seed(0))
    lines = [f"wrote {report.path} ({report.exporter} exporter, opset {report.opset}, "
             f"batch {'dynamic' if report.batch is None else report.batch})",
             f"inputs: {', '.join(report.input_names)}; outputs: {', '.join(report.output_names)}"]
    status = 0
    if report.max_abs_diff is None:
        lines.append("not verified (--no-verify, or onnxruntime is not installed)")
    else:
        per = ", ".join(f"{k} {v:.3g}" for k, v in report.max_abs_diff.items())
        lines.append(f"onnxruntime {report.onnxruntime_version} vs PyTorch (batch {report.verify_batch}): "
                     f"max abs diff {report.worst_abs_diff:.3g} ({per})")
        if not report.ok(args.atol):
            logger.error("the ONNX outputs differ from PyTorch by %.3g > --atol %.3g", report.worst_abs_diff,
                         args.atol)
            status = 1
    sys.stdout.write("\n".join(lines) + "\n")
    return status
