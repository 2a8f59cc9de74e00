"""Convert the authors' D-PoSE Lightning checkpoint (``.ckpt``) into an hpskit pretrained folder.

**No arbitrary pickle is ever executed.** The file is first read with ``torch.load(weights_only=True)``. The
official checkpoint's ``hyper_parameters`` hold pickled ``yacs.config.CfgNode`` objects, which that loader
refuses, so the converter then uses hpskit's one restricted unpickler
(:class:`hpskit.core.RestrictedUnpickler`, as ``torch.load(..., pickle_module=...)``) with an allow-list that
admits only: torch's tensor-rebuild functions (storages are handled by torch itself),
``collections.OrderedDict``, ``builtins.set``/``frozenset`` (inside CfgNode attributes) and
``yacs.config.CfgNode``, which is mapped to :class:`CfgNodeStandIn`, a plain ``dict`` subclass; yacs is
never imported and none of its code runs. Any other global (``os.system``, ``builtins.eval``, a class from
the authors' code ...) raises :class:`~hpskit.core.CorruptFileError` before anything is called.

Key mapping (Lightning ``state_dict`` -> hpskit ``DPoSE``; every rule is an explicit prefix rename):

| checkpoint | hpskit |
|---|---|
| ``model.backbone.{conv1,bn1,conv2,bn2,layer1,transition1..3,stage2..4}.*`` | ``encoder.trunk.*`` |
| ``model.backbone.upsample_stage_{2,3,4}.*`` | ``encoder.upsample_stage_{2,3,4}.*`` |
| ``model.depth_decoder.*`` | ``depth_decoder.*`` |
| ``model.segmentation_decoder.*`` | ``part_decoder.*`` |
| ``model.attention.conv1x1_pose.*`` | ``attention.mixer.*`` |
| ``model.head.*`` (incl. the mean-parameter buffers ``init_pose/init_shape/init_cam``) | ``regressor.*`` |

Dropped by the explicit name lists of :data:`DROPPED_KEYS`: the trainer's H36M ``J_regressor``, the licensed
SMPL-X arrays ``model.smpl.smplx.*`` (never written anywhere), the trainer's body models ``smplx.*`` and
``smpl.*``, and the two modules the authors' forward never uses (``model.backbone.final_layer.*``,
``model.attention.conv1x1_shape_cam.*``). Any other key is refused with a listing.

Command line: ``python -m hpskit.models.convert_dpose epoch=...ckpt out_dir``.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import logging
import os
import pickle
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from hpskit import __version__
from hpskit.core import (
    ConfigError,
    CorruptFileError,
    MissingFileError,
    RefusedGlobalError,
    check_state_dict,
    publish_files,
    restricted_pickle_module,
    staging_folder,
)
from hpskit.hub import (
    CARD_NAME,
    CONFIG_NAME,
    WEIGHTS_NAME,
    ModelCardInfo,
    config_to_dict,
    new_weights_id,
    save_weights,
    shared_tensor_aliases,
    write_config,
    write_model_card,
)

__all__ = [
    "DPOSE_CONVERTED_CONFIG",
    "DROPPED_KEYS",
    "RENAME_RULES",
    "CfgNodeStandIn",
    "ConversionReport",
    "convert_dpose_checkpoint",
    "load_lightning_checkpoint",
    "map_dpose_state_dict",
    "verify_with_dpose",
    "main",
]

logger = logging.getLogger(__name__)

_TRUNK = ("conv1", "bn1", "conv2", "bn2", "layer1", "transition1", "stage2", "transition2", "stage3",
          "transition3", "stage4")
#: Ordered (checkpoint prefix, hpskit prefix) renames; a key must match exactly one.
RENAME_RULES: tuple[tuple[str, str], ...] = (
    *((f"model.backbone.{r}.", f"encoder.trunk.{r}.") for r in _TRUNK),
    *((f"model.backbone.upsample_stage_{k}.", f"encoder.upsample_stage_{k}.") for k in (2, 3, 4)),
    ("model.depth_decoder.", "depth_decoder."),
    ("model.segmentation_decoder.", "part_decoder."),
    ("model.attention.conv1x1_pose.", "attention.mixer."),
    ("model.head.", "regressor."),
)
_SMPLX_BUFFERS = ("shapedirs", "faces_tensor", "v_template", "J_regressor", "posedirs", "parents",
                  "lbs_weights", "left_hand_components", "right_hand_components", "left_hand_mean",
                  "right_hand_mean", "pose_mean", "lmk_faces_idx", "lmk_bary_coords", "expr_dirs",
                  "vertex_joint_selector.extra_joints_idxs")
_SMPLX_PARAMS = ("betas", "global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose",
                 "leye_pose", "reye_pose", "expression")
_SMPL = ("betas", "global_orient", "body_pose", "shapedirs", "faces_tensor", "v_template", "J_regressor",
         "posedirs", "parents", "lbs_weights", "vertex_joint_selector.extra_joints_idxs")
#: Reason -> exact checkpoint keys that are dropped (and never written out).
DROPPED_KEYS: dict[str, tuple[str, ...]] = {
    "trainer H36M regressor": ("J_regressor",),
    "licensed SMPL-X arrays (model.smpl.smplx)": tuple(f"model.smpl.smplx.{n}" for n in _SMPLX_BUFFERS),
    "trainer SMPL-X body model": tuple(f"smplx.{n}" for n in _SMPLX_PARAMS + _SMPLX_BUFFERS),
    "trainer SMPL body model": tuple(f"smpl.{n}" for n in _SMPL),
    "dead backbone.final_layer": ("model.backbone.final_layer.weight", "model.backbone.final_layer.bias"),
    "dead attention.conv1x1_shape_cam": ("model.attention.conv1x1_shape_cam.weight",
                                         "model.attention.conv1x1_shape_cam.bias"),
}
#: The released model's config (field names of ``hpskit.models.DPoSEConfig``). What is written to
#: ``config.json`` is re-derived from the tensors; other ``DPoSEConfig`` fields keep their defaults.
DPOSE_CONVERTED_CONFIG: dict[str, Any] = {
    "encoder": "hrnet_w48", "num_parts": 23, "num_joints": 22, "num_betas": 11, "use_depth": True,
    "bbox_conditioning": True, "head_hidden": 32,
}


# --------------------------------------------------------------------------- restricted unpickling
class CfgNodeStandIn(dict):
    """Plain-data stand-in for a pickled ``yacs.config.CfgNode`` (a dict; its attributes kept as data)."""

    def __setstate__(self, state: Any) -> None:  # the CfgNode's __dict__ (immutable flag, key sets)
        self.yacs_state = dict(state) if isinstance(state, Mapping) else state

    def to_dict(self) -> dict:
        """Nested plain ``dict`` copy."""
        return {k: v.to_dict() if isinstance(v, CfgNodeStandIn) else v for k, v in self.items()}


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    **{("torch._utils", n): getattr(torch._utils, n) for n in
       ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter")
       if hasattr(torch._utils, n)},
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("__builtin__", "set"): set,  # torch.save uses pickle protocol 2, which writes Python 2 module names
    ("__builtin__", "frozenset"): frozenset,
    ("yacs.config", "CfgNode"): CfgNodeStandIn,
}


# The one restricted unpickler of hpskit.core.pickles, with this allow-list instead of its numerical-data one.
_RESTRICTED_PICKLE = restricted_pickle_module(lambda module, name: _ALLOWED_GLOBALS.get((module, name)),
                                              "hpskit_dpose_checkpoint_pickle")


def load_lightning_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a Lightning ``.ckpt`` without executing arbitrary pickled code (tensors on CPU, memory-mapped).

    Args:
        path: The checkpoint file.

    Returns:
        The checkpoint dict; yacs ``CfgNode`` values come back as :class:`CfgNodeStandIn`.

    Raises:
        MissingFileError: If the file does not exist.
        CorruptFileError: If the pickle references any global outside the allow-list (see module docs).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"checkpoint not found: {path}")
    mmap = zipfile.is_zipfile(path)
    if not mmap:
        # torch.save has written zip archives since torch 1.6 (Lightning checkpoints included); anything else
        # is a truncated download, a text file or another format, which torch reports as KeyError/EOFError.
        raise CorruptFileError(_not_a_checkpoint(path, "it is not a zip archive (truncated, or not written "
                                                       "by torch.save)"))
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as exc:
        logger.info("weights_only load refused (%s); using the restricted unpickler",
                    str(exc).splitlines()[0])
    except (RuntimeError, EOFError, KeyError, ValueError, OSError) as exc:
        raise CorruptFileError(_not_a_checkpoint(path, _first_line(exc))) from None
    # weights_only=False only hands the unpickling to _RESTRICTED_PICKLE (hpskit.core.pickles'
    # RestrictedUnpickler): it admits tensors, OrderedDict/set and yacs CfgNode read as plain dicts, and
    # refuses every other global (RefusedGlobalError below) without running it.
    try:
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_RESTRICTED_PICKLE,
                          mmap=mmap)
    except RefusedGlobalError as exc:
        raise CorruptFileError(
            f"refusing to unpickle the global `{exc}` in {path}: the restricted loader admits only tensors, "
            "OrderedDict/set and yacs CfgNode (read as plain dicts). This is not the authors' D-PoSE "
            "checkpoint, or it has been tampered with; nothing from it was executed."
        ) from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, KeyError, ValueError, OSError) as exc:
        raise CorruptFileError(_not_a_checkpoint(path, _first_line(exc))) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _not_a_checkpoint(path: Path, why: str) -> str:
    size = path.stat().st_size
    return (f"{path} ({size:,} bytes) is not a readable PyTorch checkpoint: {why}. Download it again "
            "or check that this is the right file.")


# --------------------------------------------------------------------------- mapping
def map_dpose_state_dict(state_dict: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, list[str]]]:
    """Rename the authors' keys to hpskit's and drop the listed ones; refuse anything else.

    Args:
        state_dict: The Lightning ``state_dict`` (layout docs/authors-code.md (j)).

    Returns:
        ``(converted, dropped)``: hpskit name -> tensor (checkpoint order), and reason -> dropped keys found.

    Raises:
        CorruptFileError: Listing every key that matches no rename rule and no drop list.
    """
    drop = {k: reason for reason, keys in DROPPED_KEYS.items() for k in keys}
    converted: dict[str, Tensor] = {}
    dropped: dict[str, list[str]] = {reason: [] for reason in DROPPED_KEYS}
    unknown: list[str] = []
    for key, tensor in state_dict.items():
        if key in drop:
            dropped[drop[key]].append(key)
            continue
        rule = next(((src, dst) for src, dst in RENAME_RULES if key.startswith(src)), None)
        if rule is None:
            unknown.append(key)
            continue
        new = rule[1] + key[len(rule[0]):]
        if new in converted:  # cannot happen with prefix renames; kept as a guard for future rules
            raise CorruptFileError(f"two checkpoint keys map to `{new}`")
        converted[new] = tensor
    if unknown:
        raise CorruptFileError(
            f"refusing to convert: {len(unknown)} checkpoint key(s) match no rename rule and no drop list:"
            "\n  "
            + "\n  ".join(unknown)
            + "\nFix: this is not the D-PoSE checkpoint layout hpskit knows (docs/authors-code.md (j))."
        )
    return converted, {r: ks for r, ks in dropped.items() if ks}


def _infer_config(sd: Mapping[str, Tensor], hparams: Any) -> dict[str, Any]:
    need = ("encoder.trunk.transition1.0.0.weight", "regressor.init_pose", "regressor.init_shape",
            "regressor.decshape.weight", "regressor.p.0.weight", "part_decoder.final_layers.3.weight")
    absent = [k for k in need if k not in sd]
    if absent:
        raise CorruptFileError(f"cannot derive the D-PoSE config: converted weights lack {absent}.")
    width = sd["encoder.trunk.transition1.0.0.weight"].shape[0]  # HRNet-W<width>: branches C, 2C, 4C, 8C
    use_depth = any(k.startswith("depth_decoder.") for k in sd)
    # pose-head input per joint = 6D pose + attended feature (15C) + bbox (3 or 0) + depth feature (C or 0)
    bbox = sd["regressor.p.0.weight"].shape[-1] - 6 - 15 * width - (width if use_depth else 0)
    if bbox not in (0, 3):
        raise CorruptFileError(f"regressor.p.0.weight {tuple(sd['regressor.p.0.weight'].shape)} fits no "
                               "D-PoSE head layout.")
    cfg = {
        "encoder": f"hrnet_w{width}",
        "num_parts": sd["part_decoder.final_layers.3.weight"].shape[0],
        "num_joints": sd["regressor.init_pose"].shape[-1] // 6,
        "num_betas": sd["regressor.init_shape"].shape[-1],
        "use_depth": use_depth,
        "bbox_conditioning": bbox == 3,
        "head_hidden": sd["regressor.decshape.weight"].shape[1],
    }
    node = hparams.get("MODEL") if isinstance(hparams, Mapping) else None
    backbone = node.get("BACKBONE") if isinstance(node, Mapping) else None
    if isinstance(backbone, str) and backbone.split("-")[0] != cfg["encoder"]:
        raise ConfigError(f"hyper_parameters MODEL.BACKBONE={backbone!r} disagrees with the weights "
                          f"({cfg['encoder']}).")
    return cfg


@dataclass
class ConversionReport:
    """What :func:`convert_dpose_checkpoint` did.

    Attributes:
        out_dir: The written folder.
        kept: Number of tensors written.
        numel_kept: Total elements written.
        dropped: Reason -> dropped checkpoint keys.
        config: The config written to ``config.json``.
        source: Provenance (file name, sha256, epoch, global_step, Lightning version).
    """

    out_dir: Path
    kept: int
    numel_kept: int
    dropped: dict[str, list[str]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def num_dropped(self) -> int:
        """Total number of dropped keys."""
        return sum(len(v) for v in self.dropped.values())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            h.update(chunk)
    return h.hexdigest()


def _card(source: Mapping[str, Any]) -> ModelCardInfo:
    return ModelCardInfo(
        title="D-PoSE (converted from the authors' checkpoint)",
        license="other", license_name="d-pose-authors",
        license_note="The weights were trained and released by the D-PoSE authors (nvasilik/D-PoSE); their "
        "terms apply, and so do the terms of the training data (BEDLAM, AGORA: non-commercial research).",
        tags=["human-pose-estimation", "smpl-x", "3d-human-mesh", "d-pose"],
        architecture="D-PoSE: HRNet-W48 encoder (timm trunk + 720-channel fused feature), two U-Net-lite "
        "decoders (depth map, 23 part logits), part soft-attention with a 1x1 channel mixer and a "
        "ReFit-style regressor (one update from the mean parameters) predicting 22 SMPL-X joint rotations "
        "(6D), 11 betas and a CLIFF crop camera. 80,579,098 parameters.",
        training_data="BEDLAM (first 80% of 26 splits) and AGORA, 224x224 crops (authors' training run).",
        metrics_note="Not measured by the conversion; see the paper for the authors' numbers.\n\nSource: "
        + ", ".join(f"{k}={v}" for k, v in source.items()),
    )


def convert_dpose_checkpoint(
    ckpt_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    target: nn.Module | Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | Any | None = None,
    overwrite: bool = False,
    verify: Callable[[Path], None] | None = None,
) -> ConversionReport:
    """Convert the authors' ``.ckpt`` into ``out_dir``: ``config.json``, ``model.safetensors``, ``README.md``.

    Args:
        ckpt_path: The Lightning checkpoint (layout docs/authors-code.md (j)).
        out_dir: Output folder (a ``save_pretrained`` folder).
        target: Optional model or name -> shape mapping; any missing/extra/mis-shaped key is refused.
        config: Config to write instead of the one derived from the tensors (a dict or a dataclass, e.g.
            ``DPoSEConfig()``); keys it shares with :data:`DPOSE_CONVERTED_CONFIG` must agree.
        overwrite: Replace existing weights in ``out_dir``.
        verify: Called with the staging folder once every file is written (e.g. :func:`verify_with_dpose`);
            if it raises, ``out_dir`` is left untouched.

    Returns:
        A :class:`ConversionReport` (counts kept/dropped, config, provenance).

    Raises:
        CorruptFileError: Unsafe pickle, not a Lightning checkpoint, or unmapped keys.
        WeightsMismatchError: If ``target`` is given and does not match exactly.
        ConfigError: If ``config`` disagrees with the weights.
        FileExistsError: If ``out_dir`` already holds weights and ``overwrite`` is false.
        WriteFailedError: If the disk is full; ``out_dir`` is untouched.

    ``out_dir`` is only changed once everything is written (and verified): the files are staged in a folder
    next to it and renamed in, the config last. Any failure leaves ``out_dir`` exactly as it was.
    """
    ckpt_path, out_dir = Path(ckpt_path), Path(out_dir)
    if (out_dir / WEIGHTS_NAME).exists() and not overwrite:
        raise FileExistsError(f"{out_dir / WEIGHTS_NAME} exists; pass overwrite=True (command line: "
                              "--overwrite) to replace it.")
    ckpt = load_lightning_checkpoint(ckpt_path)
    if not isinstance(ckpt, Mapping) or not isinstance(ckpt.get("state_dict"), Mapping):
        found = list(ckpt)[:10] if isinstance(ckpt, Mapping) else type(ckpt).__name__
        raise CorruptFileError(f"{ckpt_path} is not a Lightning checkpoint (no `state_dict`; found {found}).")
    converted, dropped = map_dpose_state_dict(ckpt["state_dict"])
    derived = _infer_config(converted, ckpt.get("hyper_parameters"))
    if derived != DPOSE_CONVERTED_CONFIG:
        logger.warning("checkpoint is a D-PoSE variant: %s (the released model has %s)", derived,
                       DPOSE_CONVERTED_CONFIG)
    if config is None:
        cfg = derived
    else:
        cfg = dict(config) if isinstance(config, Mapping) else config_to_dict(config)
    cfg.setdefault("crop_mode", "authors")  # the crop the weights were trained on (docs/authors-code.md (h))
    clash = {k: (cfg[k], v) for k, v in derived.items() if k in cfg and cfg[k] != v}
    if clash:
        raise ConfigError(f"`config` disagrees with the checkpoint's tensors (given, derived): {clash}")
    if target is not None:
        if isinstance(target, nn.Module):
            own = target.state_dict()
            aliases = shared_tensor_aliases(own)
            target = {k: v for k, v in own.items() if k not in aliases}
        check_state_dict(target, converted, what="the target model", source=str(ckpt_path),
                         hint="Fix: the target's architecture/config differs from the checkpoint's.")
    seen: set[int] = set()
    for k, t in converted.items():  # never let safetensors' de-duplication drop a key
        ptr = t.untyped_storage().data_ptr()
        converted[k] = t.clone() if t.numel() and ptr in seen else t
        seen.add(ptr)
    source = {"file": ckpt_path.name, "sha256": _sha256(ckpt_path), "epoch": ckpt.get("epoch"),
              "global_step": ckpt.get("global_step"),
              "pytorch_lightning_version": ckpt.get("pytorch-lightning_version")}
    # Everything is written and verified in a staging folder next to out_dir, then renamed in (config last):
    # a failed conversion or verification leaves out_dir exactly as it was, with no orphan files.
    weights_id = new_weights_id()
    with staging_folder(out_dir) as stage:
        save_weights(converted, stage / WEIGHTS_NAME, metadata={
            "model_type": "dpose", "converted_from": ckpt_path.name, "source_sha256": source["sha256"],
            "weights_id": weights_id})
        write_config({**cfg, "model_type": "dpose", "hpskit_version": __version__, "weights_id": weights_id},
                     stage / CONFIG_NAME)
        write_model_card(stage, _card(source), model_type="dpose", cls_name="DPoSE", repo=str(out_dir))
        if verify is not None:
            verify(stage)
        publish_files(stage, out_dir, [WEIGHTS_NAME, CARD_NAME, CONFIG_NAME])
    report = ConversionReport(out_dir, len(converted), sum(t.numel() for t in converted.values()), dropped,
                              cfg, source)
    logger.info("converted %s: kept %d tensors (%d values), dropped %d keys", ckpt_path, report.kept,
                report.numel_kept, report.num_dropped)
    return report


def verify_with_dpose(folder: str | os.PathLike) -> None:
    """Strict-load ``folder`` into hpskit's DPoSE without a body model (the weights do not depend on one).

    Raises:
        WeightsMismatchError: If any key is missing, unexpected or mis-shaped.
    """
    from hpskit.models import DPoSE

    DPoSE.from_pretrained(folder, body_model="none")


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m hpskit.models.convert_dpose in.ckpt out_dir [--overwrite] [--no-verify]``."""
    p = argparse.ArgumentParser(prog="python -m hpskit.models.convert_dpose",
                                description=__doc__.split("\n")[0])
    p.add_argument("ckpt", type=Path, help="the authors' Lightning .ckpt")
    p.add_argument("out_dir", type=Path, help="output folder (loadable with DPoSE.from_pretrained)")
    p.add_argument("--overwrite", action="store_true", help="replace existing weights in out_dir")
    p.add_argument("--no-verify", action="store_true", help="skip the strict load into hpskit's DPoSE")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    report = convert_dpose_checkpoint(args.ckpt, args.out_dir, overwrite=args.overwrite,
                                      verify=None if args.no_verify else verify_with_dpose)
    logger.info("wrote %s: %d tensors kept, %d keys dropped (%s)", report.out_dir, report.kept,
                report.num_dropped, ", ".join(f"{r}: {len(k)}" for r, k in report.dropped.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
