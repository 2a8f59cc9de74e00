#!/usr/bin/env bash
# Proof that D-PoSE trains: the full model (HRNet-W48, 224 crops, batch 64, bf16 + channels_last) on the
# synthetic engine for a fixed wall-clock budget on one GPU. The run stops cleanly after MINUTES of training,
# then evaluates the held-out synthetic split, checkpoints and exports. Held-out MPJPE / PA-MPJPE / PVE (mm)
# and the mean-pose baseline are logged every EVAL_EVERY steps to <out>/metrics.jsonl; the curves and the
# table land in docs/img/convergence_*.png and docs/img/convergence.md.
#
#   bash recipes/dpose/run_convergence.sh [OUT_DIR] [extra key=value overrides...]
#
# Environment: MINUTES (training budget, default 8; setup and the final evaluation add about a minute),
# EVAL_EVERY (default 250), SEED (default 0).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/convergence}
shift || true
MINUTES=${MINUTES:-8}
EVAL_EVERY=${EVAL_EVERY:-250}
SEED=${SEED:-0}

set -x
python recipes/dpose/train.py --config recipes/dpose/configs/synthetic.yaml \
    output_dir="$OUT" checkpoint.resume=never runtime.seed="$SEED" runtime.max_minutes="$MINUTES" \
    log.eval_every="$EVAL_EVERY" log.progress=false "$@"
python recipes/dpose/plot_results.py "$OUT" --labels "D-PoSE (synthetic, ${MINUTES} min)" \
    --name convergence --out docs/img
