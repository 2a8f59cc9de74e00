#!/usr/bin/env bash
# The paper's Table 3 (depth ablation) on synthetic data: three rows with the same seed, data and step budget,
# trained as three parallel processes on one GPU:
#   no_depth            model.use_depth=false (no depth decoder, smaller regressor)
#   depth_unsupervised  the depth branch feeds the regressor but gets no depth loss (the authors' shipped config)
#   depth_supervised    depth loss on (the paper)
# Each row evaluates the held-out synthetic split every EVAL_EVERY steps and at the end; the curves and the
# table land in docs/img/ablation_*.png and docs/img/ablation.md. Every row is reported, whatever the outcome.
#
#   bash recipes/dpose/run_ablation.sh [OUT_ROOT] [extra key=value overrides for all rows...]
#
# Environment: STEPS (steps per row; default: derived from runs/convergence's measured img/s so the three
# parallel rows fit MINUTES, else 600), MINUTES (training budget per row, default 7: also a hard stop, and a
# row stopped by it before STEPS is flagged below), EVAL_EVERY (default 100), SEED (default 0).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/ablation}
shift || true
MINUTES=${MINUTES:-7}
EVAL_EVERY=${EVAL_EVERY:-100}
SEED=${SEED:-0}
if [[ -z "${STEPS:-}" ]]; then
    if [[ -f runs/convergence/metrics.jsonl ]]; then
        STEPS=$(python recipes/dpose/plot_results.py --suggest-steps runs/convergence --minutes "$MINUTES" \
                --parallel 3)
        STEPS=$(( STEPS * 85 / 100 ))   # margin: three processes share the GPU less well than one uses it
    else
        STEPS=600
    fi
fi
echo "ablation: $STEPS steps per row, seed $SEED, ${MINUTES} min hard stop, 3 rows in parallel"
mkdir -p "$OUT"
COMMON=(checkpoint.resume=never runtime.seed="$SEED" runtime.max_steps="$STEPS" runtime.max_minutes="$MINUTES"
        log.eval_every="$EVAL_EVERY" log.eval_samples=256 log.image_every=0 log.progress=false
        checkpoint.every=0 "$@")
declare -A ROWS=(
    [no_depth]="model.use_depth=false loss.supervise_depth=false"
    [depth_unsupervised]="model.use_depth=true loss.supervise_depth=false"
    [depth_supervised]="model.use_depth=true loss.supervise_depth=true"
)
pids=()
for row in no_depth depth_unsupervised depth_supervised; do
    # shellcheck disable=SC2086
    python recipes/dpose/train.py --config recipes/dpose/configs/synthetic.yaml output_dir="$OUT/$row" \
        ${ROWS[$row]} "${COMMON[@]}" > "$OUT/$row.log" 2>&1 &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
for row in no_depth depth_unsupervised depth_supervised; do
    last=$(grep -o '"kind": "train", "step": [0-9]*' "$OUT/$row/metrics.jsonl" | tail -1 | grep -o '[0-9]*$' || echo 0)
    [[ "$last" == "$STEPS" ]] || echo "WARNING: row $row stopped at step $last of $STEPS (time budget): budgets differ"
done
python recipes/dpose/plot_results.py "$OUT/no_depth" "$OUT/depth_unsupervised" "$OUT/depth_supervised" \
    --labels "no depth branch" "depth, unsupervised (authors' config)" "depth, supervised (paper)" \
    --name ablation --out docs/img
exit $status
