"""GPU-side transforms of the input pipeline: photometric augmentation and batched image decoding.

* :mod:`hpskit.data.transforms.photometric`: the authors' / paper's augmentation as two OneOf groups
  (few-kernel per-sample ops, kornia functionals where they fit);
* :mod:`hpskit.data.transforms.jpeg`: read bytes in workers, decode the batch on the GPU.

Both run on RGB before ImageNet normalisation; :func:`normalize_imagenet` does that last step.
"""

from .jpeg import (
    EncodedImageFiles,
    PackedBytes,
    collate_encoded,
    decode_batch,
    decode_images,
    is_jpeg,
    stack_images,
)
from .photometric import (
    JPEG_CODECS,
    OP_NAMES,
    OneOf,
    PhotometricAugment,
    PhotometricConfig,
    photometric_augment,
)
from .tensor import normalize_imagenet, unnormalize_imagenet

__all__ = [
    "EncodedImageFiles",
    "JPEG_CODECS",
    "OP_NAMES",
    "OneOf",
    "PackedBytes",
    "PhotometricAugment",
    "PhotometricConfig",
    "collate_encoded",
    "decode_batch",
    "decode_images",
    "is_jpeg",
    "normalize_imagenet",
    "photometric_augment",
    "stack_images",
    "unnormalize_imagenet",
]
