"""Photometric augmentation on the GPU (kornia), arranged as the D-PoSE authors' Albumentations pipeline.

The authors (reference-dpose.md (h)) apply two ``OneOf`` groups with p = 0.3 each to the RGB crop:

1. one of {random-noise occluder 50–100 px, Downscale 0.5–0.9 (nearest), JPEG quality 20–100, rain,
   motion blur 3–15, blur 3–10, snow};
2. one of {CLAHE, ToGray, brightness/contrast, multiplicative noise 0.5–1.5, HSV shift (20, 30, 20),
   posterize, gamma 80–200, equalize}.

:meth:`PhotometricConfig.authors` is that arrangement; :meth:`PhotometricConfig.paper` uses the list of
the paper's §4.2 (no ToGray; "random occlusions" as kornia's random erasing) in the same two groups.
Each sample draws its own group decisions and operation, and each operation is applied in one batched
call to the samples that chose it, so a batch costs about one kernel launch per used operation.

Where kornia's parameters differ from Albumentations', the mapping used is: hue shift 20 (OpenCV
units of 2°) → ±40° = ±0.111 of a turn; saturation shift 30/255 → a factor in [0.7, 1.3]; value
shift 20/255 → additive brightness ±0.078; gamma limit 80–200 → γ ∈ [0.8, 2.0]; CLAHE clip 1–4 on an
8 × 8 grid; rain ≈ H·W/600 drops; posterize to 4 bits. Blur, downscale, the noise occluder and the
multiplicative noise are hpskit's own per-sample ops (:mod:`hpskit.data.transforms._ops`).

Randomness: kornia draws from torch's global generators. To make a call reproducible without touching
the caller's global RNG state, the module derives one seed from the given ``torch.Generator`` (or
``seed``), and runs inside ``torch.random.fork_rng`` with the CPU and the images' device seeded from it;
the global states are restored on exit.

Example:
    >>> aug = PhotometricAugment("authors")
    >>> x = torch.rand(4, 3, 32, 32)
    >>> y = aug(x, seed=0)
    >>> y.shape, bool(y.equal(aug(x, seed=0))), bool((y >= 0).all() and (y <= 1).all())
    (torch.Size([4, 3, 32, 32]), True, True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import kornia.augmentation as KA
import torch
from torch import Tensor, nn

from hpskit.core import ConfigError, ShapeError, check_shape

from ._ops import random_box_blur, random_downscale, random_multiplicative, random_noise_occlusion

__all__ = ["OP_NAMES", "OneOf", "PhotometricConfig", "PhotometricAugment", "photometric_augment"]

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
        if not 0 < self.downscale[0] <= self.downscale[1] <= 1:
            problems.append(f"downscale must lie in (0, 1]; got {self.downscale!r}")
        if problems:
            raise ConfigError("PhotometricConfig: " + "; ".join(problems) + ".")

    @classmethod
    def authors(cls, **overrides) -> PhotometricConfig:
        """The authors' two OneOf groups, p = 0.3 each (reference-dpose.md (h))."""
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


def _kornia_ops(c: PhotometricConfig) -> dict[str, nn.Module]:
    """The kornia modules (each with p = 1: the group decides whether it runs)."""
    return {
        "motion_blur": KA.RandomMotionBlur(kernel_size=tuple(int(k) for k in c.motion_blur_kernel),
                                           angle=180.0, direction=1.0, p=1.0),
        "jpeg": KA.RandomJPEG(jpeg_quality=tuple(float(q) for q in c.jpeg_quality), p=1.0),
        "snow": KA.RandomSnow(snow_coefficient=tuple(c.snow_coefficient), brightness=tuple(c.snow_brightness),
                              p=1.0),
        "erasing": KA.RandomErasing(scale=tuple(c.erasing_scale), ratio=(0.3, 3.3), value=0.0, p=1.0),
        "clahe": KA.RandomClahe(clip_limit=tuple(c.clahe_clip), grid_size=tuple(c.clahe_grid), p=1.0),
        "equalize": KA.RandomEqualize(p=1.0),
        "posterize": KA.RandomPosterize(bits=tuple(float(b) for b in c.posterize_bits), p=1.0),
        "gamma": KA.RandomGamma(gamma=tuple(c.gamma), p=1.0),
        "hue_saturation": KA.ColorJiggle(brightness=c.value, saturation=c.saturation, hue=c.hue, p=1.0),
        "brightness_contrast": KA.ColorJiggle(brightness=c.brightness, contrast=c.contrast, p=1.0),
        "grayscale": KA.RandomGrayscale(p=1.0),
    }


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
        used = {o for g in self.config.groups for o in g.ops}
        self.kornia_ops = nn.ModuleDict({k: v for k, v in _kornia_ops(self.config).items() if k in used})

    def extra_repr(self) -> str:
        return ", ".join(f"OneOf({g.ops}, p={g.p})" for g in self.config.groups)

    def _apply_op(self, name: str, x: Tensor, gen: torch.Generator) -> Tensor:
        c = self.config
        if name == "blur":
            return random_box_blur(x, c.blur_kernel, gen)
        if name == "downscale":
            return random_downscale(x, c.downscale, gen)
        if name == "occlusion":
            return random_noise_occlusion(x, c.occlusion_size, gen)
        if name == "multiplicative_noise":
            return random_multiplicative(x, c.multiplier, gen)
        if name == "rain":
            n = max(1, round(c.rain_drops_per_pixel * x.shape[-1] * x.shape[-2]))
            op: Callable = KA.RandomRain(number_of_drops=(max(1, n // 2), n * 3 // 2 + 1),
                                         drop_height=(5, 20), drop_width=(-5, 5), p=1.0)
            return op(x)
        return self.kornia_ops[name](x)

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
        dtype = images.dtype
        x = images.to(torch.float32, copy=True)  # modified in place below
        device = x.device
        B = x.shape[0]
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices, device_type="cuda"):
            torch.random.default_generator.manual_seed(int(seed) + 1)
            if device.type == "cuda":
                torch.cuda.default_generators[device.index if device.index is not None
                                              else torch.cuda.current_device()].manual_seed(int(seed) + 2)
            for g in groups:
                apply = torch.rand(B, generator=gen) < g.p
                choice = torch.randint(len(g.ops), (B,), generator=gen)
                for k, name in enumerate(g.ops):
                    sel = (apply & (choice == k)).nonzero().squeeze(1)
                    if sel.numel() == 0:
                        continue
                    sel = sel.to(device)
                    x.index_copy_(0, sel, self._apply_op(name, x.index_select(0, sel), gen).clamp(0, 1))
        return x.to(dtype)


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
