"""One training forward of a D-PoSE network: network → body → :class:`~hpskit.losses.DPoSELoss`
(:func:`forward_loss`), and the whole training step as plain torch ops (:func:`train_step`,
:class:`TrainStep`: forward, backward, global clip, the bad-step flag and the fused optimizer update
skipped on the device), what :class:`~hpskit.engine.GraphedTrainStep` replays as one CUDA graph.

Targets follow the authors (docs/authors-code.md (g)): the 3D joint and vertex targets come from posing the
training body with the ground-truth pose and betas (flat hands by default, or smplx's relaxed mean hands as
the authors' training does: ``gt_hands="authors"``; no translation), the same body the prediction is posed
with; 2D keypoints are full-image pixels; depth and part maps come with the batch
(:meth:`hpskit.losses.LossTargets.from_batch`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from hpskit.core import ConfigError
from hpskit.data import Batch
from hpskit.losses import DPoSELoss, LossInputs, LossTargets
from hpskit.models import DPoSEOutput

from .guard import nonfinite_flag, step_unless_bad

__all__ = ["GT_HANDS", "STEP_OUT", "TrainStep", "autocast", "batch_from_tensors", "batch_tensors",
           "forward_loss", "train_step"]

#: Hands of the ground-truth bodies: flat, or smplx's relaxed mean hands (the authors' training).
GT_HANDS = ("flat", "authors")


def autocast(device: torch.device, bf16: bool, cache: bool = True):
    """bf16 autocast on ``device`` when asked, else a no-op context. ``cache=False`` turns autocast's cache of
    cast weights off (needed while capturing a CUDA graph; the numbers are the same)."""
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, cache_enabled=cache)


def forward_loss(model, body, loss_fn: DPoSELoss, batch: Batch, *, bf16: bool = False,
                 channels_last: bool = False, gt_hands: str = "flat", autocast_cache: bool = True
                 ) -> tuple[Tensor, dict[str, Tensor], dict]:
    """Network forward, body model and loss for one batch.

    Args:
        model: The (possibly DDP-wrapped / compiled) D-PoSE network; it returns a
            :class:`~hpskit.models.DPoSEOutput` or a dict of its tensors (what DDP needs to see).
        body: The SMPL-X body (``model.body_model`` of the unwrapped network).
        loss_fn: The objective.
        batch: A batch on the model's device, images (B, 3, R, R).
        bf16: Run the network under bf16 autocast (body and losses stay float32).
        channels_last: Feed the images in channels-last layout.
        gt_hands: Hands of the ground-truth bodies: ``"flat"`` or ``"authors"`` (smplx's relaxed mean hands).
        autocast_cache: Autocast's cache of cast weights (off inside a CUDA-graph capture; same numbers).

    Returns:
        ``(total, terms, extras)``: the loss (scalar), its terms (``raw/<t>``, ``weighted/<t>``) and the
        network output and predicted body (``extras["out"]``, ``extras["pred_body"]``) for panels.

    Raises:
        ConfigError: If ``gt_hands`` is not one of :data:`GT_HANDS`.
    """
    if gt_hands not in GT_HANDS:
        raise ConfigError(f"forward_loss: gt_hands must be one of {GT_HANDS}; got {gt_hands!r}.")
    img = batch.img
    if channels_last:
        img = img.contiguous(memory_format=torch.channels_last)
    with autocast(img.device, bf16, cache=autocast_cache):
        out = model(img, batch.bbox_info)
    if isinstance(out, dict):  # a DDP-friendly wrapper's dict of tensors
        out = DPoSEOutput(**out)
    pred_body = body.forward_pose(out.pose_rotmat.float(), out.betas.float())
    with torch.no_grad():
        hands = body.mean_hands(len(batch.pose_rotmat)) if gt_hands == "authors" else {}
        gt_body = body.forward_pose(batch.pose_rotmat.float(), batch.betas.float(), **hands)
    pred = LossInputs.from_output(out, pred_body.joints, pred_body.vertices)
    tgt = LossTargets.from_batch(batch, gt_body.joints, gt_body.vertices)
    total, terms = loss_fn(pred, tgt)
    return total, terms, {"out": out, "pred_body": pred_body}


#: Fields of :class:`~hpskit.data.Batch` that are not tensors (they do not enter a graphed step).
_BATCH_STRINGS = ("dataset", "gender")
_BATCH_TENSORS = tuple(f.name for f in dataclasses.fields(Batch) if f.name not in _BATCH_STRINGS)


def batch_tensors(batch: Batch) -> tuple[Tensor | None, ...]:
    """The tensor fields of ``batch`` (``None`` where absent, e.g. ``vertices``) in a fixed order; the string
    fields (``dataset``, ``gender``) are left out: the step does not read them."""
    return tuple(getattr(batch, name) for name in _BATCH_TENSORS)


def batch_from_tensors(tensors: Sequence[Tensor | None]) -> Batch:
    """The :class:`~hpskit.data.Batch` of :func:`batch_tensors` (string fields empty)."""
    if len(tensors) != len(_BATCH_TENSORS):
        raise ConfigError(f"batch_from_tensors: expected {len(_BATCH_TENSORS)} tensors ({_BATCH_TENSORS}); "
                          f"got {len(tensors)}.")
    return Batch(**dict(zip(_BATCH_TENSORS, tensors)), **{name: [] for name in _BATCH_STRINGS})


#: Keys of :func:`train_step`'s outputs besides the network output's ``out/<field>`` entries.
STEP_OUT = ("numbers", "bad", "pred_vertices")


def _judged(name: str) -> bool:
    """Numbers the bad-step flag looks at: the loss, its weighted terms and the gradient norm, not the
    unweighted ``raw/`` terms (a term that is off carries no weight in the loss)."""
    return not name.startswith("raw/")


def train_step(model, body, loss_fn: DPoSELoss, optimizer: torch.optim.Optimizer, params: Sequence[Tensor],
               batch: Batch, *, grad_clip_norm: float, bf16: bool = False, channels_last: bool = False,
               gt_hands: str = "flat", autocast_cache: bool = True) -> tuple[list[str], dict[str, Tensor]]:
    """One whole training step that never reads the device from the host (what a CUDA graph can replay).

    :func:`forward_loss`, ``zero_grad(set_to_none=True)``, backward, the global gradient-norm clip, the
    bad-step flag (:func:`~hpskit.engine.nonfinite_flag` of the loss, its weighted terms and the gradient
    norm) and the optimizer update skipped on the device where the flag is 1
    (:func:`~hpskit.engine.step_unless_bad`). The learning-rate scheduler is the caller's (it runs on the
    host, after the step). Single process (the flag is not reduced over ranks).

    Args:
        model, body, loss_fn, batch, bf16, channels_last, gt_hands, autocast_cache: As for
            :func:`forward_loss`.
        optimizer: A fused optimizer (:func:`~hpskit.engine.supports_device_skip`).
        params: The parameters whose gradient norm is clipped.
        grad_clip_norm: Global L2 clip (0 = no clip; the norm is still computed).

    Returns:
        ``(names, outputs)``: ``names`` of the entries of ``outputs["numbers"]`` (``"loss"``, the loss terms
        ``raw/<t>`` and ``weighted/<t>``, ``"grad_norm"``); ``outputs``: ``numbers`` (N,) float32, ``bad``
        0-dim float32 (1 = the update was skipped), ``pred_vertices`` (B, V, 3) of the predicted body, and the
        network output's tensors as ``out/<field>`` (e.g. ``out/cam`` (B, 3)), for panels.
    """
    total, terms, extras = forward_loss(model, body, loss_fn, batch, bf16=bf16, channels_last=channels_last,
                                        gt_hands=gt_hands, autocast_cache=autocast_cache)
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(params, grad_clip_norm if grad_clip_norm > 0 else math.inf)
    names = ["loss", *terms, "grad_norm"]
    numbers = torch.stack([total.detach(), *(t.detach() for t in terms.values()), grad_norm.detach()])
    bad = nonfinite_flag(*(numbers[i] for i, n in enumerate(names) if _judged(n)))  # views: no index copy
    step_unless_bad(optimizer, bad)
    out: DPoSEOutput = extras["out"]
    outputs = {"numbers": numbers.float(), "bad": bad, "pred_vertices": extras["pred_body"].vertices.detach()}
    outputs.update({f"out/{f.name}": getattr(out, f.name).detach() for f in dataclasses.fields(out)
                    if isinstance(getattr(out, f.name), Tensor)})
    return names, outputs


class TrainStep:
    """:func:`train_step` with its model, body, loss, optimizer and settings bound: ``step(batch)``.

    The names of ``outputs["numbers"]`` are in :attr:`names` after the first call (the same on every call:
    the loss's terms are fixed by its weights).

    Args:
        As :func:`train_step` (without ``batch``).

    Attributes:
        names: The numbers' names, ``None`` before the first call.
    """

    def __init__(self, model, body, loss_fn: DPoSELoss, optimizer: torch.optim.Optimizer,
                 params: Sequence[Tensor], *, grad_clip_norm: float, bf16: bool = False,
                 channels_last: bool = False, gt_hands: str = "flat", autocast_cache: bool = True) -> None:
        self.model, self.body, self.loss_fn, self.optimizer = model, body, loss_fn, optimizer
        self.params = list(params)
        self.kw = {"grad_clip_norm": grad_clip_norm, "bf16": bf16, "channels_last": channels_last,
                   "gt_hands": gt_hands, "autocast_cache": autocast_cache}
        self.names: list[str] | None = None

    def __call__(self, batch: Batch) -> dict[str, Tensor]:
        names, outputs = train_step(self.model, self.body, self.loss_fn, self.optimizer, self.params, batch,
                                    **self.kw)
        self.names = names
        return outputs

    def from_tensors(self, *tensors: Tensor | None) -> dict[str, Tensor]:
        """The step of the batch given as :func:`batch_tensors` (what
        :class:`~hpskit.engine.GraphedTrainStep` calls)."""
        return self(batch_from_tensors(tensors))

    @staticmethod
    def output(outputs: dict[str, Tensor]) -> DPoSEOutput:
        """The network output (:class:`~hpskit.models.DPoSEOutput`) from a step's ``out/<field>`` entries."""
        fields = {f.name: outputs.get(f"out/{f.name}") for f in dataclasses.fields(DPoSEOutput)}
        return DPoSEOutput(**fields)
