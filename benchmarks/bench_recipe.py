"""Where one step of the D-PoSE training recipe spends its time (synthetic data engine, full model).

Builds the recipe exactly as ``recipes/dpose/train.py`` does (same config, same overrides), then times
its phases over ``--steps`` steps with a CUDA synchronisation between phases:

data (the synthetic engine renders a batch) · network forward · body model + losses · backward ·
clip + guard + optimizer; and the whole step without the inner synchronisations (what training sees).
``--profile`` adds a torch.profiler table of two steps (top ops by self CPU time). The JSON also holds the
startup: ``setup_s`` (``rec.setup()``) and ``first_step_s`` (the first phased step, which includes any
compilation and CUDA-graph capture; run twice to see the compile cache's effect).

With ``runtime.graph_scope=step`` the whole step is one CUDA graph, so its phases cannot be timed apart: the
phased loop is skipped (``phases_ms`` are ``null``, ``phases_measured`` false), the warm-up runs the
recipe's own step (3 eager steps, then the capture: ``--warmup`` must be ≥ 4 so that every timed step is a
replay), ``first_step_s`` is the first (eager) step and ``capture_step_s`` the capturing one.

    python benchmarks/bench_recipe.py --out bench_recipe.json runtime.cuda_graphs=true

Trailing ``key=value`` arguments are config overrides (as for train.py).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "recipes" / "dpose"))

import train  # noqa: E402

from hpskit.engine import autocast, forward_loss, load_config  # noqa: E402
from hpskit.models import DPoSEOutput  # noqa: E402


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=str(REPO / "recipes/dpose/configs/synthetic.yaml"))
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=8)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--profile-out", type=Path, default=None,
                    help="also write the profiler tables (top ops by self CUDA / CPU time) to this file")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="hpskit_bench_recipe_")
    cfg = load_config(train.TrainConfig, args.config, [
        f"output_dir={tmp.name}", "log.tensorboard=false", "log.progress=false", "log.eval_samples=64",
        "checkpoint.resume=never", "runtime.max_bad_steps=1000000", *args.overrides])
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    rec = train.DPoSETrainRecipe(cfg)
    t_setup = time.perf_counter()
    rec.setup()
    setup_s = time.perf_counter() - t_setup
    rec.model.train()
    dev, rt = rec.device, cfg.runtime
    names = ("data", "network", "body_loss", "backward", "optimizer")
    phases: dict[str, list[float]] = {k: [] for k in names}
    # Where a loss first goes non-finite (the phased steps have no guard: a NaN there would poison the
    # weights and every later step), and whether the weights are still finite after it.
    finite_log: list[dict] = []
    counter = [0]
    skipped_phased = [0]

    def phased_step(record: bool):
        t = [time.perf_counter()]

        def mark():
            _sync(dev)
            t.append(time.perf_counter())

        batch = rec.stream.next()
        mark()
        img = batch.img.contiguous(memory_format=torch.channels_last) if rt.channels_last else batch.img
        with autocast(dev, rt.bf16):
            out = rec.model(img, batch.bbox_info)
        if isinstance(out, dict):
            out = DPoSEOutput(**out)
        mark()
        # body + loss: the recipe's own forward_loss, handed the network output computed above
        total, terms, _ = forward_loss(lambda *_: out, rec.body, rec.loss_fn, batch, bf16=rt.bf16,
                                       channels_last=False, gt_hands=cfg.loss.gt_hands)
        mark()
        if not finite_log and not bool(torch.isfinite(total)):
            bad = [k for k, v in terms.items() if not bool(torch.isfinite(v).all())]
            finite_log.append({"phased_step": counter[0],
                               "bad_terms": bad,
                               "inputs_finite": bool(torch.isfinite(batch.img).all()),
                               "outputs_finite": {k: bool(torch.isfinite(v).all()) for k, v in
                                                  vars(out).items() if isinstance(v, torch.Tensor)},
                               "weights_finite": all(bool(torch.isfinite(p).all()) for p in rec.params)})
        rec.optimizer.zero_grad(set_to_none=True)
        total.backward()
        mark()
        torch.nn.utils.clip_grad_norm_(rec.params, cfg.optim.grad_clip_norm)
        numbers = torch.stack([total.detach(), *(v.detach() for v in terms.values())]).tolist()
        # Skip a non-finite step as the recipe's guard does: an unguarded Adam step on NaN gradients would
        # poison every weight and make each later step non-finite (what issue 18 saw with HRNet-W18).
        if all(map(math.isfinite, numbers)):
            rec.optimizer.step()
        else:
            skipped_phased[0] += 1
        mark()
        counter[0] += 1
        if record:
            for k, a, b in zip(phases, t[:-1], t[1:]):
                phases[k].append(b - a)

    step_graph = getattr(rec, "step_graph", False)
    capture_step_s = None
    if step_graph and args.warmup < 4:
        raise SystemExit("--warmup must be ≥ 4 with runtime.graph_scope=step (3 eager steps + the capture)")

    rec._reset_window()  # the recipe's steps add their numbers to the log window when read

    def recipe_step():
        rec._train_step(rec.stream.next())
        rec.step += 1
        rec._read_pending()  # keeps the guard's counts; one read per warm-up step is fine here

    _sync(dev)
    t_first = time.perf_counter()
    # The first step: compilation (runtime.compile) and CUDA-graph capture (graph_scope=network) happen here.
    (recipe_step if step_graph else lambda: phased_step(False))()
    _sync(dev)
    first_step_s = time.perf_counter() - t_first
    if step_graph:  # one graph for the whole step: no phases; warm up to (and past) the capture
        for _ in range(args.warmup - 1):
            t = time.perf_counter()
            captured = rec.graphed_step.captured
            recipe_step()
            _sync(dev)
            if not captured and rec.graphed_step.captured:
                capture_step_s = time.perf_counter() - t
    else:
        for _ in range(args.warmup - 1):
            phased_step(False)
        for _ in range(args.steps):
            phased_step(True)
    _sync(dev)
    t0 = time.perf_counter()
    skipped0 = rec.guard.total_skipped
    rec._reset_window()  # the deferred reads add to the log window
    for i in range(args.steps):  # the recipe's own step, no inner synchronisation
        batch = rec.stream.next()
        rec._train_step(batch)
        rec.step += 1
        if rec.defer and (i + 1) % rec.sync_every == 0:
            rec._read_pending()  # as the training loop reads: every runtime.sync_every steps
    rec._read_pending()
    _sync(dev)
    whole_s = (time.perf_counter() - t0) / args.steps
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
        with profile(activities=acts) as prof:
            for _ in range(2):
                rec._train_step(rec.stream.next())
            _sync(dev)
        tables = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25)
        if dev.type == "cuda":
            tables = (prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=30)
                      + "\n" + tables)
        print(tables)
        if args.profile_out:
            args.profile_out.write_text(tables)
    bs = cfg.data.batch_size
    graph = rec.graphed_step if step_graph else rec.model
    res = {
        "benchmark": "bench_recipe", "date": time.strftime("%Y-%m-%d"),
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "torch": torch.__version__, "overrides": args.overrides, "batch": bs,
        "graph_scope": cfg.runtime.graph_scope if cfg.runtime.cuda_graphs else None,
        "phases_measured": not step_graph,
        "phases_ms": ({k: None for k in phases} if step_graph else
                      {k: round(1e3 * statistics.median(v), 2) for k, v in phases.items()}),
        "phased_step_ms": (None if step_graph else
                           round(1e3 * sum(statistics.median(v) for v in phases.values()), 2)),
        "step_ms": round(1e3 * whole_s, 2),
        "images_per_s": round(bs / whole_s, 1),
        "graph_replays": getattr(graph, "replays", None),
        "graph_captured": getattr(graph, "captured", None),
        "setup_s": round(setup_s, 2), "first_step_s": round(first_step_s, 2),
        "capture_step_s": None if capture_step_s is None else round(capture_step_s, 2),
        "peak_gib": round(torch.cuda.max_memory_allocated(dev) / 2**30, 2) if dev.type == "cuda" else None,
        "first_nonfinite_phased": finite_log[0] if finite_log else None,
        "phased_steps_skipped": skipped_phased[0],
        "recipe_steps_skipped": rec.guard.total_skipped - skipped0, "recipe_steps": args.steps,
        "sync_every": rec.sync_every if rec.defer else 1,
        "compiled_regions": len(getattr(rec, "compiled_regions", [])),
    }
    print(json.dumps(res))
    if args.out:
        args.out.write_text(json.dumps(res) + "\n")
    rec.cleanup()
    tmp.cleanup()


if __name__ == "__main__":
    main()
