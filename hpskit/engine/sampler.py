"""A distributed, resumable sampler for map-style datasets.

:class:`ResumableDistributedSampler` gives each rank a disjoint shard of a seeded per-epoch permutation
(as :class:`torch.utils.data.DistributedSampler`, whose shuffling it reproduces) and can start an epoch
part-way through, so a resumed run sees exactly the samples the uninterrupted run would have seen. The
position is two numbers, ``(epoch, consumed)``, stored in the checkpoint.

Example:
    >>> s = ResumableDistributedSampler(10, num_replicas=2, rank=1, seed=0, drop_last=True)
    >>> full = list(s)
    >>> s.set_position(0, consumed=2)
    >>> list(s) == full[2:]
    True
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized

import torch
from torch.utils.data import Sampler

__all__ = ["ResumableDistributedSampler"]


class ResumableDistributedSampler(Sampler[int]):
    """Per-rank shard of a shuffled epoch that can resume mid-epoch.

    Args:
        dataset_len: Number of samples in the dataset (or the dataset itself).
        num_replicas: World size.
        rank: This rank.
        shuffle: Shuffle with ``seed + epoch`` (the same permutation on every rank).
        seed: Base seed.
        drop_last: Drop the tail so every rank gets the same number of samples; otherwise pad by
            repeating the first indices (as ``DistributedSampler``).
    """

    def __init__(self, dataset_len: int | Sized, num_replicas: int = 1, rank: int = 0, shuffle: bool = True,
                 seed: int = 0,
                 drop_last: bool = True):
        n = dataset_len if isinstance(dataset_len, int) else len(dataset_len)
        if n < 1:
            raise ValueError("ResumableDistributedSampler: the dataset is empty.")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"ResumableDistributedSampler: rank {rank} not in [0, {num_replicas}).")
        self.n, self.num_replicas, self.rank = n, num_replicas, rank
        self.shuffle, self.seed, self.drop_last = shuffle, int(seed), drop_last
        if drop_last and n % num_replicas:
            self.num_samples = n // num_replicas
        else:
            self.num_samples = math.ceil(n / num_replicas)
        if self.num_samples < 1:
            raise ValueError(f"ResumableDistributedSampler: {n} samples cannot feed {num_replicas} ranks.")
        self.total_size = self.num_samples * num_replicas
        self.epoch = 0
        self.consumed = 0

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` from its beginning."""
        self.set_position(epoch, 0)

    def set_position(self, epoch: int, consumed: int) -> None:
        """Continue ``epoch`` after the first ``consumed`` samples of this rank's shard."""
        self.epoch, self.consumed = int(epoch), int(consumed)

    def _indices(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            idx = torch.randperm(self.n, generator=g).tolist()
        else:
            idx = list(range(self.n))
        if self.drop_last:
            idx = idx[: self.total_size]
        else:
            pad = self.total_size - len(idx)
            idx += (idx * math.ceil(pad / len(idx)))[:pad] if pad > 0 else []
        return idx[self.rank: self.total_size: self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices()[self.consumed:])

    def __len__(self) -> int:
        return self.num_samples - self.consumed
