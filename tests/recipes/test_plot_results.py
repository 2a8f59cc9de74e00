"""recipes/dpose/plot_results.py: the last run of a reused folder, and training minutes without restarts."""

from __future__ import annotations

import json

import pytest
from recipe_helpers import import_recipe


@pytest.fixture(scope="module")
def plot():
    import_recipe()  # puts recipes/dpose on sys.path
    import plot_results  # noqa: PLC0415

    return plot_results


def _train(step, t):
    return {"kind": "train", "step": step, "time": t, "images_per_s": 100.0}


def test_last_run_of_an_appended_file(plot, tmp_path):
    old = [_train(25, 0.0), _train(50, 5.0), {"kind": "eval", "step": 50, "mpjpe": 9.0}]
    new = [_train(25, 100.0), _train(50, 105.0), {"kind": "eval", "step": 50, "mpjpe": 1.0}]
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in old + new) + "\n")
    run = plot.read_run(tmp_path)
    assert [r["time"] for r in run["train"]] == [100.0, 105.0]
    assert [r["mpjpe"] for r in run["eval"]] == [1.0]


def test_a_resumed_run_is_one_run_and_its_restart_gap_is_not_training(plot):
    recs = [_train(25 * i, 5.0 * i) for i in range(1, 5)]  # 5 s per 25 steps
    recs += [_train(25 * i, 60.0 + 5.0 * i) for i in range(5, 9)]  # resumed after a 40 s restart
    assert plot._last_run(recs) == recs
    # 7 intervals: 6 of 5 s, one of 45 s (the restart) left out
    assert plot.train_minutes(recs) == pytest.approx(6 * 5.0 / 60)


def test_ablation_table_mean_and_spread_over_seeds(plot, tmp_path):
    finals = {"no_depth": [100.0, 110.0], "depth_supervised": [90.0, 94.0], "dense5": [80.0, 80.0]}
    for row, values in finals.items():
        for seed, v in enumerate(values):
            run = tmp_path / row / f"seed{seed}"
            run.mkdir(parents=True)
            recs = [_train(50, 0.0), _train(100, 5.0),
                    {"kind": "eval", "step": 100, "mpjpe": v, "pa_mpjpe": v / 2, "pve": v * 2,
                     "part_miou": 0.5 + seed * 0.1, "depth_l1": 0.2}]
            (run / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    table, runs = plot.ablation_table(tmp_path)
    lines = table.splitlines()
    no_depth = next(line for line in lines if line.startswith("| **no depth branch**"))
    # mean 105 ± half-range 5; PA 52.5 ± 2.5; PVE 210 ± 10; mIoU 0.55 ± 0.05
    assert "| 2 | 100 | 105.0 ± 5.0 | 52.5 ± 2.5 | 210.0 ± 10.0 | 0.550 ± 0.050 | 0.200 ± 0.000 |" in no_depth
    sup = next(line for line in lines if line.startswith("| **depth branch, supervised"))
    assert "92.0 ± 2.0" in sup
    assert not any("unsupervised" in line for line in lines)  # a row with no runs is left out
    extra = next(line for line in lines if line.startswith("| **`dense5` (EXTRA_ROWS)**"))  # after the three
    assert "80.0 ± 0.0" in extra
    assert [label for label, _ in runs] == ["no_depth seed0", "no_depth seed1", "depth_supervised seed0",
                                            "depth_supervised seed1", "dense5 seed0", "dense5 seed1"]


def _pool(step, miou, depth, pa):
    return {"kind": "eval_pool", "step": step, "part_miou": miou, "part_miou_body": miou / 2,
            "depth_l1": depth, "mpjpe": 2 * pa, "pa_mpjpe": pa, "pve": 3 * pa}


def test_pool_table_and_curves_of_overfit_runs(plot, tmp_path):
    recs = [_train(25, 0.0), _pool(25, 0.1, 0.2, 150.0), {"kind": "eval", "step": 25, "mpjpe": 999.0},
            _train(50, 30.0), _pool(50, 0.4, 0.05, 60.0)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    run = plot.read_run(tmp_path)
    assert [r["step"] for r in run["eval_pool"]] == [25, 50]
    assert [r["mpjpe"] for r in run["eval"]] == [999.0]  # held-out records stay apart from the pool's
    table = plot.pool_table([("dense x10", run)])
    # the last pool record: steps, train minutes (30 s), mIoU, body mIoU, depth L1, MPJPE, PA-MPJPE, PVE
    assert "| dense x10 | 50 | 0.5 | 0.400 | 0.200 | 0.0500 | 120.0 | 60.0 | 180.0 |" in table.splitlines()
    path = plot.plot_pool([("dense x10", run)], tmp_path / "img" / "pool.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    main_out = tmp_path / "out"
    argv = ["--pool", str(tmp_path), "--labels", "dense x10", "--name", "p", "--out", str(main_out)]
    assert plot.main(argv) == 0
    assert (main_out / "p.png").is_file() and "| dense x10 | 50 |" in (main_out / "p.md").read_text()


def test_pool_table_refuses_a_run_without_pool_records(plot, tmp_path):
    (tmp_path / "metrics.jsonl").write_text(json.dumps(_train(25, 0.0)) + "\n")
    with pytest.raises(SystemExit, match="no eval_pool records"):
        plot.pool_table([("plain", plot.read_run(tmp_path))])


def test_ablation_table_at_step_compares_runs_stopped_at_different_steps(plot, tmp_path):
    # seed0 evaluated at 500 and 1000, seed1 stopped (time budget) at 700: compare at step 500
    for seed, evals in enumerate([{500: 200.0, 1000: 150.0}, {500: 210.0, 700: 190.0}]):
        run = tmp_path / "no_depth" / f"seed{seed}"
        run.mkdir(parents=True)
        recs = [_train(100, 0.0)] + [
            r for step, v in evals.items()
            for r in (_train(step, step / 100), {"kind": "eval", "step": step, "mpjpe": v, "pa_mpjpe": v / 2,
                                                 "pve": v * 2, "part_miou": 0.1, "depth_l1": 0.2})]
        (run / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    crashed = tmp_path / "depth_supervised" / "seed0"  # died before its first step: no records
    crashed.mkdir(parents=True)
    (crashed / "metrics.jsonl").write_text("")
    final, _ = plot.ablation_table(tmp_path)
    assert "| **no depth branch** | 2 | 700/1000 | 170.0 ± 20.0 |" in final
    table, _ = plot.ablation_table(tmp_path, at_step=500)
    lines = table.splitlines()
    assert "| **no depth branch** | 2 | 500 | 205.0 ± 5.0 | 102.5 ± 2.5 | 410.0 ± 10.0 |" in table
    sup = next(line for line in lines if line.startswith("| **depth branch, supervised"))
    assert sup.startswith("| **depth branch, supervised (paper)** | 0 |") and "| – | – |" in sup
    assert "evaluation at step 500 of each run" in table
    table, _ = plot.ablation_table(tmp_path, at_step=1000)  # only seed0 reached step 1000
    assert "| **no depth branch** | 1 | 1000 | 150.0 |" in table
