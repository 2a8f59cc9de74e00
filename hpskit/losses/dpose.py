"""The D-PoSE training objective: weights, variants, presets ("paper", "authors") and :class:`DPoSELoss`.

Paper (§3.3, eqs. 1–4; λ values from §4.2)::

    L = λ1·L1_depth + λ2·(1 − SSIM)                        (eq. 2, depth, background ignored)
      + λ3·CE_parts                                         (eq. 3)
      + λ4·L_pose + λ5·L_shape + λ6·L_J3D + λ7·L_V3D + λ8·L_J2D   (eq. 4)

with λ1..λ8 = 0.1, 0.02, 0.1, 10, 0.01, 50, 10, 50. Note the order in eq. 4: λ7 weighs the **vertex** loss and
λ8 the **2D** loss (the text lists L_J2D before L_V3D, the equation does not). The field of
:class:`LossWeights` for each λ: λ1 ``depth``, λ2 ``depth_ssim``, λ3 ``parts_ce``, λ4 ``pose``, λ5 ``betas``,
λ6 ``joints3d``, λ7 ``vertices``, λ8 ``kp2d``.

Authors' code (docs/authors-code.md (g))::

    L = 60·[10·(5·L_J2D + 5·L_J3D + 1·L_pose + 0.001·L_betas + 1·L_V3D + L_cam) + 0.1·CE + 0.1·L_depth]
    L_depth = MSE(D, D_gt) + 0.2·0.5·(1 − SSIM_8×8)      (only for samples with depth)

i.e. ``overall = 60`` and per-term weights kp2d 50, joints3d 50, pose 10, betas 0.01, vertices 10,
cam_scale 10, parts_ce 0.1, depth 0.1, depth_ssim 0.01 — the paper's body λs are the code's weights × 10.
The authors' shipped config has depth supervision off; that is this preset with ``has_depth`` all false
(or ``depth = depth_ssim = 0``).

No host reads: the loss never reads a device value back to the host — no ``.item()``, ``bool(t)``,
``if t.any():``, boolean-mask indexing or ``torch.tensor(...)`` of host data (a host → device copy that waits
too). The training step runs ahead of the GPU (it reads its numbers every ``runtime.sync_every`` steps,
:mod:`hpskit.engine.guard`), and any such read would make the host wait for the GPU in every step. So the
terms are masked means (``torch.where`` and ``sum / count.clamp(min=1)``; a term no sample supervises is
exactly 0), the part labels' range is checked only on request (:func:`~hpskit.losses.check_part_labels`),
and the flags are read only to report a field that is None. ``tests/losses/test_no_host_reads.py`` runs the
loss, the body model and the backward pass with every such read patched to raise.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from hpskit.core import ConfigError, ShapeError

from .camera import camera_scale_loss, reprojection_loss
from .depth import depth_l1_loss, depth_mse_loss, depth_ssim_loss, gaussian_ssim_loss
from .inputs import LossInputs, LossTargets
from .joints import joints3d_loss, vertices_l1_loss
from .params import betas_loss, pose_rotmat_loss
from .parts import part_cross_entropy

__all__ = ["LossWeights", "LossOptions", "PRESETS", "DPoSELoss"]

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class LossWeights:
    """Weight of each term of :class:`DPoSELoss`; a weight of 0 switches the term off.

    Every weighted term is ``overall · weight · raw``, so the weighted terms sum to the total.

    Attributes:
        depth: λ1, depth pixel term (paper: foreground L1; authors: whole-map MSE).
        depth_ssim: λ2, depth ``1 − SSIM`` term.
        parts_ce: λ3, part-segmentation cross-entropy.
        pose: λ4, SMPL-X pose (rotation-matrix MSE).
        betas: λ5, SMPL-X shape (betas MSE).
        joints3d: λ6, 3D joint MSE.
        vertices: λ7, vertex L1.
        kp2d: λ8, full-image 2D reprojection.
        cam_scale: The authors' camera-scale term (not in the paper).
        overall: Factor on everything (the authors: 60; it matters with gradient-norm clipping).
    """

    depth: float = 0.1
    depth_ssim: float = 0.02
    parts_ce: float = 0.1
    pose: float = 10.0
    betas: float = 0.01
    joints3d: float = 50.0
    vertices: float = 10.0
    kp2d: float = 50.0
    cam_scale: float = 0.0
    overall: float = 1.0

    def __post_init__(self):
        bad = [f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self)
               if not isinstance(getattr(self, f.name), (int, float))
               or not math.isfinite(getattr(self, f.name)) or getattr(self, f.name) < 0]
        if bad:
            raise ConfigError(f"LossWeights: weights must be finite numbers >= 0; got {', '.join(bad)}.")

    @classmethod
    def preset(cls, name: str) -> LossWeights:
        """The weights of a named preset (``"paper"`` or ``"authors"``)."""
        return dataclasses.replace(_preset(name)[0])


@dataclass(kw_only=True)
class LossOptions:
    """How each term of :class:`DPoSELoss` is computed (the variants that differ between paper and code).

    Attributes:
        depth_form: ``"paper"``: L1 and ``1 − SSIM`` (kornia, odd window) on the foreground only;
            ``"authors"``: MSE and ``1 − SSIM`` (8×8 window, zero padding 4) over the whole map.
        ssim_window: Window size of the kornia SSIM (``depth_form="paper"`` only; odd).
        exclude_root: Drop joint 0 (global orientation) from the pose loss (the authors: True).
        joints_align: ``"none"`` (the authors) or ``"pelvis"`` for the 3D joint loss.
        pelvis: Indices of the joints whose mean is the pelvis, for ``joints_align="pelvis"`` (default
            joint 0; e.g. ``(1, 2)`` for the hip midpoint).
        num_joints: Joints compared by the 3D and 2D joint losses: the first ``num_joints`` of the
            prediction and the target (the authors: 24 = SMPL-X 0..23).
        kp2d_bbox_factor: Multiply the 2D errors by (W, H) / (200·scale) (the authors: True).
        part_ignore_index: Label skipped by the part cross-entropy (integer label maps).
    """

    depth_form: str = "paper"
    ssim_window: int = 11
    exclude_root: bool = False
    joints_align: str = "none"
    pelvis: tuple[int, ...] = (0,)
    num_joints: int = 24
    kp2d_bbox_factor: bool = False
    part_ignore_index: int = -100

    def __post_init__(self):
        problems = []
        if self.depth_form not in ("paper", "authors"):
            problems.append(f"depth_form must be 'paper' or 'authors', got {self.depth_form!r}")
        if self.ssim_window < 1 or self.ssim_window % 2 == 0:
            problems.append(f"ssim_window must be odd and positive (kornia), got {self.ssim_window}")
        if self.joints_align not in ("none", "pelvis"):
            problems.append(f"joints_align must be 'none' or 'pelvis', got {self.joints_align!r}")
        if self.num_joints < 1:
            problems.append(f"num_joints must be >= 1, got {self.num_joints}")
        if problems:
            raise ConfigError("LossOptions: " + "; ".join(problems) + ".")

    @classmethod
    def preset(cls, name: str) -> LossOptions:
        """The options of a named preset (``"paper"`` or ``"authors"``)."""
        return dataclasses.replace(_preset(name)[1])


#: Named presets: name → (weights, options). See the module docstring for their derivation.
PRESETS: dict[str, tuple[LossWeights, LossOptions]] = {
    "paper": (
        LossWeights(depth=0.1, depth_ssim=0.02, parts_ce=0.1, pose=10.0, betas=0.01, joints3d=50.0,
                    vertices=10.0, kp2d=50.0, cam_scale=0.0, overall=1.0),
        LossOptions(depth_form="paper", exclude_root=False, joints_align="none", num_joints=24,
                    kp2d_bbox_factor=False),
    ),
    "authors": (
        LossWeights(depth=0.1, depth_ssim=0.1 * 0.2 * 0.5, parts_ce=0.1, pose=10 * 1.0, betas=10 * 0.001,
                    joints3d=10 * 5.0, vertices=10 * 1.0, kp2d=10 * 5.0, cam_scale=10 * 1.0, overall=60.0),
        LossOptions(depth_form="authors", exclude_root=True, joints_align="none", num_joints=24,
                    kp2d_bbox_factor=True),
    ),
}


def _preset(name: str) -> tuple[LossWeights, LossOptions]:
    if name not in PRESETS:
        raise ConfigError(f"Unknown loss preset {name!r}; choose one of {sorted(PRESETS)}.")
    return PRESETS[name]


@dataclass
class _Term:
    name: str
    flag: str
    pred: tuple[str, ...]
    target: tuple[str, ...]
    extra_targets: tuple[str, ...] = field(default_factory=tuple)


# name, presence flag, prediction fields, target fields (the first one decides presence), extra target fields
_TERMS = (
    _Term("depth", "has_depth", ("depth",), ("depth",)),
    _Term("depth_ssim", "has_depth", ("depth",), ("depth",)),
    _Term("parts_ce", "has_parts", ("part_logits",), ("parts",)),
    _Term("pose", "has_smplx", ("pose_rotmat",), ("pose",)),
    _Term("betas", "has_smplx", ("betas",), ("betas",)),
    _Term("joints3d", "has_joints3d", ("joints3d",), ("joints3d",)),
    _Term("vertices", "has_vertices", ("vertices",), ("vertices",)),
    _Term("kp2d", "has_kp2d", ("joints3d", "cam"), ("kp2d",), ("center", "scale", "K", "image_size")),
    _Term("cam_scale", "", ("cam",), ()),
)


def _graph_zero(tensors: list[Tensor]) -> Tensor:
    """An exact scalar 0 connected to ``tensors[0]``'s graph (zero gradient, no NaN even if it holds NaN)."""
    x = tensors[0].reshape(-1)[:1]
    return torch.where(torch.zeros_like(x, dtype=torch.bool), x, x.new_zeros(())).sum()


