"""Inference-only rewrites of a network for CPU (and GPU) ``predict``: BatchNorm folded into the convolutions
and the channels_last memory layout.

:func:`fuse_for_inference` returns a *copy* of the model; the model passed in is not modified. Both
rewrites change the arithmetic only by float rounding: a folded BatchNorm computes
``(W·x)·γ/σ + (β − μ·γ/σ)`` as ``(W·γ/σ)·x + b``, and channels_last changes the summation order inside the
convolution kernels. The copy is checked against the original on a probe batch (``check=True``); a copy
whose outputs differ beyond ``atol`` raises instead of being returned, so a wrong fold can never silently
change predictions. Measured on the shipped compact model and HRNet-W48, the largest differences are
~1e-5 on rotations, betas and camera (tests/models/test_optimize.py states the tolerances).

Why a module walk and not ``torch.fx``: D-PoSE's forward checks shapes with Python control flow and returns
a dataclass, which symbolic tracing cannot follow. Instead one probe forward records, with forward hooks,
which :class:`~torch.nn.BatchNorm2d` receives as its input the very tensor that a
:class:`~torch.nn.Conv2d` returned (each module called exactly once). Those pairs are folded with
:func:`torch.nn.utils.fusion.fuse_conv_bn_eval`, the BatchNorm replaced by :class:`~torch.nn.Identity`. A
convolution whose output is also read elsewhere (a residual that bypasses the BatchNorm) would be folded
wrongly; no hpskit model has one, and the probe check catches it. Only exact ``BatchNorm2d`` and timm's
``BatchNormAct2d`` (whose dropout and activation are kept) are folded; other subclasses are left alone.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from hpskit.core import ConfigError, eval_mode

__all__ = ["FusionReport", "fold_batchnorm", "fuse_for_inference", "max_output_difference"]

_WHERE = "hpskit.models.optimize"
#: Outputs compared by the probe check (those a :class:`~hpskit.models.DPoSEOutput` has).
_OUTPUTS = ("pose_rotmat", "betas", "cam", "depth", "part_logits")


@dataclass
class FusionReport:
    """What :func:`fuse_for_inference` did.

    Attributes:
        folded: Names of the convolutions that absorbed a BatchNorm.
        batchnorms_left: BatchNorm layers still in the copy (not right after a convolution).
        channels_last: Whether the copy's 4-D weights are channels_last.
        max_abs_diff: Output name → max |copy − original| on the probe batch, or ``{}`` if not checked.
    """

    folded: list[str]
    batchnorms_left: int
    channels_last: bool
    max_abs_diff: dict[str, float]


def _default_example(model: nn.Module) -> tuple[Tensor, ...]:
    p = next(model.parameters())
    res = int(getattr(model, "input_size", 224))
    g = torch.Generator().manual_seed(0)
    images = torch.randn(1, 3, res, res, generator=g).to(p.device, p.dtype)
    return images, (0.1 * torch.randn(1, 3, generator=g)).to(p.device, p.dtype)


def _conv_bn_pairs(model: nn.Module, example: tuple[Tensor, ...]) -> list[tuple[str, str]]:
    """(conv name, batchnorm name) pairs where the BatchNorm's input is the convolution's output."""
    names = {}
    for name, mod in model.named_modules():
        names.setdefault(mod, []).append(name)
    calls: dict[nn.Module, int] = {}
    conv_out: dict[int, nn.Module] = {}
    bn_in: dict[nn.Module, int] = {}
    keep: list[Tensor] = []  # keep every recorded tensor alive, so ids stay unique during the probe

    def on_conv(mod, inp, out):
        calls[mod] = calls.get(mod, 0) + 1
        conv_out[id(out)] = mod
        keep.append(out)

    def on_bn(mod, inp):
        calls[mod] = calls.get(mod, 0) + 1
        bn_in[mod] = id(inp[0])
        keep.append(inp[0])

    handles = []
    for mod in names:
        if isinstance(mod, nn.Conv2d):
            handles.append(mod.register_forward_hook(on_conv))
        elif isinstance(mod, nn.BatchNorm2d):
            handles.append(mod.register_forward_pre_hook(on_bn))
    try:
        with torch.inference_mode():
            model(*example)
    finally:
        for h in handles:
            h.remove()
    pairs = []
    for bn, tid in bn_in.items():
        conv = conv_out.get(tid)
        if conv is None or calls.get(conv) != 1 or calls.get(bn) != 1:
            continue
        if len(names[conv]) != 1 or len(names[bn]) != 1 or not bn.track_running_stats or not _foldable(bn):
            continue
        pairs.append((names[conv][0], names[bn][0]))
    return pairs


def _set(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, attr = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, attr, module)


def _foldable(bn: nn.Module) -> bool:
    """A plain BatchNorm2d, or timm's ``BatchNormAct2d`` (BatchNorm, then ``drop`` and ``act``)."""
    if type(bn) is nn.BatchNorm2d:
        return True
    timm_norm_act = type(bn).__name__ == "BatchNormAct2d" and hasattr(bn, "act") and hasattr(bn, "drop")
    return isinstance(bn, nn.BatchNorm2d) and timm_norm_act


