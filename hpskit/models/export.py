"""ONNX export of the D-PoSE network forward: crops + box vector → rotations, shape, crop camera, maps.

The exported graph is :meth:`hpskit.models.DPoSE.forward` without the body model (SMPL-X stays in
PyTorch/numpy, where its licensed arrays are loaded from the user's file):

| name | shape | meaning |
|---|---|---|
| ``images`` | (B, 3, 224, 224) float | ImageNet-normalised RGB crops (``docs/conventions.md``) |
| ``bbox_info`` | (B, 3) float | CLIFF box vector, :func:`hpskit.geometry.cliff_bbox_info` |
| ``pose_rotmat`` | (B, 22, 3, 3) | global orientation (camera frame) + 21 body rotations |
| ``betas`` | (B, 11) | SMPL-X shape |
| ``cam`` | (B, 3) | crop camera (s, tx, ty) |
| ``depth`` | (B, 1, 224, 224) | relative depth in (0, 1); absent for a model without depth branch |
| ``part_logits`` | (B, 23, 224, 224) | part logits, channel 0 = background |

``bbox_info`` is absent for a model built with ``bbox_conditioning=False``. B is a symbolic axis
(``batch=None``) or fixed.

Two exporters:

- ``"torchscript"`` (default): ``torch.onnx.export(..., dynamo=False)``, the tracing exporter. It needs no
  extra package and takes seconds, but PyTorch deprecates it. It cannot export ``adaptive_avg_pool2d``
  whose output size comes from a traced shape, which is how :func:`hpskit.attention.part_attention` sizes
  its pooling; the export therefore traces a shallow copy of the model whose ``attention`` pools with the
  window fixed from one probe forward (``avg_pool2d`` with kernel = stride = logits size / feature size,
  the same windows as the adaptive pooling when the sizes divide, which they do for D-PoSE: 224 / 56).
  The model passed in is not modified.
- ``"dynamo"``: ``torch.onnx.export(..., dynamo=True)`` (``torch.export``), the unmodified model. Needs
  the ``onnxscript`` package; about 5-10x slower to export on CPU.

Either way the file is checked against PyTorch with onnxruntime when it is installed (the report's
``max_abs_diff``), on random inputs of a batch size other than the traced one when the batch is dynamic.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hpskit.attention import PartAttention
from hpskit.core import ConfigError, eval_mode

__all__ = ["ONNX_INPUT_NAMES", "ONNX_OUTPUT_NAMES", "OnnxExportReport", "export_onnx", "verify_onnx"]

logger = logging.getLogger(__name__)

#: Graph inputs, in order (``bbox_info`` only for box-conditioned models).
ONNX_INPUT_NAMES = ("images", "bbox_info")
#: Graph outputs, in order (``depth`` only for models with a depth branch).
ONNX_OUTPUT_NAMES = ("pose_rotmat", "betas", "cam", "depth", "part_logits")
_EXPORTERS = ("torchscript", "dynamo")
_WHERE = "hpskit.models.export_onnx"


@dataclass
class OnnxExportReport:
    """What :func:`export_onnx` wrote and how well onnxruntime reproduces PyTorch.

    Attributes:
        path: The ``.onnx`` file.
        exporter: ``"torchscript"`` or ``"dynamo"``.
        opset: ONNX opset version.
        input_names: Graph inputs, in order.
        output_names: Graph outputs, in order.
        batch: The fixed batch size, or ``None`` for a symbolic (dynamic) batch axis.
        image_size: Crop side (224).
        max_abs_diff: Output name → max |onnxruntime − PyTorch| on random inputs, or ``None`` when not
            verified (``verify=False`` or onnxruntime missing).
        verify_batch: Batch size of the verification inputs (``None`` if not verified).
        onnxruntime_version: The onnxruntime used for verification, or ``None``.
    """

    path: Path
    exporter: str
    opset: int
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    batch: int | None
    image_size: int
    max_abs_diff: dict[str, float] | None = None
    verify_batch: int | None = None
    onnxruntime_version: str | None = None

    @property
    def worst_abs_diff(self) -> float | None:
        """The largest entry of ``max_abs_diff`` (``None`` if not verified)."""
        return max(self.max_abs_diff.values()) if self.max_abs_diff else None

    def ok(self, atol: float = 1e-4) -> bool:
        """Whether the file was verified and every output agrees with PyTorch within ``atol``."""
        worst = self.worst_abs_diff
        return worst is not None and worst <= atol


class _StaticPartAttention(nn.Module):
    """:class:`~hpskit.attention.PartAttention` with its pooling window fixed at export time.

    Same computation as :func:`hpskit.attention.part_attention` followed by the shared ``mixer``; only the
    pooling differs in form: ``avg_pool2d`` with kernel = stride = ``kernel`` equals ``adaptive_avg_pool2d``
    to the feature size whenever the logits size is ``kernel`` times the feature size.
    """

    def __init__(self, attention: PartAttention, kernel: tuple[int, int]):
        super().__init__()
        self.mixer = attention.mixer  # shared, not copied
        self.kernel = (int(kernel[0]), int(kernel[1]))

    def forward(self, features: Tensor, part_logits: Tensor) -> Tensor:
        pooled = part_logits if self.kernel == (1, 1) else F.avg_pool2d(part_logits, self.kernel)
        weights = torch.softmax(pooled.flatten(2), dim=-1).to(features.dtype)  # (B, P, HW)
        attended = torch.einsum("bpn,bcn->bpc", weights, features.flatten(2))  # (B, P, C)
        return self.mixer(attended.transpose(1, 2)).transpose(1, 2)


class _Graph(nn.Module):
    """The exported function: ``forward(images[, bbox_info])`` → a tuple in ``output_names`` order."""

    def __init__(self, model: nn.Module, has_bbox: bool, has_depth: bool):
        super().__init__()
        self.model = model
        self.has_bbox = has_bbox
        self.has_depth = has_depth

    def forward(self, images: Tensor, bbox_info: Tensor | None = None) -> tuple[Tensor, ...]:
        out = self.model(images, bbox_info if self.has_bbox else None)
        maps = (out.depth, out.part_logits) if self.has_depth else (out.part_logits,)
        return (out.pose_rotmat, out.betas, out.cam, *maps)


def _names(model: nn.Module, probe) -> tuple[tuple[str, ...], tuple[str, ...]]:
    config = getattr(model, "config", None)
    has_bbox = bool(getattr(config, "bbox_conditioning", True))
    inputs = ONNX_INPUT_NAMES if has_bbox else ONNX_INPUT_NAMES[:1]
    outputs = tuple(n for n in ONNX_OUTPUT_NAMES if n != "depth" or probe.depth is not None)
    return inputs, outputs


def _traceable_copy(model: nn.Module, probe) -> nn.Module:
    """A shallow copy of ``model`` (shared parameters) whose ``attention`` pools with a fixed window."""
    attention = getattr(model, "attention", None)
    if not isinstance(attention, PartAttention):
        return model
    fused = (probe.features or {}).get("fused")
    if fused is None:
        raise ConfigError(f"{_WHERE}: the model's forward(return_features=True) gave no `fused` map, which "
                          "the TorchScript export needs to size the part attention; use exporter='dynamo'.")
    (lh, lw), (fh, fw) = probe.part_logits.shape[-2:], fused.shape[-2:]
    if lh % fh or lw % fw:
        raise ConfigError(
            f"{_WHERE}: the part logits ({lh}×{lw}) are not a whole multiple of the attended feature map "
            f"({fh}×{fw}), so the TorchScript exporter cannot express the adaptive pooling of the part "
            "attention. Use exporter='dynamo' (pip install onnxscript).")
    clone = copy.copy(model)
    clone._modules = dict(model._modules)  # a new submodule table: the original keeps its attention
    clone._modules["attention"] = _StaticPartAttention(attention, (lh // fh, lw // fw))
    return clone


def _random_inputs(n: int, size: int, ref: Tensor, generator: torch.Generator | None
                   ) -> tuple[Tensor, Tensor]:
    """ImageNet-normalised-like crops (B, 3, size, size) and plausible CLIFF box vectors (B, 3)."""
    kw = dict(generator=generator, dtype=ref.dtype)
    images = torch.randn(n, 3, size, size, **kw).to(ref.device)
    u = torch.rand(n, 3, **kw).to(ref.device)
    bbox_info = torch.stack([u[:, 0] - 0.5, u[:, 1] - 0.5, 0.2 + 0.8 * u[:, 2]], -1)  # offsets, size / f
    return images, bbox_info


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    opset: int = 17,
    batch: int | None = None,
    exporter: str = "torchscript",
    verify: bool = True,
    verify_batch: int | None = None,
    generator: torch.Generator | None = None,
) -> OnnxExportReport:
    """Export the network forward of a D-PoSE model to ONNX and check it against PyTorch.

    Runs on the model's device and dtype, in eval mode (each sub-module's training flag is restored). The
    model is not modified.

    Args:
        model: A :class:`~hpskit.models.DPoSE` (or a model with its ``forward(images, bbox_info)`` →
            :class:`~hpskit.models.DPoSEOutput`, ``config`` and ``input_size``).
        path: Output ``.onnx`` file (its folder is created).
        opset: ONNX opset version (17 by default; the dynamo exporter needs ≥ 18 and raises to 18).
        batch: Fixed batch size, or ``None`` for a symbolic batch axis named ``"batch"``.
        exporter: ``"torchscript"`` (default, fast) or ``"dynamo"`` (needs ``onnxscript``); module docs.
        verify: Compare onnxruntime with PyTorch on random inputs (skipped with a warning if onnxruntime is
            not installed).
        verify_batch: Batch size for the check; default ``batch``, or 3 for a dynamic batch (the trace
            uses 2).
        generator: Random generator of the trace and verification inputs.

    Returns:
        An :class:`OnnxExportReport`.

    Raises:
        ConfigError: An unknown exporter, an opset < 13, a batch < 1, a missing ``onnxscript`` for the
            dynamo exporter, or a model whose part attention the TorchScript exporter cannot express.

    Example:
        >>> from hpskit.models import DPoSE, DPoSEConfig
        >>> model = DPoSE(DPoSEConfig(encoder="hrnet_w18", body_model="none"))
        >>> report = export_onnx(model, tmp / "dpose.onnx")  # doctest: +SKIP
        >>> report.output_names, report.ok(atol=1e-4)  # doctest: +SKIP
        (('pose_rotmat', 'betas', 'cam', 'depth', 'part_logits'), True)
    """
    opset = _check_export_settings(opset, batch, exporter)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with eval_mode(model):
        plan = _prepare_export(model, batch, exporter, generator)
        _write_onnx(model, plan, path, opset, exporter, batch)
        report = OnnxExportReport(path=path, exporter=exporter, opset=opset, input_names=plan.inputs,
                                  output_names=plan.outputs, batch=None if batch is None else int(batch),
                                  image_size=plan.size)
        logger.info("wrote %s (%s exporter, opset %d, %s batch)", path, exporter, opset,
                    "dynamic" if batch is None else f"fixed {batch}")
        if verify:
            _verify_into(report, model, path, int(verify_batch or (3 if batch is None else batch)), generator)
    return report


def _check_export_settings(opset: int, batch: int | None, exporter: str) -> int:
    """Validate the settings of :func:`export_onnx`; returns the opset to use."""
    if exporter not in _EXPORTERS:
        raise ConfigError(f"{_WHERE}: `exporter` must be one of {_EXPORTERS}; got {exporter!r}.")
    if int(opset) < 13:
        raise ConfigError(f"{_WHERE}: `opset` must be ≥ 13; got {opset}.")
    if batch is not None and int(batch) < 1:
        raise ConfigError(f"{_WHERE}: `batch` must be ≥ 1 or None (dynamic); got {batch}.")
    if exporter == "dynamo":
        if importlib.util.find_spec("onnxscript") is None:
            raise ConfigError(f"{_WHERE}: exporter='dynamo' needs the `onnxscript` package (pip install "
                              "onnxscript); or use exporter='torchscript'.")
        if int(opset) < 18:
            logger.info("the dynamo exporter targets opset ≥ 18; using 18 instead of %d", opset)
            return 18
    return int(opset)


@dataclass
class _ExportPlan:
    """What to trace: example inputs ``args``, the input/output names, the crop size, and a probe output."""

    args: tuple[Tensor, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    size: int
    probe: object


def _prepare_export(model: nn.Module, batch: int | None, exporter: str, generator) -> _ExportPlan:
    """Random trace inputs and a probe forward that names the graph's inputs and outputs (eval mode)."""
    param = next(model.parameters())
    size = int(getattr(model, "input_size", 224))
    trace_batch = 2 if batch is None else int(batch)  # torch.export specialises a batch of 1
    images, bbox_info = _random_inputs(trace_batch, size, param, generator)
    with torch.no_grad():
        probe = model(images[:1], bbox_info[:1], return_features=exporter == "torchscript")
    inputs, outputs = _names(model, probe)
    args = (images, bbox_info) if len(inputs) == 2 else (images,)
    return _ExportPlan(args=args, inputs=inputs, outputs=outputs, size=size, probe=probe)


