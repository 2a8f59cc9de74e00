"""Turn the ``metrics.jsonl`` of training runs into PNG curves and a markdown table (for docs/results.md).

    # one run: held-out MPJPE / PA-MPJPE / PVE vs. step with the mean-pose baseline, and the loss terms
    python recipes/dpose/plot_results.py runs/convergence --name convergence --out docs/img

    # several runs (e.g. the Table 3 ablation) overlaid, one table row per run
    python recipes/dpose/plot_results.py runs/ablation/no_depth runs/ablation/depth_unsupervised \\
        runs/ablation/depth_supervised --labels "no depth" "depth, unsupervised" "depth, supervised" \\
        --name ablation --out docs/img

    # the seeded ablation of run_ablation.sh (OUT_ROOT/<row>/seed<N>): mean ± spread over seeds per row
    python recipes/dpose/plot_results.py --ablation runs/ablation --name ablation --out docs/img

    # overfit runs (data.overfit_batches > 0): the training pool's part mIoU, depth L1 and PA-MPJPE per step
    python recipes/dpose/plot_results.py --pool runs/overfit_cpu/a runs/overfit_cpu/b --labels a b \\
        --name overfit_cpu_dense --out docs/img

    # how many steps fit a budget, from a run's measured throughput (used by run_ablation.sh)
    python recipes/dpose/plot_results.py --suggest-steps runs/convergence --minutes 7 --parallel 3

The markdown goes to stdout and to ``<out>/<name>.md``; the PNGs to ``<out>/<name>_metrics.png`` and
``<out>/<name>_loss.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

METRICS = ("mpjpe", "pa_mpjpe", "pve")
TITLES = {"mpjpe": "MPJPE", "pa_mpjpe": "PA-MPJPE", "pve": "PVE"}


def read_run(folder: Path) -> dict:
    """Records of ``<folder>/metrics.jsonl`` split by kind, plus the resolved config's key numbers."""
    path = Path(folder) / "metrics.jsonl"
    if not path.is_file():
        sys.exit(f"plot_results: {path} not found (is {folder} a run folder of recipes/dpose/train.py?)")
    recs = _last_run([json.loads(line) for line in path.read_text().splitlines()
                      if line.strip().startswith("{")])
    return {"train": [r for r in recs if r["kind"] == "train"],
            "eval": [r for r in recs if r["kind"] == "eval"],
            "eval_pool": [r for r in recs if r["kind"] == "eval_pool"]}


def _last_run(recs: list[dict]) -> list[dict]:
    """The records of the last run when a reused folder's metrics.jsonl holds several: a new run starts at
    a train record whose step does not exceed the previous train record's (a resumed run continues, since
    the recipe truncates the file at the checkpoint's step)."""
    start, prev = 0, None
    for i, r in enumerate(recs):
        if r.get("kind") == "train":
            if prev is not None and r["step"] <= prev:
                start = i
            prev = r["step"]
    return recs[start:]


def train_minutes(train: list[dict]) -> float:
    """Wall minutes spent between consecutive train records, leaving out restarts (gaps over 5× the
    median interval, e.g. a resume in a new process)."""
    dts = [b["time"] - a["time"] for a, b in zip(train, train[1:]) if b["time"] > a["time"]]
    if not dts:
        return float("nan")
    cap = 5 * statistics.median(dts)
    return sum(d for d in dts if d <= cap) / 60


def _num(v) -> float:
    return float(v) if isinstance(v, (int, float)) else float("nan")


def throughput(run: dict, skip: int = 2) -> float:
    """Median images/s of the train records after the first ``skip`` (warm-up, compilation)."""
    rates = [_num(r.get("images_per_s")) for r in run["train"][skip:]] or [
        _num(r.get("images_per_s")) for r in run["train"]]
    rates = [r for r in rates if math.isfinite(r) and r > 0]
    return statistics.median(rates) if rates else float("nan")


