"""A small registry of named factories (timm-style) with helpful misses.

Example:
    >>> reg = Registry("encoder")
    >>> @reg.register("tiny")
    ... def tiny():
    ...     return 1
    >>> reg.create("tiny")
    1
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from .errors import UnknownNameError

__all__ = ["Registry"]


class Registry:
    """Maps names to factory callables.

    Args:
        kind: What the registry holds (used in messages), e.g. ``"encoder"``.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Callable[..., Any]] = {}

    def register(self, name: str | None = None) -> Callable[[Callable], Callable]:
        """Decorator registering ``fn`` under ``name`` (default: the function's name)."""

        def deco(fn: Callable) -> Callable:
            key = name or fn.__name__
            if key in self._entries and self._entries[key] is not fn:
                raise ValueError(f"{self.kind} '{key}' is already registered.")
            self._entries[key] = fn
            return fn

        return deco

    def get(self, name: str) -> Callable[..., Any]:
        """Return the factory registered as ``name``.

        Raises:
            UnknownNameError: If ``name`` is unknown; the message lists the closest names.
        """
        base = name.split(".")[0]
        if base not in self._entries:
            close = difflib.get_close_matches(base, list(self._entries), n=5, cutoff=0.3)
            hint = f" Closest: {', '.join(close)}." if close else ""
            raise UnknownNameError(
                f"Unknown {self.kind} '{name}'.{hint} Registered: {', '.join(sorted(self._entries))}."
            )
        return self._entries[base]

    def create(self, name: str, *args, **kwargs) -> Any:
        """Call the factory registered as ``name``."""
        return self.get(name)(*args, **kwargs)

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __repr__(self) -> str:
        return f"Registry(kind={self.kind!r}, names={self.names()})"
