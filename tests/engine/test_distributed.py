"""hpskit.engine.distributed without a launcher: a world of one, every helper a no-op."""

from __future__ import annotations

import pytest

from hpskit.core import ConfigError
from hpskit.engine import (
    all_gather_object,
    all_reduce_mean,
    any_rank,
    barrier,
    broadcast_object,
    init_distributed,
)


def test_single_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    info = init_distributed("cpu")
    assert (info.rank, info.world_size, info.is_main, info.device.type) == (0, 1, True, "cpu")
    assert any_rank(True) and not any_rank(False)
    assert all_reduce_mean({"a": 2.0}) == {"a": 2.0}
    assert broadcast_object({"x": 1}) == {"x": 1} and all_gather_object(3) == [3]
    barrier()
    with pytest.raises(ConfigError, match="device"):
        init_distributed("tpu")
