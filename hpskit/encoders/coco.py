"""Load the official COCO pose-HRNet checkpoint (``pose_hrnet_w48_256x192.pth``) into an HRNet encoder.

File layout (formats.md Appendix A): a plain state_dict of the official ``PoseHighResolutionNet`` — trunk
groups ``conv1 bn1 conv2 bn2 layer1 transition1 stage2 transition2 stage3 transition3 stage4`` plus the
17-joint ``final_layer`` head, 1754 tensors for W48. The trunk names are timm's names, so they load into
``encoder.trunk`` unchanged. Like the authors, hpskit keeps the trunk groups and drops ``final_layer``; unlike
them it refuses keys it does not know and reports what stays at its initial value: the official last stage4
module keeps only ``fuse_layers.0`` (single-scale output), so ``stage4.2.fuse_layers.{1,2,3}`` (78 tensors)
and the learned ``upsample_stage_*`` keep their initialisation, as in the authors' model.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from hpskit.core import CorruptFileError, MissingFileError, check_state_dict

__all__ = ["COCO_HRNET_TRUNK_GROUPS", "CocoLoadReport", "load_coco_hrnet_checkpoint"]

logger = logging.getLogger(__name__)

#: First dotted name components of the trunk tensors that are loaded (the authors' filter).
COCO_HRNET_TRUNK_GROUPS = (
    "conv1", "bn1", "conv2", "bn2", "layer1", "transition1",
    "stage2", "transition2", "stage3", "transition3", "stage4",
)
_DROPPED_GROUPS = ("final_layer",)
_WHERE_TO_GET = (
    "Download 'pose_hrnet_w48_256x192.pth' from the model zoo linked in the README of "
    "https://github.com/leoxiaobin/deep-high-resolution-net.pytorch (COCO, pose_hrnet, w48 256x192) "
    "and pass its path."
)
# Expected to stay at init with the official file: the multi-scale fuse branches of the last stage4 module.
_EXPECTED_LEFT = tuple(f"stage4.2.fuse_layers.{i}." for i in (1, 2, 3))


@dataclass
class CocoLoadReport:
    """What :func:`load_coco_hrnet_checkpoint` did.

    Attributes:
        loaded: Trunk keys copied from the file (timm names, without the ``trunk.`` prefix).
        dropped: File keys deliberately not loaded (the 17-joint ``final_layer`` head).
        left_at_init: Encoder state-dict keys (``trunk.…``, ``upsample_stage_…``) the file did not provide;
            they keep their initial values.
    """

    loaded: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    left_at_init: list[str] = field(default_factory=list)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as err:
        raise CorruptFileError(
            f"load_coco_hrnet_checkpoint: could not read '{path}' as a PyTorch state_dict "
            f"(torch.load(weights_only=True) failed: {err}). {_WHERE_TO_GET}"
        ) from err
    if not isinstance(obj, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise CorruptFileError(
            f"load_coco_hrnet_checkpoint: '{path}' must hold a plain state_dict (name → tensor), as the "
            f"official pose-HRNet file does; got {type(obj).__name__}"
            + (f" with keys {list(obj)[:5]}" if isinstance(obj, Mapping) else "")
            + ". If it wraps the weights (e.g. under 'state_dict'), save that inner dict instead."
        )
    sd = dict(obj)
    if sd and all(k.startswith("module.") for k in sd):
        logger.info("load_coco_hrnet_checkpoint: stripping the prefix 'module.' from %d keys", len(sd))
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def load_coco_hrnet_checkpoint(encoder: nn.Module, path: str | os.PathLike) -> CocoLoadReport:
    """Copy the trunk of an official COCO pose-HRNet checkpoint into ``encoder.trunk``.

    Args:
        encoder: An :class:`~hpskit.encoders.hrnet.HRNetEncoder` of the same width (or a bare timm HRNet
            ``features_only`` trunk).
        path: The ``pose_hrnet_w48_256x192.pth`` file (read with ``torch.load(weights_only=True)``).

    Returns:
        A :class:`CocoLoadReport` listing loaded, dropped and left-at-init keys (also logged).

    Raises:
        MissingFileError: If ``path`` does not exist (the message says where to get the file).
        CorruptFileError: If the file is not a plain state_dict.
        WeightsMismatchError: If a key lies outside the known groups, a trunk key is unknown to the encoder,
            or a shape differs (all problems listed at once by :func:`hpskit.core.check_state_dict`); nothing
            is loaded then.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"COCO pose-HRNet checkpoint '{path}' not found. {_WHERE_TO_GET}")
    trunk = getattr(encoder, "trunk", encoder)
    prefix = "trunk." if trunk is not encoder else ""
    target = trunk.state_dict()
    sd = _read_state_dict(path)

    report = CocoLoadReport()
    report.dropped = [k for k in sd if k.split(".", 1)[0] in _DROPPED_GROUPS]
    found = {k: v for k, v in sd.items() if k.split(".", 1)[0] not in _DROPPED_GROUPS}
    # The file must be a subset of the encoder: trunk-group keys it knows, with its shapes. Missing keys are
    # allowed (they stay at init and are reported); a key outside the trunk groups is always unexpected.
    expected = {k: target[k] for k in found if k in target and k.split(".", 1)[0] in COCO_HRNET_TRUNK_GROUPS}
    check_state_dict(
        expected, found, what=type(encoder).__name__, source=f"'{path}'",
        hint=f"Only the trunk groups {COCO_HRNET_TRUNK_GROUPS} are loaded ({_DROPPED_GROUPS} are dropped); "
        "nothing was loaded. Is this the W48 pose-HRNet file, and is the encoder `hrnet_w48`?",
    )
    kept = found
    trunk.load_state_dict(kept, strict=False)
    report.loaded = list(kept)
    full = [prefix + k for k in target if k not in kept]
    if prefix:
        full += [k for k in encoder.state_dict() if not k.startswith(prefix)]
    report.left_at_init = full
    unexpected = [
        k for k in target
        if k not in kept and not k.startswith(_EXPECTED_LEFT) and not k.endswith("num_batches_tracked")
    ]
    logger.info(
        "COCO pose-HRNet checkpoint '%s': loaded %d tensors, dropped %d (%s), left %d at init",
        path, len(kept), len(report.dropped), ", ".join(_DROPPED_GROUPS), len(report.left_at_init),
    )
    if unexpected:
        logger.warning(
            "COCO pose-HRNet checkpoint '%s' lacks %d trunk tensors beyond the expected "
            "stage4.2.fuse_layers.1-3: %s",
            path, len(unexpected), ", ".join(unexpected[:10]),
        )
    return report
