"""A tiny model with a nested dataclass config, shared by the hub tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from hpskit.hub import HubMixin, ModelCardInfo


@dataclass
class HeadConfig:
    hidden: int = 8
    dims: tuple[int, ...] = (3, 2)


@dataclass
class TinyConfig:
    width: int = 6
    name: str = "tiny"
    head: HeadConfig = field(default_factory=HeadConfig)
    extra_heads: list[HeadConfig] = field(default_factory=list)
    optional_head: HeadConfig | None = None
    data_root: Path | None = None


class Tiny(nn.Module, HubMixin):
    config_class = TinyConfig
    model_type = "tiny"
    model_card = ModelCardInfo(
        title="Tiny test model",
        license="apache-2.0",
        architecture="Linear -> BatchNorm -> Linear.",
        training_data="Random numbers.",
        metrics={"MPJPE (mm)": 1.5},
    )

    def __init__(self, config: TinyConfig):
        super().__init__()
        self.config = config
        self.fc = nn.Linear(config.width, config.head.hidden)
        self.bn = nn.BatchNorm1d(config.head.hidden)
        self.out = nn.Linear(config.head.hidden, config.head.dims[0])
        self.register_buffer("mean", torch.zeros(1, config.width))
        self.register_buffer("scratch", torch.zeros(3), persistent=False)

    def forward(self, x):
        return self.out(torch.relu(self.bn(self.fc(x - self.mean))))


class Tied(nn.Module, HubMixin):
    """Encoder/decoder with tied weights (two state_dict names, one tensor)."""

    config_class = HeadConfig
    model_type = "tied"

    def __init__(self, config: HeadConfig):
        super().__init__()
        self.config = config
        self.enc = nn.Linear(config.hidden, config.hidden, bias=False)
        self.dec = nn.Linear(config.hidden, config.hidden)
        self.dec.weight = self.enc.weight


def trained_tiny(config: TinyConfig | None = None, seed: int = 0) -> Tiny:
    """A Tiny with random parameters and non-trivial BatchNorm statistics."""
    g = torch.Generator().manual_seed(seed)
    model = Tiny(config or TinyConfig())
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
        model.mean.copy_(torch.randn(model.mean.shape, generator=g))
    model.train()
    model(torch.randn(5, model.config.width, generator=g))
    return model.eval()
