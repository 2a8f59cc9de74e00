"""Dataclass config <-> dict: nesting, containers, every problem listed at once."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch

from hpskit.core import ConfigError
from hpskit.hub import RESERVED_CONFIG_KEYS, config_from_dict, config_to_dict, read_config, write_config


@dataclass
class Inner:
    a: int = 1
    b: tuple[float, float] = (0.5, 2.0)


@dataclass
class Outer:
    required: str
    inner: Inner = field(default_factory=Inner)
    inners: dict[str, Inner] = field(default_factory=dict)
    chain: tuple[Inner, ...] = ()
    flag: bool = False


def test_round_trip_nested():
    cfg = Outer("x", Inner(3, (1.0, 4.0)), {"k": Inner(5)}, (Inner(7), Inner(8, (0.0, 0.0))), True)
    data = config_to_dict(cfg)
    assert data == {"required": "x", "inner": {"a": 3, "b": [1.0, 4.0]},
                    "inners": {"k": {"a": 5, "b": [0.5, 2.0]}},
                    "chain": [{"a": 7, "b": [0.5, 2.0]}, {"a": 8, "b": [0.0, 0.0]}], "flag": True}
    back = config_from_dict(Outer, data)
    assert back == cfg and isinstance(back.chain[1], Inner) and isinstance(back.inner.b, tuple)


def test_every_problem_is_listed():
    with pytest.raises(ConfigError) as info:
        config_from_dict(Outer, {"inner": {"a": 2, "zz": 1}, "extra": 0, "chain": [{"q": 1}]})
    msg = str(info.value)
    for part in ("`extra`", "`inner.zz`", "`chain[0].q`", "missing required key `required`", "4 problem"):
        assert part in msg, part
    with pytest.raises(ConfigError, match="must be a mapping"):
        config_from_dict(Outer, {"required": "x", "inner": 3})


def test_reserved_ignored_and_refused():
    assert config_from_dict(Inner, {"a": 2, "model_type": "m", "hpskit_version": "0"},
                            ignore=RESERVED_CONFIG_KEYS) == Inner(2)

    @dataclass
    class Bad:
        model_type: str = "x"

    with pytest.raises(ConfigError, match="reserved"):
        config_to_dict(Bad())


def test_non_json_values_and_non_dataclass():
    @dataclass
    class HasTensor:
        t: object = None

    with pytest.raises(ConfigError, match=r"HasTensor\.t.*Tensor"):
        config_to_dict(HasTensor(torch.zeros(2)))
    with pytest.raises(ConfigError, match="dataclass instance"):
        config_to_dict({"a": 1})
    with pytest.raises(ConfigError, match="dataclass type"):
        config_from_dict(dict, {})


def test_read_write(tmp_path):
    write_config({"b": 1, "a": [1, 2]}, tmp_path / "c.json")
    assert (tmp_path / "c.json").read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'
    assert read_config(tmp_path / "c.json") == {"a": [1, 2], "b": 1}
    (tmp_path / "bad.json").write_text("[1]")
    with pytest.raises(ValueError, match="JSON object"):
        read_config(tmp_path / "bad.json")
