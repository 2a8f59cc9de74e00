#!/usr/bin/env bash
# Multi-GPU scaling of the D-PoSE training recipe (issue 9): torchrun on 1, 2, 4 and 8 GPUs of one host (those
# that exist), full D-PoSE (HRNet-W48, 224², bf16 + channels_last) at batch 64 PER GPU on the synthetic
# engine, STEPS steps each. Records the training images/s (median over the log windows after the first
# WARMUP windows, from <out>/<N>gpu/metrics.jsonl) and the scaling efficiency against 1 GPU of the same run.
# With AGREE=1 it also trains N GPUs × (64/N) against 1 GPU × 64 (same global batch, AGREE_STEPS steps) and
# plots their loss curves together (docs/img/ddp_agree_*.png): they should agree statistically (the ranks
# draw different synthetic people, so not bitwise).
#
#   bash benchmarks/bench_ddp_scaling.sh [OUT_DIR] [key=value overrides for every run...]
#
# Environment: GPUS ("1 2 4 8"), STEPS (60), WARMUP (2 windows of 10 steps), AGREE (0), AGREE_STEPS (300).
# Leave NVLink multicast off (NCCL_NVLS_ENABLE=0 is set below). Writes <OUT>/scaling.md and scaling.json.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/ddp_scaling}
shift || true   # further arguments: key=value overrides for every run (e.g. a tiny model to try the script)
STEPS=${STEPS:-60}
WARMUP=${WARMUP:-2}
AVAILABLE=$(python -c "import torch; print(torch.cuda.device_count())")
if (( AVAILABLE == 0 )); then   # no GPU: gloo on CPU processes, only to check the script end to end
    AVAILABLE=$(nproc); set -- runtime.device=cpu runtime.threads=1 runtime.bf16=false runtime.channels_last=false "$@"
fi
GPUS=${GPUS:-"1 2 4 8"}
export NCCL_NVLS_ENABLE=0
mkdir -p "$OUT"
COMMON=(checkpoint.resume=never checkpoint.every=0 checkpoint.export=false log.every=10 log.image_every=0
        log.eval_every=0 log.eval_samples=64 log.progress=false log.tensorboard=false runtime.max_minutes=0)
ran=()
for n in $GPUS; do
    if (( n > AVAILABLE )); then echo "skip $n GPUs: only $AVAILABLE visible"; continue; fi
    torchrun --standalone --nproc_per_node "$n" recipes/dpose/train.py --config recipes/dpose/configs/synthetic.yaml \
        output_dir="$OUT/${n}gpu" data.batch_size=64 runtime.max_steps="$STEPS" "${COMMON[@]}" "$@" \
        > "$OUT/${n}gpu.log" 2>&1
    ran+=("$n")
done
python - "$OUT" "$WARMUP" "${ran[@]}" <<'PY'
import json, statistics, sys
from pathlib import Path
out, warmup, ns = Path(sys.argv[1]), int(sys.argv[2]), [int(n) for n in sys.argv[3:]]
rows = []
for n in ns:
    recs = [json.loads(l) for l in (out / f"{n}gpu" / "metrics.jsonl").read_text().splitlines() if l.strip()]
    ips = [r["images_per_s"] for r in recs if r["kind"] == "train"][warmup:]
    rows.append({"gpus": n, "images_per_s": statistics.median(ips), "per_gpu": statistics.median(ips) / n,
                 "gpu_mem_gb": max(r.get("gpu_mem_gb", 0) for r in recs if r["kind"] == "train")})
base = next((r["images_per_s"] for r in rows if r["gpus"] == 1), None)
lines = ["| GPUs | global batch | images/s | images/s per GPU | scaling efficiency vs 1 GPU | peak GiB (rank 0) |",
         "|---:|---:|---:|---:|---:|---:|"]
for r in rows:
    r["efficiency"] = r["images_per_s"] / (r["gpus"] * base) if base else float("nan")
    lines.append(f"| {r['gpus']} | {64 * r['gpus']} | {r['images_per_s']:.0f} | {r['per_gpu']:.0f} | "
                 f"{100 * r['efficiency']:.1f} % | {r['gpu_mem_gb']:.1f} |")
(out / "scaling.json").write_text(json.dumps(rows, indent=2))
(out / "scaling.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PY
if [[ "${AGREE:-0}" == "1" ]]; then
    AGREE_STEPS=${AGREE_STEPS:-300}
    runs=("$OUT/agree_1gpu_b64"); labels=("1 GPU x 64")
    torchrun --standalone --nproc_per_node 1 recipes/dpose/train.py --config recipes/dpose/configs/synthetic.yaml \
        output_dir="${runs[0]}" data.batch_size=64 runtime.max_steps="$AGREE_STEPS" "${COMMON[@]}" log.eval_every=100 "$@" \
        > "${runs[0]}.log" 2>&1
    for n in "${ran[@]}"; do
        (( n == 1 )) && continue
        d="$OUT/agree_${n}gpu_b$((64 / n))"
        torchrun --standalone --nproc_per_node "$n" recipes/dpose/train.py \
            --config recipes/dpose/configs/synthetic.yaml output_dir="$d" data.batch_size=$((64 / n)) \
            runtime.max_steps="$AGREE_STEPS" "${COMMON[@]}" log.eval_every=100 "$@" > "$d.log" 2>&1
        runs+=("$d"); labels+=("$n GPUs x $((64 / n))")
    done
    python recipes/dpose/plot_results.py "${runs[@]}" --labels "${labels[@]}" --name ddp_agree --out docs/img
fi
