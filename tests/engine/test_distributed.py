"""hpskit.engine.distributed without a launcher (a world of one, every helper a no-op), and the flag
all-reduce on two gloo processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from hpskit.core import ConfigError
from hpskit.engine import (
    all_gather_object,
    all_reduce_mean,
    any_rank,
    any_rank_tensor,
    barrier,
    broadcast_object,
    init_distributed,
)


def test_single_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    info = init_distributed("cpu")
    assert (info.rank, info.world_size, info.is_main, info.device.type) == (0, 1, True, "cpu")
    assert any_rank(True) and not any_rank(False)
    flag = torch.tensor(1.0)
    assert any_rank_tensor(flag) is flag and float(flag) == 1.0
    assert all_reduce_mean({"a": 2.0}) == {"a": 2.0}
    assert broadcast_object({"x": 1}) == {"x": 1} and all_gather_object(3) == [3]
    barrier()
    with pytest.raises(ConfigError, match="device"):
        init_distributed("tpu")


WORKER = textwrap.dedent("""
    import os, sys, torch
    from hpskit.engine import any_rank_tensor, cleanup_distributed, init_distributed
    info = init_distributed("cpu")
    flags = [any_rank_tensor(torch.tensor(v)) for v in ([1.0, 0.0] if info.rank == 0 else [0.0, 0.0])]
    with open(os.path.join(sys.argv[1], f"rank{info.rank}.txt"), "w") as fh:
        fh.write(" ".join(str(float(f)) for f in flags))
    cleanup_distributed()
""")


@pytest.mark.slow  # starts two processes
def test_any_rank_tensor_on_two_gloo_processes(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(script), str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    # Rank 0's 1 reaches rank 1; a 0 everywhere stays 0.
    assert [(tmp_path / f"rank{r}.txt").read_text() for r in (0, 1)] == ["1.0 0.0", "1.0 0.0"]
