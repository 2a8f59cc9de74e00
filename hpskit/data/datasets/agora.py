"""AGORA (Patel et al., CVPR 2021) in the processed form BEDLAM's authors ship (``agora-bfh.npz``,
``agora-body.npz``): SMPL-X labels, 1280×720 images, **no depth and no masks**.

Per label row: image ``<root>/training_images/images/<imgname>`` (a flat folder), neutral SMPL-X
``pose_cam`` and ``shape`` (10 betas for adults are padded to 11 with a zero), keypoints ``gtkps[:24]``,
intrinsics ``cam_int``, and the camera-frame translation ``trans_cam + cam_ext[:3, 3]``. The public AGORA
processing script writes no ``trans_cam`` and puts the full translation in ``cam_ext[:3, 3]``; files
without ``trans_cam`` are read that way (formats.md §5). All rows are used (``crop_percent=1``), as in the
authors' code; their paper says 80 %.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import Tensor, nn

from ..crop import CropConfig
from ._files import read_rgb, require_dir, require_file
from ._smplx_labels import SMPLXLabelDataset

__all__ = ["AGORA", "AGORALayout"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AGORALayout:
    """Folder layout under the AGORA root.

    Attributes:
        labels: Folder of the label files ``<name>.npz``.
        images: Folder the ``imgname`` entries are relative to.
    """

    labels: str = "training_labels/all_npz_12_training"
    images: str = "training_images/images"


class AGORA(SMPLXLabelDataset):
    """AGORA person crops with SMPL-X, keypoint and part-label supervision (``has_depth`` is False).

    Args:
        root: The data folder (see :class:`AGORALayout`).
        files: Label-file stems (default: ``agora-bfh`` and ``agora-body``).
        crop: Crop settings.
        crop_percent: Fraction of each file's rows to use (the authors' code: all).
        body_model: SMPL-X body for vertices, 3D joints and part labels, or None.
        vertex_parts: Vertex → part table (tensor or ``part-segm.json`` path); None = from the body.
        parts: Render part labels when a body model is given.
        seed: Seed of the crop augmentation.
        layout: Folder layout.

    Raises:
        MissingFileError: If the root, a label file or the image folder is missing.
        CorruptFileError: If a label file is unreadable or lacks a key.
    """

    name = "AGORA"

    def __init__(
        self,
        root: str | os.PathLike,
        files: Sequence[str] = ("agora-bfh", "agora-body"),
        *,
        crop: CropConfig | None = None,
        crop_percent: float = 1.0,
        body_model: nn.Module | str | os.PathLike | None = None,
        vertex_parts: Tensor | str | os.PathLike | None = None,
        parts: bool = True,
        seed: int | None = None,
        layout: AGORALayout | None = None,
    ):
        super().__init__(crop=crop, seed=seed, body_model=body_model, vertex_parts=vertex_parts, parts=parts)
        self.root = Path(root)
        self.layout = layout or AGORALayout()
        require_dir(self.name, "dataset root", self.root)
        label_dir = self.root / self.layout.labels
        paths = [
            require_file(
                self.name,
                f"label file {f}.npz",
                label_dir / f"{f}.npz",
                "BEDLAM's training labels (all_npz_12_training.zip) include the AGORA files.",
            )
            for f in files
        ]
        self.image_dir = require_dir(
            self.name,
            "image folder",
            self.root / self.layout.images,
            "Unpack the 1280×720 AGORA images (agora_images.tar) there.",
        )
        self.files = list(files)
        self._read_label_files(paths, crop_percent)

    def _transl(self, data: dict, path: Path) -> np.ndarray:
        t = data["cam_ext"][:, :3, 3]
        if "trans_cam" in data:
            return data["trans_cam"] + t
        logger.info(
            "AGORA: %s has no `trans_cam`; using cam_ext[:3, 3] as the full camera-frame "
            "translation (the public processing script's layout).",
            path,
        )
        return t

    def _read_image(self, r: int) -> np.ndarray:
        return read_rgb(self.image_dir / self._cols["imgname"][r], self.name)
