"""CPU ``predict`` on one 512×512 photo with one given box: time per stage, eager vs optimised.

Stages (the parts of :func:`hpskit.models.predict.predict`, timed one by one in one pass):

- ``prepare``: input checks, crop square, CLIFF box vector (:func:`~hpskit.models.predict.prepare_inputs`);
- ``crop``: the anti-aliased exact crop and normalisation (224×224);
- ``network``: ``model(crops, bbox_info)``;
- ``body``: camera translation + SMPL-X (stand-in body unless a real file is configured) + projection;
- ``paste``: depth and part maps pasted back to image size (skipped with ``return_maps=False``);
- ``total``: one whole ``predict(...)`` call (timed separately, so it is not the sum of the stages).

Variants, each for HRNet-W48 (``DPoSE(DPoSEConfig())``, random weights) and the shipped compact model
(``dpose_efficientnet_lite0.synthetic``, fp32):

- ``eager``: the model as built;
- ``fused``: :meth:`~hpskit.models.DPoSE.optimize_for_inference` (BatchNorm folded, channels_last);
- ``fused, no maps``: the same with ``return_maps=False``;
- ``fused, lean``: ``return_maps=False, depth_map=False`` (the depth decoder's full-resolution layers are
  skipped);
- ``fused, bf16`` (``--bf16``): the fused model's forward under
  ``torch.autocast("cpu", dtype=torch.bfloat16)`` with its outputs cast back to float32 (body model, camera
  and maps stay float32; :func:`_bf16`);
- ``fused, bf16, no channels_last`` (``--bf16``): the same with
  ``optimize_for_inference(channels_last=False)``;
- ``fused, bf16 after the trunk`` (``--bf16``, EfficientNet-lite only): the library's opt-in
  ``optimize_for_inference(bf16=True)``: only the encoder's neck and the two decoders under bf16 autocast, the
  EfficientNet trunk, attention and regressor in float32;
- ``fused, lean, bf16`` (``--bf16``, EfficientNet-lite only): the same copy with ``return_maps=False,
  depth_map=False``, the leanest ``predict``;
- ``fused, lean, compiled`` (``--compile``): the fused copy under ``torch.compile`` (inductor's C++/OpenMP
  backend), lean as above; ``compile_s`` is its first call;
- ``onnxruntime`` (network only, ``--onnx``): the ONNX export (:func:`hpskit.models.export_onnx`) in an
  onnxruntime CPU session with 2 intra-op threads.

Each variant runs ``--warmup`` times, then ``--repeat`` times; the table shows the median and [min, max] in
ms, and beside each row the 1-minute load average (other processes share the CPU; ``uptime``). ``cpu``
is the process CPU time of the whole ``predict`` call (all threads), which other processes inflate less
than wall time. Startup (building the optimised copy, exporting ONNX, opening the session) is printed too.
With ``--bf16`` the deviation of each fused variant from the eager float32 model on the photo is printed
too: max/mean |Δ| of vertices and joints (mm), translation (mm), crop camera, the crop depth map and the
pasted depth map, and the fraction of pixels whose part label differs (crop and pasted).

    python benchmarks/bench_cpu_predict.py --threads 2 --repeat 7 --onnx --out bench_cpu_predict.json
    python benchmarks/bench_cpu_predict.py --threads 2 --repeat 9 --bf16 --out bench_cpu_bf16.json
    python benchmarks/bench_cpu_predict.py --threads 2 --repeat 5 --warmup 1 --compile --out compile.json
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from hpskit.core import ConfigError, atomic_write_text
from hpskit.geometry import crop_cam_to_full_transl, paste_person_map, perspective_project
from hpskit.models import DPoSE, DPoSEConfig, predict
from hpskit.models.optimize import bf16_forward
from hpskit.models.predict import _crops, prepare_inputs

BOX = [[150.0, 20.0, 380.0, 500.0]]  # the astronaut, x0 y0 x1 y1


def _photo() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut())  # (512, 512, 3) uint8 RGB, public domain


def _stages(model, image, return_maps: bool, depth_map: bool = True) -> dict[str, float]:
    t = {}
    t0 = time.perf_counter()
    prep = prepare_inputs(model, image, BOX)
    t1 = time.perf_counter()
    with torch.inference_mode():
        crops = _crops(prep, slice(0, 1), prep.center.device)
        t2 = time.perf_counter()
        out = model(crops, prep.bbox_info, depth_map=depth_map)
        t3 = time.perf_counter()
        transl = crop_cam_to_full_transl(out.cam, prep.center, prep.scale, prep.K)
        if model.body_model is not None:
            posed = model.body_model.forward_pose(out.pose_rotmat, out.betas, transl=transl)
            perspective_project(posed.joints, prep.K)
        t4 = time.perf_counter()
        if return_maps:
            paste_person_map(out.part_logits[0:1], prep.center[0], prep.scale[0], prep.sizes[0], labels=True)
            paste_person_map(out.depth[0:1], prep.center[0], prep.scale[0], prep.sizes[0], labels=False)
        t5 = time.perf_counter()
    t.update(prepare=t1 - t0, crop=t2 - t1, network=t3 - t2, body=t4 - t3, paste=t5 - t4)
    c0, w0 = time.process_time(), time.perf_counter()
    predict(model, image, BOX, return_maps=return_maps, depth_map=depth_map)
    t["total"], t["cpu"] = time.perf_counter() - w0, time.process_time() - c0
    return t


def _summary(runs: list[dict[str, float]]) -> dict[str, list[float]]:
    keys = runs[0].keys()
    return {k: [round(1e3 * f(r[k] for r in runs), 1) for f in (statistics.median, min, max)] for k in keys}


def _onnx_network(model, repeat: int, warmup: int, threads: int) -> dict:
    import onnxruntime as ort

    from hpskit.models import export_onnx

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        t0 = time.perf_counter()
        rep = export_onnx(model, path, batch=1)
        t_export = time.perf_counter() - t0
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
        t0 = time.perf_counter()
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        t_session = time.perf_counter() - t0
    g = torch.Generator().manual_seed(0)
    feed = {"images": torch.randn(1, 3, 224, 224, generator=g).numpy(),
            "bbox_info": (0.1 * torch.randn(1, 3, generator=g)).numpy()}
    times = []
    for i in range(warmup + repeat):
        t0 = time.perf_counter()
        sess.run(None, feed)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return {"network": [round(1e3 * statistics.median(times), 1), round(1e3 * min(times), 1),
                        round(1e3 * max(times), 1)],
            "export_s": round(t_export, 2), "session_s": round(t_session, 2),
            "max_abs_diff": rep.max_abs_diff, "load": round(os.getloadavg()[0], 2)}


def _bf16(model):
    """A shallow copy of ``model`` (same weights) whose ``forward`` is the model's own under bfloat16
    autocast with float32 outputs (:func:`hpskit.models.optimize.bf16_forward`), so ``predict`` runs only the
    network in bf16."""
    m = copy.copy(model)
    m.forward = functools.partial(bf16_forward, model)
    return m


def _deviation(ref_model, model, image) -> dict[str, list[float] | float]:
    """How far ``predict`` with ``model`` lies from the eager float32 ``ref_model`` on the photo:
    [max, mean] |Δ| per output (vertices, joints, transl in mm; ``vertices_rel_mm``: vertices minus the pelvis
    joint 0, i.e. without the translation error), fraction of differing part labels."""
    ref = predict(ref_model, image, BOX)
    got = predict(model, image, BOX)

    def d(a, b, unit=1.0):
        e = (a.double() - b.double()).abs() * unit
        return [float(f"{e.max().item():.3g}"), float(f"{e.mean().item():.3g}")]

    out = {}
    if ref.vertices is not None:
        out.update(vertices_mm=d(got.vertices, ref.vertices, 1e3), joints_mm=d(got.joints, ref.joints, 1e3),
                   vertices_rel_mm=d(got.vertices - got.joints[:, :1], ref.vertices - ref.joints[:, :1], 1e3))
    out.update(transl_mm=d(got.transl, ref.transl, 1e3), cam_crop=d(got.cam_crop, ref.cam_crop),
               pose_rotmat=d(got.pose_rotmat, ref.pose_rotmat), betas=d(got.betas, ref.betas),
               depth_crop=d(got.depth_crop, ref.depth_crop), depth=d(got.depth[0], ref.depth[0]))
    for name in ("part_labels_crop", "part_labels"):
        a, b = getattr(got, name), getattr(ref, name)
        a, b = (a[0], b[0]) if isinstance(a, list) else (a, b)
        out[f"{name}_diff"] = round((a != b).float().mean().item(), 4)
    return out


def _models(which: list[str]):
    for name in which:
        t0 = time.perf_counter()
        if name == "w48":
            m = DPoSE(DPoSEConfig())
        else:
            m = DPoSE.from_pretrained("dpose_efficientnet_lite0.synthetic").float()
        yield name, m.eval(), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--models", default="compact,w48")
    ap.add_argument("--onnx", action="store_true", help="also time the network in onnxruntime")
    ap.add_argument("--bf16", action="store_true", help="also the fused model under bf16 autocast")
    ap.add_argument("--compile", action="store_true",
                    help="also the fused model under torch.compile (inductor's C++ backend; the first call, "
                         "which compiles, is timed as compile_s)")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    image = _photo()
    results = {"torch": torch.__version__, "threads": args.threads, "date": time.strftime("%Y-%m-%d %H:%M"),
               "image": list(image.shape), "box": BOX[0], "models": {}}
    for name, model, t_load in _models(args.models.split(",")):
        entry = {"load_s": round(t_load, 2), "variants": {}}
        t0 = time.perf_counter()
        fast = model.optimize_for_inference()
        entry["optimize_s"] = round(time.perf_counter() - t0, 2)
        variants = {"eager": (model, True, True), "fused": (fast, True, True),
                    "fused, no maps": (fast, False, True), "fused, lean": (fast, False, False)}
        if args.bf16:
            variants["fused, bf16"] = (_bf16(fast), True, True)
            variants["fused, bf16, no channels_last"] = (
                _bf16(model.optimize_for_inference(channels_last=False)), True, True)
            try:
                t0 = time.perf_counter()
                opt_in = model.optimize_for_inference(bf16=True)
                entry["optimize_bf16_s"] = round(time.perf_counter() - t0, 2)
            except ConfigError as e:  # refused for this encoder family (HRNet)
                print(f"{name}: no bf16 opt-in ({str(e).split(';')[0]})")
            else:
                variants["fused, bf16 after the trunk"] = (opt_in, True, True)
                variants["fused, lean, bf16"] = (opt_in, False, False)
            entry["deviation"] = {k: _deviation(model, variants[k][0], image)
                                  for k in variants if (k == "fused" or "bf16" in k) and "lean" not in k}
        if args.compile:
            compiled = torch.compile(fast)
            t0 = time.perf_counter()
            _stages(compiled, image, False, False)  # compiles (network only: predict's crop/paste stay eager)
            entry["compile_s"] = round(time.perf_counter() - t0, 2)
            variants["fused, lean, compiled"] = (compiled, False, False)
            entry.setdefault("deviation", {})["fused, compiled"] = _deviation(model, compiled, image)
        runs = {k: [] for k in variants}
        loads = {k: [] for k in variants}
        for _ in range(args.warmup):
            for m, maps, depth in variants.values():
                _stages(m, image, maps, depth)
        for _ in range(args.repeat):  # interleaved, so a burst of load hits every variant alike
            for k, (m, maps, depth) in variants.items():
                runs[k].append(_stages(m, image, maps, depth))
                loads[k].append(os.getloadavg()[0])
        for k in variants:
            entry["variants"][k] = {**_summary(runs[k]), "load": round(statistics.median(loads[k]), 2)}
        if args.onnx:
            entry["onnxruntime"] = _onnx_network(model, args.repeat, args.warmup, args.threads)
        results["models"][name] = entry
        _print(name, entry)
    if args.out:
        atomic_write_text(json.dumps(results, indent=2), args.out)


def _print(name: str, entry: dict) -> None:
    cols = ("prepare", "crop", "network", "body", "paste", "total", "cpu")
    bf16 = f", bf16=True {entry['optimize_bf16_s']} s" if "optimize_bf16_s" in entry else ""
    print(f"\n{name}: load {entry['load_s']} s, optimize_for_inference {entry['optimize_s']} s{bf16} "
          "(median [min, max] ms)")
    print(f"| variant | {' | '.join(cols)} | load |")
    print("|---" * (len(cols) + 2) + "|")
    for k, v in entry["variants"].items():
        cells = [f"{v[c][0]} [{v[c][1]}, {v[c][2]}]" for c in cols]
        print(f"| {k} | {' | '.join(cells)} | {v['load']} |")
    for k, d in entry.get("deviation", {}).items():
        print(f"deviation from eager fp32, {k}: " + ", ".join(f"{n} {v}" for n, v in d.items()))
    if "onnxruntime" in entry:
        o = entry["onnxruntime"]
        n = o["network"]
        print(f"| onnxruntime (network only) | | | {n[0]} [{n[1]}, {n[2]}] | | | | | {o['load']} |")
        print(f"onnx export {o['export_s']} s, session {o['session_s']} s, "
              f"max |ort - torch| {o['max_abs_diff']}")


if __name__ == "__main__":
    main()
