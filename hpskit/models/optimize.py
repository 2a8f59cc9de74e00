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

**bf16 (opt-in, ``bf16=True``).** Unlike the two rewrites above, bf16 changes results beyond float32 rounding,
so only parts of a network that were measured to tolerate it run in bf16: :func:`bf16_submodule_names` names
them per encoder family and refuses a family that was not checked. For the EfficientNet-lite encoders (the
shipped compact model ``dpose_efficientnet_lite0.synthetic``) these are the encoder's learned fusion neck
(``encoder.upsample_stage_*``) and the two U-Net-lite decoders (``part_decoder``, ``depth_decoder``), 12.8 of
the compact network's 13.6 GFLOP per 224² crop; the EfficientNet trunk, the part attention and the regressor
stay float32 (with the trunk in bf16 the compact model's vertices move by up to 28 cm on a photo, see
docs/benchmarks.md).
Each such submodule is replaced by :class:`Bf16Autocast` (a wrapper that runs it under
:func:`torch.autocast` in bfloat16 and casts its floating outputs back to float32); the weights stay
float32. HRNet (and the other timm encoders) are refused: no trained model is available here to check how far
bf16 moves their predictions. The probe check then uses the per-output :data:`BF16_ATOL` (stated, with how it
was measured, at its definition) instead of :data:`FP32_ATOL`.
"""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from hpskit.core import ConfigError, eval_mode

__all__ = [
    "BF16_ATOL",
    "FP32_ATOL",
    "Bf16Autocast",
    "FusionReport",
    "bf16_forward",
    "bf16_submodule_names",
    "fold_batchnorm",
    "fuse_for_inference",
    "max_output_difference",
    "wrap_bf16",
]

_WHERE = "hpskit.models.optimize"
#: Outputs compared by the probe check (those a :class:`~hpskit.models.DPoSEOutput` has).
_OUTPUTS = ("pose_rotmat", "betas", "cam", "depth", "part_logits")
#: Probe-check tolerance of the float32 rewrites (folding, channels_last): they only reorder float sums.
FP32_ATOL = 1e-3
#: Probe-check tolerances with ``bf16=True``, per output (max |Δ| against the float32 model). Measured on the
#: shipped compact model (CPU, 2026-12-08), default probe, three seeded noise batches and four photo crops
#: (astronaut, camera, Grace Hopper): the opt-in's largest differences were rotations 2.7e-3, betas 4.6e-3,
#: crop camera 1.4e-3, depth 4.8e-3, part logits 0.072; the tolerances are about twice that. The whole network
#: in bf16 (trunk too) exceeds them on every one of those inputs (rotations ≥ 8e-3, betas ≥ 0.095).
BF16_ATOL = MappingProxyType({"pose_rotmat": 6e-3, "betas": 0.02, "cam": 3e-3, "depth": 0.01,
                              "part_logits": 0.15})


@dataclass
class FusionReport:
    """What :func:`fuse_for_inference` did.

    Attributes:
        folded: Names of the convolutions that absorbed a BatchNorm.
        batchnorms_left: BatchNorm layers still in the copy (not right after a convolution).
        channels_last: Whether the copy's 4-D weights are channels_last.
        max_abs_diff: Output name → max |copy − original| on the probe batch, or ``{}`` if not checked.
        bf16: Names of the submodules that run under bf16 autocast (wrapped in :class:`Bf16Autocast`);
            empty unless ``bf16=True``.
    """

    folded: list[str]
    batchnorms_left: int
    channels_last: bool
    max_abs_diff: dict[str, float]
    bf16: list[str] = field(default_factory=list)


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


def _to_float32(obj):
    """``obj`` with every floating tensor (also inside tuples, lists, dicts, dataclasses) cast to float32."""
    if isinstance(obj, Tensor):
        return obj.float() if obj.is_floating_point() else obj
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a namedtuple
        return type(obj)(*(_to_float32(v) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_float32(v) for v in obj)
    if isinstance(obj, dict):
        return {k: _to_float32(v) for k, v in obj.items()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.replace(obj, **{f.name: _to_float32(getattr(obj, f.name))
                                           for f in dataclasses.fields(obj) if f.init})
    return obj


def _first_tensor(obj) -> Tensor | None:
    if isinstance(obj, Tensor):
        return obj
    items = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else ()
    for v in items:
        t = _first_tensor(v)
        if t is not None:
            return t
    return None


def bf16_forward(module: nn.Module, *args, **kwargs):
    """``module(*args, **kwargs)`` under :func:`torch.autocast` in bfloat16, floating outputs cast to float32.

    The autocast device type is that of the first tensor among the inputs (``"cpu"`` or ``"cuda"``), so the
    same wrapped model runs on either. Autocast runs convolutions, linear layers and matrix products in bf16
    (weights are cast per call; the module's parameters stay as they are) and keeps precision-sensitive ops in
    float32.

    Args:
        module: Any module.
        *args, **kwargs: Its inputs; at least one tensor (possibly inside a list, tuple or dict).

    Returns:
        The module's output with every floating tensor (also inside tuples, lists, dicts and dataclasses) in
        float32; other values unchanged.

    Raises:
        ConfigError: If no input is a tensor (the device type cannot be known).
    """
    x = _first_tensor(list(args) + list(kwargs.values()))
    if x is None:
        raise ConfigError(f"{_WHERE}.bf16_forward: no tensor among the inputs of {type(module).__name__}; "
                          "the autocast device type is taken from the first input tensor.")
    with torch.autocast(x.device.type, dtype=torch.bfloat16):
        out = module(*args, **kwargs)
    return _to_float32(out)


class Bf16Autocast(nn.Module):
    """Runs the wrapped module under bf16 autocast and returns float32 (:func:`bf16_forward`).

    The wrapped module's parameters are not touched (they stay float32); its state-dict keys gain the prefix
    ``module.``. For inference copies (:func:`fuse_for_inference` with ``bf16=True``).

    Args:
        module: The module to wrap.

    Shape:
        Those of ``module``: e.g. for a U-Net-lite decoder ``[F0 (B, C0, H/4, W/4), ...]`` →
        ``(maps (B, K, H, W) | None, feat (B, C0, H/4, W/4))``, every floating output float32.
    """

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, *args, **kwargs):
        """``self.module(*args, **kwargs)`` in bf16, outputs in float32."""
        return bf16_forward(self.module, *args, **kwargs)


#: Submodule name patterns that may run in bf16, per encoder family (``encoder.model_name`` prefix). Each
#: pattern must match at least one submodule (``*`` does not cross a dot). Only families measured on a trained
#: model are listed: EfficientNet-lite (the shipped compact model).
_BF16_SAFE = {
    "tf_efficientnet_lite": ("encoder.upsample_stage_*", "*_decoder"),
}


def _matches(name: str, pattern: str) -> bool:
    return name.count(".") == pattern.count(".") and fnmatch.fnmatchcase(name, pattern)


def bf16_submodule_names(model: nn.Module) -> list[str]:
    """The submodules of a D-PoSE ``model`` that may run in bf16 (see the module docstring).

    Args:
        model: A :class:`~hpskit.models.DPoSE` (anything with an ``encoder`` whose ``model_name`` is a timm
            name, and the named submodules).

    Returns:
        Module names, e.g. ``["encoder.upsample_stage_2", ..., "depth_decoder", "part_decoder"]``.

    Raises:
        ConfigError: If the encoder family was not checked in bf16 (HRNet, ResNet, ConvNeXt: refused, since
            bf16 changes results beyond float rounding and no trained model is here to measure by how much),
            or if a pattern matches no submodule (bf16 would silently do nothing there).
    """
    name = getattr(getattr(model, "encoder", None), "model_name", None)
    family = next((f for f in _BF16_SAFE if isinstance(name, str) and name.startswith(f)), None)
    if family is None:
        what = name or type(getattr(model, "encoder", model)).__name__
        raise ConfigError(
            f"{_WHERE}: bf16=True is only offered for the EfficientNet-lite encoders (the shipped compact "
            "model dpose_efficientnet_lite0.synthetic, where it was measured: vertices within a few mm); "
            f"this model's encoder is {what!r}. bf16 changes "
            "results beyond float rounding, and there is no trained model of this family here to check how "
            "far; use bf16=False.")
    names = [n for n, _ in model.named_modules() if n]
    out = []
    for pattern in _BF16_SAFE[family]:
        hit = [n for n in names if _matches(n, pattern)]
        if not hit:
            raise ConfigError(f"{_WHERE}: bf16: no submodule of this {family}* model matches {pattern!r}; "
                              "the model's layout is not the one bf16 was measured on.")
        out += hit
    return out


def wrap_bf16(model: nn.Module, names: list[str]) -> list[str]:
    """Replace each named submodule of ``model`` by :class:`Bf16Autocast` of it, **in place**.

    Args:
        model: The network.
        names: Submodule names (e.g. from :func:`bf16_submodule_names`); none may contain another.

    Returns:
        ``names``.

    Raises:
        ConfigError: If ``names`` is empty, a name is missing, already wrapped, or nested in another.
    """
    if not names:
        raise ConfigError(f"{_WHERE}.wrap_bf16: no submodule named; bf16 would change nothing.")
    for a in names:
        if any(b != a and a.startswith(b + ".") for b in names):
            raise ConfigError(f"{_WHERE}.wrap_bf16: {a!r} lies inside another named submodule.")
    for n in names:
        try:
            mod = model.get_submodule(n)
        except AttributeError as e:
            raise ConfigError(f"{_WHERE}.wrap_bf16: no submodule {n!r} ({e}).") from None
        if isinstance(mod, Bf16Autocast):
            raise ConfigError(f"{_WHERE}.wrap_bf16: {n!r} already runs in bf16.")
        _set(model, n, Bf16Autocast(mod))
    return list(names)


def max_output_difference(a, b, names: tuple[str, ...] = _OUTPUTS) -> dict[str, float]:
    """Max |a.x − b.x| for each output field ``x`` present (not ``None``) in both outputs."""
    out = {}
    for n in names:
        x, y = getattr(a, n, None), getattr(b, n, None)
        if isinstance(x, Tensor) and isinstance(y, Tensor):
            out[n] = float((x.float() - y.float()).abs().max())
    return out


def _tolerance(atol: float | Mapping[str, float], name: str) -> float:
    if not isinstance(atol, Mapping):
        return float(atol)
    if name not in atol:
        raise ConfigError(f"{_WHERE}: `atol` has no tolerance for the compared output {name!r}; it has "
                          f"{sorted(atol)}.")
    return float(atol[name])


def fuse_for_inference(
    model: nn.Module,
    *,
    fold_bn: bool = True,
    channels_last: bool = True,
    example: tuple[Tensor, ...] | None = None,
    bf16: bool = False,
    check: bool = True,
    atol: float | Mapping[str, float] | None = None,
    compare: Callable | None = None,
) -> tuple[nn.Module, FusionReport]:
    """An inference copy of ``model``: BatchNorm folded into the convolutions, weights in channels_last, and
    (opt-in) the bf16-safe submodules run under bf16 autocast.

    The copy is in eval mode, every parameter frozen (``requires_grad=False``); it is for inference only
    (training it would train the folded weights, and its BatchNorms are gone). ``model`` is not modified.

    Args:
        model: A :class:`~hpskit.models.DPoSE` (or any network whose ``forward(*example)`` returns an object
            with the :class:`~hpskit.models.DPoSEOutput` fields).
        fold_bn: Fold BatchNorm2d into the preceding Conv2d.
        channels_last: Store 4-D weights as channels_last, so oneDNN runs the convolutions in NHWC
            (inputs need not be converted: a channels_last weight makes the convolution's output
            channels_last).
        bf16: Run the submodules that :func:`bf16_submodule_names` selects (EfficientNet-lite encoders only:
            the fusion neck and both decoders) under bf16 autocast, each wrapped in :class:`Bf16Autocast`;
            weights and outputs stay float32. Changes results by more than float rounding (see
            :data:`BF16_ATOL`); off by default.
        example: Probe inputs; default a (1, 3, 224, 224) image batch and a (1, 3) box vector.
        check: Compare the copy's outputs with the original's on ``example`` and raise beyond ``atol``.
        atol: Largest allowed absolute difference on any compared output (rotations, betas, camera, depth
            in (0, 1), part logits), or a mapping output name → its own tolerance (every compared output
            needs one); default :data:`FP32_ATOL`, or the per-output :data:`BF16_ATOL` with ``bf16=True``.
        compare: ``compare(original_output, copy_output) -> dict name → difference``; default
            :func:`max_output_difference`.

    Returns:
        ``(copy, report)`` with a :class:`FusionReport`.

    Raises:
        ConfigError: If the check finds a difference larger than ``atol`` (the message lists them), or
            ``bf16=True`` for an encoder family that was not checked in bf16 (:func:`bf16_submodule_names`).
    """
    wrap = bf16_submodule_names(model) if bf16 else []  # refuse before any work
    atol = (BF16_ATOL if bf16 else FP32_ATOL) if atol is None else atol
    example = _default_example(model) if example is None else example
    fused = copy.deepcopy(model).eval()
    for p in fused.parameters():
        p.requires_grad_(False)
    folded = fold_batchnorm(fused, example) if fold_bn else []
    if channels_last:
        fused = fused.to(memory_format=torch.channels_last)
    if wrap:
        wrap_bf16(fused, wrap)
    diffs: dict[str, float] = {}
    if check:
        with eval_mode(model), torch.inference_mode():
            ref = model(*example)
            got = fused(*example)
        diffs = (compare or max_output_difference)(ref, got)
        bad = {k: v for k, v in diffs.items() if not v <= _tolerance(atol, k)}
        if bad:
            tol = dict(atol) if isinstance(atol, Mapping) else atol
            raise ConfigError(f"{_WHERE}: the inference copy differs from the model beyond atol={tol}: {bad}."
                              " Pass fold_bn=False, channels_last=False or bf16=False to find the "
                              "rewrite at fault.")
    left = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in fused.modules())
    return fused, FusionReport(folded=folded, batchnorms_left=left, channels_last=channels_last,
                               max_abs_diff=diffs, bf16=wrap)
