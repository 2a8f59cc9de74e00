#!/usr/bin/env bash
# The GPU measurements behind docs/benchmarks.md's speed tables, as one command per section:
#
#   bash benchmarks/speed_suite.sh OUT_DIR SECTION [SECTION ...]
#
# Sections (each writes OUT_DIR/<section>*.json / .txt / .log):
#   inference  benchmarks/bench_inference.py: W48 and the shipped compact model, batch 1/32/256, four variants
#   profile    bench_recipe.py --profile on synthetic.yaml (W48), read every step and deferred: phases + top
#              kernels by GPU time; then the same for the compact EfficientNet-Lite0 step
#   race       bench_recipe.py with HRNet-W18, CUDA graphs, prefetch on and off (where a loss first goes
#              non-finite, if it does)
#   training   bench_recipe.py rows in one run: the authors' way (eager fp32, NCHW, no graphs, no prefetch,
#              default Adam), synthetic.yaml (W48), and the compact encoders (hrnet_w18, efficientnet_lite0);
#              then W48 and efficientnet_lite0 with runtime.graph_scope=step (the whole step as one CUDA
#              graph: whole-step time only, no phases); EXTRA_ROWS (";"-separated override lists) adds rows
#   sustained  a real train.py run of synthetic.yaml for SUSTAINED_MIN minutes (default 2.5) with evaluation,
#              panels and checkpoints, to compare its wall-clock rate with the step benchmark
# Every section is bounded by `timeout`; a failed section is logged and the next one runs.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: speed_suite.sh OUT_DIR SECTION...}
shift
mkdir -p "$OUT"
CFG=recipes/dpose/configs/synthetic.yaml
run() {  # name timeout_s command...
    local name=$1 limit=$2
    shift 2
    echo "=== $name ($(date -u +%H:%M:%S))"
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    tail -n 3 "$OUT/$name.log"
    [[ $rc == 0 ]] || echo "!!! $name exited $rc"
}
recipe_row() {  # name timeout_s overrides...
    local name=$1 limit=$2
    shift 2
    run "$name" "$limit" python benchmarks/bench_recipe.py --config "$CFG" --steps "${STEPS:-20}" \
        --warmup "${WARMUP:-8}" --out "$OUT/$name.json" "$@"
}
for section in "$@"; do
    case $section in
    inference)
        run inference 240 python benchmarks/bench_inference.py --out "$OUT/inference.json" ;;
    profile)  # before: the step read every step (runtime.sync_every=1); after: synthetic.yaml as it is
        run profile_before 150 python benchmarks/bench_recipe.py --config "$CFG" --profile \
            --profile-out "$OUT/profile_before_tables.txt" --out "$OUT/profile_before.json" runtime.sync_every=1
        run profile_after 150 python benchmarks/bench_recipe.py --config "$CFG" --profile \
            --profile-out "$OUT/profile_after_tables.txt" --out "$OUT/profile_after.json"
        # the compact model's step (EfficientNet-Lite0): where its time goes against the 3x-W48 goal
        run profile_effl0 150 python benchmarks/bench_recipe.py --config "$CFG" --profile \
            --profile-out "$OUT/profile_effl0_tables.txt" --out "$OUT/profile_effl0.json" \
            model.encoder=efficientnet_lite0 ;;
    race)
        recipe_row race_w18_prefetch 120 model.encoder=hrnet_w18 data.prefetch=true
        recipe_row race_w18_noprefetch 120 model.encoder=hrnet_w18 data.prefetch=false ;;
    training)
        recipe_row train_authors 180 runtime.bf16=false runtime.channels_last=false runtime.cuda_graphs=false \
            data.prefetch=false optim.fused=false runtime.cudnn_benchmark=false
        recipe_row train_w48 120
        recipe_row train_w18 120 model.encoder=hrnet_w18
        recipe_row train_effl0 120 model.encoder=efficientnet_lite0
        # The whole step (network, bodies, losses, backward, clip, guard flag, fused Adam) as one CUDA graph:
        # 3 eager steps, then the capture; phases cannot be timed apart (phases_ms null).
        recipe_row train_w48_stepgraph 180 runtime.graph_scope=step
        recipe_row train_effl0_stepgraph 180 model.encoder=efficientnet_lite0 runtime.graph_scope=step
        IFS=';' read -ra extra <<< "${EXTRA_ROWS:-}"
        i=0
        for row in "${extra[@]}"; do
            # shellcheck disable=SC2086
            [[ -n "$row" ]] && recipe_row "train_extra$i" 240 $row
            i=$((i + 1))
        done ;;
    sustained)
        limit=$(python3 -c "print(int(float('${SUSTAINED_MIN:-2.5}') * 60 + 150))")
        run sustained "$limit" python recipes/dpose/train.py --config "$CFG" \
            output_dir="$OUT/sustained_run" runtime.max_minutes="${SUSTAINED_MIN:-2.5}" checkpoint.resume=never \
            log.tensorboard=false log.progress=false log.eval_every=250 log.image_every=250 \
            checkpoint.every=250 checkpoint.export=false
        cp "$OUT/sustained_run/metrics.jsonl" "$OUT/sustained_metrics.jsonl" 2>/dev/null ;;
    *) echo "unknown section $section" ;;
    esac
done