def summary_row(label: str, run: dict) -> dict:
    """Final held-out metrics, baseline, best MPJPE, steps, wall time and throughput of a run."""
    ev, tr = run["eval"], run["train"]
    last = ev[-1] if ev else {}
    minutes = train_minutes(tr)
    best = min((_num(e["mpjpe"]) for e in ev), default=float("nan"))
    return {"label": label, "steps": tr[-1]["step"] if tr else 0, "minutes": minutes,
            "images_per_s": throughput(run), "best_mpjpe": best,
            **{k: _num(last.get(k)) for k in METRICS}, **{f"baseline_{k}": _num(last.get(f"baseline_{k}"))
                                                           for k in METRICS}}


def markdown(rows: list[dict]) -> str:
    head = ("| run | steps | train min | img/s | MPJPE | PA-MPJPE | PVE | best MPJPE | mean-pose MPJPE / "
            "PA-MPJPE "
            "/ PVE |")
    out = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        base = " / ".join(f"{r[f'baseline_{k}']:.1f}" for k in METRICS)
        out.append(f"| {r['label']} | {r['steps']} | {r['minutes']:.1f} | {r['images_per_s']:.0f} | "
                   f"{r['mpjpe']:.1f} | {r['pa_mpjpe']:.1f} | {r['pve']:.1f} | {r['best_mpjpe']:.1f} | "
                   f"{base} |")
    out.append("\nHeld-out synthetic split, mm (SMPL-X joints 0-23 and all vertices, pelvis-aligned); "
               "the mean pose is the regressor's start values (a zero-update prediction).")
    return "\n".join(out)


def plot(runs: list[tuple[str, dict]], out: Path, name: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for i, (label, run) in enumerate(runs):
        color = f"C{i}"
        ev = run["eval"]
        steps = [e["step"] for e in ev]
        for ax, k in zip(axes, METRICS):
            ax.plot(steps, [_num(e[k]) for e in ev], "-o", ms=3, color=color, label=label)
            if i == 0 and ev:  # the same held-out split and start values for every run
                base = [_num(e.get(f"baseline_{k}")) for e in ev]
                ax.plot(steps, base, "--", color="gray", label="mean pose (baseline)")
    for ax, k in zip(axes, METRICS):
        ax.set_title(f"held-out {TITLES[k]}")
        ax.set_xlabel("step")
        ax.set_ylabel("mm")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / f"{name}_metrics.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    terms = sorted({k[len("weighted/"):] for _, run in runs for r in run["train"] for k in r
                    if k.startswith("weighted/")})
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    for i, (label, run) in enumerate(runs):
        tr = run["train"]
        axes[0].plot([r["step"] for r in tr], [_num(r.get("loss")) for r in tr], color=f"C{i}", label=label)
    axes[0].set_title("training loss (total)")
    axes[0].set_yscale("log")
    label, run = runs[0]
    for j, t in enumerate(terms):
        tr = [r for r in run["train"] if f"weighted/{t}" in r]
        axes[1].plot([r["step"] for r in tr], [_num(r[f"weighted/{t}"]) for r in tr], color=f"C{j}", label=t)
    axes[1].set_title(f"weighted loss terms ({label})")
    axes[1].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / f"{name}_loss.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


#: Rows of run_ablation.sh, in table order, with their labels.
ABLATION_ROWS = {"no_depth": "no depth branch",
                 "depth_unsupervised": "depth branch, unsupervised (authors' config)",
                 "depth_supervised": "depth branch, supervised (paper)"}
DENSE = ("part_miou", "depth_l1")