def _after_fold(bn: nn.Module) -> nn.Module:
    """What stays of a folded BatchNorm: nothing, or timm's dropout + activation that follow it."""
    return nn.Identity() if type(bn) is nn.BatchNorm2d else nn.Sequential(bn.drop, bn.act)


def fold_batchnorm(model: nn.Module, example: tuple[Tensor, ...] | None = None) -> list[str]:
    """Fold every BatchNorm2d that directly follows a Conv2d into it, **in place** (eval mode required).

    Args:
        model: The network, in eval mode (its BatchNorms use running statistics).
        example: Inputs of one probe forward that finds the pairs; default a (1, 3, 224, 224) image batch and
            a (1, 3) box vector (D-PoSE's forward).

    Returns:
        Names of the folded convolutions.

    Raises:
        ConfigError: If the model is in training mode.
    """
    if model.training:
        raise ConfigError(f"{_WHERE}: fold_batchnorm needs a model in eval mode (call model.eval()); a "
                          "training-mode BatchNorm uses batch statistics, which cannot be folded.")
    example = _default_example(model) if example is None else example
    folded = []
    for conv_name, bn_name in _conv_bn_pairs(model, example):
        conv, bn = model.get_submodule(conv_name), model.get_submodule(bn_name)
        _set(model, conv_name, fuse_conv_bn_eval(conv, bn))
        _set(model, bn_name, _after_fold(bn))
        folded.append(conv_name)
    return folded


def max_output_difference(a, b, names: tuple[str, ...] = _OUTPUTS) -> dict[str, float]:
    """Max |a.x − b.x| for each output field ``x`` present (not ``None``) in both outputs."""
    out = {}
    for n in names:
        x, y = getattr(a, n, None), getattr(b, n, None)
        if isinstance(x, Tensor) and isinstance(y, Tensor):
            out[n] = float((x.float() - y.float()).abs().max())
    return out


def fuse_for_inference(
    model: nn.Module,
    *,
    fold_bn: bool = True,
    channels_last: bool = True,
    example: tuple[Tensor, ...] | None = None,
    check: bool = True,
    atol: float = 1e-3,
    compare: Callable | None = None,
) -> tuple[nn.Module, FusionReport]:
    """An inference copy of ``model``: BatchNorm folded into the convolutions, weights in channels_last.

    The copy is in eval mode, every parameter frozen (``requires_grad=False``); it is for inference only
    (training it would train the folded weights, and its BatchNorms are gone). ``model`` is not modified.

    Args:
        model: A :class:`~hpskit.models.DPoSE` (or any network whose ``forward(*example)`` returns an object
            with the :class:`~hpskit.models.DPoSEOutput` fields).
        fold_bn: Fold BatchNorm2d into the preceding Conv2d.
        channels_last: Store 4-D weights as channels_last, so oneDNN runs the convolutions in NHWC
            (inputs need not be converted: a channels_last weight makes the convolution's output
            channels_last).
        example: Probe inputs; default a (1, 3, 224, 224) image batch and a (1, 3) box vector.
        check: Compare the copy's outputs with the original's on ``example`` and raise beyond ``atol``.
        atol: Largest allowed absolute difference on any compared output (rotations, betas, camera, depth
            in (0, 1), part logits).
        compare: ``compare(original_output, copy_output) -> dict name → difference``; default
            :func:`max_output_difference`.

    Returns:
        ``(copy, report)`` with a :class:`FusionReport`.

    Raises:
        ConfigError: If the check finds a difference larger than ``atol`` (the message lists them).
    """
    example = _default_example(model) if example is None else example
    fused = copy.deepcopy(model).eval()
    for p in fused.parameters():
        p.requires_grad_(False)
    folded = fold_batchnorm(fused, example) if fold_bn else []
    if channels_last:
        fused = fused.to(memory_format=torch.channels_last)
    diffs: dict[str, float] = {}
    if check:
        with eval_mode(model), torch.inference_mode():
            ref = model(*example)
            got = fused(*example)
        diffs = (compare or max_output_difference)(ref, got)
        bad = {k: v for k, v in diffs.items() if not v <= atol}
        if bad:
            raise ConfigError(f"{_WHERE}: the inference copy differs from the model beyond atol={atol}: "
                              f"{bad}. Pass fold_bn=False or channels_last=False to find the rewrite at "
                              "fault.")
    left = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in fused.modules())
    return fused, FusionReport(folded=folded, batchnorms_left=left, channels_last=channels_last,
                               max_abs_diff=diffs)
