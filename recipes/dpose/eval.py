"""Evaluate D-PoSE on 3DPW, EMDB (the paper's or the official EMDB protocol) or the held-out synthetic split.

    python recipes/dpose/eval.py --config recipes/dpose/configs/eval_3dpw.yaml model=runs/paper/export
    python recipes/dpose/eval.py --config recipes/dpose/configs/eval_emdb.yaml model=runs/paper/export \
        protocol=smpl24_hips
    python recipes/dpose/eval.py --config recipes/dpose/configs/eval_synthetic.yaml \
        model=runs/synthetic/export

Prints a per-sequence and total table (mm) and writes the full result (per-sequence means, totals, standard
deviations, sample count) as JSON to ``output``. Missing licence-gated files (SMPL-X, SMPL, smplx2smpl,
the H36M regressor) stop the run with an error that says where to get them; nothing is faked.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lib.evaluation import EvalConfig, evaluate_smpl_dataset, evaluate_synthetic, format_table  # noqa: E402

from hpskit.core import HPSKitError  # noqa: E402
from hpskit.engine import atomic_write_bytes, init_distributed, load_config  # noqa: E402

logger = logging.getLogger("dpose.eval")


def run(cfg: EvalConfig) -> dict:
    """Evaluate as configured, write the JSON, return the result."""
    device = init_distributed(cfg.device).device
    progress = None
    if cfg.progress:
        from tqdm import tqdm

        def progress(it):
            return tqdm(it, desc=f"eval {cfg.dataset}", unit="batch", dynamic_ncols=True)

    if cfg.dataset == "synthetic":
        result = evaluate_synthetic(cfg, device, progress)
    else:
        result = evaluate_smpl_dataset(cfg, device, progress)
    atomic_write_bytes((json.dumps(result, indent=2) + "\n").encode(), cfg.output)
    return result


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True, help="YAML config (recipes/dpose/configs/eval_*.yaml)")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. model=runs/paper/export")
    args = p.parse_args(argv)
    try:
        cfg = load_config(EvalConfig, args.config, args.overrides)
        with torch.no_grad():
            result = run(cfg)
    except HPSKitError as e:
        logger.error("%s: %s", type(e).__name__, e)
        return 2
    print(f"\n{result['dataset']} ({result['protocol']}), {result['count']} samples, model "
          f"{result['model']}\n")
    print(format_table(result))
    print(f"\nwritten to {cfg.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
