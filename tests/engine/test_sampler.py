"""hpskit.engine.sampler: same shards as torch's DistributedSampler, resumable mid-epoch."""

from __future__ import annotations

import pytest
import torch

from hpskit.engine import ResumableDistributedSampler


@pytest.mark.parametrize("drop_last", [True, False])
def test_matches_distributed_sampler(drop_last):
    data = list(range(23))
    for rank in range(3):
        ours = ResumableDistributedSampler(len(data), 3, rank, seed=5, drop_last=drop_last)
        ref = torch.utils.data.DistributedSampler(data, num_replicas=3, rank=rank, seed=5,
                                                  drop_last=drop_last)
        for epoch in (0, 4):
            ours.set_epoch(epoch)
            ref.set_epoch(epoch)
            assert list(ours) == list(ref) and len(ours) == len(ref)


def test_shards_disjoint_and_resume():
    shards = [list(ResumableDistributedSampler(20, 4, r, seed=1)) for r in range(4)]
    flat = sorted(i for s in shards for i in s)
    assert flat == list(range(20))
    s = ResumableDistributedSampler(20, 4, 2, seed=1)
    s.set_position(3, consumed=2)
    full = ResumableDistributedSampler(20, 4, 2, seed=1)
    full.set_epoch(3)
    assert list(s) == list(full)[2:] and len(s) == 3
