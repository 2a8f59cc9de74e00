"""Data: one sample schema (:class:`Sample` / :class:`Batch`) and datasets that yield it.

* :mod:`hpskit.data.sample`: the schema and :func:`collate_samples`;
* :mod:`hpskit.data.crop`: the geometric crop of the real datasets (box, jitter, random crop);
* :mod:`hpskit.data.datasets`: BEDLAM, AGORA, 3DPW, EMDB readers of the real on-disk formats;
* :mod:`hpskit.data.transforms`: photometric augmentation (kornia) and GPU JPEG decoding;
* :mod:`hpskit.data.synthetic`: :class:`SyntheticHumans`, the on-device synthetic data engine;
* :mod:`hpskit.data.prefetch`: :class:`BackgroundBatches`, the next batch made in a background thread;
* :mod:`hpskit.data.streams`: resumable training streams (:class:`SyntheticStream`, :class:`LoaderStream`),
  :func:`mix_seed` and the held-out synthetic batches.

Tiny datasets in the real formats, for tests, are written by :mod:`hpskit.testing.datasets`.
"""

from .crop import CropConfig, crop_full_image, sample_crop_box
from .datasets import (
    AGORA,
    BEDLAM,
    EMDB,
    AGORALayout,
    BEDLAMLayout,
    EMDBNpz,
    FrameData,
    RealDataset,
    SMPLXTargets,
    ThreeDPW,
    ThreeDPWNpz,
    normalize_depth_percentile,
    select_person_mask,
)
from .prefetch import BackgroundBatches
from .sample import (
    FLAG_NAMES,
    IMAGENET_MEAN,
    IMAGENET_STD,
    NUM_BETAS,
    NUM_KEYPOINTS,
    NUM_PART_CLASSES,
    Batch,
    Sample,
    collate_samples,
)
from .streams import LoaderStream, SyntheticStream, heldout_batches, mix_seed
from .synthetic import SyntheticConfig, SyntheticHumans
from .transforms import PhotometricAugment, PhotometricConfig, decode_batch, decode_images

__all__ = [
    "AGORA",
    "AGORALayout",
    "BEDLAM",
    "BEDLAMLayout",
    "BackgroundBatches",
    "Batch",
    "CropConfig",
    "EMDB",
    "EMDBNpz",
    "FLAG_NAMES",
    "FrameData",
    "LoaderStream",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "NUM_BETAS",
    "NUM_KEYPOINTS",
    "NUM_PART_CLASSES",
    "RealDataset",
    "SMPLXTargets",
    "Sample",
    "SyntheticStream",
    "SyntheticConfig",
    "SyntheticHumans",
    "PhotometricAugment",
    "PhotometricConfig",
    "decode_batch",
    "decode_images",
    "heldout_batches",
    "mix_seed",
    "ThreeDPW",
    "ThreeDPWNpz",
    "collate_samples",
    "crop_full_image",
    "normalize_depth_percentile",
    "sample_crop_box",
    "select_person_mask",
]
