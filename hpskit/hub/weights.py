"""Weights as ``model.safetensors``: shared-tensor handling, strict key/shape checks, no pickle anywhere.

safetensors refuses tensors that share memory (tied weights). :func:`dedupe_state_dict` keeps one name per
shared tensor (the first in ``state_dict`` order) and :func:`load_weights_strict` restores the aliases
from the freshly built model, exactly as ``safetensors.torch.save_model``/``load_model`` do; hpskit writes
its own version because it also needs the full missing/unexpected/shape listing of
:func:`hpskit.core.check_state_dict`.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from hpskit.core import CorruptFileError, MissingFileError, check_state_dict

__all__ = [
    "WEIGHTS_NAME",
    "WEIGHTS_INDEX_NAME",
    "shared_tensor_aliases",
    "dedupe_state_dict",
    "save_weights",
    "load_weights",
    "load_weights_strict",
    "save_weights_sharded",
    "load_sharded_weights",
    "new_weights_id",
    "read_weights_metadata",
    "check_weights_id",
]

logger = logging.getLogger(__name__)

WEIGHTS_NAME = "model.safetensors"


def _view_key(t: Tensor) -> tuple:
    return (t.device, t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), t.stride(), t.dtype)


def shared_tensor_aliases(state_dict: Mapping[str, Tensor]) -> dict[str, str]:
    """Map each alias of a shared tensor to its canonical (first) name.

    Two entries are aliases when they are the same view of the same storage (tied weights). Empty tensors
    are never aliases (they all report data pointer 0).

    Args:
        state_dict: Name -> tensor, in the module's order.

    Returns:
        ``{alias: canonical}`` for every non-canonical name (empty when nothing is shared).
    """
    seen: dict[tuple, str] = {}
    aliases: dict[str, str] = {}
    for name, t in state_dict.items():
        if t.numel() == 0 or t.device.type == "meta":
            continue
        key = _view_key(t)
        if key in seen:
            aliases[name] = seen[key]
        else:
            seen[key] = name
    return aliases


def dedupe_state_dict(state_dict: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Make a state_dict safe for safetensors: drop aliases, clone partial overlaps, make contiguous.

    Args:
        state_dict: Name -> tensor (e.g. ``model.state_dict()``).

    Returns:
        ``(tensors, aliases)``: the tensors to write (detached, contiguous) and
        the dropped ``{alias: canonical}`` names.
    """
    aliases = shared_tensor_aliases(state_dict)
    out: dict[str, Tensor] = {}
    storages: set[tuple] = set()
    for name, t in state_dict.items():
        if name in aliases:
            continue
        t = t.detach()
        sid = (t.device, t.untyped_storage().data_ptr())
        if t.numel() and sid in storages:
            # Another view into the same storage (not an identical alias): safetensors cannot express
            # that, so the values are written separately and the sharing is lost on load.
            logger.warning("tensor %r partially overlaps another saved tensor; saving a copy", name)
            t = t.clone()
        elif t.numel():
            storages.add(sid)
        out[name] = t.contiguous()
    return out, aliases


def save_weights(
    state_dict: Mapping[str, Tensor], path: str | os.PathLike, metadata: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Write a state_dict to a ``.safetensors`` file (shared tensors written once).

    Args:
        state_dict: Name -> tensor.
        path: Output file.
        metadata: String metadata stored in the file header (``format: pt`` is added).

    Returns:
        The ``{alias: canonical}`` names that were not written (see :func:`shared_tensor_aliases`).
    """
    from safetensors.torch import save_file

    tensors, aliases = dedupe_state_dict(state_dict)
    meta = {"format": "pt", **(dict(metadata) if metadata else {})}
    save_file(tensors, str(path), metadata=meta)
    return aliases


def load_weights(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict[str, Tensor]:
    """Read every tensor of a ``.safetensors`` file (never a pickle).

    Raises:
        MissingFileError: If the file does not exist.
        CorruptFileError: If it is not a readable safetensors file.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"weights file not found: {path}. A pretrained folder holds {WEIGHTS_NAME}.")
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CorruptFileError(f"{path} is not a readable safetensors file: {exc}") from exc


def load_weights_strict(module: nn.Module, tensors: Mapping[str, Tensor], source: str = "state_dict") -> None:
    """Load ``tensors`` into ``module`` strictly (aliases of shared tensors are filled in).

    Args:
        module: The freshly built model.
        tensors: Name -> tensor as written by :func:`save_weights`.
        source: Name of the file for messages.

    Raises:
        WeightsMismatchError: Listing every missing, unexpected and shape-mismatched key.
    """
    own = module.state_dict()
    aliases = shared_tensor_aliases(own)
    expected = {k: v for k, v in own.items() if k not in aliases}
    check_state_dict(expected, tensors, what=type(module).__name__, source=source)
    full = dict(tensors)
    for alias, canonical in aliases.items():
        full[alias] = full[canonical]
    module.load_state_dict(full, strict=True)


def new_weights_id() -> str:
    """A random id written into both ``model.safetensors`` (header metadata) and ``config.json`` of one save,
    so a config and weights from two different saves are never loaded together (see :func:`check_weights_id`).
    """
    return uuid.uuid4().hex


