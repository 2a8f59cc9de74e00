"""Training-step and inference throughput of D-PoSE (HRNet-W48) under the precision/layout switches.

Measures images/s for a full training step (forward, a loss touching every output, backward, Adam step)
at batch 64, 224×224, for: fp32, bf16 autocast, bf16 + channels_last, bf16 + channels_last + torch.compile;
bf16 + channels_last with the forward/backward replayed as CUDA graphs (:class:`hpskit.engine.GraphedModule`),
and bf16 + channels_last with cuDNN autotuning off (what a loop that never sets
``torch.backends.cudnn.benchmark`` gets); and inference (no grad) in fp32 and bf16. Ratios are taken within
one run.

    python benchmarks/bench_model.py --out bench_model.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from hpskit.engine import GraphedModule
from hpskit.models import DPoSE, DPoSEConfig


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench(name, model, opt, device, batch, steps, warmup, bf16, channels_last, train=True):
    images = torch.randn(batch, 3, 224, 224, device=device)
    bbox = torch.randn(batch, 3, device=device) * 0.1
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    times = []
    for i in range(warmup + steps):
        _sync(device)
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            if train:
                out = model(images, bbox)
                loss = (out.pose_rotmat.float().square().mean() + out.betas.float().square().mean()
                        + out.cam.float().square().mean() + out.depth.float().mean()
                        + out.part_logits.float().square().mean())
            else:
                with torch.no_grad():
                    out = model(images, bbox)
        if train:
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    mem = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else 0.0
    return {"name": name, "images_per_s": batch / med, "step_ms": med * 1e3, "peak_mem_gib": round(mem, 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--only", default=None, help="comma-separated config names to run (default: all)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        args.batch, args.steps, args.warmup = 2, 2, 1
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    results = []
    configs = [("fp32", False, False, ""), ("bf16", True, False, ""), ("bf16+cl", True, True, ""),
               ("bf16+cl+graphs", True, True, "graphs"), ("bf16+cl-nobench", True, True, "nobench")]
    if not args.no_compile and device.type == "cuda":
        configs.append(("bf16+cl+compile", True, True, "compile"))
    if args.only:
        keep = set(args.only.split(","))
        configs = [c for c in configs if c[0] in keep or c[0] == "fp32"]
    for name, bf16, cl, mode in configs:
        torch.backends.cudnn.benchmark = mode != "nobench"
        model = DPoSE(DPoSEConfig(body_model="none")).to(device).train()
        if cl:
            model = model.to(memory_format=torch.channels_last)
        opt = torch.optim.Adam(model.parameters(), lr=1e-5)
        run_model = model
        if mode == "compile":
            run_model = torch.compile(model)
        elif mode == "graphs":
            run_model = GraphedModule(model, autocast_dtype=torch.bfloat16 if bf16 else None)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        r = bench(name, run_model, opt, device, args.batch, args.steps, args.warmup, bf16, cl)
        print(json.dumps(r), flush=True)
        results.append(r)
        if mode == "graphs":
            r["graph_replays"] = run_model.replays
        if name in ("fp32", "bf16+cl"):
            model.eval()
            r = bench(name + " inference", run_model, None, device, args.batch, args.steps, args.warmup,
                      bf16, cl, train=False)
            print(json.dumps(r), flush=True)
            results.append(r)
        del model, opt, run_model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    base = results[0]["images_per_s"]
    for r in results:
        r["ratio_vs_fp32_train"] = round(r["images_per_s"] / base, 3)
    summary = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "torch": torch.__version__, "batch": args.batch, "results": results,
        "date": time.strftime("%Y-%m-%d"),
    }
    if args.out:
        with open(args.out, "w") as f:
            json.dump(summary, f, indent=1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