class DPoSELoss(nn.Module):
    """The D-PoSE objective with per-sample supervision masks; returns the total and every term.

    Args:
        weights: Per-term weights; None takes the preset's.
        preset: ``"paper"`` (§3.3, λ1..λ8) or ``"authors"`` (their code, docs/authors-code.md (g)).
        options: Term variants; None takes the preset's.

    For each term with a non-zero weight, the samples whose presence flag is false are skipped (masked mean
    over the flagged samples). A term no sample supervises is exactly 0 (no NaN) and the total stays
    differentiable. A prediction field a supervised term needs but that is None raises a ``ShapeError``.
    Nothing is read back to the host (see the module docstring) unless a field a term needs is None.

    Example:
        >>> loss = DPoSELoss(preset="authors")
        >>> loss.weights.overall, loss.options.exclude_root
        (60.0, True)
    """

    def __init__(self, weights: LossWeights | None = None, preset: str = "paper",
                 options: LossOptions | None = None):
        super().__init__()
        pw, po = _preset(preset)
        self.preset = preset
        self.weights = dataclasses.replace(weights if weights is not None else pw)
        self.options = dataclasses.replace(options if options is not None else po)

    def extra_repr(self) -> str:
        return f"preset={self.preset!r}, weights={self.weights}, options={self.options}"

    def _flag(self, tgt: LossTargets, term: _Term, batch: int, ref: Tensor) -> Tensor:
        """Per-sample supervision mask (B,) of ``term``, resolving None flags and missing fields.

        Reads the flags on the host only when a field the term needs is None (to tell "no sample is
        supervised" from an error); a batch that carries every field is never read.
        """
        if not term.flag:
            return torch.ones(batch, dtype=torch.bool, device=ref.device)
        flag = getattr(tgt, term.flag)
        present = getattr(tgt, term.target[0]) is not None
        if flag is None:
            m = torch.full((batch,), present, dtype=torch.bool, device=ref.device)
        else:
            if tuple(flag.shape) != (batch,):
                raise ShapeError(f"DPoSELoss: `targets.{term.flag}` must have shape ({batch},); "
                                 f"got {tuple(flag.shape)}.", expected_shape=(batch,),
                                 actual_shape=tuple(flag.shape))
            m = flag.to(device=ref.device, dtype=torch.bool)
            if not present and bool(m.any()):
                raise ShapeError(f"DPoSELoss: `targets.{term.target[0]}` is None but `targets.{term.flag}` "
                                 "marks samples as supervised; pass the ground truth or set the flag false.")
        absent = [name for name in term.extra_targets if getattr(tgt, name) is None]
        if absent and self._any(tgt, term, m):
            raise ShapeError(f"DPoSELoss: term '{term.name}' needs `targets.{absent[0]}`; it is None.")
        return m

    @staticmethod
    def _any(tgt: LossTargets, term: _Term, m: Tensor) -> bool:
        """Whether any sample is supervised by ``term``: known on the host without a flag tensor, else read
        (only called to report a field that is None)."""
        if not term.flag:
            return True
        if getattr(tgt, term.flag) is None:
            return getattr(tgt, term.target[0]) is not None
        return bool(m.any())

    def _raw(self, name: str, p: LossInputs, t: LossTargets, m: Tensor) -> Tensor:
        o = self.options
        if name == "depth":
            if o.depth_form == "paper":
                return depth_l1_loss(p.depth, t.depth, t.depth_mask, m)
            return depth_mse_loss(p.depth, t.depth, m)
        if name == "depth_ssim":
            if o.depth_form == "paper":
                return depth_ssim_loss(p.depth, t.depth, t.depth_mask, m, window_size=o.ssim_window)
            return gaussian_ssim_loss(p.depth, t.depth, m)
        if name == "parts_ce":
            return part_cross_entropy(p.part_logits, t.parts, m, ignore_index=o.part_ignore_index)
        if name == "pose":
            return pose_rotmat_loss(p.pose_rotmat, t.pose, m, exclude_root=o.exclude_root)
        if name == "betas":
            return betas_loss(p.betas, t.betas, m)
        if name == "joints3d":
            return joints3d_loss(p.joints3d, t.joints3d, m, num_joints=o.num_joints, align=o.joints_align,
                                 pelvis=list(o.pelvis))
        if name == "vertices":
            return vertices_l1_loss(p.vertices, t.vertices, m)
        if name == "kp2d":
            return reprojection_loss(p.joints3d, p.cam, t.center, t.scale, t.K, t.image_size, t.kp2d, m,
                                     num_joints=o.num_joints, bbox_factor=o.kp2d_bbox_factor)
        return camera_scale_loss(p.cam, m)

    def forward(self, pred: LossInputs | Any, target: LossTargets | Any) -> tuple[Tensor, dict[str, Tensor]]:
        """Compute the weighted total and every term.

        Args:
            pred: A :class:`LossInputs`, or a dict / object with its field names.
            target: A :class:`LossTargets`, or a dict / object with its field names.

        Returns:
            ``(total, terms)``: the scalar total, and a dict with ``"raw/<term>"`` (unweighted) and
            ``"weighted/<term>"`` (``overall · weight · raw``) for every term with a non-zero weight.
            Term names: depth, depth_ssim, parts_ce, pose, betas, joints3d, vertices, kp2d, cam_scale.

        Raises:
            ShapeError: If a supervised term lacks a prediction or target field, or shapes disagree.
        """
        p, t = LossInputs.from_any(pred), LossTargets.from_any(target)
        ref = p.cam
        batch = ref.shape[0]
        w = self.weights
        total = ref.new_zeros(())
        terms: dict[str, Tensor] = {}
        for term in _TERMS:
            weight = getattr(w, term.name)
            if weight == 0:
                continue
            m = self._flag(t, term, batch, ref)  # raises if a supervised sample lacks a target field
            missing = [f for f in term.pred if getattr(p, f) is None]
            if missing and self._any(t, term, m):
                raise ShapeError(f"DPoSELoss: term '{term.name}' (weight {weight}) needs the prediction(s) "
                                 f"{missing}, which are None; predict them or set weights.{term.name} = 0.")
            have_targets = all(getattr(t, f) is not None for f in term.target + term.extra_targets)
            if missing or not have_targets:
                # No sample is supervised and some input is absent: an exact 0 that stays in the graph.
                raw = _graph_zero([getattr(p, f) for f in term.pred if getattr(p, f) is not None] or [ref])
            else:
                raw = self._raw(term.name, p, t, m)
            weighted = w.overall * weight * raw
            terms[f"raw/{term.name}"] = raw
            terms[f"weighted/{term.name}"] = weighted
            total = total + weighted
        return total, terms
