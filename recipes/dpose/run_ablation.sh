#!/usr/bin/env bash
# The paper's Table 3 (depth ablation) on synthetic data: three rows × SEEDS, all with the same data and step
# budget, trained as parallel processes on one GPU:
#   no_depth            model.use_depth=false (no depth decoder, smaller regressor)
#   depth_unsupervised  the depth branch feeds the regressor but gets no depth loss (the authors' shipped config)
#   depth_supervised    depth loss on (the paper)
# Each run evaluates the held-out synthetic split every EVAL_EVERY steps and at the end; run folders are
# OUT_ROOT/<row>/seed<N>. Afterwards, the table (mean ± spread over seeds) and curves:
#   python recipes/dpose/plot_results.py --ablation OUT_ROOT --name ablation --out docs/img
# Every row is reported, whatever the outcome.
#
#   bash recipes/dpose/run_ablation.sh [OUT_ROOT] [extra key=value overrides for all rows...]
#
# Environment: CONFIG (default recipes/dpose/configs/synthetic_compact.yaml), SEEDS (default "0 1"),
# STEPS (steps per run, default 600; also the cosine schedule's horizon), MINUTES (hard stop per run,
# default 7; a run stopped by it before STEPS is flagged below), EVAL_EVERY (default 100),
# EVAL_SAMPLES (default 256), EXTRA_ROWS (";"-separated "name=overrides" rows run beside the three, e.g.
# "dense5=loss.weights.parts_ce=5.0 loss.weights.depth=5.0"), CONTINUE=1 (resume each run from its last checkpoint: a budget split over
# several commands; checkpoints are written when a run stops).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/ablation}
shift || true
CONFIG=${CONFIG:-recipes/dpose/configs/synthetic_compact.yaml}
SEEDS=${SEEDS:-0 1}
MINUTES=${MINUTES:-7}
STEPS=${STEPS:-600}
EVAL_EVERY=${EVAL_EVERY:-100}
EVAL_SAMPLES=${EVAL_SAMPLES:-256}
RESUME=never
[[ "${CONTINUE:-0}" == "1" ]] && RESUME=auto
ROWS_ORDER=(no_depth depth_unsupervised depth_supervised)
declare -A ROWS=(
    [no_depth]="model.use_depth=false loss.supervise_depth=false"
    [depth_unsupervised]="model.use_depth=true loss.supervise_depth=false"
    [depth_supervised]="model.use_depth=true loss.supervise_depth=true"
)
IFS=';' read -ra extra_rows <<< "${EXTRA_ROWS:-}"
for spec in "${extra_rows[@]}"; do
    [[ -z "$spec" ]] && continue
    name=${spec%%=*}
    [[ "$name" =~ ^[A-Za-z0-9_]+$ && "$spec" == *=* ]] || { echo "EXTRA_ROWS: bad row '$spec' (want name=overrides)"; exit 2; }
    [[ -z "${ROWS[$name]+x}" ]] || { echo "EXTRA_ROWS: row '$name' exists already"; exit 2; }
    ROWS_ORDER+=("$name")
    ROWS[$name]=${spec#*=}
done
n=$(( ${#ROWS_ORDER[@]} * $(wc -w <<< "$SEEDS") ))
echo "ablation: $CONFIG, $STEPS steps per run, seeds $SEEDS, ${MINUTES} min hard stop, $n runs in parallel"
mkdir -p "$OUT"
pids=()
for seed in $SEEDS; do
    for row in "${ROWS_ORDER[@]}"; do
        run="$OUT/$row/seed$seed"
        mkdir -p "$run"
        # shellcheck disable=SC2086
        python recipes/dpose/train.py --config "$CONFIG" output_dir="$run" ${ROWS[$row]} \
            checkpoint.resume=$RESUME runtime.seed="$seed" runtime.max_steps="$STEPS" \
            runtime.max_minutes="$MINUTES" log.eval_every="$EVAL_EVERY" log.eval_samples="$EVAL_SAMPLES" \
            log.image_every=0 log.progress=false log.tensorboard=false checkpoint.every=0 \
            checkpoint.keep_last=1 checkpoint.export=false "$@" >> "$OUT/$row.seed$seed.log" 2>&1 &
        pids+=($!)
    done
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
for seed in $SEEDS; do
    for row in "${ROWS_ORDER[@]}"; do
        f="$OUT/$row/seed$seed/metrics.jsonl"
        last=$(grep -o '"kind": "train", "step": [0-9]*' "$f" 2>/dev/null | tail -1 | grep -o '[0-9]*$' || echo 0)
        [[ "$last" == "$STEPS" ]] || echo "NOTE: $row seed $seed at step $last of $STEPS (time budget)"
    done
done
exit $status
