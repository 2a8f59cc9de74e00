"""hpskit.engine.config: YAML + key=value overrides into a typed schema, every problem reported at once."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from hpskit.core import ConfigError, MissingFileError
from hpskit.engine import config_to_yaml, load_config, parse_overrides, save_config


@dataclass(kw_only=True)
class Optim:
    lr: float = 1e-5
    betas: tuple[float, float] = (0.9, 0.999)
    name: str = "adam"

    def validate(self) -> list[str]:
        return [] if self.name in ("adam", "adamw") else [f"name must be adam or adamw; got {self.name!r}"]


@dataclass(kw_only=True)
class Data:
    sizes: list[tuple[int, int]] = field(default_factory=lambda: [(1280, 720)])
    root: str | None = None
    weights: dict[str, float] = field(default_factory=dict)


@dataclass(kw_only=True)
class Cfg:
    steps: int = 10
    optim: Optim = field(default_factory=Optim)
    data: Data = field(default_factory=Data)


def test_defaults_yaml_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("steps: 20\noptim:\n  lr: 2.0e-4\n  betas: [0.5, 0.6]\ndata:\n  root: /x\n")
    cfg = load_config(Cfg, path, ["optim.lr=3e-4", "data.weights={a: 1.5}", "data.root=null"])
    assert isinstance(cfg, Cfg) and isinstance(cfg.optim, Optim)
    assert (cfg.steps, cfg.optim.lr, cfg.optim.betas) == (20, 3e-4, (0.5, 0.6))
    assert cfg.data.root is None and cfg.data.weights == {"a": 1.5}


def test_every_problem_is_listed_with_suggestions(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("stepz: 3\noptim:\n  lr: fast\n")
    with pytest.raises(ConfigError) as e:
        load_config(Cfg, path, ["optim.nme=adam", "optim.name=sgd", "novalue", "steps=1.5"])
    msg = str(e.value)
    assert "6 problem(s)" in msg
    assert "unknown key 'stepz'; did you mean 'steps'" in msg
    assert "optim.lr" in msg and "fast" in msg
    assert "unknown key 'optim.nme'; did you mean 'optim.name'" in msg
    assert "'novalue' is not of the form key=value" in msg
    assert "name must be adam or adamw; got 'sgd'" in msg  # the schema's own validate() is run too
    assert "steps: Value '1.5'" in msg


def test_list_of_tuples_from_yaml_round_trips(tmp_path):
    # OmegaConf cannot build list[tuple] items from YAML lists; the loader retries with tuples.
    cfg = load_config(Cfg, overrides=["data.sizes=[[1, 2], [3, 4]]"])
    assert cfg.data.sizes == [(1, 2), (3, 4)]
    out = save_config(cfg, tmp_path / "resolved.yaml")
    again = load_config(Cfg, out)
    assert again == cfg
    assert config_to_yaml(again) == config_to_yaml(cfg)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(MissingFileError, match="nope.yaml"):
        load_config(Cfg, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping at the top level"):
        load_config(Cfg, bad)


def test_parse_overrides_yaml_values():
    pairs, problems = parse_overrides(["a=1e-4", "b=true", "c=[1, 2]", "d=null", "e=", "f"])
    assert dict(pairs) == {"a": 1e-4, "b": True, "c": [1, 2], "d": None, "e": ""}
    assert len(problems) == 1 and "'f'" in problems[0]
