"""Shared fixtures: autouse seed, device/dtype, and paths."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

# Shared test helpers (tests/_*.py, e.g. _body_fakes) importable from every folder (importlib mode).
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Keep CPU tests predictable on CI's 2 cores.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)
    yield


def _single_intra_op_thread():
    """One intra-op thread while it is active: on a loaded 2-core machine two OpenMP threads make the
    model tests' convolutions many times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


one_thread_module = pytest.fixture(scope="module")(_single_intra_op_thread)
one_thread_session = pytest.fixture(scope="session")(_single_intra_op_thread)


@pytest.fixture
def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() and os.environ.get("HPSKIT_TEST_CUDA") else "cpu")


@pytest.fixture(autouse=True)
def _isolated_user_dir(tmp_path_factory, monkeypatch):
    """Keep every test away from the real user data dir (the stand-in body is expanded per session)."""
    root = tmp_path_factory.getbasetemp() / "hpskit_user_data"
    root.mkdir(exist_ok=True)
    monkeypatch.setenv("HPSKIT_DATA_DIR", str(root))
    monkeypatch.delenv("HPSKIT_BODY_MODELS", raising=False)
    yield


@pytest.fixture(scope="session")
def body(tmp_path_factory):
    """The packaged licence-free stand-in body (SMPL-X format), built once per session; a folder whose tests
    need another body defines its own ``body``."""
    import hpskit.body
    from hpskit.body import SMPLXBody
    from hpskit.body.standin import STANDIN_ASSET

    if not (Path(hpskit.body.__file__).parent / STANDIN_ASSET).is_file():
        pytest.skip("the packaged stand-in body asset is missing")
    from _standin import session_data_dir

    with session_data_dir(tmp_path_factory):
        return SMPLXBody("standin")


@pytest.fixture(scope="session")
def reference_block():
    """``reference_block("model.head.")`` → ordered [(key without prefix, shape, numel, kind)] of the authors'
    checkpoint (tests/_reference.py), shared by the block tests."""
    from _reference import official_checkpoint_keys

    rows = official_checkpoint_keys()

    def block(prefix: str):
        return [(t.key[len(prefix):], t.shape, t.numel, t.kind) for t in rows if t.key.startswith(prefix)]

    return block


# Fixtures whose use makes a test slow (a real-weight HRNet-W48 build on CPU; the smoke recipe run).
# Subprocess recipe runs carry ``pytestmark = pytest.mark.slow`` in their modules.
# ``pytest -m "not slow"`` is the quick loop; CI runs everything.
SLOW_FIXTURES = {"w48", "smoke_run"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
