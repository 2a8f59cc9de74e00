"""Typed recipe configs: a dataclass schema, a YAML file and ``key=value`` overrides (OmegaConf structured).

A recipe describes its settings as nested ``@dataclass`` classes. :func:`load_config` reads a YAML file that
mirrors them, applies command-line overrides such as ``optim.lr=1e-4 model.encoder=hrnet_w18``, and returns
an instance of the schema. Every problem is collected before anything runs: unknown keys (with the closest
known names), values of the wrong type, malformed overrides, required values left missing, and whatever the
dataclasses' own ``__post_init__`` / ``validate()`` checks report. They are raised together in one
:class:`~hpskit.core.ConfigError`, as torchtune's validator does.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Cfg:
    ...     steps: int = 10
    ...     lr: float = 1e-5
    >>> load_config(Cfg, overrides=["lr=1e-4"]).lr
    0.0001
    >>> try:
    ...     load_config(Cfg, overrides=["lrr=1", "steps=ten"])
    ... except ConfigError as e:
    ...     print(str(e).splitlines()[0])
    Cfg: 2 problem(s) in the configuration:
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from hpskit.core import ConfigError, MissingFileError

__all__ = ["load_config", "parse_overrides", "config_to_yaml", "save_config", "config_diff",
           "check_resume_config"]

T = TypeVar("T")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader reading ``1e-4`` as a float (YAML 1.2 style; PyYAML 1.1 keeps it a string)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


def _yaml(text: str):
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def _flatten(data: Mapping, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested mapping → ``[(dotted.key, leaf value)]``; lists and empty dicts are leaves."""
    out: list[tuple[str, Any]] = []
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and len(v) > 0:
            out.extend(_flatten(v, key + "."))
        else:
            out.append((key, v))
    return out


def parse_overrides(overrides: Iterable[str]) -> tuple[list[tuple[str, Any]], list[str]]:
    """Parse ``key=value`` strings (values are YAML: ``1e-4``, ``true``, ``[1, 2]``, ``null``).

    Args:
        overrides: Strings such as ``"optim.lr=1e-4"``.

    Returns:
        ``(pairs, problems)``: the parsed ``(dotted key, value)`` pairs and one message per bad string.
    """
    pairs, problems = [], []
    for item in overrides:
        key, sep, raw = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(f"override {item!r} is not of the form key=value (e.g. optim.lr=1e-4)")
            continue
        try:
            value = _yaml(raw) if raw.strip() else ""
        except yaml.YAMLError as e:
            problems.append(f"override {item!r}: the value is not valid YAML ({e.__class__.__name__})")
            continue
        pairs.append((key.lstrip("+"), value))
    return pairs, problems


def _known_keys(node: DictConfig, prefix: str = "") -> list[str]:
    keys = []
    for k in node.keys():
        full = f"{prefix}{k}"
        keys.append(full)
        child = node._get_node(k)
        if isinstance(child, DictConfig) and not child._is_missing() and not child._is_none():
            keys.extend(_known_keys(child, full + "."))
    return keys


def _explain(key: str, err: Exception, known: Sequence[str]) -> str:
    msg = str(err).split("\n")[0].strip()
    if "not in struct" in msg or "Key '" in msg and "not in" in msg:
        close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown key {key!r}{hint}"
    return f"{key}: {msg}"


def _apply(cfg: DictConfig, pairs: Sequence[tuple[str, Any]], origin: str, known: Sequence[str],
           problems: list[str]) -> None:
    for key, value in pairs:
        try:
            OmegaConf.update(cfg, key, value, merge=True)
        except (OmegaConfBaseException, ValueError, TypeError, KeyError) as e:
            # OmegaConf cannot build ``list[tuple[...]]`` items from YAML lists, but accepts tuples.
            if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
                try:
                    OmegaConf.update(cfg, key, [tuple(v) for v in value], merge=True)
                    continue
                except (OmegaConfBaseException, ValueError, TypeError, KeyError):
                    pass
            problems.append(f"{origin}: {_explain(key, e, known)}")


def _missing(cfg: DictConfig) -> list[str]:
    return sorted(OmegaConf.missing_keys(cfg))


def _validate_tree(obj: Any, path: str, problems: list[str]) -> None:
    """Call ``validate()`` on every nested dataclass that has one, collecting ConfigError messages."""
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        return
    for f in dataclasses.fields(obj):
        _validate_tree(getattr(obj, f.name), f"{path}{f.name}.", problems)
    check = getattr(obj, "validate", None)
    if callable(check):
        try:
            result = check()
        except ConfigError as e:
            problems.append(f"{path.rstrip('.') or type(obj).__name__}: {e}")
            return
        if isinstance(result, (list, tuple)):
            problems.extend(f"{path.rstrip('.') or type(obj).__name__}: {p}" for p in result)


