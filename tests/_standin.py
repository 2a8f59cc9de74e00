"""The test session's user-data folder, for fixtures of a wider scope than the autouse ``_isolated_user_dir``
(tests/conftest.py): session- and module-scoped fixtures are built before it runs, so they set the same folder
themselves while they expand the stand-in body."""

from __future__ import annotations

import contextlib

import pytest


@contextlib.contextmanager
def session_data_dir(tmp_path_factory):
    """``HPSKIT_DATA_DIR`` pointed at the session's ``hpskit_user_data`` folder while the block runs."""
    root = tmp_path_factory.getbasetemp() / "hpskit_user_data"
    root.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPSKIT_DATA_DIR", str(root))
        mp.delenv("HPSKIT_BODY_MODELS", raising=False)
        yield root
