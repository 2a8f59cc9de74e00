"""Training checkpoints: atomic writes, keep-last-N rotation, and the RNG states an exact resume needs.

A checkpoint is one ``torch.save`` file ``<dir>/step_00001000.pt`` holding whatever state dict the recipe
assembles (model, optimizer, scheduler, grad scaler, RNG states, step, data position). Writes go to a
temporary file in the same folder, are flushed to disk, then renamed over the final name
(:func:`os.replace` is atomic on POSIX), so a process killed mid-write never leaves a truncated checkpoint
that :meth:`CheckpointManager.latest` would pick up.

Example:
    >>> import tempfile, torch
    >>> mgr = CheckpointManager(tempfile.mkdtemp(), keep_last=2)
    >>> for step in (1, 2, 3):
    ...     _ = mgr.save({"step": step, "w": torch.ones(2) * step}, step)
    >>> [s for s, _ in mgr.list()], mgr.load(mgr.latest())["step"]
    ([2, 3], 3)
"""

from __future__ import annotations

import logging
import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hpskit.core import CorruptFileError, MissingFileError
from hpskit.core.files import atomic_write, atomic_write_bytes  # re-exported: hpskit.engine's public name

__all__ = [
    "atomic_write_bytes",
    "atomic_torch_save",
    "CheckpointManager",
    "capture_rng_state",
    "restore_rng_state",
]

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^step_(\d+)\.pt$")
_TMP = re.compile(r"^\.step_(\d+)\.pt\..*\.tmp$")  # the temporary files of atomic_write


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (temporary file, fsync, rename).

    Args:
        obj: Anything ``torch.save`` accepts.
        path: Destination.

    Returns:
        The destination path.

    Raises:
        WriteFailedError: "no space left on <folder> ..." on a full disk (the destination is untouched and
            no temporary file is left).
    """
    return atomic_write(path, lambda fh: torch.save(obj, fh))


class CheckpointManager:
    """Numbered checkpoints in one folder with keep-last-N rotation.

    Args:
        directory: Folder of the ``step_XXXXXXXX.pt`` files (created on first save).
        keep_last: How many of the newest checkpoints to keep (≥ 1); older ones are deleted after a
            successful save.
    """

    def __init__(self, directory: str | os.PathLike, keep_last: int = 3):
        if int(keep_last) < 1:
            raise ValueError(f"CheckpointManager: `keep_last` must be ≥ 1; got {keep_last}.")
        self.directory = Path(directory)
        self.keep_last = int(keep_last)

    def path_for(self, step: int) -> Path:
        """The file name of the checkpoint of ``step``."""
        return self.directory / f"step_{int(step):08d}.pt"

    def list(self) -> list[tuple[int, Path]]:
        """Existing checkpoints as ``(step, path)``, oldest first (temporary files are ignored)."""
        if not self.directory.is_dir():
            return []
        found = []
        for p in self.directory.iterdir():
            m = _NAME.match(p.name)
            if m and p.is_file():
                found.append((int(m.group(1)), p))
        return sorted(found)

    def latest(self) -> Path | None:
        """The newest checkpoint, or None."""
        found = self.list()
        return found[-1][1] if found else None

    def remove_orphans(self) -> list[Path]:
        """Delete the temporary files (``.step_*.pt.*.tmp``) of writes that were killed before their rename.

        Only one process writes a run's checkpoints (rank 0), so a temporary file found before a save is an
        orphan of an earlier, killed process. Called by :meth:`save`.

        Returns:
            The deleted paths (each is also logged with its size).
        """
        if not self.directory.is_dir():
            return []
        gone = []
        for p in sorted(self.directory.iterdir()):
            if _TMP.match(p.name) and p.is_file():
                size = p.stat().st_size
                p.unlink(missing_ok=True)
                logger.warning("removed %s (%.1f MB), the unfinished write of a killed run", p, size / 1e6)
                gone.append(p)
        return gone

    def save(self, state: dict, step: int) -> Path:
        """Write ``state`` as the checkpoint of ``step`` atomically, then delete all but the newest N.

        Orphaned temporary files of killed writes are removed first.

        Args:
            state: The state dict to ``torch.save``.
            step: Optimizer steps done so far.

        Returns:
            The checkpoint path.

        Raises:
            WriteFailedError: "no space left on <folder> ..." on a full disk: no temporary file is left and
                the previous checkpoints are kept (rotation only runs after a successful write).
        """
        self.remove_orphans()
        previous = self.latest()
        kept = f"the previous checkpoint {previous.name} is kept" if previous else "no checkpoint was written"
        path = atomic_write(self.path_for(step), lambda fh: torch.save(state, fh), kept=kept)
        for _, old in self.list()[: -self.keep_last]:
            try:
                old.unlink()
            except FileNotFoundError:  # pragma: no cover - removed concurrently
                pass
        logger.info("saved checkpoint %s", path)
        return path

    def load_latest(self, map_location: str | torch.device = "cpu") -> tuple[Path | None, dict | None]:
        """The newest checkpoint that can be read, falling back over unreadable ones (each is logged).

        Args:
            map_location: Device for the loaded tensors.

        Returns:
            ``(path, state)``, or ``(None, None)`` when there is no checkpoint.

        Raises:
            CorruptFileError: If checkpoints exist but none can be read (every file is named).
        """
        found = self.list()
        bad = []
        for _, path in reversed(found):
            try:
                state = self.load(path, map_location)
            except CorruptFileError as exc:
                logger.warning("%s; falling back to the previous checkpoint", exc)
                bad.append(str(path))
                continue
            if bad:
                logger.warning("resuming from %s: the newer checkpoint(s) %s cannot be read", path, bad)
            return path, state
        if bad:
            raise CorruptFileError(f"no readable checkpoint in {self.directory}: {bad} all fail to load. "
                                   "Remove them to start over, or point checkpoint.resume at a good file.")
        return None, None

    @staticmethod
    def load(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
        """Read a checkpoint written by :meth:`save`.

        Args:
            path: The checkpoint file.
            map_location: Device for the loaded tensors.

        Returns:
            The state dict.

        Raises:
            MissingFileError: If the file does not exist.
            CorruptFileError: If it cannot be read.
        """
        path = Path(path)
        if not path.is_file():
            raise MissingFileError(f"checkpoint '{path}' not found; pass an existing step_XXXXXXXX.pt file "
                                   "or a run folder holding checkpoints/.")
        try:
            # weights_only: besides tensors, our files hold the numpy RNG state (a uint32 array), so the few
            # numpy reconstruction globals are allow-listed instead of unpickling arbitrary objects.
            with torch.serialization.safe_globals(_NUMPY_SAFE_GLOBALS):
                return torch.load(path, map_location=map_location, weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unpickling failure means the file is unusable
            raise CorruptFileError(f"checkpoint '{path}' could not be read ({type(e).__name__}: {e}).") from e


_NP_CORE = np._core if hasattr(np, "_core") else np.core  # numpy 2 renamed numpy.core
_NUMPY_SAFE_GLOBALS = [_NP_CORE.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


def capture_rng_state() -> dict:
    """Every global random state a training step may touch: python, numpy, torch CPU and all CUDA devices.

    Returns:
        A dict for :func:`restore_rng_state` (and ``torch.save``).
    """
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch_cpu": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["torch_cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Restore the states captured by :func:`capture_rng_state` (CUDA only if it was captured)."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch_cpu"].cpu())
    if "torch_cuda" in state and torch.cuda.is_available():
        cuda = state["torch_cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
        else:
            logger.warning("checkpoint holds %d CUDA RNG states but %d devices are visible; CUDA RNG not "
                           "restored",
                           len(cuda), torch.cuda.device_count())
