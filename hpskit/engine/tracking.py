"""Run logging: a JSONL file of every logged number (plot it without TensorBoard), TensorBoard scalars and
images, PNG copies of the image panels, and a throughput meter.

Only the main process should create a :class:`RunLogger` with ``enabled=True``; on other ranks pass
``enabled=False`` and every call is a no-op.

Example:
    >>> import tempfile
    >>> log = RunLogger(tempfile.mkdtemp(), tensorboard=False)
    >>> log.log(3, {"loss": 1.5}, kind="train")
    >>> log.log(5, {"loss": 1.0}, kind="train")
    >>> log.truncate_after(4)
    >>> [r["step"] for r in read_jsonl(log.jsonl_path)] == [3]
    True
    >>> log.close()
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .checkpoint import atomic_write_bytes

__all__ = ["RunLogger", "Throughput", "gpu_memory_gb", "read_jsonl"]

logger = logging.getLogger(__name__)


def _number(v: Any) -> float | int | str | None:
    if isinstance(v, Tensor):
        v = v.detach().float().item()
    if isinstance(v, (np.floating, np.integer)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # JSON has no NaN/inf; keep them readable
    return v


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """All records of a JSONL file (blank or half-written last lines are skipped)."""
    out = []
    p = Path(path)
    if not p.is_file():
        return out
    for line in p.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            logger.warning("%s: skipping an unreadable line (a run killed mid-write?)", p)
    return out


class RunLogger:
    """Writes numbers to ``<run_dir>/metrics.jsonl`` (and TensorBoard), images to TensorBoard and PNG.

    Args:
        run_dir: The run folder.
        enabled: False makes every method a no-op (non-main ranks).
        tensorboard: Also write TensorBoard event files under ``<run_dir>/tb``.
        purge_step: When resuming, TensorBoard events at or after this step are dropped.
    """

    def __init__(self, run_dir: str | os.PathLike, enabled: bool = True, tensorboard: bool = True,
                 purge_step: int | None = None):
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.jsonl_path = self.run_dir / "metrics.jsonl"
        self._tb = None
        self._fh = None
        if not enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.run_dir / "tb"), purge_step=purge_step)
            except ImportError:  # pragma: no cover - tensorboard is a dependency
                logger.warning("tensorboard is not installed; logging to metrics.jsonl only")

    def _file(self):
        if self._fh is None:
            self._fh = open(self.jsonl_path, "a", encoding="utf-8")
        return self._fh

    def log(self, step: int, values: Mapping[str, Any], kind: str = "train") -> None:
        """Append one record ``{"kind", "step", "time", **values}`` and the TensorBoard scalars ``kind/name``.

        Args:
            step: Global step.
            values: Name → number (tensors are converted).
            kind: Record type, e.g. ``"train"``, ``"eval"``, ``"baseline"``.
        """
        if not self.enabled:
            return
        rec = {"kind": kind, "step": int(step), "time": round(time.time(), 3)}
        rec.update({k: _number(v) for k, v in values.items()})
        fh = self._file()
        fh.write(json.dumps(rec) + "\n")
        fh.flush()
        if self._tb is not None:
            for k, v in rec.items():
                if k in ("kind", "step", "time") or not isinstance(v, (int, float)) or isinstance(v, bool):
                    continue
                self._tb.add_scalar(f"{kind}/{k}", v, int(step))

    def log_images(self, step: int, images: Mapping[str, Tensor]) -> list[Path]:
        """Log (3, H, W) float images in [0, 1]: TensorBoard ``panels/<name>`` and PNG files
        ``panels/<name>_<step>.png``.

        Returns:
            The PNG paths written.
        """
        if not self.enabled:
            return []
        from PIL import Image

        out = []
        folder = self.run_dir / "panels"
        folder.mkdir(parents=True, exist_ok=True)
        for name, img in images.items():
            img = img.detach().float().clamp(0, 1).cpu()
            if self._tb is not None:
                self._tb.add_image(f"panels/{name}", img, int(step))
            arr = (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            path = folder / f"{name}_{int(step):08d}.png"
            Image.fromarray(arr).save(path)
            out.append(path)
        return out

    def truncate_after(self, step: int) -> None:
        """Drop JSONL records with a step greater than ``step`` (written after the checkpoint a run resumes
        from), so a resumed run's log has each step once."""
        if not self.enabled or not self.jsonl_path.is_file():
            return
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        rows = read_jsonl(self.jsonl_path)
        keep = [r for r in rows if int(r.get("step", 0)) <= step]
        if len(keep) < len(rows):
            logger.info("%s: dropped %d record(s) after step %d (written by a run that stopped before its "
                        "next checkpoint)", self.jsonl_path, len(rows) - len(keep), step)
        atomic_write_bytes("".join(json.dumps(r) + "\n" for r in keep).encode(), self.jsonl_path)

    def flush(self) -> None:
        """Flush files."""
        if self._fh is not None:
            self._fh.flush()
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        """Flush and close everything."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None


class Throughput:
    """Images per second over a sliding window of steps (synchronise the device before ``update``).

    Args:
        window: Steps averaged.
    """

    def __init__(self, window: int = 20):
        self.window = max(1, int(window))
        self._times: list[float] = []
        self._counts: list[int] = []

    def update(self, images: int, now: float | None = None) -> None:
        """Record that ``images`` images were processed at time ``now`` (default: ``time.perf_counter()``)."""
        self._times.append(time.perf_counter() if now is None else now)
        self._counts.append(int(images))
        if len(self._times) > self.window + 1:
            self._times.pop(0)
            self._counts.pop(0)

    def rate(self) -> float:
        """Images per second over the window (0 until two updates)."""
        if len(self._times) < 2:
            return 0.0
        dt = self._times[-1] - self._times[0]
        return sum(self._counts[1:]) / dt if dt > 0 else 0.0


def gpu_memory_gb(device: torch.device) -> float:
    """Peak allocated CUDA memory on ``device`` in GiB (0 on CPU)."""
    if device.type != "cuda":
        return 0.0
    return torch.cuda.max_memory_allocated(device) / 2**30