def ablation_table(root: Path, at_step: int | None = None) -> tuple[str, list[tuple[str, dict]]]:
    """The seeded ablation under ``root`` (``<row>/seed<N>/metrics.jsonl``; the three rows of
    :data:`ABLATION_ROWS` first, then any other row folder, e.g. run_ablation.sh's EXTRA_ROWS, by name): one
    line per row with the mean
    ± spread (half the range: max − min over 2) over seeds of the final held-out metrics, and one line
    per run below it; also the runs (label, records) for the curves.

    ``at_step``: take each run's held-out evaluation at exactly that step instead of its last one, so runs
    stopped at different steps (a time budget) are compared at equal steps; a run without an evaluation at
    that step gets "–" cells and is left out of its row's mean."""
    lines = ["| row | seeds | steps | MPJPE | PA-MPJPE | PVE | part mIoU | depth L1 |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    runs: list[tuple[str, dict]] = []
    per_run: list[str] = []
    extra = sorted(d.name for d in root.iterdir() if d.is_dir() and d.name not in ABLATION_ROWS) \
        if root.is_dir() else []
    for row, label in [*ABLATION_ROWS.items(), *((name, f"`{name}` (EXTRA_ROWS)") for name in extra)]:
        seeds = sorted((root / row).glob("seed*/metrics.jsonl"))
        if not seeds:
            continue
        finals = []
        for f in seeds:
            run = read_run(f.parent)
            runs.append((f"{row} {f.parent.name}", run))
            if at_step is None:
                last = run["eval"][-1] if run["eval"] else {}
                steps = run["train"][-1]["step"] if run["train"] else 0
            else:
                last = next((e for e in run["eval"] if e["step"] == at_step), {})
                steps = at_step if last else 0
            finals.append({"steps": steps, **{k: _num(last.get(k)) for k in (*METRICS, *DENSE)}})
            per_run.append(f"| &nbsp;&nbsp;{f.parent.name} | | {steps} | "
                           + " | ".join(_fmt(finals[-1][k], k) for k in (*METRICS, *DENSE)) + " |")

        def cell(k, finals=finals):
            v = [r[k] for r in finals if math.isfinite(r[k])]
            if not v:
                return "–"
            m = statistics.mean(v)
            return _fmt(m, k) + (f" ± {_fmt((max(v) - min(v)) / 2, k)}" if len(v) > 1 else "")

        steps = sorted({r["steps"] for r in finals if math.isfinite(r["mpjpe"])})
        n = sum(math.isfinite(r["mpjpe"]) for r in finals)  # runs with an evaluation (a crashed run has none)
        lines.append(f"| **{label}** | {n} | {'/'.join(map(str, steps))} | "
                     + " | ".join(cell(k) for k in (*METRICS, *DENSE)) + " |")
        lines.extend(per_run)
        per_run.clear()
    if not runs:
        sys.exit(f"plot_results: no <row>/seed<N>/metrics.jsonl under {root}")
    which = "final evaluation of each run" if at_step is None else f"evaluation at step {at_step} of each run"
    lines.append(f"\nHeld-out synthetic split, {which}; mm for MPJPE / PA-MPJPE / PVE "
                 "(SMPL-X joints 0-23 and all vertices, pelvis-aligned); mean ± half the range over seeds.")
    return "\n".join(lines), runs


#: The training-pool curves of an overfit run (``eval_pool`` records): key, title, y label.
POOL_CURVES = (("part_miou", "pool part mIoU (23 classes)", "mIoU"),
               ("depth_l1", "pool depth L1 (on the person)", "normalised depth"),
               ("pa_mpjpe", "pool PA-MPJPE", "mm"))
POOL_COLUMNS = ("part_miou", "part_miou_body", "depth_l1", "mpjpe", "pa_mpjpe", "pve")


def pool_table(runs: list[tuple[str, dict]]) -> str:
    """Markdown: one row per overfit run with its last ``eval_pool`` record (the metrics on the very batches
    it trains on), its steps and training minutes."""
    lines = ["| run | steps | train min | part mIoU | body-part mIoU | depth L1 | MPJPE | PA-MPJPE | PVE |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for label, run in runs:
        if not run["eval_pool"]:
            sys.exit(f"plot_results: run {label!r} has no eval_pool records (was data.overfit_batches > 0?)")
        last = run["eval_pool"][-1]
        cells = [_pool_fmt(_num(last.get(k)), k) for k in POOL_COLUMNS]
        lines.append(f"| {label} | {last['step']} | {train_minutes(run['train']):.1f} | "
                     + " | ".join(cells) + " |")
    lines.append("\nThe training pool itself (the fixed batches of `data.overfit_batches`), last evaluation "
                 "of each run; mm for MPJPE / PA-MPJPE / PVE (pelvis-aligned), depth L1 in normalised depth "
                 "on the person.")
    return "\n".join(lines)


def _pool_fmt(v: float, k: str) -> str:
    if not math.isfinite(v):
        return "–"
    return {"part_miou": f"{v:.3f}", "part_miou_body": f"{v:.3f}", "depth_l1": f"{v:.4f}"}.get(k, f"{v:.1f}")


def plot_pool(runs: list[tuple[str, dict]], path: Path) -> Path:
    """One panel per :data:`POOL_CURVES` entry, one line per run, from the ``eval_pool`` records; saved to
    ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(POOL_CURVES), figsize=(15, 4.2))
    for i, (label, run) in enumerate(runs):
        ev = run["eval_pool"]
        for ax, (k, _, _) in zip(axes, POOL_CURVES):
            ax.plot([e["step"] for e in ev], [_num(e.get(k)) for e in ev], "-o", ms=3, color=f"C{i}",
                    label=label)
        if i == 0 and ev and "baseline_depth_l1" in ev[-1]:  # the same pool for every run
            axes[1].axhline(_num(ev[-1]["baseline_depth_l1"]), ls="--", color="gray", label="constant map")
            axes[1].legend(fontsize=8)
    for ax, (_, title, ylabel) in zip(axes, POOL_CURVES):
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fmt(v: float, k: str) -> str:
    if not math.isfinite(v):
        return "–"
    return f"{v:.3f}" if k in DENSE else f"{v:.1f}"


def suggest_steps(folder: Path, minutes: float, parallel: int, batch: int | None) -> int:
    """Steps that fit ``minutes`` of training when ``parallel`` runs share the GPU, from a run's img/s."""
    run = read_run(folder)
    ips = throughput(run)
    if batch is None:
        import yaml

        batch = int(yaml.safe_load((Path(folder) / "config.yaml").read_text())["data"]["batch_size"])
    if not math.isfinite(ips):
        sys.exit(f"plot_results: no throughput in {folder}/metrics.jsonl")
    return max(1, int(minutes * 60 * ips / parallel / batch))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="*", type=Path, help="run folders (holding metrics.jsonl)")
    p.add_argument("--labels", nargs="*", help="one label per run (default: folder names)")
    p.add_argument("--name", default="results", help="file stem of the outputs")
    p.add_argument("--out", type=Path, default=Path("docs/img"), help="output folder")
    p.add_argument("--ablation", type=Path, help="root of a seeded run_ablation.sh run (see above)")
    p.add_argument("--at-step", type=int, default=None,
                   help="--ablation: compare every run's evaluation at this step instead of its last one")
    p.add_argument("--pool", action="store_true",
                   help="overfit runs: plot and tabulate the training pool's eval_pool records")
    p.add_argument("--suggest-steps", type=Path, help="print the steps that fit --minutes (see above)")
    p.add_argument("--minutes", type=float, default=7.0)
    p.add_argument("--parallel", type=int, default=1)
    p.add_argument("--batch", type=int, default=None)
    a = p.parse_args(argv)
    if a.suggest_steps:
        print(suggest_steps(a.suggest_steps, a.minutes, a.parallel, a.batch))
        return 0
    if a.ablation:
        table, runs = ablation_table(a.ablation, a.at_step)
        a.out.mkdir(parents=True, exist_ok=True)
        paths = plot(runs, a.out, a.name)
        (a.out / f"{a.name}.md").write_text(table + "\n")
        print(table)
        print("\n" + "\n".join(f"![{p.stem}]({p.name})" for p in paths))
        return 0
    if not a.runs:
        p.error("give at least one run folder")
    labels = a.labels or [r.name for r in a.runs]
    if len(labels) != len(a.runs):
        p.error(f"{len(a.runs)} runs but {len(labels)} labels")
    runs = [(lab, read_run(r)) for lab, r in zip(labels, a.runs)]
    if a.pool:
        path = plot_pool(runs, a.out / f"{a.name}.png")
        table = pool_table(runs)
        (a.out / f"{a.name}.md").write_text(table + "\n")
        print(table)
        print(f"\n![{path.stem}]({path.name})")
        return 0
    a.out.mkdir(parents=True, exist_ok=True)
    paths = plot(runs, a.out, a.name)
    table = markdown([summary_row(lab, run) for lab, run in runs])
    (a.out / f"{a.name}.md").write_text(table + "\n")
    print(table)
    print("\n" + "\n".join(f"![{p.stem}]({p.name})" for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
