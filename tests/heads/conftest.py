"""Reference tensors of the authors' model (tests/fixtures/reference_state_dict.tsv)."""

from __future__ import annotations

from pathlib import Path

import pytest

TSV = Path(__file__).resolve().parents[1] / "fixtures" / "reference_state_dict.tsv"


def _read_reference() -> list[tuple[str, tuple[int, ...], int, str]]:
    rows = []
    lines = TSV.read_text().splitlines()
    header = lines[0].split("\t")
    ik, ish, inum, ikind = (header.index(c) for c in ("key", "shape", "numel", "kind"))
    for line in lines[1:]:
        cols = line.split("\t")
        shape = tuple(int(s) for s in cols[ish].strip("[]").split(",") if s.strip())
        rows.append((cols[ik], shape, int(cols[inum]), cols[ikind]))
    return rows


@pytest.fixture(scope="session")
def reference_block():
    """``reference_block("model.head.")`` → ordered [(key without prefix, shape, numel, kind)]."""
    rows = _read_reference()

    def block(prefix: str):
        return [(k[len(prefix):], s, n, kind) for k, s, n, kind in rows if k.startswith(prefix)]

    return block
