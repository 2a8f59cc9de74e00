"""Which crop a dataset sample gets: the box (with the authors' scale jitter and vertical random crop as
options, docs/authors-code.md (h)), the crop rule and its low-pass, for whole samples of the real-format
datasets.

The split with :mod:`hpskit.geometry.crop`: that module is the geometry of one crop (affines, sampling,
the authors' integer window, pasting back) and knows nothing of datasets; this one decides, per sample,
which box is cropped and how (:class:`CropConfig`), and applies it to full-resolution maps
(:func:`crop_full_image`). Photometric augmentation lives in ``hpskit.data.transforms``; only the crop box
is decided here, because keypoints, the CLIFF box features, the depth crop and the part-label render all
follow it.

Examples:
    >>> import torch
    >>> cfg = CropConfig.dpose_train()
    >>> g = torch.Generator().manual_seed(0)
    >>> c, s = sample_crop_box(torch.tensor([100.0, 80.0]), torch.tensor(1.0), cfg, g)
    >>> bool(0.375 <= float(s) <= 1.25)
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from hpskit.core import ConfigError
from hpskit.geometry import CROP_MODES, check_crop_mode, crop_images, crop_images_authors

__all__ = ["CropConfig", "sample_crop_box", "crop_full_image"]


@dataclass(kw_only=True)
class CropConfig:
    """How a dataset turns its person box into the network crop.

    Defaults are the evaluation crop (no augmentation); :meth:`dpose_train` gives the authors'
    training settings.

    Attributes:
        res: Crop resolution in pixels (square).
        rescale: Factor on the dataset's box scale before anything else (1.0 = the file's box).
        scale_jitter: σ of the scale jitter ``s ← s·clip(1 + σ·N(0, 1), *scale_range)``; 0 = off.
        scale_range: Clip range of the jitter factor.
        random_crop_prob: Probability of the vertical random crop; 0 = off.
        random_crop_factor: Side factor of the random crop (the box becomes ``factor`` times as
            large, horizontally centred, at a uniformly random height inside the original box).
        antialias: Low-pass filter of a downsampling crop (the authors' skimage resize anti-aliases):
            ``"fast"`` (default; shrink the box's window with ``F.interpolate(antialias=True)`` first),
            ``"gaussian"`` (skimage's Gaussian pre-blur, :func:`hpskit.geometry.crop_images` with
            ``antialias=True``; closest to the authors, about 4× slower on CPU) or ``"none"``
            (``grid_sample`` alone, which aliases on large boxes). Only for ``mode="exact"``.
        mode: The crop rule (:data:`hpskit.geometry.CROP_MODES`): ``"exact"`` (the continuous box square)
            or ``"authors"`` (the authors' integer window and skimage resize, with its own anti-aliasing;
            what their checkpoint was trained and evaluated on). The sample's ``center``, ``scale``,
            ``bbox_info`` and ``crop_to_img`` stay the continuous box's in both, as in the authors' code.
    """

    res: int = 224
    rescale: float = 1.0
    scale_jitter: float = 0.0
    scale_range: tuple[float, float] = (0.75, 1.25)
    random_crop_prob: float = 0.0
    random_crop_factor: float = 0.5
    antialias: str = "fast"
    mode: str = "exact"

    def __post_init__(self) -> None:
        problems = []
        if int(self.res) != self.res or self.res < 8:
            problems.append(f"res must be an integer ≥ 8; got {self.res!r}")
        if not self.rescale > 0:
            problems.append(f"rescale must be > 0; got {self.rescale!r}")
        if not self.scale_jitter >= 0:
            problems.append(f"scale_jitter must be ≥ 0; got {self.scale_jitter!r}")
        lo, hi = self.scale_range
        if not 0 < lo <= 1 <= hi:
            problems.append(f"scale_range must satisfy 0 < lo ≤ 1 ≤ hi; got {self.scale_range!r}")
        if not 0 <= self.random_crop_prob <= 1:
            problems.append(f"random_crop_prob must be in [0, 1]; got {self.random_crop_prob!r}")
        if not 0 < self.random_crop_factor <= 1:
            problems.append(f"random_crop_factor must be in (0, 1]; got {self.random_crop_factor!r}")
        if self.antialias not in ("fast", "gaussian", "none"):
            problems.append(f"antialias must be 'fast', 'gaussian' or 'none'; got {self.antialias!r}")
        if self.mode not in CROP_MODES:
            problems.append(f"mode must be one of {CROP_MODES}; got {self.mode!r}")
        if problems:
            raise ConfigError("CropConfig: " + "; ".join(problems) + ".")

    @classmethod
    def dpose_train(cls, **overrides) -> CropConfig:
        """The authors' training crop: jitter σ 0.25 clipped to [0.75, 1.25], random crop p 0.2 × 0.5."""
        kw = dict(scale_jitter=0.25, scale_range=(0.75, 1.25), random_crop_prob=0.2, random_crop_factor=0.5)
        kw.update(overrides)
        return cls(**kw)

    @property
    def augments(self) -> bool:
        """Whether any random change of the box is enabled."""
        return self.scale_jitter > 0 or self.random_crop_prob > 0


def sample_crop_box(
    center: Tensor, scale: Tensor, cfg: CropConfig, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Draw the (possibly augmented) crop box of one sample.

    Order: ``rescale``, then the vertical random crop (with probability ``random_crop_prob`` the box
    side shrinks to ``random_crop_factor`` of itself, keeps its horizontal centre and moves to a
    uniform random height inside the old box: the authors' PARE ``random_crop`` with axis 'y', without
    its integer truncation), then the scale jitter.

    Args:
        center: Box centre (cx, cy) in image pixels, shape (2,).
        scale: Box scale (side = 200·scale px), shape ().
        cfg: Crop settings.
        generator: Source of randomness (CPU generator); None uses torch's global one.

    Returns:
        ``(center, scale)`` of shapes (2,) and (), float32.
    """
    center = center.detach().to(torch.float32).clone()
    scale = scale.detach().to(torch.float32).reshape(()) * cfg.rescale
    if cfg.random_crop_prob > 0:
        u = torch.rand(2, generator=generator)
        if float(u[0]) < cfg.random_crop_prob:
            side = 200.0 * scale
            new_side = cfg.random_crop_factor * side
            top = center[1] - side / 2
            center[1] = top + new_side / 2 + float(u[1]) * (side - new_side)
            scale = scale * cfg.random_crop_factor
    if cfg.scale_jitter > 0:
        n = float(torch.randn(1, generator=generator))
        lo, hi = cfg.scale_range
        scale = scale * min(max(1.0 + cfg.scale_jitter * n, lo), hi)
    return center, scale


def crop_full_image(
    image: Tensor,
    center: Tensor,
    scale: Tensor,
    res: int = 224,
    antialias: str = "fast",
    mode: str = "bilinear",
    crop_mode: str = "exact",
) -> Tensor:
    """Crop a full-resolution map (image, depth) to the square box, low-passed when downsampling.

    The crop itself is :func:`hpskit.geometry.crop_images` (pixel centres at integers, zeros outside).
    With ``antialias="fast"``, when the box is more than 1.5× larger than the crop, the image window
    around the box is first shrunk by the exact factor ``d = 200·s/res`` with
    ``F.interpolate(antialias=True)`` (a triangle filter) and the box is mapped into the small window by
    ``u' = (u − x0 + 0.5)/d − 0.5``; the result equals the plain crop up to the low-pass.
    ``"gaussian"`` blurs like skimage (:func:`~hpskit.geometry.crop_images` ``antialias=True``).

    Args:
        image: Maps, shape (1, C, H, W), float.
        center: Box centre (cx, cy) in image pixels, shape (1, 2).
        scale: Box scale, shape (1,).
        res: Crop resolution.
        antialias: ``"fast"``, ``"gaussian"`` or ``"none"`` (see :class:`CropConfig`).
        mode: Sampling mode of the final crop (``"bilinear"`` or ``"nearest"``; nearest never low-passes).
        crop_mode: ``"exact"`` or ``"authors"`` (:func:`hpskit.geometry.crop_images_authors`, bilinear maps
            only; ``antialias`` is then ignored).

    Returns:
        The crop, shape (1, C, res, res).

    Examples:
        >>> img = torch.zeros(1, 1, 600, 800)
        >>> img[..., 300, 400] = 1.0
        >>> out = crop_full_image(img, torch.tensor([[400.0, 300.0]]), torch.tensor([3.0]), res=100)
        >>> out.shape, bool(abs(float(out.sum()) - 1 / 36) < 1e-3)
        (torch.Size([1, 1, 100, 100]), True)
    """
    if check_crop_mode(crop_mode, "crop_full_image") == "authors":
        if mode != "bilinear":
            raise ConfigError("crop_full_image: crop_mode='authors' resizes bilinearly; label maps need "
                              "crop_mode='exact' with mode='nearest'.")
        return crop_images_authors(image, center, scale, res)
    if mode != "bilinear" or antialias == "none":
        return crop_images(image, center, scale, res=res, mode=mode)
    if antialias == "gaussian":
        return crop_images(image, center, scale, res=res, mode=mode, antialias=True)
    d = float(200.0 * scale[0]) / res
    if d > 1.5:
        H, W = image.shape[-2:]
        half = 100.0 * float(scale[0]) + 2 * d + 2
        cx, cy = float(center[0, 0]), float(center[0, 1])
        x0, x1 = max(int(cx - half), 0), min(int(cx + half) + 1, W)
        y0, y1 = max(int(cy - half), 0), min(int(cy + half) + 1, H)
        if x1 - x0 < 2 * d or y1 - y0 < 2 * d:  # (almost) no overlap with the image: nothing to filter
            return crop_images(image, center, scale, res=res, mode=mode)
        window = image[..., y0:y1, x0:x1]
        small = F.interpolate(
            window,
            scale_factor=(1 / d, 1 / d),
            mode="bilinear",
            antialias=True,
            align_corners=False,
            recompute_scale_factor=False,
        )
        offset = center.new_tensor([[x0, y0]])
        return crop_images(small, (center - offset + 0.5) / d - 0.5, scale / d, res=res, mode=mode)
    return crop_images(image, center, scale, res=res, mode=mode)
