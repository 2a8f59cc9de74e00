"""Weights on disk and on the Hugging Face Hub: ``save_pretrained`` / ``from_pretrained`` / ``push_to_hub``.

A pretrained folder = ``config.json`` (dataclass config, sorted, with ``model_type`` and ``hpskit_version``)
+ ``model.safetensors`` + ``README.md`` model card. Loading is strict (every missing, unexpected or
mis-shaped key is listed in a :class:`hpskit.core.WeightsMismatchError`) and never unpickles anything.

Why not ``huggingface_hub.ModelHubMixin`` / ``PyTorchModelHubMixin``
--------------------------------------------------------------------
The folder layout and the Hub plumbing are the Hub's own: the same file names (``config.json``,
``model.safetensors``, ``model.safetensors.index.json``, ``README.md``), downloads through
``hf_hub_download`` and its cache, uploads through ``HfApi.create_repo`` / ``upload_folder``. The mixin
classes themselves cannot give hpskit what it promises (read in huggingface_hub 2.5; the loading and
config points also run against it):

* **Strict loading with the full listing.** ``PyTorchModelHubMixin._from_pretrained`` defaults to
  ``strict=False``, so a model whose keys differ from the file's loads without a word, the missing
  parameters left at their initial values. It loads through ``safetensors.torch.load_model``, which calls
  ``load_state_dict(strict=False)``: a shape mismatch raises torch's bare ``RuntimeError`` that names the
  mis-shaped keys but not the missing or unexpected ones (those come, with ``strict=True``, only once the
  shapes agree). hpskit compares name → shape maps before copying anything and lists every missing,
  unexpected and mis-shaped key, grouped by module, in one typed error (:func:`hpskit.core.check_state_dict`).
* **No pickle.** The mixin falls back to ``pytorch_model.bin`` through ``torch.load`` when
  ``model.safetensors`` is absent; hpskit reads safetensors only.
* **Sharded float16 folders.** The mixin reads one ``model.safetensors`` and knows no
  ``model.safetensors.index.json``; the built-in weights are float16 shards
  (:func:`save_weights_sharded`, :func:`load_sharded_weights`, which also checks every shard's keys
  against the index).
* **A typed, validated config.** The mixin decodes a dataclass config with ``datacls(**known_keys)``:
  unknown keys are dropped silently and values are not checked (``"num_parts": "23"`` reaches the model
  as a string and fails somewhere inside ``__init__``). If a Hub repository has no ``config.json`` it logs
  at INFO level and goes on without one. hpskit decodes ``config.json`` with the typed path of the YAML
  recipes (:func:`config_from_dict`: every unknown key, missing field and wrong type in one
  ``ConfigError``), checks ``model_type``, and refuses a folder without a config.
* **weights_id.** hpskit writes one random id into ``config.json`` and into every weights file's header
  and checks on load that they match (:func:`check_weights_id`), so a config and weights from two
  different saves are not loaded together; the mixin has nothing like it.
* **Atomic folder writes.** The mixin's ``save_pretrained`` first deletes ``config.json``, then writes the
  weights, config and card in place: a crash or a full disk leaves a folder with new weights and no or
  old config. hpskit writes everything into a staging folder and renames the files in, config last
  (:func:`hpskit.core.staging_folder`, :func:`hpskit.core.publish_files`).
* **One revision for all files.** The mixin downloads ``config.json`` and the weights with the same
  branch name in two calls, so a push in between mixes two commits; hpskit pins the later files to the
  commit of the first.
* **Built-in weight names and local paths.** Anything that is not an existing folder is a Hub id to the
  mixin. ``DPoSE.from_pretrained("dpose_efficientnet_lite0.synthetic")`` resolves a built-in name to
  the weights installed with the package (offline, no Hub); a mistyped local path
  (``weights/dpose_w18`` next to an existing ``weights/``) is reported with the closest folder names
  instead of being sent to the Hub.
* **Offline behaviour.** Both go through the Hub cache, so ``HF_HUB_OFFLINE=1`` works once files are
  cached; an uncached file is hpskit's ``MissingFileError`` saying how to fix it, where the mixin raises
  the Hub's own ``LocalEntryNotFoundError``.
* **The model card.** ``push_to_hub`` never overwrites a repository's existing card; the mixin's
  ``push_to_hub`` saves into a fresh temporary folder, so it always generates and uploads a new one.

What would remain of the mixin is its ``__init_subclass__`` card metadata and its ``__new__`` that records
``__init__`` arguments as the config; hpskit models take one config dataclass instead, so neither is
needed. Keeping our own ~400 lines over ``huggingface_hub``'s download/upload functions is the smaller
dependency.
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
