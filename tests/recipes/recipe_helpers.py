"""Helpers shared by the recipe tests (importable: ``tests/recipes`` is put on ``sys.path`` by conftest)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "dpose"
SMOKE = RECIPE / "configs" / "smoke.yaml"
# Quiet, quick variants of the smoke run used by most tests.
FAST = ["log.tensorboard=false", "log.progress=false", "runtime.threads=2"]


def run_script(script: str, args: list[str], timeout: float = 300, check: bool = True,
               env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``recipes/dpose/<script>`` with this interpreter; on failure show its output."""
    proc = subprocess.run([sys.executable, str(RECIPE / script), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} exited with "
                             f"{proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


def import_recipe():
    """The recipe modules (``train``, ``_lib``) importable in-process."""
    if str(RECIPE) not in sys.path:
        sys.path.insert(0, str(RECIPE))
    import train  # noqa: PLC0415

    return train
