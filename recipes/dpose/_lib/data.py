"""Training data streams of the recipe, each with a position that a checkpoint stores for an exact resume.

* :class:`SyntheticStream`: :class:`hpskit.data.SyntheticHumans` on the device. Batch ``k`` of rank ``r`` is
  generated from the seed ``mix(seed, r, k)``, so ranks see different people and the position is just
  the number of batches drawn.
* :class:`LoaderStream`: a map-style dataset (BEDLAM + AGORA) behind a
  :class:`hpskit.engine.ResumableDistributedSampler` and a DataLoader; the position is
  ``(epoch, batches drawn in the epoch)``. Photometric augmentation runs on the device, seeded the same way.
"""

from __future__ import annotations

import copy
import dataclasses
import logging

import torch

from hpskit.data import AGORA, BEDLAM, BackgroundBatches, Batch, collate_samples
from hpskit.data.synthetic import SyntheticConfig, SyntheticHumans
from hpskit.data.transforms import PhotometricAugment, normalize_imagenet, unnormalize_imagenet
from hpskit.engine import ResumableDistributedSampler

from .config import DataConfig

__all__ = ["mix_seed", "synthetic_config", "SyntheticStream", "LoaderStream", "build_train_stream",
           "heldout_batches"]

logger = logging.getLogger(__name__)


def mix_seed(*parts: int) -> int:
    """A 63-bit seed from integers (SplitMix64-style mixing, so nearby inputs give unrelated seeds)."""
    h = 0x9E3779B97F4A7C15
    for p in parts:
        h = (h ^ (int(p) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h & 0x7FFFFFFFFFFFFFFF


def synthetic_config(cfg: DataConfig, val_size: int | None = None) -> SyntheticConfig:
    """``cfg.synthetic`` with ``cfg.res`` pushed into every resolution field (and ``val_size`` if given)."""
    syn = cfg.synthetic
    kw = {"res": cfg.res, "crop": dataclasses.replace(syn.crop, res=cfg.res)}
    if val_size is not None:
        kw["val_size"] = int(val_size)
    return dataclasses.replace(syn, **kw)


def _augment(cfg: DataConfig) -> PhotometricAugment | None:
    return None if cfg.photometric == "none" else PhotometricAugment(cfg.photometric)


class SyntheticStream:
    """Endless synthetic batches for one rank (see the module docstring).

    Args:
        cfg: Data settings.
        body: The SMPL-X body (shared with the model).
        seed: Run seed.
        rank: This process's rank.
        device: Where batches are generated.
    """

    def __init__(self, cfg: DataConfig, body, seed: int, rank: int, device: torch.device):
        self.engine = SyntheticHumans(body, synthetic_config(cfg), split="train", batch_size=cfg.batch_size,
                                      seed=seed, device=device, augment=_augment(cfg),
                                      pose_source=cfg.pose_source, backgrounds=cfg.backgrounds,
                                      vertex_parts=cfg.vertex_parts)
        self.seed, self.rank, self.batch_size = int(seed), int(rank), cfg.batch_size
        self.overfit = int(cfg.overfit_batches)
        self._pool: list[Batch] = []
        # The one position counter: batch k is _batch(k), made one ahead in a thread when prefetching.
        self._ahead = BackgroundBatches(self._batch, start=0, device=device,
                                        enabled=bool(cfg.prefetch) and not self.overfit)

    @property
    def position(self) -> int:
        """Number of batches drawn so far (the index of the next one)."""
        return self._ahead.position

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
        dataset: The dataset (yields :class:`hpskit.data.Sample`).
        cfg: Data settings.
        seed: Run seed.
        rank: This process's rank.
        world_size: Number of processes.
        device: Where batches go.
    """

    def __init__(self, dataset, cfg: DataConfig, seed: int, rank: int, world_size: int, device: torch.device):
        self.dataset, self.cfg, self.device = dataset, cfg, device
        self.seed, self.rank = int(seed), int(rank)
        self.sampler = ResumableDistributedSampler(len(dataset), world_size, rank, shuffle=True, seed=seed,
                                                   drop_last=True)
        self.batches_per_epoch = self.sampler.num_samples // cfg.batch_size
        if self.batches_per_epoch < 1:
            raise ValueError(f"LoaderStream: {len(dataset)} samples over {world_size} rank(s) give no full "
                             f"batch "
                             f"of {cfg.batch_size}; lower data.batch_size.")
        self.augment = _augment(cfg)
        self.epoch, self.in_epoch, self.position = 0, 0, 0
        self._it = None

    def _set_epoch(self, epoch: int) -> None:
        for d in getattr(self.dataset, "datasets", [self.dataset]):
            if hasattr(d, "set_epoch"):
                d.set_epoch(epoch)

    def _start(self) -> None:
        self._set_epoch(self.epoch)
        self.sampler.set_position(self.epoch, self.in_epoch * self.cfg.batch_size)
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_size=self.cfg.batch_size, sampler=self.sampler, drop_last=True,
            num_workers=self.cfg.num_workers, collate_fn=collate_samples,
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


def _real_dataset(cfg: DataConfig, body, seed: int):
    # The datasets pose bodies in DataLoader workers: they get their own CPU copy of the body (CUDA cannot
    # be used in forked workers), and a fixed seed, so crop augmentation depends only on (seed, epoch, index).
    body = copy.deepcopy(body).to("cpu")
    crop = dataclasses.replace(cfg.crop, res=cfg.res)
    parts = [BEDLAM(cfg.bedlam_root, cfg.bedlam_scenes, crop=crop, crop_percent=cfg.bedlam_crop_percent,
                    depth=cfg.bedlam_depth, body_model=body, vertex_parts=cfg.vertex_parts, seed=seed)]
    if cfg.agora_root:
        parts.append(AGORA(cfg.agora_root, cfg.agora_files, crop=crop, body_model=body,
                           vertex_parts=cfg.vertex_parts, seed=seed))
    for p in parts:
        logger.info("%s", p.summary())
    return parts[0] if len(parts) == 1 else torch.utils.data.ConcatDataset(parts)


def build_train_stream(cfg: DataConfig, body, seed: int, rank: int, world_size: int, device: torch.device):
    """The training stream of ``cfg.source`` for this rank."""
    if cfg.source == "synthetic":
        return SyntheticStream(cfg, body, seed, rank, device)
    return LoaderStream(_real_dataset(cfg, body, seed), cfg, seed, rank, world_size, device)


def heldout_batches(cfg: DataConfig, body, num_samples: int, batch_size: int,
                    device: torch.device) -> list[Batch]:
    """The held-out synthetic split (``SyntheticHumans(split="val")``: fixed seeds, no box jitter, no
    photometric augmentation), kept on the CPU."""
    engine = SyntheticHumans(body, synthetic_config(cfg, val_size=num_samples), split="val",
                             batch_size=batch_size, device=device, backgrounds=cfg.backgrounds,
                             pose_source=cfg.pose_source, vertex_parts=cfg.vertex_parts)
    return [b.to("cpu") for b in engine]
