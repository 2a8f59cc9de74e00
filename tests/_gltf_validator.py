"""Run the Khronos glTF validator (npm ``gltf-validator``) on a file from the tests.

The validator is found in ``$HPSKIT_GLTF_VALIDATOR_DIR`` or ``<repo>/.ci/node`` (``.ci/run`` installs it
there with ``npm install --prefix .ci/node gltf-validator``). Without node or the package the tests that
need it skip with the reason, unless ``HPSKIT_REQUIRE_GLTF_VALIDATOR=1`` (set by CI), where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).resolve().parent / "export" / "gltf_validate.js"
VALIDATOR_VERSION = "2.0.0-dev.3.10"


def _node_modules() -> Path:
    root = Path(os.environ.get("HPSKIT_GLTF_VALIDATOR_DIR", REPO / ".ci" / "node"))
    return root / "node_modules"


def _unavailable() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (_node_modules() / "gltf-validator" / "package.json").is_file():
        return (f"the npm package gltf-validator is not in {_node_modules()} (install it with "
                f"`npm install --prefix .ci/node gltf-validator@{VALIDATOR_VERSION}`, as .ci/run does)")
    return None


def validate_gltf(path: Path) -> dict:
    """The validator's JSON report of ``path``; skips (or fails under CI) when the validator is absent."""
    reason = _unavailable()
    if reason is not None:
        if os.environ.get("HPSKIT_REQUIRE_GLTF_VALIDATOR"):
            pytest.fail(f"glTF validator required (HPSKIT_REQUIRE_GLTF_VALIDATOR) but {reason}")
        pytest.skip(f"glTF validator unavailable: {reason}")
    env = {**os.environ, "NODE_PATH": str(_node_modules())}
    proc = subprocess.run(["node", str(SCRIPT), str(path)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, f"validator failed on {path}: {proc.stderr}"
    return json.loads(proc.stdout)


def assert_valid_gltf(path: Path) -> dict:
    """Validate ``path`` and assert the report has no errors (the messages are shown if it has)."""
    report = validate_gltf(path)
    issues = report["issues"]
    errors = [m for m in issues["messages"] if m["severity"] == 0]
    assert issues["numErrors"] == 0, f"{path.name}: {issues['numErrors']} glTF errors: {errors[:10]}"
    return report