def load_config(schema: type[T], path: str | os.PathLike | None = None, overrides: Iterable[str] = (),
                *, extra: Mapping[str, Any] | None = None) -> T:
    """Build a ``schema`` instance from defaults, a YAML file and ``key=value`` overrides (in that order).

    Args:
        schema: The (nested) dataclass class describing every setting.
        path: YAML file mirroring the schema; None uses the defaults only.
        overrides: ``key=value`` strings, applied after the file.
        extra: A mapping applied between the file and the overrides (e.g. values set by a launcher).

    Returns:
        An instance of ``schema`` (nested dataclasses instantiated, ``__post_init__`` run).

    Raises:
        MissingFileError: If ``path`` does not exist.
        ConfigError: Listing every problem: unknown keys (with suggestions), wrong types, malformed
            overrides, missing required values and the schema's own validation messages.
    """
    name = schema.__name__
    base = OmegaConf.structured(schema)
    known = _known_keys(base)
    problems: list[str] = []
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise MissingFileError(f"{name}: config file '{path}' not found. Pass an existing YAML file, "
                                   f"e.g. --config recipes/dpose/configs/smoke.yaml.")
        try:
            data = _yaml(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{name}: '{path}' is not valid YAML: {e}") from e
        if not isinstance(data, Mapping):
            raise ConfigError(f"{name}: '{path}' must hold a mapping at the top level; got "
                              f"{type(data).__name__}.")
        _apply(base, _flatten(data), str(path.name), known, problems)
    if extra:
        _apply(base, _flatten(extra), "extra", known, problems)
    pairs, bad = parse_overrides(overrides)
    problems.extend(f"command line: {b}" for b in bad)
    _apply(base, pairs, "command line", known, problems)
    missing = _missing(base)
    for key in missing:
        problems.append(f"{key}: required value is missing (set it in the YAML or as {key}=...)")
    obj = None
    # Failed updates were not applied, so the structured config is still valid: validate what was set.
    if not missing:
        try:
            obj = OmegaConf.to_object(base)
        except (ConfigError, OmegaConfBaseException, ValueError, TypeError) as e:
            problems.append(str(e).split("\n")[0])
    if obj is not None:
        _validate_tree(obj, "", problems)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(f"{name}: {len(problems)} problem(s) in the configuration:\n{lines}")
    return obj  # type: ignore[return-value]


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def config_to_yaml(config: Any) -> str:
    """The resolved config as YAML text (dataclass fields in declaration order).

    Args:
        config: A dataclass instance.

    Returns:
        YAML text that :func:`load_config` reads back to an equal instance.
    """
    return yaml.safe_dump(_plain(config), sort_keys=False, default_flow_style=None, width=110)


def save_config(config: Any, path: str | os.PathLike) -> Path:
    """Write :func:`config_to_yaml` of ``config`` to ``path`` atomically (temporary file + rename)."""
    from .checkpoint import atomic_write_bytes

    return atomic_write_bytes(config_to_yaml(config).encode(), path)


def config_diff(old: Any, new: Any) -> dict[str, tuple[Any, Any]]:
    """Leaf-by-leaf differences of two configs (dataclasses, mappings or :func:`config_to_yaml` text).

    Returns:
        ``{"dotted.key": (old value, new value)}``; a key present on one side only has ``None`` on the other
        (sorted by key).
    """
    def flat(c: Any) -> dict[str, Any]:
        data = _yaml(c) if isinstance(c, str) else _plain(c)
        return dict(_flatten(data or {}))

    a, b = flat(old), flat(new)
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def check_resume_config(saved: Any, new: Any, frozen: Sequence[str] = ("model",),
                        source: str = "the checkpoint") -> dict[str, tuple[Any, Any]]:
    """Compare the config a run was saved with against the one it resumes with, before anything is written.

    Fields under a ``frozen`` prefix shape the weights (e.g. ``model.*``): a change there cannot resume and
    raises. Other changes (a longer ``runtime.max_steps``, another ``log.every``) are allowed and returned.

    Args:
        saved: The saved config (:func:`config_to_yaml` text, a mapping or a dataclass).
        new: The config of this run.
        frozen: Dotted prefixes that must not change.
        source: Where ``saved`` comes from, for the message.

    Returns:
        Every differing field, ``{"dotted.key": (saved, new)}``.

    Raises:
        ConfigError: Listing each frozen field that differs, with both values.
    """
    diff = config_diff(saved, new)
    bad = {k: v for k, v in diff.items() if any(k == f or k.startswith(f + ".") for f in frozen)}
    if bad:
        lines = "\n".join(f"  - {k}: {a!r} in {source}, {b!r} now" for k, (a, b) in bad.items())
        raise ConfigError(
            f"cannot resume from {source}: {len(bad)} field(s) that shape the weights differ:\n{lines}\n"
            f"Fix: resume with the saved values, or start a new run (another output_dir, or "
            "checkpoint.resume=never). Nothing in the run folder was changed."
        )
    return diff
