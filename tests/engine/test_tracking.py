"""hpskit.engine.tracking: JSONL records, resume truncation, image panels, throughput."""

from __future__ import annotations

import json

import torch

from hpskit.engine import RunLogger, Throughput, read_jsonl


def test_jsonl_records_and_truncate(tmp_path):
    log = RunLogger(tmp_path, tensorboard=True)
    for step in (1, 2, 3):
        log.log(step, {"loss": torch.tensor(float(step)), "bad": float("nan")}, kind="train")
    log.log(3, {"mpjpe": 50.0}, kind="eval")
    recs = read_jsonl(log.jsonl_path)
    assert [(r["kind"], r["step"]) for r in recs] == [("train", 1), ("train", 2), ("train", 3), ("eval", 3)]
    assert recs[0]["loss"] == 1.0 and recs[0]["bad"] == "nan"
    log.truncate_after(2)
    log.log(3, {"loss": 9.0})
    assert [r["step"] for r in read_jsonl(log.jsonl_path)] == [1, 2, 3]
    assert read_jsonl(log.jsonl_path)[-1]["loss"] == 9.0
    paths = log.log_images(3, {"train": torch.rand(3, 8, 12)})
    log.close()
    assert paths[0].name == "train_00000003.png" and paths[0].is_file()
    assert any((tmp_path / "tb").iterdir())
    with open(log.jsonl_path, "a") as fh:
        fh.write('{"kind": "train", "st')  # a line cut by a kill
    assert len(read_jsonl(log.jsonl_path)) == 3
    json.loads(log.jsonl_path.read_text().splitlines()[0])


def test_disabled_logger_writes_nothing(tmp_path):
    log = RunLogger(tmp_path / "run", enabled=False)
    log.log(1, {"a": 1.0})
    assert log.log_images(1, {"x": torch.rand(3, 2, 2)}) == []
    assert not (tmp_path / "run").exists()


def test_throughput():
    t = Throughput(window=2)
    assert t.rate() == 0.0
    for i in range(4):
        t.update(8, now=float(i))
    assert t.rate() == 8.0
