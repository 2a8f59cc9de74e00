"""Core utilities shared by every subpackage: errors, input checks, registries, file lookup, restricted
unpickling."""

from .assets import BODY_MODELS_ENV, find_file, user_data_dir
from .checks import check_finite, check_shape, check_tensor, format_shape
from .errors import (
    ConfigError,
    CorruptFileError,
    HPSKitError,
    MissingFileError,
    NoPersonError,
    ShapeError,
    UnknownNameError,
    WeightsMismatchError,
)
from .pickles import restricted_pickle_load
from .registry import Registry

__all__ = [
    "BODY_MODELS_ENV",
    "ConfigError",
    "CorruptFileError",
    "HPSKitError",
    "MissingFileError",
    "NoPersonError",
    "Registry",
    "ShapeError",
    "UnknownNameError",
    "WeightsMismatchError",
    "check_finite",
    "check_shape",
    "check_tensor",
    "find_file",
    "format_shape",
    "restricted_pickle_load",
    "user_data_dir",
]
