"""Photometric augmentation on the GPU, arranged as the D-PoSE authors' Albumentations pipeline.

The authors (docs/authors-code.md (h)) apply two ``OneOf`` groups with p = 0.3 each to the RGB crop:

1. one of {random-noise occluder 50–100 px, Downscale 0.5–0.9 (nearest), JPEG quality 20–100, rain,
   motion blur 3–15, blur 3–10, snow};
2. one of {CLAHE, ToGray, brightness/contrast, multiplicative noise 0.5–1.5, HSV shift (20, 30, 20),
   posterize, gamma 80–200, equalize}.

:meth:`PhotometricConfig.authors` is that arrangement; :meth:`PhotometricConfig.paper` uses the list of
the paper's §4.2 (no ToGray; "random occlusions" as random erasing) in the same two groups. Each sample
draws its own group decisions and operation, and each operation is applied in one batched call to the
samples that chose it.

Cost: a batch of 64 uses about 14 operations on 2–3 images each, so on a GPU the call is bound by
kernel launches and Python, not by arithmetic. Every operation is therefore a few batched kernels whose
parameters are drawn per sample on the CPU and moved with one non-blocking copy
(:mod:`~hpskit.data.transforms._ops`, :mod:`~hpskit.data.transforms._color`,
:mod:`~hpskit.data.transforms._clahe`, :mod:`~hpskit.data.transforms._compression`), and nothing reads
the GPU back, so a CUDA call queues its kernels and returns while the GPU works (unless
``jpeg_codec="libjpeg"`` is chosen: that codec runs on the CPU, and its device-to-host copy of the
selected crops synchronises the host with the GPU once per batch).

What each operation is (Albumentations name → here):

* ``Blur`` 3–10: box blur, odd size per sample, reflect border;
* ``MotionBlur`` 3–15: kornia's motion kernel (one odd size per call, angle and direction per sample);
* ``ImageCompression`` 20–100: an integer quality per sample; by default (``jpeg_codec="torch"``) the
  codec's lossy steps (YCbCr, 4:2:0, DCT, libjpeg's quantisation tables, integer rounding where libjpeg
  rounds) in tensor kernels on the images' device, under one level (of 255) from libjpeg's result on
  average; with ``jpeg_codec="libjpeg"`` a real round trip through libjpeg-turbo on the CPU (the bytes
  OpenCV writes; bit-exact, but it makes a CUDA batch wait for the GPU; see docs/benchmarks.md);
* ``Downscale``: nearest down/up; noise occluder: a uniform-noise rectangle; random erasing: a zero box;
* ``RandomRain``, ``RandomSnow``: kornia's ``RandomRain`` / ``RandomSnow`` effects (drops of value
  200/255, ≈ H·W/600 per image; HLS lightness below the coefficient scaled by the brightness);
* ``CLAHE`` clip 1–4, 8 × 8 tiles: on the L channel of LAB, as Albumentations does for RGB images
  (kornia's ``RandomClahe``, used before, equalised each RGB channel, which also shifts hues);
* ``Equalize``: per-channel histogram equalisation (:func:`kornia.enhance.equalize`, PIL's rule);
* ``HueSaturationValue`` (20, 30, 20): one HSV round trip: hue ± 20 OpenCV units (±40° = ±0.111 of a
  turn), saturation × [0.7, 1.3] (the 30/255 shift as a factor), value ± 20/255 added in HSV (before, a
  ``ColorJiggle`` added it to RGB, in a random order with the hue and saturation changes);
* ``RandomBrightnessContrast``: ``α·x + β``, α ∈ [0.8, 1.2], β ∈ [−0.2, 0.2];
* ``RandomGamma`` 80–200: ``x ** γ``, γ ∈ [0.8, 2.0]; ``Posterize``: 4 bits; ``ToGray``: ITU-R 601
  luma; ``MultiplicativeNoise`` 0.5–1.5: one factor per image.

Randomness: every parameter is drawn from one CPU ``torch.Generator`` seeded per call from the given
``generator`` (or ``seed``); the occluder's noise comes from a device generator seeded from it. Global
RNG states are never read or changed, and a call is reproducible from its seed on a given device. The
parameters do not depend on the device either: a CUDA call draws the same ones as a CPU call with the same
seed, so the two results differ only by the kernels' floating-point rounding (libjpeg JPEG: not at all;
the occluder's noise: entirely, it comes from the device's generator).

Example:
    >>> aug = PhotometricAugment("authors")
    >>> x = torch.rand(4, 3, 32, 32)
    >>> y = aug(x, seed=0)
    >>> y.shape, bool(y.equal(aug(x, seed=0))), bool((y >= 0).all() and (y <= 1).all())
    (torch.Size([4, 3, 32, 32]), True, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from hpskit.core import ConfigError, ShapeError, check_shape

from ._clahe import clahe_rgb
from ._color import (
    equalize_images,
    grayscale,
    random_brightness_contrast,
    random_gamma,
    random_hue_saturation_value,
    random_posterize,
    random_snow,
)
from ._compression import JPEG_CODECS, random_jpeg
from ._ops import (
    random_box_blur,
    random_downscale,
    random_erasing,
    random_motion_blur,
    random_multiplicative,
    random_noise_occlusion,
    random_rain,
    to_device,
    uniform,
)

__all__ = ["OP_NAMES", "JPEG_CODECS", "OneOf", "PhotometricConfig", "PhotometricAugment",
           "photometric_augment"]

OP_NAMES = (
    "blur", "motion_blur", "jpeg", "downscale", "rain", "snow", "occlusion", "erasing",
    "clahe", "equalize", "posterize", "gamma", "hue_saturation", "brightness_contrast",
    "multiplicative_noise", "grayscale",
)
"""Every operation name a :class:`OneOf` group may list."""

_AUTHORS = (("occlusion", "downscale", "jpeg", "rain", "motion_blur", "blur", "snow"),
            ("clahe", "grayscale", "brightness_contrast", "multiplicative_noise", "hue_saturation",
             "posterize", "gamma", "equalize"))
_PAPER = (("downscale", "jpeg", "rain", "snow", "motion_blur", "blur", "erasing"),
          ("clahe", "equalize", "brightness_contrast", "multiplicative_noise", "hue_saturation", "gamma",
           "posterize"))


@dataclass(kw_only=True)
class OneOf:
    """A group: with probability ``p`` a sample gets exactly one of ``ops`` (chosen uniformly).

    Attributes:
        ops: Operation names from :data:`OP_NAMES`.
        p: Probability that the group applies to a sample.
    """

    ops: list[str] = field(default_factory=list)
    p: float = 0.3


def _authors_groups() -> list[OneOf]:
    return [OneOf(ops=list(g), p=0.3) for g in _AUTHORS]


@dataclass(kw_only=True)
class PhotometricConfig:
    """Settings of :class:`PhotometricAugment` (defaults = the authors' preset).

    Attributes:
        groups: The :class:`OneOf` groups, applied in order.
        blur_kernel: Box-blur kernel size range (odd sizes inside it).
        motion_blur_kernel: Motion-blur kernel size range (kornia draws one size per call).
        jpeg_quality: JPEG quality range.
        jpeg_codec: ``"torch"`` (the codec's lossy steps on the images' device, no host round trip) or
            ``"libjpeg"`` (the real codec on the CPU, bit-exact, synchronises a CUDA batch).
        downscale: Downscale factor range (nearest down, nearest up).
        occlusion_size: Noise-rectangle width/height range, pixels at 224².
        erasing_scale: Random-erasing area fraction range.
        rain_drops_per_pixel: Rain drops per image pixel (Albumentations: 1/600).
        snow_coefficient: kornia ``RandomSnow`` coefficient range.
        snow_brightness: kornia ``RandomSnow`` brightness range.
        clahe_clip: CLAHE clip-limit range.
        clahe_grid: CLAHE tile grid.
        posterize_bits: Range of kept bits.
        gamma: Gamma range.
        hue: Hue shift, fraction of a full turn (±).
        saturation: Saturation factor deviation (factor in [1 − s, 1 + s]).
        value: Additive brightness of the HSV shift (±).
        brightness: Additive brightness (±) of brightness/contrast.
        contrast: Contrast factor deviation of brightness/contrast.
        multiplier: Multiplicative-noise factor range.
    """

    groups: list[OneOf] = field(default_factory=_authors_groups)
    blur_kernel: tuple[int, int] = (3, 10)
    motion_blur_kernel: tuple[int, int] = (3, 15)
    jpeg_quality: tuple[float, float] = (20.0, 100.0)
    jpeg_codec: str = "torch"
    downscale: tuple[float, float] = (0.5, 0.9)
    occlusion_size: tuple[float, float] = (50.0, 100.0)
    erasing_scale: tuple[float, float] = (0.02, 0.2)
    rain_drops_per_pixel: float = 1.0 / 600.0
    snow_coefficient: tuple[float, float] = (0.1, 0.3)
    snow_brightness: tuple[float, float] = (2.5, 2.5)
    clahe_clip: tuple[float, float] = (1.0, 4.0)
    clahe_grid: tuple[int, int] = (8, 8)
    posterize_bits: tuple[float, float] = (4.0, 4.0)
    gamma: tuple[float, float] = (0.8, 2.0)
    hue: float = 20.0 / 180.0
    saturation: float = 0.3
    value: float = 20.0 / 255.0
    brightness: float = 0.2
    contrast: float = 0.2
    multiplier: tuple[float, float] = (0.5, 1.5)

    def __post_init__(self) -> None:
        problems = []
        self.groups = [g if isinstance(g, OneOf) else OneOf(**dict(g)) for g in self.groups]
        for i, g in enumerate(self.groups):
            unknown = [o for o in g.ops if o not in OP_NAMES]
            if unknown:
                problems.append(f"groups[{i}] has unknown ops {unknown} (known: {list(OP_NAMES)})")
            if not 0.0 <= g.p <= 1.0:
                problems.append(f"groups[{i}].p must be in [0, 1]; got {g.p!r}")
            if g.p > 0 and not g.ops:
                problems.append(f"groups[{i}] has p={g.p} but no ops")
        for name in ("blur_kernel", "motion_blur_kernel", "jpeg_quality", "downscale", "occlusion_size",
                     "erasing_scale", "clahe_clip", "posterize_bits", "gamma", "multiplier"):
            lo, hi = getattr(self, name)
            if not lo <= hi:
                problems.append(f"{name} must be (low, high) with low ≤ high; got {(lo, hi)!r}")
        if self.jpeg_codec not in JPEG_CODECS:
            problems.append(f"jpeg_codec must be one of {list(JPEG_CODECS)}; got {self.jpeg_codec!r}")
        if not 0 < self.downscale[0] <= self.downscale[1] <= 1:
            problems.append(f"downscale must lie in (0, 1]; got {self.downscale!r}")
        if problems:
            raise ConfigError("PhotometricConfig: " + "; ".join(problems) + ".")

    @classmethod
    def authors(cls, **overrides) -> PhotometricConfig:
        """The authors' two OneOf groups, p = 0.3 each (docs/authors-code.md (h))."""
        return cls(**{"groups": _authors_groups(), **overrides})

    @classmethod
    def paper(cls, **overrides) -> PhotometricConfig:
        """The paper's §4.2 list in the same two groups (random erasing as the occlusion, no ToGray)."""
        return cls(**{"groups": [OneOf(ops=list(g), p=0.3) for g in _PAPER], **overrides})

    @classmethod
    def none(cls) -> PhotometricConfig:
        """No augmentation (identity)."""
        return cls(groups=[])

    @classmethod
    def single(cls, op: str, p: float = 1.0, **overrides) -> PhotometricConfig:
        """One group holding one operation (e.g. to look at or test a single op)."""
        return cls(**{"groups": [OneOf(ops=[op], p=p)], **overrides})

    @classmethod
    def preset(cls, name: str) -> PhotometricConfig:
        """``"authors"``, ``"paper"`` or ``"none"``."""
        makers = {"authors": cls.authors, "paper": cls.paper, "none": cls.none}
        if name not in makers:
            raise ConfigError(f"PhotometricConfig.preset: unknown preset {name!r}; choose one of "
                              f"{list(makers)}.")
        return makers[name]()


class PhotometricAugment(nn.Module):
    """Batched photometric augmentation of RGB images in [0, 1] (before ImageNet normalisation).

    Args:
        config: A :class:`PhotometricConfig` or a preset name (``"authors"``, ``"paper"``, ``"none"``).

    Shape:
        - Input: (B, 3, H, W), float in [0, 1], any device.
        - Output: (B, 3, H, W), same dtype and device, in [0, 1].
    """

    def __init__(self, config: PhotometricConfig | str = "authors") -> None:
        super().__init__()
        self.config = PhotometricConfig.preset(config) if isinstance(config, str) else config

    def extra_repr(self) -> str:
        return ", ".join(f"OneOf({g.ops}, p={g.p})" for g in self.config.groups)

    def _apply_op(self, name: str, x: Tensor, gen: torch.Generator) -> Tensor:
        """Apply operation ``name`` to every image of ``x`` (B, 3, H, W), parameters drawn from ``gen``."""
        c = self.config
        if name == "blur":
            return random_box_blur(x, c.blur_kernel, gen)
        if name == "motion_blur":
            return random_motion_blur(x, c.motion_blur_kernel, gen)
        if name == "jpeg":
            return random_jpeg(x, c.jpeg_quality, gen, codec=c.jpeg_codec)
        if name == "downscale":
            return random_downscale(x, c.downscale, gen)
        if name == "rain":
            n = max(1, round(c.rain_drops_per_pixel * x.shape[-1] * x.shape[-2]))
            return random_rain(x, (max(1, n // 2), n * 3 // 2 + 1), gen)
        if name == "snow":
            return random_snow(x, c.snow_coefficient, c.snow_brightness, gen)
        if name == "occlusion":
            return random_noise_occlusion(x, c.occlusion_size, gen)
        if name == "erasing":
            return random_erasing(x, c.erasing_scale, (0.3, 3.3), gen)
        if name == "clahe":
            return clahe_rgb(x, uniform(x.shape[0], c.clahe_clip[0], c.clahe_clip[1], gen), c.clahe_grid)
        if name == "equalize":
            return equalize_images(x)
        if name == "posterize":
            return random_posterize(x, c.posterize_bits, gen)
        if name == "gamma":
            return random_gamma(x, c.gamma, gen)
        if name == "hue_saturation":
            return random_hue_saturation_value(x, c.hue, c.saturation, c.value, gen)
        if name == "brightness_contrast":
            return random_brightness_contrast(x, c.brightness, c.contrast, gen)
        if name == "multiplicative_noise":
            return random_multiplicative(x, c.multiplier, gen)
        if name == "grayscale":
            return grayscale(x)
        raise ConfigError(f"PhotometricAugment: unknown op {name!r}.")  # unreachable: the config checks names

    def forward(self, images: Tensor, generator: torch.Generator | None = None,
                seed: int | None = None) -> Tensor:
        """Augment a batch.

        Args:
            images: RGB in [0, 1], shape (B, 3, H, W).
            generator: Source of randomness (any device); one number is drawn from it per call.
            seed: Alternative to ``generator``: an explicit per-call seed. With neither, torch's global
                generator provides the seed (not reproducible unless the caller seeds it).

        Returns:
            Augmented images, shape (B, 3, H, W), in [0, 1].
        """
        where = "PhotometricAugment.forward"
        check_shape(images, ("B", 3, "H", "W"), "images", where,
                    hint="Pass RGB crops in [0, 1] before normalising.")
        if not images.is_floating_point():
            raise ShapeError(f"{where}: `images` must be float in [0, 1]; got {images.dtype}. "
                             "Use x.float() / 255.")
        groups = [g for g in self.config.groups if g.p > 0 and g.ops]
        if not groups or images.shape[0] == 0:
            return images
        if seed is None:
            src = generator if generator is not None else torch.default_generator
            seed = int(torch.randint(0, 2**62, (1,), generator=src, device=src.device))
        gen = torch.Generator().manual_seed(int(seed))
        B = images.shape[0]
        # every group's decisions first (on the CPU), then one copy of all sample indices to the device
        plan: list[tuple[str, Tensor]] = []
        for g in groups:
            apply = torch.rand(B, generator=gen) < g.p
            choice = torch.randint(len(g.ops), (B,), generator=gen)
            # the samples of each op in ascending order, from one stable sort (op k's samples are the k-th
            # run of the samples that apply the group; few host steps: this runs in the training loop)
            code = torch.where(apply, choice, -1)
            counts = torch.bincount(code + 1, minlength=len(g.ops) + 1).tolist()
            runs = torch.argsort(code, stable=True).split(counts)[1:]
            plan.extend((name, sel) for name, sel in zip(g.ops, runs) if sel.numel())
        x = images.to(torch.float32, copy=True)  # modified in place below
        if not plan:
            return x.to(images.dtype)
        indices = to_device(torch.cat([sel for _, sel in plan]), x).split([len(sel) for _, sel in plan])
        for (name, _), sel in zip(plan, indices):
            x.index_copy_(0, sel, self._apply_op(name, x.index_select(0, sel), gen).clamp(0, 1))
        return x.to(images.dtype)


def photometric_augment(images: Tensor, config: PhotometricConfig | str = "authors",
                        generator: torch.Generator | None = None, seed: int | None = None) -> Tensor:
    """Functional form of :class:`PhotometricAugment` (builds the module on each call).

    Args:
        images: RGB in [0, 1], shape (B, 3, H, W).
        config: Config or preset name.
        generator: Source of randomness.
        seed: Explicit per-call seed instead of ``generator``.

    Returns:
        Augmented images, shape (B, 3, H, W).
    """
    return PhotometricAugment(config)(images, generator=generator, seed=seed)
