"""Clothing, skin, hair and lighting of the synthetic people (per-pixel, batched).

Each vertex gets a *region* (skin, hair, top garment, bottom garment, shoes) from its part label and its
position in the rest pose (T-pose, metres):

* head and neck are skin, except the hair cap: head vertices above a hairline that runs higher at the
  front than at the back, shifted per person (short/long hair; a few people are bald);
* torso parts (spine, spine1, spine2, shoulders) are the top; the upper arms and forearms are the top up
  to a per-person sleeve length (fraction of the shoulder → wrist distance along x); hands are skin;
* hips are the bottom; thighs and shins are the bottom down to a per-person leg length (fraction of
  the hip → ankle height); feet and toes are shoes (or skin, barefoot);
* the eyeballs (vertices skinned to the eye joints) are white with a coloured iris (their front cap),
  and two strips above the eyes take the hair colour (eyebrows).

A pixel takes the region of its visible face's nearest vertex. Garments get a base colour and a pattern
(plain, stripes, checks, or blotches made of three random sinusoids) evaluated on the **rest-pose
position** of the pixel, so patterns move with the body. Shading is Lambert with a random directional
light (from the camera side), a hemisphere ambient term (brighter on up-facing surfaces) and a
slightly tinted light colour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from kornia.color import hsv_to_rgb
from torch import Tensor

from hpskit.body import PART_NAMES
from hpskit.core import ConfigError

__all__ = ["AppearanceConfig", "BodyRegions", "SKIN", "HAIR", "TOP", "BOTTOM", "SHOES", "SCLERA", "IRIS",
           "sample_appearance",
           "vertex_regions", "shade_pixels"]

SKIN, HAIR, TOP, BOTTOM, SHOES, SCLERA, IRIS = 0, 1, 2, 3, 4, 5, 6

_SKIN_TONES = ((0.96, 0.80, 0.69), (0.92, 0.74, 0.60), (0.87, 0.67, 0.52), (0.78, 0.57, 0.42),
               (0.68, 0.48, 0.34), (0.55, 0.38, 0.26), (0.42, 0.28, 0.19), (0.30, 0.20, 0.14))
_HAIR = ((0.05, 0.04, 0.04), (0.16, 0.10, 0.07), (0.33, 0.21, 0.12), (0.72, 0.58, 0.36), (0.50, 0.20, 0.09),
         (0.58, 0.58, 0.58))
_IRIS = ((0.06, 0.04, 0.03), (0.20, 0.12, 0.06), (0.20, 0.30, 0.42), (0.22, 0.30, 0.18))


@dataclass(kw_only=True)
class AppearanceConfig:
    """Appearance distributions.

    Attributes:
        p_bald: Probability of no hair.
        sleeve_choices: Sleeve lengths (fraction shoulder → wrist) and their weights.
        leg_choices: Trouser lengths (fraction hip → ankle) and their weights.
        p_barefoot: Probability of bare feet.
        p_pattern: Weights of plain, stripes, checks, blotches.
        ambient: Range of the ambient term.
        diffuse: Range of the directional term.
    """

    p_bald: float = 0.08
    # (value, weight) pairs as list[list[float]]: OmegaConf on Python 3.12 rejects nested tuple items.
    sleeve_choices: list[list[float]] = field(
        default_factory=lambda: [[0.0, 0.15], [0.35, 0.35], [0.7, 0.1], [1.05, 0.4]])
    leg_choices: list[list[float]] = field(default_factory=lambda: [[0.4, 0.25], [0.6, 0.1], [1.05, 0.65]])
    p_barefoot: float = 0.05
    p_pattern: tuple[float, float, float, float] = (0.5, 0.25, 0.1, 0.15)
    ambient: tuple[float, float] = (0.3, 0.6)
    diffuse: tuple[float, float] = (0.45, 0.85)

    def __post_init__(self) -> None:
        if min(self.p_pattern) < 0 or sum(self.p_pattern) <= 0:
            raise ConfigError(f"AppearanceConfig: p_pattern must be ≥ 0 and not all 0; got {self.p_pattern}.")


@dataclass
class BodyRegions:
    """Per-vertex rest-pose quantities of one body topology (computed once per body).

    Attributes:
        parts: (V,) part labels.
        rest: (V, 3) rest-pose vertices.
        arm_t: (V,) position along shoulder → wrist for arm vertices, −1 elsewhere.
        leg_t: (V,) position along hip → ankle for thigh/shin vertices, −1 elsewhere.
        hair_h: (V,) height above the hairline reference (head vertices), −9 elsewhere.
        base: (V,) region before the per-person choices (SKIN/TOP/BOTTOM/SHOES; arms/legs provisional).
        face: (V,) fixed face regions: SCLERA, IRIS, HAIR (eyebrows) or −1.
    """

    parts: Tensor
    rest: Tensor
    arm_t: Tensor
    leg_t: Tensor
    hair_h: Tensor
    base: Tensor
    face: Tensor

    def to(self, device: torch.device | str) -> BodyRegions:
        names = ("parts", "rest", "arm_t", "leg_t", "hair_h", "base", "face")
        return BodyRegions(*(getattr(self, k).to(device) for k in names))

    @classmethod
    def from_body(cls, v_template: Tensor, J_regressor: Tensor, parts: Tensor,
                  lbs_weights: Tensor | None = None) -> BodyRegions:
        """Build from a rest mesh (V, 3), its joint regressor (55, V), vertex part labels (V,) and
        optionally its skinning weights (V, 55) (for the eyeballs)."""
        rest = v_template.detach().double().cpu()
        J = J_regressor.detach().double().cpu() @ rest
        parts = parts.detach().long().cpu()
        n = {name: i for i, name in enumerate(PART_NAMES)}

        def isin(names):
            return torch.isin(parts, torch.tensor([n[x] for x in names]))

        x, y, z = rest.unbind(1)
        arm = isin(["leftArm", "rightArm", "leftForeArm", "rightForeArm"])
        sh_x = (J[16, 0].abs() + J[17, 0].abs()) / 2
        wr_x = (J[20, 0].abs() + J[21, 0].abs()) / 2
        arm_t = torch.where(arm, (x.abs() - sh_x) / (wr_x - sh_x), torch.full_like(x, -1.0))
        leg = isin(["leftUpLeg", "rightUpLeg", "leftLeg", "rightLeg"])
        hip_y = (J[1, 1] + J[2, 1]) / 2
        ank_y = (J[7, 1] + J[8, 1]) / 2
        leg_t = torch.where(leg, (hip_y - y) / (hip_y - ank_y), torch.full_like(y, -1.0))
        head = isin(["head"])
        hy = y[head]
        top, bottom = hy.max(), J[15, 1]
        hz = z[head]
        zc, zf = hz.median(), hz.max()
        front = ((z - zc) / (zf - zc)).clamp(-1, 1)
        # normalised height above the head joint, minus a hairline that is higher at the front
        h = (y - bottom) / (top - bottom) - (0.5 + 0.3 * front)
        hair_h = torch.where(head, h, torch.full_like(y, -9.0))
        base = torch.full_like(parts, SKIN)
        base[isin(["spine", "spine1", "spine2", "leftShoulder", "rightShoulder"])] = TOP
        base[isin(["hips"])] = BOTTOM
        base[isin(["leftFoot", "rightFoot", "leftToeBase", "rightToeBase"])] = SHOES
        face = torch.full_like(parts, -1)
        if lbs_weights is not None:
            dominant = lbs_weights.detach().cpu().argmax(1)
            for j in (23, 24):  # eyeballs: white, the front cap (iris) coloured
                eye = dominant == j
                if eye.any():
                    face[eye] = SCLERA
                    face[eye & (z > z[eye].max() - 0.0045)] = IRIS
            # eyebrows: strips 1-2.5 cm above the eye centres on the face surface
            for j in (23, 24):
                dx, dy = x - J[j, 0], y - J[j, 1]
                brow = head & (dy > 0.014) & (dy < 0.024) & (dx.abs() < 0.022) & (z > J[j, 2])
                face[brow & (face < 0)] = HAIR
        return cls(parts=parts, rest=rest.float(), arm_t=arm_t.float(), leg_t=leg_t.float(),
                   hair_h=hair_h.float(), base=base, face=face)


def _choice(g: torch.Generator, n: int, table: list[list[float]]) -> Tensor:
    vals = torch.tensor([v for v, _ in table], dtype=torch.float64)
    w = torch.tensor([p for _, p in table], dtype=torch.float64)
    return vals[torch.multinomial(w, n, replacement=True, generator=g)]


def _hsv(h: Tensor, s: Tensor, v: Tensor) -> Tensor:
    """(n,) hue in [0, 1), saturation, value → (n, 3) RGB (kornia's HSV uses hue in radians)."""
    hsv = torch.stack([h * 2 * math.pi, s, v], 1)[:, :, None, None]
    return hsv_to_rgb(hsv)[:, :, 0, 0]


def _garment_colours(g: torch.Generator, n: int) -> Tensor:
    """(n, 3) clothing colours: a third greys, the rest saturated or muted hues."""
    u = lambda: torch.rand(n, generator=g, dtype=torch.float64)  # noqa: E731
    h, s, v = u(), u() * 0.85, 0.12 + 0.83 * u()
    grey = u() < 0.3
    s = torch.where(grey, s * 0.1, s)
    return _hsv(h, s, v)


def sample_appearance(n: int, cfg: AppearanceConfig, generator: torch.Generator) -> dict[str, Tensor]:
    """Per-person appearance parameters (CPU, float64; see :func:`shade_pixels`)."""
    g = generator
    u = lambda *s: torch.rand(*s, generator=g, dtype=torch.float64)  # noqa: E731
    skin = torch.tensor(_SKIN_TONES, dtype=torch.float64)[torch.randint(len(_SKIN_TONES), (n,), generator=g)]
    skin = (skin * (1 + 0.06 * (u(n, 1) - 0.5)) + 0.03 * (u(n, 3) - 0.5)).clamp(0, 1)
    hair = torch.tensor(_HAIR, dtype=torch.float64)[torch.randint(len(_HAIR), (n,), generator=g)]
    hair = (hair * (0.85 + 0.3 * u(n, 1))).clamp(0, 1)
    top, top2 = _garment_colours(g, n), _garment_colours(g, n)
    bottom, bottom2 = _garment_colours(g, n), _garment_colours(g, n)
    denim = torch.tensor([0.17, 0.24, 0.40], dtype=torch.float64) * (0.7 + 0.6 * u(n, 1))
    dark = torch.full((n, 3), 0.06, dtype=torch.float64) + 0.08 * u(n, 1)
    kind = u(n)
    bottom = torch.where((kind < 0.35)[:, None], denim, torch.where((kind < 0.6)[:, None], dark, bottom))
    same = u(n) < 0.1  # one-piece outfits
    bottom = torch.where(same[:, None], top, bottom)
    shoes = torch.where((u(n) < 0.25)[:, None], torch.full((n, 3), 0.85, dtype=torch.float64),
                        0.03 + 0.25 * u(n, 1) * torch.ones(n, 3, dtype=torch.float64))
    p = torch.tensor(cfg.p_pattern, dtype=torch.float64)
    ang = u(n, 2) * math.pi
    stripe_dir = torch.stack([torch.sin(ang[:, 0]) * 0.3, torch.cos(ang[:, 0]),
                              torch.sin(ang[:, 1]) * 0.3], 1)
    light = torch.stack([(u(n) - 0.5) * 1.6, -0.2 - 0.8 * u(n), -0.3 - 0.7 * u(n)], 1)
    sclera = torch.full((n, 3), 0.82, dtype=torch.float64)
    iris = torch.tensor(_IRIS, dtype=torch.float64)[torch.randint(len(_IRIS), (n,), generator=g)]
    return {
        "colours": torch.stack([skin, hair, top, bottom, shoes, sclera, iris], 1),  # (n, 7, 3) by region
        "colours2": torch.stack([skin, hair * 1.3, top2, bottom2, shoes, sclera, iris], 1).clamp(0, 1),
        "pattern": torch.multinomial(p, 2 * n, replacement=True, generator=g).view(n, 2),  # top, bottom
        "freq": 6 + 24 * u(n, 2),
        "duty": 0.3 + 0.4 * u(n, 2),
        "stripe_dir": stripe_dir / stripe_dir.norm(dim=1, keepdim=True),
        "blotch_dirs": F.normalize(torch.randn(n, 3, 3, generator=g, dtype=torch.float64), dim=-1),
        "phase": u(n, 3) * 2 * math.pi,
        "sleeve": _choice(g, n, cfg.sleeve_choices) + 0.08 * (u(n) - 0.5),
        "legs": _choice(g, n, cfg.leg_choices) + 0.08 * (u(n) - 0.5),
        "hairline": torch.where(u(n) < cfg.p_bald, torch.full((n,), 9.0, dtype=torch.float64),
                                -0.15 + 0.3 * u(n)),
        "barefoot": u(n) < cfg.p_barefoot,
        "light_dir": light / light.norm(dim=1, keepdim=True),
        "ambient": cfg.ambient[0] + (cfg.ambient[1] - cfg.ambient[0]) * u(n),
        "diffuse": cfg.diffuse[0] + (cfg.diffuse[1] - cfg.diffuse[0]) * u(n),
        "tint": 1 + 0.08 * (u(n, 3) - 0.5),
    }


def vertex_regions(regions: BodyRegions, app: dict[str, Tensor]) -> Tensor:
    """Per-person, per-vertex regions (B, V) long, on the regions' device."""
    base = regions.base[None].expand(app["sleeve"].shape[0], -1).clone()
    arm = regions.arm_t[None] >= -0.5
    base = torch.where(arm & (regions.arm_t[None] < app["sleeve"][:, None]), TOP, base)
    leg = regions.leg_t[None] >= -0.5
    base = torch.where(leg, torch.where(regions.leg_t[None] < app["legs"][:, None], BOTTOM, SKIN), base)
    base = torch.where(regions.hair_h[None] > app["hairline"][:, None], HAIR, base)
    base = torch.where(app["barefoot"][:, None] & (base == SHOES), SKIN, base)
    return torch.where(regions.face[None] >= 0, regions.face[None], base)


def _pattern(kind: Tensor, pos: Tensor, p: dict[str, Tensor], k: int) -> Tensor:
    """Pattern weight in [0, 1] per pixel for garment ``k`` (0 top, 1 bottom).

    ``pos`` is (N, 3); every entry of ``p`` is already gathered per pixel (leading dim N).
    """
    f, duty = p["freq"][:, k], p["duty"][:, k]
    s = 0.5 + 0.5 * torch.sin(2 * math.pi * f * (pos * p["stripe_dir"]).sum(-1) + p["phase"][:, k])
    stripes = torch.sigmoid((s - duty) * 25)
    checks = torch.remainder(torch.floor(pos * f[:, None] * 0.5).sum(-1), 2.0)
    dirs = p["blotch_dirs"]  # (N, 3, 3)
    w = sum(torch.sin(2 * math.pi * 0.6 * f * (pos * dirs[:, i]).sum(-1) + p["phase"][:, i])
            for i in range(3))
    blotch = torch.sigmoid(w * 4)
    plain = torch.zeros_like(blotch)
    out = torch.where(kind == 3, blotch, plain)
    return torch.where(kind == 1, stripes, torch.where(kind == 2, checks, out))


def shade_pixels(batch_idx: Tensor, region: Tensor, pos: Tensor, normal: Tensor,
                 app: dict[str, Tensor]) -> Tensor:
    """Colour a list of person pixels.

    Args:
        batch_idx: (N,) sample of each pixel.
        region: (N,) long region of each pixel.
        pos: (N, 3) rest-pose position of each pixel (metres).
        normal: (N, 3) unit camera-frame normals facing the camera.
        app: Appearance parameters (:func:`sample_appearance`) on the pixels' device, leading dim B.

    Returns:
        RGB, shape (N, 3), in [0, 1].
    """
    c1, c2 = app["colours"][batch_idx, region], app["colours2"][batch_idx, region]
    keys = ("pattern", "freq", "duty", "stripe_dir", "blotch_dirs", "phase", "light_dir", "ambient",
            "diffuse", "tint")
    p = {k: app[k][batch_idx] for k in keys}
    mix = torch.where(region == TOP, _pattern(p["pattern"][:, 0], pos, p, 0),
                      torch.where(region == BOTTOM, _pattern(p["pattern"][:, 1], pos, p, 1), 0.0))
    hair_streaks = 0.5 + 0.5 * torch.sin(2 * math.pi * 80 * pos[:, 0] + 3 * torch.sin(40 * pos[:, 1]))
    mix = torch.where(region == HAIR, 0.25 * hair_streaks, mix)
    albedo = c1 * (1 - mix[:, None]) + c2 * mix[:, None]
    lam = (normal * p["light_dir"]).sum(-1).clamp(min=0)
    sky = 0.5 * (1 - normal[:, 1])  # camera y points down: up-facing normals have n_y = -1
    shade = p["ambient"] * (0.6 + 0.4 * sky) + p["diffuse"] * lam
    return (albedo * shade[:, None] * p["tint"]).clamp(0, 1)
