"""BEDLAM (Black et al., CVPR 2023): synthetic videos with SMPL-X ground truth, depth and person masks.

On-disk layout, label keys, masks and depth: ``docs/formats.md`` §4.
What this loader does, per label row (one person in one frame):

* image ``<root>/training_images/<scene>/png/<imgname>``; close-up scenes (``'closeup'`` in the scene name)
  are stored landscape and rotated 90° clockwise, the frame every label of theirs refers to;
* SMPL-X ground truth: ``pose_cam`` (root in the camera frame), neutral 11 betas ``shape``,
  translation ``trans_cam + cam_ext[:3, 3]``, 2D keypoints ``gtkps[:24]``, intrinsics ``cam_int``;
* depth (optional): the ``Depth`` channel of the EXR, restricted to this person's mask and normalised
  exactly as the authors do (:func:`normalize_depth_percentile`), then cropped like the image;
* the person mask: the body ∪ clothing masks of the actor on whose pixels most of the row's keypoints
  fall (the actor number NN in the file names is not the row index), else every non-environment pixel;
* only the first ``crop_percent`` (0.8) of each label file's rows are used, as the authors do.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import Tensor, nn

from hpskit.core import ConfigError

from ..crop import CropConfig
from ._base import FrameData, SkipRecord
from ._files import missing_file_error, read_exr_channel, read_mask, read_rgb, require_dir
from ._smplx_labels import SMPLXLabelDataset

__all__ = ["BEDLAM", "BEDLAMLayout", "normalize_depth_percentile", "select_person_mask", "rotate_clockwise"]


@dataclass(frozen=True)
class BEDLAMLayout:
    """Folder layout under the BEDLAM root (the D-PoSE authors' ``data/`` folder).

    ``{scene}`` is the label file's stem (e.g. ``20221010_3_1000_batch01hand_6fps``), ``{base}`` the same
    without its ``_6fps`` / ``_30fps`` suffix.

    Attributes:
        labels: Folder of the label npz files ``<scene>.npz``.
        images: Image folder of a scene (``imgname`` is relative to it).
        depth: Depth folder of a scene (``<seq>/<frame>_depth.exr``).
        masks: Mask folder of a scene (``<seq>/<frame>_env.png``, ``<frame>_<NN>_body.png``, …).
    """

    labels: str = "training_labels/all_npz_12_training"
    images: str = "training_images/{scene}/png"
    depth: str = "bedlam_download/{base}/depth"
    masks: str = "masks/{base}/masks"


def rotate_clockwise(a: np.ndarray) -> np.ndarray:
    """Rotate an image-like array (H, W, ...) by 90° clockwise (``cv2.ROTATE_90_CLOCKWISE``)."""
    return np.ascontiguousarray(np.rot90(a, k=1, axes=(1, 0)))


def normalize_depth_percentile(depth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The authors' depth normalisation (``read_depth_percentile_norm``, formats.md §4.7).

    ``d = depth`` with ``d[~mask] = 0``; p5, p95 = linear percentiles of the non-zero values;
    ``n = clip(0.9·(d − p5)/(p95 − p5) + 0.1, 0, 1)`` over all pixels if p95 > p5, else all zeros.
    So the person's nearest 5 % map to ≤ 0.1 and its farthest 5 % to 1.0 (larger = farther), and the
    background to ``clip(0.1 − 0.9·p5/(p95 − p5), 0, 1)``, which is 0 unless the mask spans very
    different depths. One deviation: non-finite depths inside the mask count as background (the
    authors' percentiles would turn NaN and zero the whole map).

    Args:
        depth: Depth, shape (H, W) (BEDLAM: centimetres).
        mask: Person mask, shape (H, W), bool.

    Returns:
        Normalised depth, shape (H, W), float32.

    Examples:
        >>> d = np.array([[100.0, 200.0], [300.0, 400.0]])
        >>> normalize_depth_percentile(d, d > 0).astype(float).round(3).tolist()
        [[0.05, 0.383], [0.717, 1.0]]
    """
    d = np.where(mask & np.isfinite(depth), depth, 0.0).astype(np.float64)
    vals = d[d != 0]
    if vals.size == 0:
        return np.zeros(d.shape, np.float32)
    p5, p95 = np.percentile(vals, [5, 95])
    if not p95 > p5:
        return np.zeros(d.shape, np.float32)
    return np.clip(0.9 * (d - p5) / (p95 - p5) + 0.1, 0.0, 1.0).astype(np.float32)


_ACTOR = re.compile(r"_(\d+)_(body|clothing)\.png$")


def select_person_mask(
    mask_dir: Path, stem: str, kp2d: np.ndarray, rotate: bool, dataset: str = "BEDLAM"
) -> tuple[np.ndarray, str]:
    """The mask of the person a label row describes (formats.md §4.6).

    Every actor ``NN`` with ``<stem>_NN_body.png`` and/or ``<stem>_NN_clothing.png`` gets the union of
    the two; the actor on whose pixels most in-image keypoints (``floor(kp2d)``) fall wins (ties: lower
    NN). If no keypoint hits an actor, the mask is every non-environment pixel (``~<stem>_env.png``).
    Masks are rotated clockwise first when ``rotate`` (close-up scenes), so the keypoints and the mask
    share one frame (the authors compare them in different frames there).

    Args:
        mask_dir: Folder holding this frame's masks.
        stem: Frame file stem (``<seq>_<FFFF>``).
        kp2d: Keypoints in the (rotated) image, shape (J, 2+).
        rotate: Rotate the masks clockwise.
        dataset: Name used in errors.

    Returns:
        ``(mask (H, W) bool, source)`` with source ``"actor NN"`` or ``"not environment"``.

    Raises:
        MissingFileError: If ``<stem>_env.png`` is missing (it is always written).
    """
    env = read_mask(mask_dir / f"{stem}_env.png", dataset)
    if rotate:
        env = rotate_clockwise(env)
    actors: dict[str, np.ndarray] = {}
    for p in sorted(mask_dir.glob(f"{stem}_*.png")):
        m = _ACTOR.search(p.name)
        if m is None or p.name[: m.start()] != stem:
            continue
        mk = read_mask(p, dataset)
        mk = rotate_clockwise(mk) if rotate else mk
        if mk.shape != env.shape:
            continue
        actors[m.group(1)] = actors[m.group(1)] | mk if m.group(1) in actors else mk
    H, W = env.shape
    kp = np.floor(kp2d[:, :2]).astype(np.int64)
    inside = (kp[:, 0] >= 0) & (kp[:, 0] < W) & (kp[:, 1] >= 0) & (kp[:, 1] < H)
    kp = kp[inside]
    best, best_hits = None, 0
    for nn_, mk in sorted(actors.items()):
        hits = int(mk[kp[:, 1], kp[:, 0]].sum())
        if hits > best_hits:
            best, best_hits = nn_, hits
    if best is not None:
        return actors[best], f"actor {best}"
    return ~env, "not environment"


def _scene_base(scene: str) -> str:
    return re.sub(r"_(6|30)fps$", "", scene)


class BEDLAM(SMPLXLabelDataset):
    """BEDLAM person crops with SMPL-X, keypoint, depth and part-label supervision.

    Args:
        root: The BEDLAM data folder (see :class:`BEDLAMLayout`).
        scenes: Label-file stems to use; None = every ``*.npz`` in the labels folder.
        crop: Crop settings (:class:`~hpskit.data.CropConfig`; ``CropConfig.dpose_train()`` for training).
        crop_percent: Fraction of each label file's rows to use, first rows first (the authors: 0.8).
        depth: Load depth supervision (needs the depth EXRs and the masks).
        body_model: SMPL-X body for vertices, 3D joints and part labels (an ``SMPLXBody``, a model path or
            ``"standin"``); None = no body-model targets.
        vertex_parts: Vertex → part table (tensor or ``part-segm.json`` path); None = from the body.
        parts: Render part labels when a body model is given.
        seed: Seed of the crop augmentation (None: torch's per-process seed).
        layout: Folder layout.

    Raises:
        MissingFileError: If the root, the labels folder, a label file or a scene folder is missing.
        CorruptFileError: If a label file is unreadable or lacks a key.

    Examples:
        >>> from hpskit.testing.datasets import write_bedlam  # doctest: +SKIP
        >>> ds = BEDLAM(write_bedlam(tmp_path), body_model="standin")  # doctest: +SKIP
    """

    name = "BEDLAM"

    def __init__(
        self,
        root: str | os.PathLike,
        scenes: Sequence[str] | None = None,
        *,
        crop: CropConfig | None = None,
        crop_percent: float = 0.8,
        depth: bool = True,
        body_model: nn.Module | str | os.PathLike | None = None,
        vertex_parts: Tensor | str | os.PathLike | None = None,
        parts: bool = True,
        seed: int | None = None,
        layout: BEDLAMLayout | None = None,
    ):
        super().__init__(crop=crop, seed=seed, body_model=body_model, vertex_parts=vertex_parts, parts=parts)
        self.root = Path(root)
        self.layout = layout or BEDLAMLayout()
        self.load_depth = depth
        require_dir(self.name, "dataset root", self.root)
        labels = require_dir(
            self.name,
            "label folder",
            self.root / self.layout.labels,
            "Unpack the training labels (all_npz_12_training.zip) there.",
        )
        if scenes is None:
            scenes = sorted(p.stem for p in labels.glob("*.npz"))
            if not scenes:
                raise missing_file_error(self.name, "label files (*.npz)", labels)
        self.scenes = list(scenes)
        for s in self.scenes:
            b = _scene_base(s)
            require_dir(
                self.name,
                f"image folder of scene {s!r}",
                self.root / self.layout.images.format(scene=s, base=b),
            )
            if depth:
                require_dir(
                    self.name,
                    f"depth folder of scene {s!r}",
                    self.root / self.layout.depth.format(scene=s, base=b),
                    "Download the depth maps, or pass depth=False.",
                )
                require_dir(
                    self.name,
                    f"mask folder of scene {s!r}",
                    self.root / self.layout.masks.format(scene=s, base=b),
                    "Download the masks, or pass depth=False.",
                )
        self._closeup = np.array(["closeup" in s for s in self.scenes], bool)
        self._read_label_files([labels / f"{s}.npz" for s in self.scenes], crop_percent)

    def _scene(self, r: int) -> tuple[str, str]:
        s = self.scenes[int(self._cols["file"][r])]
        return s, _scene_base(s)

    def _read_image(self, r: int) -> np.ndarray:
        scene, base = self._scene(r)
        path = self.root / self.layout.images.format(scene=scene, base=base) / self._cols["imgname"][r]
        img = read_rgb(path, self.name)
        if self._closeup[self._cols["file"][r]]:
            img = rotate_clockwise(img)
        W, H = (2.0 * self._cols["K"][r][:2, 2]).round().astype(int)
        if img.shape[:2] != (H, W):
            raise SkipRecord("image size ≠ 2 × principal point")
        return img

    def _extra_frame(self, r: int, frame: FrameData) -> None:
        if not self.load_depth:
            return
        scene, base = self._scene(r)
        rel = Path(str(self._cols["imgname"][r]))
        stem = rel.name[: -len(rel.suffix)] if rel.suffix else rel.name
        closeup = bool(self._closeup[self._cols["file"][r]])
        depth_path = (
            self.root / self.layout.depth.format(scene=scene, base=base) / rel.parent / f"{stem}_depth.exr"
        )
        depth = read_exr_channel(depth_path, self.name, "Depth")
        if closeup:
            depth = rotate_clockwise(depth)
        mask_dir = self.root / self.layout.masks.format(scene=scene, base=base) / rel.parent
        mask, _ = select_person_mask(mask_dir, stem, frame.kp2d, closeup, self.name)
        if depth.shape != frame.image.shape[:2] or mask.shape != depth.shape:
            raise SkipRecord("depth / mask size ≠ image size")
        if not mask.any():
            raise SkipRecord("empty person mask")
        frame.depth = normalize_depth_percentile(depth, mask)

    def depth_map(self, index: int) -> np.ndarray:
        """The full-frame normalised depth (H, W) of sample ``index``, before cropping (for inspection).

        Raises:
            ConfigError: If the dataset was built with ``depth=False``.
        """
        if not self.load_depth:
            raise ConfigError("BEDLAM.depth_map: this dataset was built with depth=False.")
        return self._load_frame(int(self._rows[index])).depth

    def person_mask(self, index: int) -> np.ndarray:
        """The person mask (H, W) bool that sample ``index``'s depth map is built from (for inspection)."""
        r = int(self._rows[index])
        scene, base = self._scene(r)
        rel = Path(str(self._cols["imgname"][r]))
        mask_dir = self.root / self.layout.masks.format(scene=scene, base=base) / rel.parent
        return select_person_mask(
            mask_dir, rel.stem, self._cols["kp2d"][r], bool(self._closeup[self._cols["file"][r]]), self.name
        )[0]
