"""Endless training streams of batches, each with a position that a checkpoint stores for an exact resume.

* :class:`SyntheticStream`: a :class:`~hpskit.data.SyntheticHumans` engine on the device. Batch ``k`` of
  rank ``r`` is generated from the seed ``mix_seed(seed, r, k)``, so ranks see different people and the
  position is just the number of batches drawn.
* :class:`LoaderStream`: a map-style dataset (BEDLAM + AGORA) behind a resumable distributed sampler (e.g.
  :class:`hpskit.engine.ResumableDistributedSampler`) and a DataLoader; the position is ``(epoch, batches
  drawn in the epoch)``. Photometric augmentation runs on the device, seeded the same way.
* :func:`heldout_batches`: the held-out synthetic split, fixed once.

A stream has ``next()``, ``position``, ``state_dict()`` / ``load_state_dict()`` and ``close()``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from .prefetch import BackgroundBatches
from .sample import Batch, collate_samples
from .synthetic import SyntheticConfig, SyntheticHumans
from .transforms import normalize_imagenet, unnormalize_imagenet

__all__ = ["mix_seed", "SyntheticStream", "LoaderStream", "heldout_batches"]

logger = logging.getLogger(__name__)


def mix_seed(*parts: int) -> int:
    """A 63-bit seed from integers (SplitMix64-style mixing, so nearby inputs give unrelated seeds)."""
    h = 0x9E3779B97F4A7C15
    for p in parts:
        h = (h ^ (int(p) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h & 0x7FFFFFFFFFFFFFFF


class SyntheticStream:
    """Endless synthetic batches for one rank (see the module docstring).

    Args:
        engine: The synthetic engine (``split="train"``), generating on ``device``.
        batch_size: Samples per batch.
        seed: Run seed.
        rank: This process's rank.
        device: Where batches are generated.
        overfit_batches: > 0: generate this many fixed batches once and cycle through them.
        prefetch: Make the next batch in a background thread (same batches; off while overfitting).
    """

    def __init__(self, engine: SyntheticHumans, batch_size: int, seed: int, rank: int, device: torch.device,
                 *, overfit_batches: int = 0, prefetch: bool = False):
        self.engine = engine
        self.seed, self.rank, self.batch_size = int(seed), int(rank), int(batch_size)
        self.overfit = int(overfit_batches)
        self._pool: list[Batch] = []
        # The one position counter: batch k is _batch(k), made one ahead in a thread when prefetching.
        self._ahead = BackgroundBatches(self._batch, start=0, device=device,
                                        enabled=bool(prefetch) and not self.overfit)

    @property
    def position(self) -> int:
        """Number of batches drawn so far (the index of the next one)."""
        return self._ahead.position

    @property
    def pool(self) -> list[Batch]:
        """The fixed batches cycled through when overfitting (empty until the first is drawn, or when not
        overfitting)."""
        return self._pool

    def _make(self, k: int) -> Batch:
        return self.engine.generate(self.batch_size, seed=mix_seed(self.seed, self.rank, k),
                                    first_index=k * self.batch_size)

    def _batch(self, k: int) -> Batch:
        if not self.overfit:
            return self._make(k)
        if not self._pool:
            self._pool = [self._make(i) for i in range(self.overfit)]
        return self._pool[k % self.overfit]

    def next(self) -> Batch:
        """The next batch (on the device)."""
        return self._ahead.next()

    def state_dict(self) -> dict:
        self._ahead.wait()  # nothing in flight while the checkpoint captures the RNG states
        return {"kind": "synthetic", "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self._ahead.seek(int(state["position"]))

    def close(self) -> None:
        """Stop the prefetch thread."""
        self._ahead.close()


class LoaderStream:
    """Batches of a map-style dataset for one rank, resumable mid-epoch.

    Args:
        dataset: The dataset (yields :class:`hpskit.data.Sample`); a ``ConcatDataset``'s parts get
            ``set_epoch`` too.
        sampler: This rank's sampler with ``num_samples``, ``num_replicas`` and ``set_position(epoch,
            consumed)`` (:class:`hpskit.engine.ResumableDistributedSampler` with ``drop_last=True``).
        batch_size: Samples per batch.
        seed: Run seed (of the photometric augmentation).
        rank: This process's rank.
        device: Where batches go.
        num_workers: DataLoader workers.
        augment: Photometric augmentation ``augment(rgb, seed=...)`` on (B, 3, H, W) images in [0, 1], or
            None.

    Raises:
        ValueError: If the rank's share of the dataset holds no full batch.
    """

    def __init__(self, dataset, sampler, batch_size: int, seed: int, rank: int, device: torch.device, *,
                 num_workers: int = 0, augment: Callable | None = None):
        self.dataset, self.device, self.sampler = dataset, device, sampler
        self.batch_size, self.num_workers = int(batch_size), int(num_workers)
        self.seed, self.rank = int(seed), int(rank)
        self.batches_per_epoch = sampler.num_samples // self.batch_size
        if self.batches_per_epoch < 1:
            raise ValueError(f"LoaderStream: {len(dataset)} samples over {sampler.num_replicas} rank(s) give "
                             f"no full batch of {self.batch_size}; lower data.batch_size.")
        self.augment = augment
        self.epoch, self.in_epoch, self.position = 0, 0, 0
        self._it = None

    def _set_epoch(self, epoch: int) -> None:
        for d in getattr(self.dataset, "datasets", [self.dataset]):
            if hasattr(d, "set_epoch"):
                d.set_epoch(epoch)

    def _start(self) -> None:
        self._set_epoch(self.epoch)
        self.sampler.set_position(self.epoch, self.in_epoch * self.batch_size)
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_size=self.batch_size, sampler=self.sampler, drop_last=True,
            num_workers=self.num_workers, collate_fn=collate_samples,
            pin_memory=self.device.type == "cuda", persistent_workers=False)
        self._it = iter(loader)

    def next(self) -> Batch:
        """The next batch, on the device, photometrically augmented."""
        if self.in_epoch >= self.batches_per_epoch:
            self.epoch, self.in_epoch, self._it = self.epoch + 1, 0, None
        if self._it is None:
            self._start()
        batch = next(self._it).to(self.device, non_blocking=True)
        if self.augment is not None:
            rgb = unnormalize_imagenet(batch.img).clamp(0, 1)
            rgb = self.augment(rgb, seed=mix_seed(self.seed, self.rank, self.position, 1))
            batch.img = normalize_imagenet(rgb)
        self.in_epoch += 1
        self.position += 1
        return batch

    def state_dict(self) -> dict:
        return {"kind": "loader", "epoch": self.epoch, "in_epoch": self.in_epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.in_epoch = int(state["epoch"]), int(state["in_epoch"])
        self.position = int(state["position"])
        self._it = None

    def close(self) -> None:
        """Nothing to stop (the DataLoader's workers end with its iterator)."""


def heldout_batches(body, config: SyntheticConfig, batch_size: int, device: torch.device, **engine_kwargs
                    ) -> list[Batch]:
    """The held-out synthetic split (``SyntheticHumans(split="val")``: fixed seeds, no box jitter, no
    photometric augmentation), made on ``device`` and kept on the CPU.

    Args:
        body: The SMPL-X body.
        config: Engine settings; ``config.val_size`` samples are made.
        batch_size: Samples per batch.
        device: Where the batches are generated.
        **engine_kwargs: Further :class:`~hpskit.data.SyntheticHumans` arguments (``backgrounds``,
            ``pose_source``, ``vertex_parts``).
    """
    engine = SyntheticHumans(body, config, split="val", batch_size=batch_size, device=device, **engine_kwargs)
    return [b.to("cpu") for b in engine]
