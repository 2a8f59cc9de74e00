"""The ``hpskit`` entry point: sub-commands, version, usage errors, error reporting."""

from __future__ import annotations

import pytest

import hpskit
from hpskit.cli import build_parser, main


def test_subcommands_registered():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == {"predict", "convert", "export-onnx", "info"}


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"hpskit {hpskit.__version__}"


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_console_script_declared():
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # Python ≥ 3.11

    data = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert data["project"]["scripts"]["hpskit"] == "hpskit.cli.main:main"


def test_traceback_flag_reraises(tmp_path):
    from hpskit.core import MissingFileError

    with pytest.raises(MissingFileError):
        main(["convert", str(tmp_path / "absent.ckpt"), str(tmp_path / "out"), "--traceback"])


def test_logging_handler_removed_after_run(tmp_path):
    import logging

    before = list(logging.getLogger("hpskit").handlers)
    main(["convert", str(tmp_path / "absent.ckpt"), str(tmp_path / "out")])
    assert logging.getLogger("hpskit").handlers == before
