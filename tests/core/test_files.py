"""hpskit.core.files: atomic writes, staging folders, clear disk-full errors."""

from __future__ import annotations

import errno

import pytest

from hpskit.core import WriteFailedError, atomic_write, atomic_write_text, publish_files, staging_folder


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
