"""SyntheticHumans: batches of rendered people generated on the fly, in the one sample schema.

Per batch (everything batched on the target device; the small per-sample draws come from a CPU
generator, so a seed gives the same people on every device up to float round-off):

1. pose (:class:`~hpskit.data.synthetic.poses.PoseSampler`), hands (random finger curl), betas,
   camera-frame orientation, image size and intrinsics (:mod:`~hpskit.data.synthetic.cameras`);
2. pose the body (:class:`hpskit.body.SMPLXBody`), place it in view (framing: full / close-up /
   truncated), box the visible projected vertices (× 1.2), jitter the box like the authors (train);
3. render straight into the crop with the crop's intrinsics (:mod:`~hpskit.data.synthetic.render`),
   part labels, BEDLAM-normalised depth, clothes and Lambert shading
   (:mod:`~hpskit.data.synthetic.appearance`), background (:mod:`~hpskit.data.synthetic.backgrounds`),
   composite, a little blur and sensor noise, optional photometric augmentation, ImageNet normalisation.

All targets are in full-image terms as the schema asks: ``K`` and ``img_size`` of the full image,
``kp2d`` in full-image pixels (confidence 1 inside the image, 0 outside unless ``keypoint_conf="all"``),
``joints3d`` / ``vertices`` in the camera frame (translation included), ``bbox_info`` from
:func:`hpskit.geometry.cliff_bbox_info` of the final box.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from hpskit.body import SMPLXBody, load_part_segm_json, vertex_parts_from_weights
from hpskit.core import ConfigError
from hpskit.geometry import axis_angle_to_rotmat, cliff_bbox_info, perspective_project
from hpskit.render import rasterize

from ..crop import CropConfig
from ..sample import NUM_KEYPOINTS, Batch
from ..transforms.tensor import normalize_imagenet
from .appearance import AppearanceConfig, BodyRegions, sample_appearance, shade_pixels, vertex_regions
from .backgrounds import BACKGROUND_KINDS, ImageBank, blur_backgrounds, procedural_backgrounds
from .cameras import CameraConfig, ShapeConfig, place_bodies, sample_betas, sample_cameras, sample_orientation
from .poses import NpzPoseSource, PoseConfig, PoseSampler, hand_curl
from .render import (
    crop_intrinsics,
    foreground_attributes,
    inside_image,
    jitter_boxes,
    normalize_depth_batch,
    part_map,
    person_boxes,
)

__all__ = ["SyntheticConfig", "SyntheticHumans"]

logger = logging.getLogger(__name__)

_VAL_SEED = 0x5EED_0F_7A1


@dataclass(kw_only=True)
class SyntheticConfig:
    """Everything :class:`SyntheticHumans` samples from.

    Attributes:
        res: Crop resolution.
        pose: Pose mixture.
        shape: Betas distribution.
        camera: Camera, orientation and framing.
        appearance: Clothing, skin, hair, lighting.
        crop: Box augmentation for the train split (the val split never jitters).
        background_weights: Weights of :data:`~hpskit.data.synthetic.backgrounds.BACKGROUND_KINDS`.
        background_blur: Largest σ of the background blur (pixels).
        image_blur: Largest σ of the blur of the composite (softens the aliased silhouette).
        sensor_noise: Largest σ of additive Gaussian noise.
        keypoint_conf: ``"visible"`` (confidence 0 for joints outside the image) or ``"all"`` (all 1).
        val_size: Samples in the fixed ``split="val"``.
    """

    res: int = 224
    pose: PoseConfig = field(default_factory=PoseConfig)
    shape: ShapeConfig = field(default_factory=ShapeConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    appearance: AppearanceConfig = field(default_factory=AppearanceConfig)
    crop: CropConfig = field(default_factory=CropConfig.dpose_train)
    background_weights: tuple[float, float, float, float, float] = (0.1, 0.15, 0.2, 0.25, 0.3)
    background_blur: float = 1.5
    image_blur: float = 0.7
    sensor_noise: float = 0.015
    keypoint_conf: str = "visible"
    val_size: int = 1024

    def __post_init__(self) -> None:
        problems = []
        if self.keypoint_conf not in ("visible", "all"):
            problems.append(f"keypoint_conf must be 'visible' or 'all'; got {self.keypoint_conf!r}")
        if len(self.background_weights) != len(BACKGROUND_KINDS) or min(self.background_weights) < 0:
            problems.append(f"background_weights needs {len(BACKGROUND_KINDS)} weights ≥ 0 for "
                            f"{BACKGROUND_KINDS}")
        if int(self.res) != self.res or self.res < 16:
            problems.append(f"res must be an integer ≥ 16; got {self.res!r}")
        if self.val_size < 1:
            problems.append(f"val_size must be ≥ 1; got {self.val_size!r}")
        if problems:
            raise ConfigError("SyntheticConfig: " + "; ".join(problems) + ".")


def _resolve_backgrounds(backgrounds) -> ImageBank | None:
    if isinstance(backgrounds, ImageBank) or backgrounds is None:
        return backgrounds
    if backgrounds == "procedural":
        return None
    if backgrounds in ("auto", "skimage"):
        bank = ImageBank.from_skimage()
        if bank is None and backgrounds == "skimage":
            raise ConfigError("SyntheticHumans: backgrounds='skimage' needs scikit-image "
                              "(pip install scikit-image).")
        return bank
    return ImageBank.from_folder(backgrounds)


class SyntheticHumans(torch.utils.data.IterableDataset):
    """An endless (train) or fixed (val) stream of synthetic :class:`~hpskit.data.Batch` es.

    Iterating yields whole batches already on ``device``; use it directly, or as
    ``DataLoader(ds, batch_size=None)`` (CPU workers each generate their own batches).

    Args:
        body: An :class:`hpskit.body.SMPLXBody`, or its ``model_path`` (default ``"standin"``).
        config: Distributions (:class:`SyntheticConfig`).
        split: ``"train"`` (seeded stream, box jitter on) or ``"val"`` (``config.val_size`` samples from fixed
            seeds, independent of ``seed``, no box jitter).
        batch_size: Samples per batch.
        num_batches: Batches per pass for ``train`` (``None`` = endless).
        seed: Seed of the train stream.
        device: Where batches are generated.
        augment: Optional photometric augmentation (a module taking ``(images, generator=...)``, such as
            :class:`hpskit.data.transforms.PhotometricAugment`), applied before normalisation.
        pose_source: An :class:`~hpskit.data.synthetic.poses.NpzPoseSource` or a path to one.
        backgrounds: ``"auto"`` (skimage samples if installed, else procedural only), ``"procedural"``,
            ``"skimage"``, a folder of images, or an :class:`~hpskit.data.synthetic.backgrounds.ImageBank`.
        vertex_parts: Per-vertex part labels (V,) or a ``part-segm.json`` path; default: from the body's
            skinning weights (:func:`hpskit.body.vertex_parts_from_weights`).
        return_vertices: Whether batches carry ``vertices``.
    """

    def __init__(self, body: SMPLXBody | str | os.PathLike = "standin", config: SyntheticConfig | None = None,
                 split: str = "train", batch_size: int = 64, num_batches: int | None = None, seed: int = 0,
                 device: torch.device | str = "cpu", augment: Callable | None = None,
                 pose_source: NpzPoseSource | str | os.PathLike | None = None,
                 backgrounds: ImageBank | str | os.PathLike | None = "auto",
                 vertex_parts: Tensor | str | os.PathLike | None = None,
                 return_vertices: bool = True) -> None:
        super().__init__()
        if split not in ("train", "val"):
            raise ConfigError(f"SyntheticHumans: `split` must be 'train' or 'val'; got {split!r}.")
        if batch_size < 1:
            raise ConfigError(f"SyntheticHumans: `batch_size` must be ≥ 1; got {batch_size!r}.")
        self.config = config or SyntheticConfig()
        self.split, self.batch_size, self.num_batches = split, int(batch_size), num_batches
        self.seed = int(seed)
        self.device = torch.device(device)
        body = body if isinstance(body, torch.nn.Module) else SMPLXBody(body, num_betas=11)
        self.body = body.to(self.device)
        self.faces = self.body.faces.to(self.device)
        nv = int(self.body.v_template.shape[0])
        if vertex_parts is None:
            vertex_parts = vertex_parts_from_weights(self.body.lbs_weights)
        elif isinstance(vertex_parts, (str, os.PathLike)):
            vertex_parts = load_part_segm_json(vertex_parts, num_vertices=nv)
        self.vertex_parts = torch.as_tensor(vertex_parts, dtype=torch.long).to(self.device)
        if self.vertex_parts.shape != (nv,):
            raise ConfigError(f"SyntheticHumans: `vertex_parts` must have shape ({nv},); got "
                              f"{tuple(self.vertex_parts.shape)}.")
        self.regions = BodyRegions.from_body(self.body.v_template, self.body.J_regressor, self.vertex_parts,
                                            self.body.lbs_weights)
        self.regions = self.regions.to(self.device)
        if isinstance(pose_source, (str, os.PathLike)):
            pose_source = NpzPoseSource(pose_source)
        self.poses = PoseSampler(self.config.pose, pose_source)
        bank = _resolve_backgrounds(backgrounds)
        self.bank = bank.to(self.device) if bank is not None else None
        self.augment = augment
        self.return_vertices = return_vertices
        self.epoch = 0

    # ------------------------------------------------------------------ iteration
    def __len__(self) -> int:
        if self.split == "val":
            return math.ceil(self.config.val_size / self.batch_size)
        if self.num_batches is None:
            raise TypeError("SyntheticHumans(split='train', num_batches=None) is endless and has no len().")
        return int(self.num_batches)

    def set_epoch(self, epoch: int) -> None:
        """Start a different train stream (with the same ``seed``)."""
        self.epoch = int(epoch)

    def batch_seed(self, k: int, worker: int = 0) -> int:
        """The seed of batch ``k`` (val: fixed; train: from ``seed``, ``epoch`` and the worker id)."""
        if self.split == "val":
            return _VAL_SEED + 7919 * k
        return (self.seed * 1_000_003 + self.epoch * 104_729 + worker * 7_919_000 + k) % (2**63 - 1)

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        k = 0
        while True:
            if self.split == "val":
                if k >= len(self):
                    return
                n = min(self.batch_size, self.config.val_size - k * self.batch_size)
                if k % nw == wid:
                    yield self.generate(n, seed=self.batch_seed(k), first_index=k * self.batch_size)
            else:
                if self.num_batches is not None and k * nw + wid >= self.num_batches:
                    return
                yield self.generate(self.batch_size, seed=self.batch_seed(k, wid),
                                    first_index=(k * nw + wid) * self.batch_size)
            k += 1

    # ------------------------------------------------------------------ one batch
    @torch.no_grad()
    def generate(self, n: int | None = None, seed: int | None = None,
                 generator: torch.Generator | None = None, first_index: int = 0) -> Batch:
        """Generate one batch.

        Args:
            n: Batch size (default ``batch_size``).
            seed: Seed of this batch (or pass ``generator``).
            generator: CPU generator to draw from (advanced by the call).
            first_index: ``index`` of the first sample (indices are consecutive).

        Returns:
            A :class:`~hpskit.data.Batch` on ``device``.
        """
        n = self.batch_size if n is None else int(n)
        if generator is None:
            generator = torch.Generator().manual_seed(int(seed) if seed is not None else self.batch_seed(0))
        g, cfg, dev = generator, self.config, self.device
        dt = self.body.v_template.dtype
        res = int(cfg.res)
        # ---- parameters (CPU)
        body_aa = self.poses.sample(n, g)
        glob = sample_orientation(n, cfg.camera, g)
        betas = sample_betas(n, self.body.num_betas, cfg.shape, g)
        lo, hi = cfg.pose.hand_curl_deg
        curl = (lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64)) * math.pi / 180
        left, right = hand_curl(curl, 0.7 + 0.6 * torch.rand(n, 15, generator=g, dtype=torch.float64))
        wh, K = sample_cameras(n, cfg.camera, g)
        app = sample_appearance(n, cfg.appearance, g)
        rot = axis_angle_to_rotmat(body_aa)  # (n, 22, 3, 3): pelvis tilt, body joints
        pose = torch.cat([(glob @ rot[:, 0])[:, None], rot[:, 1:]], 1)
        to = dict(device=dev, dtype=dt)
        pose_d, betas_d = pose.to(**to), betas.to(**to)
        # ---- pose and place
        out0 = self.body(pose_d[:, :1], pose_d[:, 1:], betas_d, left_hand_pose=left.to(**to),
                         right_hand_pose=right.to(**to))
        wh_d, K_d = wh.to(**to), K.to(**to)
        transl = place_bodies(out0.vertices, wh, K, cfg.camera, g).to(**to)
        verts = out0.vertices + transl[:, None]
        joints = out0.joints[:, :NUM_KEYPOINTS] + transl[:, None]
        # ---- box and crop camera
        center, scale = person_boxes(verts, K_d, wh_d, cfg.camera.box_rescale)
        crop_cfg = cfg.crop if self.split == "train" else CropConfig(res=cfg.crop.res)
        center, scale = jitter_boxes(center, scale, crop_cfg, g)
        K_crop, crop_to_img = crop_intrinsics(center, scale, K_d, res)
        # ---- render
        frags = rasterize(verts, self.faces, K_crop, (res, res))
        inside = inside_image(crop_to_img, wh_d, res)
        fg = frags.mask & inside
        parts = part_map(frags, self.faces, self.vertex_parts, fg)
        depth, depth_ok = normalize_depth_batch(frags.depth, fg)
        app_d = {k: v.to(dev) if not v.is_floating_point() else v.to(**to) for k, v in app.items()}
        px = foreground_attributes(frags, self.faces, fg, verts, self.regions.rest,
                                   vertex_regions(self.regions, app_d))
        person = shade_pixels(px["b"], px["value"], px["rest"], px["normal"], app_d).to(dt)  # (N, 3)
        # ---- background, composite, camera effects
        w = torch.tensor(cfg.background_weights, dtype=torch.float64)
        if self.bank is None:
            w[BACKGROUND_KINDS.index("photo")] = 0.0
        kinds = torch.multinomial(w, n, replacement=True, generator=g)
        bg = procedural_backgrounds(kinds, res, g, dev).to(dt)
        photo = (kinds == BACKGROUND_KINDS.index("photo")).nonzero().squeeze(1)
        if self.bank is not None and photo.numel():
            bg[photo.to(dev)] = self.bank.sample(int(photo.numel()), res, g, dev).to(dt)
        bg = blur_backgrounds(bg, cfg.background_blur, g)
        img = bg.reshape(n, 3, res * res).transpose(1, 2).contiguous()  # (n, H·W, 3)
        img[px["b"], px["pix"]] = person
        img = img.transpose(1, 2).reshape(n, 3, res, res)
        img = blur_backgrounds(img, cfg.image_blur, g)
        sigma = (torch.rand(n, generator=g) * cfg.sensor_noise).to(**to)
        noise_gen = torch.Generator(device=dev).manual_seed(int(torch.randint(0, 2**62, (1,), generator=g)))
        img = img + sigma[:, None, None, None] * torch.randn(img.shape, generator=noise_gen, **to)
        img = torch.where(inside[:, None], img.clamp(0, 1), 0.0)
        if self.augment is not None:
            img = self.augment(img, generator=g)
        # ---- targets
        kp = perspective_project(joints, K_d)
        if cfg.keypoint_conf == "all":
            conf = torch.ones_like(kp[..., 0])
        else:
            conf = ((kp[..., 0] >= -0.5) & (kp[..., 0] < wh_d[:, None, 0] - 0.5) & (kp[..., 1] >= -0.5)
                    & (kp[..., 1] < wh_d[:, None, 1] - 0.5)).to(dt)
        has = torch.ones(n, dtype=torch.bool, device=dev)
        return Batch(
            img=normalize_imagenet(img), bbox_info=cliff_bbox_info(center, scale, K_d), K=K_d, img_size=wh_d,
            center=center, scale=scale, crop_to_img=crop_to_img, kp2d=torch.cat([kp, conf[..., None]], -1),
            joints3d=joints, pose_rotmat=pose_d, smpl_pose_rotmat=torch.zeros(n, 24, 3, 3, **to),
            betas=betas_d,
            transl=transl, vertices=verts if self.return_vertices else None, depth=depth, parts=parts,
            has_depth=depth_ok, has_parts=fg.flatten(1).any(1), has_smplx=has.clone(), has_smpl=~has,
            has_kp2d=has.clone(), has_joints3d=has.clone(), has_vertices=has & self.return_vertices,
            has_transl=has.clone(), dataset=["synthetic"] * n,
            index=torch.arange(first_index, first_index + n, device=dev), gender=["neutral"] * n,
        )
