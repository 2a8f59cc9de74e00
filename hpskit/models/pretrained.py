"""Weights that ship inside hpskit, and the ``<model>.<tag>`` names that load them offline (timm-style).

A built-in weight set is a ``save_pretrained`` folder inside the package, ``hpskit/models/weights/<name>/``
(``config.json``, ``model.safetensors`` in float16, ``README.md`` model card). Its name is
``<registered model>.<tag>``, e.g. ``dpose_efficientnet_lite0.synthetic``; the same name works everywhere:

```python
from hpskit.models import DPoSE, create_model

model = DPoSE.from_pretrained("dpose_efficientnet_lite0.synthetic")            # eval mode, float32
model = create_model("dpose_efficientnet_lite0.synthetic", pretrained=True)     # the same weights
```

and ``hpskit predict --weights dpose_efficientnet_lite0.synthetic``. A tag hpskit does not know is an error
that lists the known ones (never random weights in silence). Nothing is downloaded: the files come with the
install.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hpskit.core import MissingFileError, UnknownNameError

__all__ = ["BuiltinWeights", "BUILTIN_WEIGHTS", "split_model_name", "builtin_weights", "list_pretrained"]

_WEIGHTS_ROOT = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class BuiltinWeights:
    """One weight set that ships inside hpskit.

    Attributes:
        model: Registered model name (``create_model``), e.g. ``"dpose_hrnet_w18"``.
        tag: Weight tag, e.g. ``"synthetic"``.
        summary: One line for listings.
    """

    model: str
    tag: str
    summary: str

    @property
    def name(self) -> str:
        """``<model>.<tag>``."""
        return f"{self.model}.{self.tag}"

    @property
    def folder(self) -> Path:
        """The ``save_pretrained`` folder inside the installed package."""
        return _WEIGHTS_ROOT / self.name


#: Every built-in weight set, by ``<model>.<tag>`` name.
BUILTIN_WEIGHTS: dict[str, BuiltinWeights] = {
    w.name: w for w in (
        BuiltinWeights("dpose_efficientnet_lite0", "synthetic",
                       "compact D-PoSE trained on hpskit's synthetic humans (stand-in body); synthetic "
                       "domain only, not a model for real photographs"),
    )
}


def split_model_name(name: str) -> tuple[str, str | None]:
    """``"dpose_hrnet_w18.synthetic"`` → ``("dpose_hrnet_w18", "synthetic")``; no dot → tag ``None``.

    Example:
        >>> split_model_name("dpose_hrnet_w18.synthetic"), split_model_name("dpose_hrnet_w48")
        (('dpose_hrnet_w18', 'synthetic'), ('dpose_hrnet_w48', None))
    """
    model, _, tag = str(name).partition(".")
    return model, (tag or None)


def list_pretrained(model: str | None = None) -> list[str]:
    """Names of the built-in weight sets (of one model if given), sorted.

    Example:
        >>> list_pretrained("dpose_efficientnet_lite0")
        ['dpose_efficientnet_lite0.synthetic']
    """
    return sorted(n for n, w in BUILTIN_WEIGHTS.items() if model is None or w.model == model)


def builtin_weights(name: str) -> BuiltinWeights | None:
    """The built-in weight set called ``name``; ``None`` if ``name`` has no tag (a model name or a path).

    Raises:
        UnknownNameError: If ``name`` is ``<registered model>.<tag>`` with a tag hpskit does not ship (the
            message lists the known tags).
        MissingFileError: If the weight set is known but its files are missing from the install.
    """
    from .dpose import MODELS

    model, tag = split_model_name(name)
    if tag is None or model not in MODELS:
        return None
    entry = BUILTIN_WEIGHTS.get(f"{model}.{tag}")
    if entry is None:
        known = list_pretrained(model)
        listing = (f"known: {', '.join(known)}" if known else
                   f"{model} has no built-in weights; those that ship: "
                   f"{', '.join(list_pretrained()) or 'none'}")
        raise UnknownNameError(f"unknown weight tag {tag!r} for model {model!r}; {listing}.")
    if not (entry.folder / "config.json").is_file():
        raise MissingFileError(f"the built-in weights {entry.name} are missing from this install "
                               f"({entry.folder}); reinstall hpskit.")
    return entry
