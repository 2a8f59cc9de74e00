import json
import logging

import numpy as np
import pytest
import torch

from hpskit.core import ConfigError, ShapeError
from hpskit.metrics import MetricAccumulator


def test_every_sample_is_scored_including_partial_batch():
    values = torch.rand(141)
    seqs = [f"seq{i % 3}" for i in range(141)]
    acc = MetricAccumulator()
    for start in range(0, 141, 64):  # batches of 64, 64, 13
        sl = slice(start, start + 64)
        acc.update({"mpjpe": values[sl], "pve": 2 * values[sl]}, sequences=seqs[sl])
    assert len(acc) == 141
    total = acc.total()
    assert total["mpjpe"] == pytest.approx(values.double().mean().item(), rel=1e-12)
    assert total["pve"] == pytest.approx(2 * values.double().mean().item(), rel=1e-12)
    per = acc.per_sequence()
    assert list(per) == ["seq0", "seq1", "seq2"]
    assert sum(r["count"] for r in per.values()) == 141
    v = values.double().numpy()
    s = np.array(seqs)
    assert per["seq1"]["mpjpe"] == pytest.approx(v[s == "seq1"].mean(), rel=1e-12)
    assert acc.std()["mpjpe"] == pytest.approx(v.std(), rel=1e-12)
    np.testing.assert_array_equal(acc.per_sample()["sequence"], s)


def test_total_is_sample_mean_not_sequence_mean():
    acc = MetricAccumulator()
    acc.update({"m": [1.0, 1.0, 1.0]}, sequences="long")
    acc.update({"m": np.array([5.0])}, sequences=["short"])
    assert acc.total()["m"] == 2.0  # (1+1+1+5)/4, not (1+5)/2
    summary = acc.summary()
    json.dumps(summary)
    assert summary["count"] == 4 and summary["per_sequence"]["short"] == {"m": 5.0, "count": 1}


def test_no_sequences_and_reset():
    acc = MetricAccumulator()
    acc.update({"m": torch.tensor([1.0, 3.0])})
    assert acc.per_sequence() == {"": {"m": 2.0, "count": 2}}
    acc.reset()
    assert len(acc) == 0 and acc.names == ()


def test_non_finite_values_warn(caplog):
    acc = MetricAccumulator()
    with caplog.at_level(logging.WARNING):
        acc.update({"m": [1.0, float("nan")]})
    assert "non-finite" in caplog.text


def test_errors():
    acc = MetricAccumulator()
    acc.update({"mpjpe": [1.0]})
    with pytest.raises(ConfigError,
                       match=r"metric names \['pve'\] differ from the first update's \['mpjpe'\]"):
        acc.update({"pve": [1.0]})
    with pytest.raises(ShapeError,
                       match=r"metric `mpjpe` must be one value per sample, shape \(B,\); got \(2, 14\)"):
        acc.update({"mpjpe": torch.zeros(2, 14)})
    with pytest.raises(ShapeError, match=r"`sequences` has 1 names for a batch of 2 samples"):
        acc.update({"mpjpe": [1.0, 2.0]}, sequences=["a"])
    with pytest.raises(ShapeError, match=r"all metrics need the same batch size"):
        MetricAccumulator().update({"a": [1.0], "b": [1.0, 2.0]})
