"""The error hierarchy of hpskit.

Every error subclasses both :class:`HPSKitError` and the matching built-in, so callers can catch
either ``hpskit.core.ShapeError`` or plain ``ValueError``.
"""

from __future__ import annotations

__all__ = [
    "HPSKitError",
    "ShapeError",
    "MissingFileError",
    "CorruptFileError",
    "WeightsMismatchError",
    "ConfigError",
    "UnknownNameError",
    "WriteFailedError",
    "NoPersonError",
]


class HPSKitError(Exception):
    """Base class of every error raised by hpskit."""


class ShapeError(HPSKitError, ValueError):
    """A tensor has the wrong rank, size, dtype or values.

    Attributes:
        expected_shape: The expected symbolic shape, e.g. ``("B", 3, 224, 224)``.
        actual_shape: The shape that was given.
    """

    def __init__(self, message: str, expected_shape=None, actual_shape=None):
        super().__init__(message)
        self.expected_shape = expected_shape
        self.actual_shape = actual_shape


class MissingFileError(HPSKitError, FileNotFoundError):
    """A required file (body model, dataset file, checkpoint) is not where it was looked for."""


class CorruptFileError(HPSKitError, ValueError):
    """A file exists but lacks a key or holds an array of the wrong shape."""


class WeightsMismatchError(HPSKitError, RuntimeError):
    """Strict weight loading failed: missing, unexpected or mis-shaped keys."""


class ConfigError(HPSKitError, ValueError):
    """A configuration has unknown keys or invalid values (all problems are listed at once)."""


class UnknownNameError(HPSKitError, KeyError):
    """A registry lookup failed; the message lists the closest registered names."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class WriteFailedError(HPSKitError, OSError):
    """A file could not be written (no space left, quota, permissions); the previous file is untouched and no
    temporary file is left behind (:mod:`hpskit.core.files`)."""

    def __str__(self) -> str:  # OSError formats its args as "[Errno n] ..."; keep the one readable line
        return str(self.args[0]) if self.args else ""


class NoPersonError(HPSKitError, ValueError):
    """A person detector found nobody where people were needed (e.g. ``predict`` without boxes)."""