def _write_onnx(model: nn.Module, plan: _ExportPlan, path: Path, opset: int, exporter: str,
                batch: int | None) -> None:
    """Trace the graph wrapper with the chosen exporter and write ``path``."""
    has_depth = "depth" in plan.outputs
    two_inputs = len(plan.inputs) == 2
    if exporter == "torchscript":
        graph = _Graph(_traceable_copy(model, plan.probe), two_inputs, has_depth).eval()
        _export_torchscript(graph, plan.args, path, opset, plan.inputs, plan.outputs, batch is None)
    else:
        graph = _Graph(model, two_inputs, has_depth).eval()
        _export_dynamo(graph, plan.args, path, opset, plan.inputs, plan.outputs, batch is None)


def _verify_into(report: OnnxExportReport, model: nn.Module, path: Path, n: int, generator) -> None:
    """Fill the report's comparison with onnxruntime (a warning if onnxruntime is not installed)."""
    try:
        report.max_abs_diff = verify_onnx(model, path, batch=n, generator=generator)
    except ImportError:
        logger.warning("onnxruntime is not installed, so %s was not checked against PyTorch "
                       "(pip install onnxruntime)", path)
        return
    import onnxruntime

    report.verify_batch, report.onnxruntime_version = n, onnxruntime.__version__
    logger.info("onnxruntime vs PyTorch, batch %d: max abs diff %.3g (%s)", n, report.worst_abs_diff,
                ", ".join(f"{k} {v:.2g}" for k, v in report.max_abs_diff.items()))


