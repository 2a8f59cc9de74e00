"""Dataclass configs <-> ``config.json``: sorted, indented JSON with ``model_type`` and ``hpskit_version``.

A model's config is a (possibly nested) dataclass. :func:`config_to_dict` turns it into JSON-ready data
(tuples become lists, paths become strings); :func:`config_from_dict` rebuilds the dataclass recursively from
the field annotations and lists *every* unknown or missing key at once in a :class:`ConfigError`.

Example:
    >>> from dataclasses import dataclass, field
    >>> @dataclass
    ... class Head:
    ...     hidden: int = 32
    >>> @dataclass
    ... class Cfg:
    ...     name: str = "hrnet_w48"
    ...     head: Head = field(default_factory=Head)
    >>> config_to_dict(Cfg())
    {'name': 'hrnet_w48', 'head': {'hidden': 32}}
    >>> config_from_dict(Cfg, {"head": {"hidden": 8}})
    Cfg(name='hrnet_w48', head=Head(hidden=8))
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from pathlib import Path, PurePath
from typing import Any

from hpskit.core import ConfigError, CorruptFileError, MissingFileError, atomic_write_text

__all__ = [
    "CONFIG_NAME",
    "RESERVED_CONFIG_KEYS",
    "config_to_dict",
    "config_from_dict",
    "write_config",
    "read_config",
]

CONFIG_NAME = "config.json"
# Written next to the config fields; a config dataclass may not use these names.
RESERVED_CONFIG_KEYS = ("model_type", "hpskit_version", "weights_id")


def _is_dataclass_instance(obj: Any) -> bool:
    return dataclasses.is_dataclass(obj) and not isinstance(obj, type)


def _to_json(value: Any, path: str) -> Any:
    if _is_dataclass_instance(value):
        return {
            f.name: _to_json(getattr(value, f.name), f"{path}.{f.name}") for f in dataclasses.fields(value)
        }
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise ConfigError(f"config field `{path}` has non-string keys {bad!r}; JSON needs str keys.")
        return {k: _to_json(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, PurePath):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ConfigError(
        f"config field `{path}` holds a {type(value).__name__} ({value!r}), which config.json cannot store; "
        "use bool/int/float/str/None, lists, dicts or nested dataclasses."
    )


def config_to_dict(config: Any) -> dict[str, Any]:
    """Convert a dataclass config (nested dataclasses allowed) to JSON-ready data.

    Args:
        config: A dataclass instance.

    Returns:
        A dict of the fields (nested dataclasses as dicts, tuples as lists, paths as strings).

    Raises:
        ConfigError: If ``config`` is not a dataclass instance, uses a reserved key, or holds a value
            JSON cannot store.
    """
    if not _is_dataclass_instance(config):
        raise ConfigError(
            f"`config` must be a dataclass instance (e.g. DPoSEConfig()); got {type(config).__name__}. "
            "hpskit stores configs as dataclasses so that config.json round-trips with type checks."
        )
    out = _to_json(config, type(config).__name__)
    clash = sorted(set(out) & set(RESERVED_CONFIG_KEYS))
    if clash:
        raise ConfigError(f"config field(s) {clash} are reserved for config.json metadata; rename them.")
    return out


def _field_types(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # string annotations naming local classes: fall back field by field
        pass
    out = {}
    for f in dataclasses.fields(cls):
        tp = f.type
        if isinstance(tp, str):
            # A nested dataclass default tells its type even when the annotation cannot be resolved.
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            tp = type(default) if _is_dataclass_instance(default) else Any
        out[f.name] = tp
    return out


def _convert(tp: Any, value: Any, path: str, errors: list[str]) -> Any:
    """Rebuild ``value`` (from JSON) as annotation ``tp``; collect problems in ``errors``."""
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            errors.append(f"`{path}` must be a mapping for {tp.__name__}; got {type(value).__name__}")
            return value
        return _build(tp, value, path, errors)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:  # Optional[X]
            return _convert(options[0], value, path, errors)
        dcs = [a for a in options if isinstance(a, type) and dataclasses.is_dataclass(a)]
        if len(dcs) == 1 and isinstance(value, dict):
            return _build(dcs[0], value, path, errors)
        return value
    if origin is tuple and isinstance(value, (list, tuple)):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{path}[{i}]", errors) for i, v in enumerate(value))
        if args and len(args) == len(value):
            return tuple(_convert(a, v, f"{path}[{i}]", errors) for i, (a, v) in enumerate(zip(args, value)))
        return tuple(value)
    if origin is list and isinstance(value, list) and args:
        return [_convert(args[0], v, f"{path}[{i}]", errors) for i, v in enumerate(value)]
    if origin is dict and isinstance(value, dict) and len(args) == 2:
        return {k: _convert(args[1], v, f"{path}.{k}", errors) for k, v in value.items()}
    if tp is tuple and isinstance(value, list):
        return tuple(value)
    if tp in (Path, PurePath) and isinstance(value, str):
        return Path(value)
    return _check_scalar(tp, value, path, errors)


def _check_scalar(tp: Any, value: Any, path: str, errors: list[str]) -> Any:
    """Check a JSON scalar against a ``bool``/``int``/``float``/``str`` annotation (no silent coercion:
    ``"23"`` is not an int, ``32.7`` is not an int, ``true`` is not a number); ints pass for floats."""
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif tp is str:
        ok = isinstance(value, str)
    else:
        return value
    if not ok:
        errors.append(f"`{path}` must be {tp.__name__}; got {type(value).__name__} {value!r}")
    return value


def _build(cls: type, data: dict, path: str, errors: list[str]) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = _field_types(cls)
    for key in sorted(set(data) - set(fields)):
        errors.append(f"unknown key `{path}.{key}`" if path else f"unknown key `{key}`")
    kwargs = {}
    missing = False
    for name, f in fields.items():
        sub = f"{path}.{name}" if path else name
        if name in data:
            kwargs[name] = _convert(hints.get(name, f.type), data[name], sub, errors)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            errors.append(f"missing required key `{sub}`")
            missing = True
    if missing:
        return None
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        errors.append(f"{cls.__name__}({path or 'config'}) rejected the values: {exc}")
        return None


def config_from_dict(config_class: type, data: dict[str, Any], *, ignore: tuple[str, ...] = ()) -> Any:
    """Rebuild a (nested) dataclass config from a dict such as the content of ``config.json``.

    Args:
        config_class: The dataclass type to build.
        data: Field values; nested dataclass fields as dicts, tuples as lists.
        ignore: Top-level keys to skip (e.g. :data:`RESERVED_CONFIG_KEYS`).

    Returns:
        An instance of ``config_class``; fields absent from ``data`` keep their defaults.

    Raises:
        ConfigError: Listing every unknown key, missing required key or rejected value (dotted paths).
    """
    if not (isinstance(config_class, type) and dataclasses.is_dataclass(config_class)):
        raise ConfigError(
            f"`config_class` must be a dataclass type; got {config_class!r}. Set the model's `config_class` "
            "class attribute to its config dataclass."
        )
    if not isinstance(data, dict):
        raise ConfigError(f"config data must be a mapping; got {type(data).__name__}.")
    errors: list[str] = []
    out = _build(config_class, {k: v for k, v in data.items() if k not in ignore}, "", errors)
    if errors:
        lines = "\n  ".join(errors)
        raise ConfigError(
            f"cannot build {config_class.__name__} from the config ({len(errors)} problem(s)):\n  {lines}\n"
            f"Fix: remove/rename these keys or use the hpskit version that wrote the config."
        )
    return out


def write_config(data: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``data`` as sorted, indented JSON (with a trailing newline) to ``path``."""
    return atomic_write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", path)


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``config.json``.

    Raises:
        MissingFileError: If the file does not exist.
        CorruptFileError: If it is not a JSON object.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"config file not found: {path}. A pretrained folder holds {CONFIG_NAME}.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CorruptFileError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise CorruptFileError(f"{path} must hold a JSON object; got {type(data).__name__}.")
    return data
