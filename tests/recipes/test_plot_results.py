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
    finals = {"no_depth": [100.0, 110.0], "depth_supervised": [90.0, 94.0]}
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
    assert [label for label, _ in runs] == ["no_depth seed0", "no_depth seed1", "depth_supervised seed0",
                                            "depth_supervised seed1"]