def _export_torchscript(graph, args, path, opset, inputs, outputs, dynamic: bool) -> None:
    axes = {name: {0: "batch"} for name in inputs + outputs} if dynamic else None
    with warnings.catch_warnings():
        # Shape checks in the forward convert traced sizes to Python values (TracerWarning); they hold for
        # every batch size. The legacy-exporter deprecation notice is in the module docs.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        warnings.filterwarnings("ignore", message=".*will be removed.*")
        torch.onnx.export(graph, args, str(path), dynamo=False, opset_version=opset, input_names=list(inputs),
                          output_names=list(outputs), dynamic_axes=axes, do_constant_folding=True)


def _export_dynamo(graph, args, path, opset, inputs, outputs, dynamic: bool) -> None:
    shapes = None
    if dynamic:
        b = torch.export.Dim("batch", min=1, max=4096)
        shapes = {name: {0: b} for name in inputs}
    with warnings.catch_warnings():  # one shared Dim for all inputs: torch notes it keeps one name
        warnings.filterwarnings("ignore", message=".*axis name.*will not be used.*")
        torch.onnx.export(graph, args, str(path), dynamo=True, opset_version=opset, input_names=list(inputs),
                          output_names=list(outputs), dynamic_shapes=shapes, external_data=False,
                          verbose=False)


def verify_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    batch: int = 2,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """Run an exported file with onnxruntime (CPU) and PyTorch on the same random inputs.

    Args:
        model: The model that was exported.
        path: The ``.onnx`` file written by :func:`export_onnx`.
        batch: Batch size of the random inputs.
        generator: Random generator of the inputs.

    Returns:
        Output name → max |onnxruntime − PyTorch| (float).

    Raises:
        ImportError: If onnxruntime is not installed.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, torch.get_num_threads())
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    param = next(model.parameters())
    images, bbox_info = _random_inputs(int(batch), int(getattr(model, "input_size", 224)), param, generator)
    feeds = {"images": images, "bbox_info": bbox_info}
    got = session.run(None, {n: feeds[n].detach().cpu().float().numpy() for n in names})
    with eval_mode(model), torch.no_grad():
        out = model(images, bbox_info if "bbox_info" in names else None)
    diffs = {}
    for meta, value in zip(session.get_outputs(), got):
        ref = getattr(out, meta.name).detach().cpu().float()
        diffs[meta.name] = float((torch.from_numpy(value) - ref).abs().max())
    return diffs
