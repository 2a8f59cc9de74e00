"""Fixtures for hpskit.video: the stand-in body and the synthetic crossing clip (tests/video/_clip.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import hpskit.body
from hpskit.body.standin import STANDIN_ASSET

sys.path.insert(0, str(Path(__file__).resolve().parent))

HAVE_STANDIN = (Path(hpskit.body.__file__).parent / STANDIN_ASSET).is_file()


@pytest.fixture(scope="session")
def body():
    if not HAVE_STANDIN:
        pytest.skip("the packaged stand-in body asset is missing")
    from hpskit.body import SMPLXBody

    return SMPLXBody("standin")


@pytest.fixture(scope="session")
def clip(body):
    from _clip import make_clip

    return make_clip(body)
