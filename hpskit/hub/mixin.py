"""``save_pretrained`` / ``from_pretrained`` / ``push_to_hub`` for any ``nn.Module`` with a dataclass config.

A pretrained folder holds ``config.json`` (the config dataclass, sorted and indented, plus ``model_type`` and
``hpskit_version``), ``model.safetensors`` and a ``README.md`` model card. It is read from a local folder or
from a Hub repository through ``huggingface_hub.hf_hub_download`` (the normal Hub cache, so
``HF_HUB_OFFLINE=1`` works once the files are cached). Loading is **strict** and never unpickles anything.

The model class inherits :class:`HubMixin` next to ``nn.Module``, sets ``config_class`` and takes the config
as the only required ``__init__`` argument:

```python
@dataclass
class TinyConfig:
    width: int = 4

class Tiny(nn.Module, HubMixin):
    config_class = TinyConfig
    model_type = "tiny"

    def __init__(self, config: TinyConfig):
        super().__init__()
        self.config = config
        self.fc = nn.Linear(config.width, 2)

Tiny(TinyConfig()).save_pretrained("out")
model = Tiny.from_pretrained("out")          # or "org/name", revision="v1.0"
```
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from torch import nn

from hpskit.core import ConfigError, MissingFileError, publish_files, staging_folder

from .card import CARD_NAME, ModelCardInfo, write_model_card
from .config import (
    CONFIG_NAME,
    RESERVED_CONFIG_KEYS,
    config_from_dict,
    config_to_dict,
    read_config,
    write_config,
)
from .weights import (
    WEIGHTS_INDEX_NAME,
    WEIGHTS_NAME,
    check_weights_id,
    load_sharded_weights,
    load_weights,
    load_weights_strict,
    new_weights_id,
    save_weights,
)

__all__ = ["HubMixin", "save_pretrained", "resolve_pretrained", "unwrap_model"]

logger = logging.getLogger(__name__)
_M = TypeVar("_M", bound="HubMixin")

# Something that is clearly a filesystem path rather than "org/name".
_PATHLIKE = re.compile(r"^(\.|~|/|[A-Za-z]:\\)|[\\]|/.*/")


def _version() -> str:
    from hpskit import __version__

    return __version__


def unwrap_model(model: nn.Module) -> nn.Module:
    """Strip DDP/``DataParallel`` wrappers (``.module``) and ``torch.compile`` (``._orig_mod``)."""
    while True:
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif type(model).__name__ == "OptimizedModule" and hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def save_pretrained(
    model: nn.Module,
    save_directory: str | os.PathLike,
    config: Any = None,
    *,
    card: ModelCardInfo | None = None,
    repo_id: str | None = None,
) -> Path:
    """Write ``config.json``, ``model.safetensors`` and (if absent) ``README.md`` into ``save_directory``.

    Args:
        model: The model (a DDP/DataParallel/compiled wrapper is unwrapped).
        save_directory: Output folder (created if needed).
        config: The model's dataclass config; defaults to ``model.config``.
        card: Model card content; defaults to the class attribute ``model_card``.
        repo_id: Hub id used in the card's usage snippet.

    Returns:
        The folder.

    Raises:
        ConfigError: If there is no config, it is not a dataclass, or not an instance of ``config_class``.
    """
    model = unwrap_model(model)
    config = config if config is not None else getattr(model, "config", None)
    if config is None:
        raise ConfigError(
            f"save_pretrained({type(model).__name__}): no config. Pass `config=` (a dataclass) or store it "
            "as `self.config` in __init__."
        )
    config_class = getattr(model, "config_class", None)
    if config_class is not None and not isinstance(config, config_class):
        raise ConfigError(
            f"`config` must be a {config_class.__name__} for {type(model).__name__}; "
            f"got {type(config).__name__}."
        )
    data = config_to_dict(config)
    model_type = getattr(model, "model_type", None) or type(model).__name__.lower()
    data.update(model_type=model_type, hpskit_version=_version())
    folder = Path(save_directory)
    # Staged next to the folder, then renamed in (weights, card, config last): a full disk or a crash while
    # writing leaves the old model; the shared weights_id makes a pair from two different saves detectable.
    weights_id = new_weights_id()
    data["weights_id"] = weights_id
    with staging_folder(folder) as stage:
        save_weights(model.state_dict(), stage / WEIGHTS_NAME,
                     metadata={"model_type": model_type, "hpskit_version": _version(),
                               "weights_id": weights_id})
        write_config(data, stage / CONFIG_NAME)
        names = [WEIGHTS_NAME]
        if not (folder / CARD_NAME).exists():
            write_model_card(stage, card if card is not None else getattr(model, "model_card", None),
                             model_type=model_type, cls_name=type(model).__name__,
                             repo=repo_id or str(folder))
            names.append(CARD_NAME)
        else:
            logger.info("keeping the existing model card %s", folder / CARD_NAME)
        publish_files(stage, folder, [*names, CONFIG_NAME])
    return folder


def resolve_pretrained(
    dir_or_hub_id: str | os.PathLike,
    filenames: tuple[str, ...] = (CONFIG_NAME, WEIGHTS_NAME),
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | bool | None = None,
    force_download: bool = False,
    local_files_only: bool = False,
) -> list[Path]:
    """Local paths of ``filenames`` from a folder or a Hub repository (downloaded into the Hub cache).

    Args:
        dir_or_hub_id: A local folder, or a Hub model id ``"org/name"``.
        filenames: Files to resolve.
        revision: Branch, tag or commit of a Hub repository (ignored for a folder).
        cache_dir: Hub cache folder (default: ``HF_HUB_CACHE``).
        token: Hub token (``None``: the logged-in one).
        force_download: Re-download even if cached.
        local_files_only: Only use the cache (also implied by ``HF_HUB_OFFLINE=1``).

    Returns:
        One path per file name.

    Raises:
        MissingFileError: If the folder, repository, revision or a file cannot be found (offline: not cached).
    """
    path = Path(dir_or_hub_id).expanduser()
    if path.is_dir():
        if revision is not None:
            logger.warning("`revision`=%r is ignored for the local folder %s", revision, path)
        out = [path / f for f in filenames]
        absent = [p.name for p in out if not p.is_file()]
        if absent:
            raise MissingFileError(
                f"pretrained folder {path} lacks {absent}; a folder written by save_pretrained holds "
                f"{list(filenames)}."
            )
        return out
    hub_id = str(dir_or_hub_id)
    if path.exists() or _PATHLIKE.search(hub_id):
        raise MissingFileError(
            f"`dir_or_hub_id`={hub_id!r} is neither a folder written by save_pretrained nor a Hub id "
            "'org/name'."
        )
    if path.parent.is_dir() and path.parent != Path("."):
        # "weights/dpose_w18" with a local weights/ folder is a mistyped path, not a Hub repository.
        near = sorted(p.name for p in path.parent.iterdir() if p.is_dir())
        guess = difflib.get_close_matches(path.name, near, n=3)
        raise MissingFileError(
            f"no local folder {path} ({path.parent}/ exists"
            + (f"; did you mean {', '.join(str(path.parent / g) for g in guess)}?)" if guess else
               f" and holds {near[:10]})" if near else " but holds no folder)")
            + f". Not trying the Hub id {hub_id!r}: {path.parent}/ is a local folder."
        )
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HFValidationError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    out: list[Path] = []
    for name in filenames:
        try:
            out.append(Path(hf_hub_download(
                hub_id, name, revision=revision, cache_dir=cache_dir, token=token,
                force_download=force_download, local_files_only=local_files_only,
                library_name="hpskit", library_version=_version(),
            )))
            # Pin the remaining files to the commit of the first, so a push in between cannot mix revisions.
            if re.fullmatch(r"[0-9a-f]{40}", out[-1].parent.name):
                revision = out[-1].parent.name
        except HFValidationError as exc:
            raise MissingFileError(f"{hub_id!r} is neither a local folder nor a valid Hub id: {exc}") from exc
        except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError) as exc:
            # LocalEntryNotFoundError (offline / local_files_only, not cached) is an EntryNotFoundError.
            raise MissingFileError(
                f"cannot get {name!r} of Hub repository {hub_id!r} (revision {revision or 'main'}): "
                f"{type(exc).__name__}: {exc}\nFix: check the id/revision, log in for private repositories, "
                "or when offline (HF_HUB_OFFLINE=1) download it first while online or pass a local folder."
            ) from exc
    return out


class HubMixin:
    """Adds ``save_pretrained``, ``from_pretrained`` and ``push_to_hub`` to an ``nn.Module`` subclass.

    Class attributes:
        config_class: The config dataclass; ``__init__(config)`` must accept an instance.
        model_type: Name written to ``config.json`` and checked on load (default: lower-case class name).
        model_card: :class:`ModelCardInfo` used for ``README.md``.
    """

    config_class: ClassVar[type | None] = None
    model_type: ClassVar[str | None] = None
    model_card: ClassVar[ModelCardInfo | None] = None

    def save_pretrained(
        self, save_directory: str | os.PathLike, config: Any = None, *, card: ModelCardInfo | None = None
    ) -> Path:
        """Write ``config.json``, ``model.safetensors`` and (if absent) ``README.md``.

        Args:
            save_directory: Output folder.
            config: The dataclass config (default ``self.config``).
            card: Model card content (default: the ``model_card`` class attribute).

        Returns:
            The folder.
        """
        return save_pretrained(self, save_directory, config, card=card)

    @classmethod
    def from_pretrained(
        cls: type[_M],
        dir_or_hub_id: str | os.PathLike,
        *,
        revision: str | None = None,
        map_location: str | torch.device = "cpu",
        cache_dir: str | os.PathLike | None = None,
        token: str | bool | None = None,
        force_download: bool = False,
        local_files_only: bool = False,
        dtype: torch.dtype | None = None,
        **config_overrides: Any,
    ) -> _M:
        """Build the model from ``config.json``, load ``model.safetensors`` strictly, return it in eval mode.

        Args:
            dir_or_hub_id: A folder written by :meth:`save_pretrained` or a Hub id ``"org/name"``.
            revision: Hub branch, tag or commit.
            map_location: Device of the returned model.
            cache_dir: Hub cache folder (default ``HF_HUB_CACHE``).
            token: Hub token.
            force_download: Re-download cached files.
            local_files_only: Only use the Hub cache.
            dtype: Optional dtype to cast the model to after loading.
            **config_overrides: Top-level config fields replacing the stored ones.

        Returns:
            The model, on ``map_location``, in eval mode.

        Raises:
            MissingFileError: If the folder/repository/file cannot be found.
            ConfigError: If the config has unknown/missing keys or is for another ``model_type``.
            WeightsMismatchError: Listing every missing, unexpected and shape-mismatched key.
        """
        if cls.config_class is None:
            raise ConfigError(f"{cls.__name__}.config_class is not set; set it to the config dataclass.")
        local = Path(dir_or_hub_id).expanduser()
        sharded = (local.is_dir() and not (local / WEIGHTS_NAME).is_file()
                   and (local / WEIGHTS_INDEX_NAME).is_file())  # a sharded local folder
        config_path, weights_path = resolve_pretrained(
            dir_or_hub_id, (CONFIG_NAME, WEIGHTS_INDEX_NAME if sharded else WEIGHTS_NAME), revision=revision,
            cache_dir=cache_dir, token=token, force_download=force_download,
            local_files_only=local_files_only,
        )
        data = read_config(config_path)
        want = cls.model_type or cls.__name__.lower()
        got = data.get("model_type")
        if got is not None and got != want:
            raise ConfigError(
                f"{config_path} is for model_type {got!r}, but {cls.__name__} expects {want!r}; "
                "load it with the matching class."
            )
        check_weights_id(config_path, data, weights_path)  # for a sharded folder: its index (first shard)
        data.update(config_overrides)
        config = config_from_dict(cls.config_class, data, ignore=RESERVED_CONFIG_KEYS)
        model = cls(config)
        tensors = load_sharded_weights(weights_path) if sharded else load_weights(weights_path, "cpu")
        load_weights_strict(model, tensors, source=str(weights_path))
        model.to(map_location)
        if dtype is not None:
            model.to(dtype)
        return model.eval()

    def push_to_hub(
        self,
        repo_id: str,
        *,
        config: Any = None,
        card: ModelCardInfo | None = None,
        private: bool | None = None,
        token: str | bool | None = None,
        revision: str | None = None,
        commit_message: str = "Upload hpskit model",
        create_pr: bool = False,
    ) -> Any:
        """Create (or reuse) a Hub repository and upload a :meth:`save_pretrained` folder to it.

        The model card is uploaded only if the repository has none yet (a card is never overwritten).

        Args:
            repo_id: ``"org/name"``.
            config: The dataclass config (default ``self.config``).
            card: Model card content.
            private: Visibility of a newly created repository.
            token: Hub token.
            revision: Branch to push to.
            commit_message: Commit message.
            create_pr: Open a pull request instead of committing.

        Returns:
            The ``CommitInfo`` of the upload.
        """
        from huggingface_hub import HfApi
        from huggingface_hub.errors import HfHubHTTPError

        api = HfApi(token=token)
        repo_id = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model").repo_id
        try:
            has_card = api.file_exists(repo_id, CARD_NAME, revision=revision)
        except HfHubHTTPError:  # e.g. a branch that does not exist yet
            has_card = False
        with tempfile.TemporaryDirectory() as tmp:
            save_pretrained(self, tmp, config, card=card, repo_id=repo_id)
            if has_card:
                (Path(tmp) / CARD_NAME).unlink()
            return api.upload_folder(
                repo_id=repo_id, folder_path=tmp, commit_message=commit_message, revision=revision,
                create_pr=create_pr, repo_type="model",
            )
