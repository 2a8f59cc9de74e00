"""The recipe's data wiring: ``DataConfig`` → the training stream and the held-out batches.

The streams themselves live in :mod:`hpskit.data.streams`; this only reads the config.
"""

from __future__ import annotations

import copy
import dataclasses
import logging

import torch

from hpskit.data import AGORA, BEDLAM, Batch, LoaderStream, SyntheticStream
from hpskit.data import heldout_batches as make_heldout_batches
from hpskit.data.synthetic import SyntheticConfig, SyntheticHumans
from hpskit.data.transforms import PhotometricAugment
from hpskit.engine import ResumableDistributedSampler

from .config import DataConfig

__all__ = ["synthetic_config", "build_train_stream", "heldout_batches"]

logger = logging.getLogger(__name__)


def synthetic_config(cfg: DataConfig, val_size: int | None = None) -> SyntheticConfig:
    """``cfg.synthetic`` with ``cfg.res`` pushed into every resolution field (and ``val_size`` if given)."""
    syn = cfg.synthetic
    kw = {"res": cfg.res, "crop": dataclasses.replace(syn.crop, res=cfg.res)}
    if val_size is not None:
        kw["val_size"] = int(val_size)
    return dataclasses.replace(syn, **kw)


def _augment(cfg: DataConfig) -> PhotometricAugment | None:
    return None if cfg.photometric == "none" else PhotometricAugment(cfg.photometric)


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
        engine = SyntheticHumans(body, synthetic_config(cfg), split="train", batch_size=cfg.batch_size,
                                 seed=seed, device=device, augment=_augment(cfg),
                                 pose_source=cfg.pose_source, backgrounds=cfg.backgrounds,
                                 vertex_parts=cfg.vertex_parts)
        return SyntheticStream(engine, cfg.batch_size, seed, rank, device,
                               overfit_batches=cfg.overfit_batches, prefetch=cfg.prefetch)
    dataset = _real_dataset(cfg, body, seed)
    sampler = ResumableDistributedSampler(len(dataset), world_size, rank, shuffle=True, seed=seed,
                                          drop_last=True)
    return LoaderStream(dataset, sampler, cfg.batch_size, seed, rank, device, num_workers=cfg.num_workers,
                        augment=_augment(cfg))


def heldout_batches(cfg: DataConfig, body, num_samples: int, batch_size: int,
                    device: torch.device) -> list[Batch]:
    """The held-out synthetic split of ``cfg`` (:func:`hpskit.data.heldout_batches`), kept on the CPU."""
    return make_heldout_batches(body, synthetic_config(cfg, val_size=num_samples), batch_size, device,
                                backgrounds=cfg.backgrounds, pose_source=cfg.pose_source,
                                vertex_parts=cfg.vertex_parts)