def read_weights_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The string metadata of a ``.safetensors`` header (reads the header only); for a sharded folder's
    ``model.safetensors.index.json``, the header of its first shard (every shard carries the same metadata).

    Raises:
        CorruptFileError: If it is not a readable safetensors file (or index).
    """
    from safetensors import SafetensorError, safe_open

    if Path(path).name == WEIGHTS_INDEX_NAME:
        path = Path(path).parent / sorted(_shard_keys(path))[0]
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise CorruptFileError(f"{path} is not a readable safetensors file: {exc}") from exc


def check_weights_id(config_path: str | os.PathLike, config: Mapping,
                     weights_path: str | os.PathLike) -> None:
    """Refuse a ``config.json`` and ``model.safetensors`` written by two different saves.

    ``save_pretrained`` renames the weights into the folder before the config, so a save cut short between
    the two renames leaves weights whose id the config lacks: refused. Folders written before hpskit
    recorded ``weights_id`` have it in neither file and pass; a weights file written by other tools (no id)
    next to a config with an id is loaded with a warning.

    Raises:
        CorruptFileError: If the weights carry an id and the config holds another one (or none).
    """
    in_config = config.get("weights_id")
    in_weights = read_weights_metadata(weights_path).get("weights_id")
    if in_config == in_weights:
        return
    if in_weights is None:
        logger.warning("%s has no weights_id (not written by save_pretrained); %s expects %s", weights_path,
                       config_path, in_config)
        return
    raise CorruptFileError(
        f"{config_path} and {weights_path} come from different saves (weights_id {in_config!r} in the "
        f"config, {in_weights!r} in the weights): the folder was overwritten part-way or its files were "
        "mixed by hand. Save the model again, or copy both files from one save."
    )


#: Index of a sharded weight folder (the Hugging Face layout: ``{"metadata": {"total_size": N},
#: "weight_map": {key: shard file}}``).
WEIGHTS_INDEX_NAME = "model.safetensors.index.json"


def save_weights_sharded(
    state_dict: Mapping[str, Tensor],
    folder: str | os.PathLike,
    max_shard_bytes: int,
    dtype: torch.dtype | None = None,
    metadata: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write a state_dict as one ``model.safetensors`` or, if larger than ``max_shard_bytes``, as shards
    ``model-0000i-of-0000n.safetensors`` plus ``model.safetensors.index.json`` (the Hugging Face layout).

    Args:
        state_dict: Name -> tensor (shared tensors are written once).
        folder: Existing output folder.
        max_shard_bytes: Largest shard payload in bytes (a single tensor larger than that gets its own shard).
        dtype: Cast floating-point tensors to this dtype first (e.g. ``torch.float16``); others are kept.
        metadata: String metadata stored in each file header.

    Returns:
        The files written (shards first, then the index).
    """
    import json

    from safetensors.torch import save_file

    folder = Path(folder)
    tensors, _ = dedupe_state_dict(state_dict)
    if dtype is not None:
        tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    meta = {"format": "pt", **(dict(metadata) if metadata else {})}
    total = sum(v.numel() * v.element_size() for v in tensors.values())
    if total <= max_shard_bytes:
        save_file(tensors, str(folder / WEIGHTS_NAME), metadata=meta)
        return [folder / WEIGHTS_NAME]
    shards: list[dict[str, Tensor]] = [{}]
    size = 0
    for k, v in tensors.items():
        nbytes = v.numel() * v.element_size()
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][k] = v
        size += nbytes
    n = len(shards)
    files, weight_map = [], {}
    for i, shard in enumerate(shards, 1):
        name = f"model-{i:05d}-of-{n:05d}.safetensors"
        save_file(shard, str(folder / name), metadata=meta)
        files.append(folder / name)
        weight_map.update(dict.fromkeys(shard, name))
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    (folder / WEIGHTS_INDEX_NAME).write_text(json.dumps(index, indent=2) + "\n")
    return [*files, folder / WEIGHTS_INDEX_NAME]


def _shard_keys(index_path: str | os.PathLike) -> dict[str, set[str]]:
    """Shard file name → the keys an index places in it.

    Raises:
        MissingFileError: If the index is missing.
        CorruptFileError: If it is not JSON with a non-empty ``weight_map`` object, or names a shard outside
            its folder.
    """
    import json

    index_path = Path(index_path)
    if not index_path.is_file():
        raise MissingFileError(f"weights index not found: {index_path}.")
    try:
        weight_map = json.loads(index_path.read_text())["weight_map"]
        if not isinstance(weight_map, dict) or not weight_map:
            raise TypeError("weight_map is not a non-empty object")
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptFileError(f"{index_path} is not a safetensors index (needs a 'weight_map' object): "
                               f"{exc}") from exc
    shards: dict[str, set[str]] = {}
    for key, shard in weight_map.items():
        if Path(str(shard)).name != shard:
            raise CorruptFileError(f"{index_path} names a shard outside its folder: {shard!r}.")
        shards.setdefault(shard, set()).add(key)
    return shards


def load_sharded_weights(index_path: str | os.PathLike, device: str | torch.device = "cpu"
                         ) -> dict[str, Tensor]:
    """Read every tensor of a sharded folder through its ``model.safetensors.index.json``.

    Raises:
        MissingFileError: If the index or a shard it names is missing.
        CorruptFileError: If the index is not valid JSON with a ``weight_map``, a shard is unreadable, or a
            shard's keys disagree with the index.
    """
    index_path = Path(index_path)
    out: dict[str, Tensor] = {}
    for shard, want in sorted(_shard_keys(index_path).items()):
        tensors = load_weights(index_path.parent / shard, device)
        if set(tensors) != want:
            raise CorruptFileError(f"{index_path.parent / shard} holds {sorted(set(tensors) ^ want)[:5]}... "
                                   "which the index does not place there (or lacks keys it should hold).")
        out.update(tensors)
    return out
