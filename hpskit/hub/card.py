"""The model card (``README.md``) next to the weights: YAML metadata, architecture, data, metrics, licences.

The YAML header is produced by ``huggingface_hub.ModelCardData`` so that the Hub parses it
(``library_name: hpskit``, ``license``, ``tags``); an existing card is never overwritten.

Example:
    >>> card = ModelCardInfo(title="tiny", architecture="a linear layer")
    >>> text = render_model_card(card, model_type="tiny")
    >>> text.splitlines()[0], "library_name: hpskit" in text
    ('---', True)
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CARD_NAME", "ModelCardInfo", "render_model_card", "write_model_card"]

logger = logging.getLogger(__name__)

CARD_NAME = "README.md"

SMPLX_LICENSE_NOTE = (
    "The outputs are parameters of the SMPL-X body model. SMPL-X is **not** included and is licensed "
    "separately by the Max Planck Institute for Intelligent Systems (non-commercial scientific research "
    "licence; register and download at https://smpl-x.is.tue.mpg.de/). Turning predictions into meshes "
    "requires `SMPLX_NEUTRAL.npz` obtained under that licence; hpskit's licence-free stand-in body is for "
    "tests and demos only."
)


@dataclass
class ModelCardInfo:
    """What the model card says. Every text field is Markdown.

    Attributes:
        title: Heading of the card.
        license: Licence id of the weights (Hub metadata), e.g. ``"apache-2.0"`` or ``"other"``.
        license_name: Short name when ``license == "other"``.
        license_note: Prose about the weights' licence (e.g. the training data's terms).
        tags: Hub tags; ``hpskit`` is always added.
        datasets: Hub dataset ids or names of the training data.
        architecture: Description of the architecture.
        training_data: Description of the training data.
        metrics: Metric name -> value (rendered as a table) or ``{}``.
        metrics_note: Prose under the table (benchmark, protocol).
        body_model_license: Licence of the body model the outputs are expressed in.
        usage: Python snippet; ``{repo}`` and ``{cls}`` are filled in.
        repo_url: Link to the code.
    """

    title: str = "hpskit model"
    license: str = "other"
    license_name: str | None = "see-card"
    license_note: str = "See the training data's terms: the weights inherit their restrictions."
    tags: list[str] = field(default_factory=lambda: ["human-pose-estimation", "smpl-x", "3d-human-mesh"])
    datasets: list[str] = field(default_factory=list)
    architecture: str = "Not documented."
    training_data: str = "Not documented."
    metrics: dict[str, float | str] = field(default_factory=dict)
    metrics_note: str = ""
    body_model_license: str = SMPLX_LICENSE_NOTE
    usage: str = 'from hpskit.models import {cls}\n\nmodel = {cls}.from_pretrained("{repo}")'
    repo_url: str | None = None


def render_model_card(
    info: ModelCardInfo, model_type: str = "", cls_name: str = "Model", repo: str = "PATH"
) -> str:
    """Render the card: YAML front matter (via ``huggingface_hub.ModelCardData``) then Markdown sections.

    Args:
        info: Card content.
        model_type: Written as a tag and in the text.
        cls_name: Class name used in the usage snippet.
        repo: Hub id or folder used in the usage snippet.

    Returns:
        The full ``README.md`` text.
    """
    from huggingface_hub import ModelCardData

    tags = ["hpskit"] + [t for t in info.tags if t != "hpskit"]
    if model_type and model_type not in tags:
        tags.append(model_type)
    meta = {"library_name": "hpskit", "license": info.license, "tags": tags}
    if info.license == "other" and info.license_name:
        meta["license_name"] = info.license_name
    if info.datasets:
        meta["datasets"] = list(info.datasets)
    yaml = ModelCardData(**meta).to_yaml()
    lines = ["---", yaml.rstrip("\n"), "---", "", f"# {info.title}", ""]
    if info.repo_url:
        lines += [f"Code: {info.repo_url}", ""]
    lines += ["## Architecture", "", info.architecture, "", "## Training data", "", info.training_data, ""]
    lines += ["## Metrics", ""]
    if info.metrics:
        lines += ["| metric | value |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in info.metrics.items()]
    else:
        lines += ["No metrics reported."]
    if info.metrics_note:
        lines += ["", info.metrics_note]
    lines += ["", "## Licence", "", f"Weights: `{info.license}`"
              + (f" ({info.license_name})" if info.license == "other" and info.license_name else "") + ". "
              + info.license_note, "", "### Body model", "", info.body_model_license, ""]
    lines += ["## Usage", "", "```python", info.usage.format(cls=cls_name, repo=repo), "```", ""]
    return "\n".join(lines)


def write_model_card(
    folder: str | os.PathLike,
    info: ModelCardInfo | None = None,
    model_type: str = "",
    cls_name: str = "Model",
    repo: str | None = None,
) -> bool:
    """Write ``README.md`` into ``folder`` unless one exists (a card is never overwritten).

    Returns:
        ``True`` if a card was written, ``False`` if an existing one was kept.
    """
    path = Path(folder) / CARD_NAME
    if path.exists():
        logger.info("keeping the existing model card %s", path)
        return False
    info = info if info is not None else ModelCardInfo()
    path.write_text(render_model_card(info, model_type, cls_name, repo or str(folder)), encoding="utf-8")
    return True
