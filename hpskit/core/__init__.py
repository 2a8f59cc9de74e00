"""Core utilities shared by every subpackage: errors, input checks, strict state_dict comparison,
registries, file lookup, restricted unpickling, shared constants."""

from .assets import BODY_MODELS_ENV, find_file, user_data_dir
from .checks import check_finite, check_shape, check_tensor, format_shape
from .constants import IMAGENET_MEAN, IMAGENET_STD
from .errors import (
    ConfigError,
    CorruptFileError,
    HPSKitError,
    MissingFileError,
    NoPersonError,
    ShapeError,
    UnknownNameError,
    WeightsMismatchError,
    WriteFailedError,
)
from .files import (
    atomic_write,
    atomic_write_bytes,
    atomic_write_text,
    publish_files,
    staging_folder,
    write_failed,
)
from .modes import eval_mode, model_lock
from .pickles import (
    RefusedGlobalError,
    RestrictedUnpickler,
    data_only_global,
    restricted_pickle_load,
    restricted_pickle_module,
)
from .registry import Registry
from .state_dicts import check_state_dict

__all__ = [
    "BODY_MODELS_ENV",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ConfigError",
    "CorruptFileError",
    "HPSKitError",
    "MissingFileError",
    "NoPersonError",
    "Registry",
    "ShapeError",
    "UnknownNameError",
    "WeightsMismatchError",
    "WriteFailedError",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "eval_mode",
    "model_lock",
    "check_finite",
    "check_shape",
    "check_state_dict",
    "check_tensor",
    "find_file",
    "format_shape",
    "publish_files",
    "restricted_pickle_load",
    "restricted_pickle_module",
    "data_only_global",
    "RefusedGlobalError",
    "RestrictedUnpickler",
    "staging_folder",
    "user_data_dir",
    "write_failed",
]
