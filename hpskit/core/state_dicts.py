"""Strict comparison of a model's state_dict with a file's: every missing, unexpected and mis-shaped key.

It lives in core because every loader of weights uses it: :mod:`hpskit.hub` (our own folders), the COCO
pose-HRNet loader in :mod:`hpskit.encoders` and the converter of the official D-PoSE checkpoint in
:mod:`hpskit.models`. torch's ``load_state_dict(strict=True)`` stops at a message without the shapes of
every key, and checks only after building the model; this one compares name → shape maps before anything
is copied.

Example:
    >>> import torch
    >>> check_state_dict({"a.w": (2, 3)}, {"a.w": torch.zeros(2, 3)})
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from .checks import format_shape
from .errors import WeightsMismatchError

__all__ = ["check_state_dict"]


def _group_by_prefix(keys) -> str:
    groups: dict[str, list[str]] = {}
    for k in sorted(keys):
        groups.setdefault(k.split(".", 1)[0], []).append(k)
    return "\n".join(f"    {p}.* ({len(v)}): " + ", ".join(v) for p, v in groups.items())


def check_state_dict(
    expected: Mapping[str, Tensor | tuple | torch.Size],
    found: Mapping[str, Tensor | tuple | torch.Size],
    what: str = "model",
    source: str = "state_dict",
    hint: str = "",
) -> None:
    """Strict comparison of two name -> shape maps; raise listing every difference.

    Args:
        expected: What the model needs: name -> tensor or shape.
        found: What the file provides: name -> tensor or shape.
        what: Name of the model in the message.
        source: Name of the file/state_dict in the message.
        hint: Extra sentence (the fix) appended to the message.

    Raises:
        WeightsMismatchError: With every missing, unexpected and shape-mismatched key, grouped by top-level
            prefix. The lists are also attributes ``missing``, ``unexpected`` and ``mismatched``.
    """

    def shape(v) -> tuple:
        return tuple(v.shape) if isinstance(v, Tensor) else tuple(v)

    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    mismatched = sorted(k for k in set(expected) & set(found) if shape(expected[k]) != shape(found[k]))
    if not (missing or unexpected or mismatched):
        return
    parts = [f"strict weight load of {what} from {source} failed:"]
    if missing:
        parts.append(f"  missing ({len(missing)} key(s) the model needs, absent from the file):")
        parts.append(_group_by_prefix(missing))
    if unexpected:
        parts.append(f"  unexpected ({len(unexpected)} key(s) in the file the model does not have):")
        parts.append(_group_by_prefix(unexpected))
    if mismatched:
        parts.append(f"  shape mismatch ({len(mismatched)} key(s)):")
        parts.extend(
            f"    {k}: file {format_shape(shape(found[k]))} vs model {format_shape(shape(expected[k]))}"
            for k in mismatched
        )
    parts.append(
        hint
        or "Fix: load the weights into the architecture/config they were saved from (see config.json); "
        "hpskit never loads weights non-strictly."
    )
    err = WeightsMismatchError("\n".join(parts))
    err.missing, err.unexpected, err.mismatched = missing, unexpected, mismatched
    raise err
