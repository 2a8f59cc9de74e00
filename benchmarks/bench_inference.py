"""GPU inference throughput: network + SMPL-X body at batch 1 / 32 / 256, HRNet-W48 and the shipped model.

Variants (each on the same model, in one run, so ratios compare like with like):

* ``fp32``: eager float32, NCHW (how the authors' demo runs);
* ``bf16_cl``: bf16 autocast + channels_last;
* ``fused_bf16_cl``: BatchNorm folded into the convolutions (``model.optimize_for_inference()``), bf16,
  channels_last;
* ``fused_bf16_cl_graph``: the same forward (network + body) captured once as a CUDA graph and replayed;
* ``fused_bf16_cl_graph_lean``: the same with ``depth_map=False`` (the depth decoder's full-resolution layers
  skipped: pose, shape, camera and vertices are bit-identical; no depth map is returned).

Times are CUDA-event medians over ``--iters`` calls after ``--warmup``; images/s = batch / median.

    python benchmarks/bench_inference.py --out inference.json
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch

from hpskit.models import DPoSE, DPoSEConfig


def _forward(model, images, bbox, depth_map=True):
    out = model(images, bbox, depth_map=depth_map)
    body = model.body_model.forward_pose(out.pose_rotmat.float(), out.betas.float())
    return body.vertices


def time_variant(model, batch, bf16, channels_last, graph, iters, warmup, depth_map=True):
    dev = next(model.parameters()).device
    images = torch.randn(batch, 3, 224, 224, device=dev)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    bbox = 0.1 * torch.randn(batch, 3, device=dev)

    def run():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            return _forward(model, images, bbox, depth_map)

    with torch.inference_mode():
        for _ in range(warmup):
            run()
        fn = run
        if graph:
            g = torch.cuda.CUDAGraph()
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(2):
                    run()
            torch.cuda.current_stream().wait_stream(s)
            with torch.cuda.graph(g):
                run()
            fn = g.replay
        times = []
        for _ in range(iters):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            torch.cuda.synchronize()
            times.append(a.elapsed_time(b) / 1000)
    t = statistics.median(times)
    return {"batch": batch, "median_s": t, "images_per_s": batch / t, "ms": 1000 * t}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", default="1,32,256")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--models", default="w48,compact")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    rows = []
    for name in args.models.split(","):
        base = (DPoSE(DPoSEConfig(body_model="standin")) if name == "w48"
                else DPoSE.from_pretrained("dpose_efficientnet_lite0.synthetic")).to(dev).eval()
        # The fused copy checks itself against the model (atol 1e-3) on a probe; TF32 convolutions (cuDNN's
        # default) would make that check compare two TF32 roundings, so it runs in full fp32.
        tf32 = torch.backends.cudnn.allow_tf32
        torch.backends.cudnn.allow_tf32 = False
        try:
            fused = base.optimize_for_inference()
        finally:
            torch.backends.cudnn.allow_tf32 = tf32
        variants = {"fp32": (base, False, False, False, True), "bf16_cl": (base, True, True, False, True),
                    "fused_bf16_cl": (fused, True, True, False, True),
                    "fused_bf16_cl_graph": (fused, True, True, True, True),
                    "fused_bf16_cl_graph_lean": (fused, True, True, True, False)}
        for vname, (m, bf16, cl, graph, depth_map) in variants.items():
            if cl and m is base:
                m = m.to(memory_format=torch.channels_last)
            for batch in (int(b) for b in args.batches.split(",")):
                try:
                    r = time_variant(m, batch, bf16, cl, graph, args.iters, args.warmup, depth_map)
                except Exception as e:  # one failing variant (e.g. a graph capture) must not lose the others
                    r = {"batch": batch, "error": f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"}
                    print(f"{name:8s} {vname:20s} batch {batch:4d}: FAILED {r['error']}", flush=True)
                    torch.cuda.synchronize()
                else:
                    print(f"{name:8s} {vname:20s} batch {batch:4d}: {r['ms']:8.2f} ms  "
                          f"{r['images_per_s']:9.1f} img/s", flush=True)
                r.update(model=name, variant=vname)
                rows.append(r)
                _write(args.out, rows)
            if m is base and cl:
                base = base.to(memory_format=torch.contiguous_format)
    _write(args.out, rows)


def _write(path: str | None, rows: list[dict]) -> None:
    """The rows so far (after every row, so a run cut short keeps what it measured)."""
    if path:
        with open(path, "w") as f:
            json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows}, f,
                      indent=2)


if __name__ == "__main__":
    main()
