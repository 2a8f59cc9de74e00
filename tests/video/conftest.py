"""Fixtures for hpskit.video: the synthetic crossing clip (tests/video/_clip.py) of the stand-in body
(``body``, tests/conftest.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def clip(body):
    from _clip import make_clip

    return make_clip(body)
