"""Weights on disk and on the Hugging Face Hub: ``save_pretrained`` / ``from_pretrained`` / ``push_to_hub``.

A pretrained folder = ``config.json`` (dataclass config, sorted, with ``model_type`` and ``hpskit_version``)
+ ``model.safetensors`` + ``README.md`` model card. Loading is strict (every missing, unexpected or
mis-shaped key is listed in a :class:`hpskit.core.WeightsMismatchError`) and never unpickles anything.
"""

from .card import CARD_NAME, ModelCardInfo, render_model_card, write_model_card
from .config import (
    CONFIG_NAME,
    RESERVED_CONFIG_KEYS,
    config_from_dict,
    config_to_dict,
    read_config,
    write_config,
)
from .mixin import HubMixin, resolve_pretrained, save_pretrained, unwrap_model
from .weights import (
    WEIGHTS_INDEX_NAME,
    WEIGHTS_NAME,
    check_weights_id,
    dedupe_state_dict,
    load_sharded_weights,
    load_weights,
    load_weights_strict,
    new_weights_id,
    read_weights_metadata,
    save_weights,
    save_weights_sharded,
    shared_tensor_aliases,
)

__all__ = [
    "CARD_NAME",
    "CONFIG_NAME",
    "RESERVED_CONFIG_KEYS",
    "WEIGHTS_INDEX_NAME",
    "WEIGHTS_NAME",
    "HubMixin",
    "ModelCardInfo",
    "check_weights_id",
    "config_from_dict",
    "config_to_dict",
    "dedupe_state_dict",
    "load_weights",
    "load_sharded_weights",
    "load_weights_strict",
    "save_weights_sharded",
    "new_weights_id",
    "read_weights_metadata",
    "read_config",
    "render_model_card",
    "resolve_pretrained",
    "save_pretrained",
    "save_weights",
    "shared_tensor_aliases",
    "unwrap_model",
    "write_config",
    "write_model_card",
]
