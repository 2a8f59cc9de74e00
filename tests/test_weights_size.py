"""Project rule: the weights kept in the repository are small (≤ 25 MB in all, counted in bytes)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 25_000_000


def _weight_files() -> list[Path]:
    """hpskit/**/*.safetensors: the files git tracks when this is a git checkout, else all on disk."""
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--", "hpskit/**.safetensors"],
                             capture_output=True, check=True, text=True).stdout
        files = [ROOT / p for p in out.split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        files = []
    return files or sorted((ROOT / "hpskit").rglob("*.safetensors"))


def test_tracked_weights_fit_the_budget():
    files = _weight_files()
    sizes = {str(f.relative_to(ROOT)): f.stat().st_size for f in files}
    # the shipped D-PoSE and both detector files are there (a rename must not hide a file from the count)
    assert any("detect/weights/blazepose_landmark" in f for f in sizes), sorted(sizes)
    assert any("models/weights/dpose_" in f for f in sizes), sorted(sizes)
    assert sum(sizes.values()) <= LIMIT, (sum(sizes.values()), sizes)
