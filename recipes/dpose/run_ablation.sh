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
# several commands; checkpoints are written when a run stops), MAX_PARALLEL (most runs at once; the rest wait
# for a free slot; default: the GPU's free memory / GIB_PER_RUN (default 11 for the compact config, else 20; ~9-11 GiB per compact
# run with CUDA graphs, so 8 runs do not fit an 80 GB H100: 3 of 8 died of CUDA OOM on 2026-12-08), or all
# runs when nvidia-smi is absent).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/ablation}
shift || true
CONFIG=${CONFIG:-recipes/dpose/configs/synthetic_compact.yaml}
# per-run GPU memory for the default cap: compact runs measured 9-11 GiB; a full HRNet-W48 step peaks at
# 15.4 GiB in bench_recipe.py, so other configs get 20 (room for evaluation and panels)
[[ "$CONFIG" == *compact* ]] && GIB_PER_RUN=${GIB_PER_RUN:-11} || GIB_PER_RUN=${GIB_PER_RUN:-20}
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
if [[ -z "${MAX_PARALLEL:-}" ]]; then
    MAX_PARALLEL=$n
    if command -v nvidia-smi > /dev/null; then
        free_mib=$(nvidia-smi --query-gpu=memory.free --format=csv,noheader,nounits | head -1 | tr -dc 0-9)
        [[ -n "$free_mib" ]] && MAX_PARALLEL=$(( free_mib / (GIB_PER_RUN * 1024) ))
        (( MAX_PARALLEL < 1 )) && MAX_PARALLEL=1
    fi
fi
[[ "$MAX_PARALLEL" =~ ^[1-9][0-9]*$ ]] || { echo "MAX_PARALLEL: want a positive integer, got '$MAX_PARALLEL'"; exit 2; }
(( MAX_PARALLEL > n )) && MAX_PARALLEL=$n
echo "ablation: $CONFIG, $STEPS steps per run, seeds $SEEDS, ${MINUTES} min hard stop, $n runs, $MAX_PARALLEL in parallel"
(( MAX_PARALLEL < n )) && echo "NOTE: $(( n - MAX_PARALLEL )) runs wait for a free slot; MINUTES is per run, so the whole takes longer"
mkdir -p "$OUT"
for seed in $SEEDS; do
    for row in "${ROWS_ORDER[@]}"; do
        while (( $(jobs -rp | wc -l) >= MAX_PARALLEL )); do wait -n || true; done
        run="$OUT/$row/seed$seed"
        mkdir -p "$run"
        rm -f "$run/exit_status"
        # shellcheck disable=SC2086
        ( set +e; python recipes/dpose/train.py --config "$CONFIG" output_dir="$run" ${ROWS[$row]} \
            checkpoint.resume=$RESUME runtime.seed="$seed" runtime.max_steps="$STEPS" \
            runtime.max_minutes="$MINUTES" log.eval_every="$EVAL_EVERY" log.eval_samples="$EVAL_SAMPLES" \
            log.image_every=0 log.progress=false log.tensorboard=false checkpoint.every=0 \
            checkpoint.keep_last=1 checkpoint.export=false "$@" >> "$OUT/$row.seed$seed.log" 2>&1
          echo $? > "$run/exit_status" ) &
    done
done
wait
status=0
for seed in $SEEDS; do
    for row in "${ROWS_ORDER[@]}"; do
        f="$OUT/$row/seed$seed/metrics.jsonl"
        last=$(grep -o '"kind": "train", "step": [0-9]*' "$f" 2>/dev/null | tail -1 | grep -o '[0-9]*$' || echo 0)
        rc=$(cat "$OUT/$row/seed$seed/exit_status" 2>/dev/null || echo "?")
        [[ "$rc" == 0 ]] || { echo "FAILED: $row seed $seed exited $rc; see $OUT/$row.seed$seed.log"; status=1; }
        if [[ -z "$last" || "$last" == 0 ]]; then
            echo "FAILED: $row seed $seed trained no step; end of $OUT/$row.seed$seed.log:"
            tail -n 1 "$OUT/$row.seed$seed.log" | cut -c1-300
            status=1
        elif [[ "$last" != "$STEPS" ]]; then
            echo "NOTE: $row seed $seed at step $last of $STEPS (time budget)"
        fi
    done
done
exit $status
