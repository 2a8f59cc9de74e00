"""Evaluation helpers of hpskit.engine: the sample-count check and the held-out synthetic evaluation."""

from __future__ import annotations

import logging

import pytest
import torch

from hpskit.core import MissingFileError
from hpskit.engine import check_sample_count


def test_sample_count_is_checked_against_the_protocol(caplog):
    """Weak spot: a deleted sequence file must not silently shrink the benchmark."""

    class DS(list):
        name, num_records, sequences, skipped = "EMDB", 10, [1, 2], {"invalid bbox": 1}

    ds = DS(range(9))
    check_sample_count(ds, 9)
    with pytest.raises(MissingFileError, match=r"expects 12 samples but the dataset yields 9 .*2 sequence "
                                               r"files; left out: invalid bbox: 1"):
        check_sample_count(ds, 12)
    with caplog.at_level(logging.INFO):
        check_sample_count(ds, None)
    assert "scoring 9 samples" in caplog.text


def test_forward_loss_refuses_unknown_hands():
    from hpskit.core import ConfigError
    from hpskit.engine import forward_loss

    with pytest.raises(ConfigError, match="gt_hands"):
        forward_loss(None, None, None, None, gt_hands="open")
    assert torch.is_autocast_enabled() is False
