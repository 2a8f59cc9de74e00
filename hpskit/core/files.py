"""Writing files so that nothing is lost: atomic single files, staged folders, clear disk-full errors.

Every file hpskit writes for you (weights, configs, checkpoints, ``predict`` outputs, logs it rewrites) goes
through here, so the same three promises hold everywhere:

* **A destination is either the old file or the complete new one.** Data goes to a temporary file in the
  destination's folder, is flushed and ``fsync``-ed, and only then renamed over the destination with
  :func:`os.replace` (atomic on POSIX). A crash or a full disk leaves the previous file untouched.
* **No temporary file survives a failure.** The temporary file (or staging folder) is removed before the
  error propagates.
* **A full disk says so.** An ``ENOSPC`` (or any ``OSError``) while writing becomes a
  :class:`~hpskit.core.WriteFailedError` that names the folder: ``no space left on <folder> while writing
  <file>``; libraries that swallow the ``OSError`` of the file object (``torch.save`` reports
  ``[enforce fail at inline_container.cc]``) are seen through, because the file object records it.

A folder of several files that belong together (a pretrained folder: ``config.json`` + ``model.safetensors``)
is written with :func:`staging_folder` + :func:`publish_files`: all files are written and checked in a
staging folder next to the destination, then renamed in, the file that declares the set (the config) last.

The standard library has the pieces (``tempfile``, ``os.replace``) but no helper that does all of this, which
is why it is written here (about 100 lines).

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = atomic_write_text("hello\\n", p)
    >>> p.read_text()
    'hello\\n'
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from .errors import WriteFailedError

__all__ = [
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "fsync_dir",
    "publish_files",
    "staging_folder",
    "write_failed",
]


def fsync_dir(folder: str | os.PathLike) -> None:
    """Flush a folder's entries (the renames in it) to disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def write_failed(path: str | os.PathLike, exc: BaseException, kept: str = "") -> WriteFailedError:
    """A :class:`WriteFailedError` for a failed write of ``path`` caused by ``exc`` (say "no space left" for
    ``ENOSPC``); ``kept`` is appended (e.g. ``"the previous checkpoint is kept"``)."""
    path = Path(path)
    err_no = getattr(exc, "errno", None)
    if err_no == errno.ENOSPC:
        what = f"no space left on {path.parent} while writing {path.name}"
    elif err_no == errno.EDQUOT:
        what = f"disk quota exceeded on {path.parent} while writing {path.name}"
    else:
        what = f"cannot write {path}: {type(exc).__name__}: {exc}"
    out = WriteFailedError(what + (f"; {kept}" if kept else "") + ".")
    out.errno = err_no
    out.filename = str(path)
    return out


class _RecordingFile:
    """A binary file object that remembers the first ``OSError`` its ``write`` raised (``torch.save``
    replaces it by an opaque ``RuntimeError``)."""

    def __init__(self, fh: IO[bytes]):
        self._fh = fh
        self.error: OSError | None = None

    def write(self, data) -> int:
        try:
            return self._fh.write(data)
        except OSError as exc:
            self.error = self.error or exc
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


def _umask() -> int:
    """The process's umask, read without changing it where the OS tells it (Linux ≥ 4.7); elsewhere set and
    restored at once."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _target_mode(path: Path) -> int:
    """Permission bits for the file written at ``path``: those of the file it replaces, else what ``open()``
    would give a new file (0666 less the umask)."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def atomic_write(path: str | os.PathLike, write: Callable[[Any], Any], kept: str = "") -> Path:
    """Call ``write(fh)`` on a temporary binary file next to ``path``, fsync it, rename it over ``path``.

    The file gets the permission bits of the file it replaces, or those a plain ``open()`` would give a new
    file (0666 less the umask), not the temporary file's private 0600.

    Args:
        path: Destination (parent folders are created).
        write: Writes the content to the given binary file object.
        kept: What the error message says survived a failure (default: "the previous file is untouched"
            when ``path`` exists).

    Returns:
        The destination path.

    Raises:
        WriteFailedError: If writing failed with an ``OSError`` (full disk, quota, permissions); the
            destination is unchanged and the temporary file removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _target_mode(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    kept = kept or (f"{path.name} is untouched" if path.exists() else "")
    rec = None
    try:
        if hasattr(os, "fchmod"):  # mkstemp makes 0600 files; give the file the mode a plain open() would
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            rec = _RecordingFile(fh)
            write(rec)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        cause = rec.error if rec is not None and rec.error is not None else exc
        if isinstance(cause, OSError) and not isinstance(cause, WriteFailedError):
            raise write_failed(path, cause, kept) from exc
        raise
    fsync_dir(path.parent)
    return path


def atomic_write_bytes(data: bytes, path: str | os.PathLike) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(text: str, path: str | os.PathLike) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write_bytes(text.encode("utf-8"), path)


@contextlib.contextmanager
def staging_folder(target: str | os.PathLike) -> Iterator[Path]:
    """A fresh hidden folder next to ``target`` (same file system, so renames out of it are atomic);
    removed with whatever is left in it when the block ends, also on error.

    Args:
        target: The folder the staged files are meant for (need not exist yet).

    Yields:
        The staging folder ``<parent>/.<name>.<random>.staging``.

    Raises:
        WriteFailedError: If an ``OSError`` (e.g. a full disk) escapes the block.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".staging", dir=target.parent))
    try:
        yield stage
    except OSError as exc:
        if isinstance(exc, WriteFailedError):
            raise
        name = Path(exc.filename).name if getattr(exc, "filename", None) else "the files"
        raise write_failed(target / name, exc, f"{target} is untouched") from exc
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def publish_files(stage: str | os.PathLike, target: str | os.PathLike, names: Sequence[str]) -> list[Path]:
    """Rename ``names`` from ``stage`` into ``target`` in the given order (put the file that declares the
    set, e.g. ``config.json``, last), then fsync ``target``.

    Renames within one file system need no space and cannot be half done, so once every file is staged the
    only window in which ``target`` mixes old and new files is between two renames (a crash there is what
    the ``weights_id`` check of :mod:`hpskit.hub` detects).

    Returns:
        The published paths.
    """
    stage, target = Path(stage), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        os.replace(stage / name, target / name)
        out.append(target / name)
    fsync_dir(target)
    return out
