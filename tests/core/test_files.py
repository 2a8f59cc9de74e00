"""hpskit.core.files: atomic writes, staging folders, clear disk-full errors."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from hpskit.core import WriteFailedError, atomic_write, atomic_write_text, publish_files, staging_folder
from hpskit.core.files import atomic_write_bytes


def test_atomic_write_full_disk_keeps_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "a.txt"
    atomic_write_text("old\n", path)

    def write(fh):
        fh.write(b"new, half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(WriteFailedError, match=f"no space left on {tmp_path} while writing a.txt; a.txt is "
                                               "untouched") as info:
        atomic_write(path, write)
    assert info.value.errno == errno.ENOSPC and isinstance(info.value, OSError)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_error_swallowed_by_the_writer_is_still_reported(tmp_path):
    """torch.save turns the file object's OSError into a RuntimeError; the recorded OSError wins."""

    class Full:
        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    def write(fh):
        try:
            fh.write(b"x")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] unexpected pos") from None

    def failing(fh):
        fh._fh = Full()  # the underlying file fails
        write(fh)

    with pytest.raises(WriteFailedError, match="no space left"):
        atomic_write(tmp_path / "b.bin", failing)
    assert list(tmp_path.iterdir()) == []


def test_staging_folder_publish_and_cleanup(tmp_path):
    target = tmp_path / "out"
    with staging_folder(target) as stage:
        assert stage.parent == tmp_path and stage.name.startswith(".out.")
        (stage / "x").write_text("1")
        (stage / "y").write_text("2")
        publish_files(stage, target, ["x", "y"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (target / "x").read_text() == "1"
    with pytest.raises(RuntimeError), staging_folder(target) as stage:
        (stage / "x").write_text("new")
        raise RuntimeError("verification failed")
    assert (target / "x").read_text() == "1" and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX permission bits")
def test_atomic_write_gives_the_mode_open_would_not_0600(tmp_path):
    """mkstemp's temporary file is private (0600); the written file gets what a plain ``open()`` would give
    (0666 less the umask) or keeps the mode of the file it replaces."""
    old = os.umask(0o022)
    try:
        new = atomic_write_bytes(b"a", tmp_path / "new.bin")
        assert stat.S_IMODE(new.stat().st_mode) == 0o644
        os.umask(0o077)
        assert stat.S_IMODE(atomic_write_bytes(b"b", tmp_path / "private.bin").stat().st_mode) == 0o600
    finally:
        os.umask(old)
    kept = tmp_path / "script.sh"
    kept.write_bytes(b"#!/bin/sh\n")
    kept.chmod(0o751)
    atomic_write_bytes(b"#!/bin/sh\necho hi\n", kept)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o751 and kept.read_bytes().endswith(b"hi\n")
