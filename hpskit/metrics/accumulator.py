"""Collect per-sample metric values over an evaluation run; report per-sequence and total means.

Every sample passed to :meth:`MetricAccumulator.update` is scored; batch sizes may vary, so the last
partial batch counts too (the authors' loader uses ``drop_last=True`` and silently skips up to 63
rows; hpskit does not). The total is the mean over **samples** (formats.md §7), not the mean of
sequence means.

Example:
    >>> import torch
    >>> acc = MetricAccumulator()
    >>> acc.update({"mpjpe": torch.tensor([1.0, 2.0])}, sequences=["a", "a"])
    >>> acc.update({"mpjpe": torch.tensor([6.0])}, sequences="b")
    >>> acc.total(), acc.per_sequence()["a"], len(acc)
    ({'mpjpe': 3.0}, {'mpjpe': 1.5, 'count': 2}, 3)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from hpskit.core import ConfigError, ShapeError

__all__ = ["MetricAccumulator"]

logger = logging.getLogger(__name__)


def _to_numpy(name: str, v) -> np.ndarray:
    if isinstance(v, torch.Tensor):
        v = v.detach().to("cpu", torch.float64).numpy()
    arr = np.asarray(v, dtype=np.float64)
    if arr.ndim != 1:
        raise ShapeError(f"MetricAccumulator.update: metric `{name}` must be one value per sample, "
                         f"shape (B,); got {tuple(arr.shape)}. Pass per-sample values, e.g. mpjpe(pred, gt).")
    return arr


class MetricAccumulator:
    """Accumulates per-sample values of several metrics, optionally tagged with a sequence name.

    Values are stored in float64 on the CPU, in whatever unit they are given (convert with
    :func:`hpskit.metrics.to_mm` first for millimetre tables).
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated so far."""
        self._names: tuple[str, ...] | None = None
        self._chunks: dict[str, list[np.ndarray]] = {}
        self._sequences: list[str] = []

    def __len__(self) -> int:
        return len(self._sequences)

    @property
    def names(self) -> tuple[str, ...]:
        """The metric names, fixed by the first update."""
        return self._names or ()

    def update(self, values: Mapping[str, object], sequences: Sequence[str] | str | None = None) -> None:
        """Add one batch of per-sample values.

        Args:
            values: Metric name → per-sample values, each shape (B,) (tensor, array or list). Every
                update must use the same names.
            sequences: Sequence name per sample (length B), one name for the whole batch, or None
                (samples go to the sequence ``""``).

        Raises:
            ShapeError: If values are not 1-D or their lengths differ.
            ConfigError: If the metric names differ from the first update's.
        """
        arrays = {k: _to_numpy(k, v) for k, v in values.items()}
        if not arrays:
            raise ConfigError("MetricAccumulator.update: `values` is empty; "
                              "pass e.g. {'mpjpe': tensor (B,)}.")
        names = tuple(sorted(arrays))
        if self._names is None:
            self._names = names
            self._chunks = {k: [] for k in names}
        elif names != self._names:
            raise ConfigError(f"MetricAccumulator.update: metric names {list(names)} differ from the first "
                              f"update's {list(self._names)}; use one accumulator per set of metrics.")
        lengths = {k: len(a) for k, a in arrays.items()}
        B = next(iter(lengths.values()))
        if any(n != B for n in lengths.values()):
            raise ShapeError(f"MetricAccumulator.update: all metrics need the same batch size; "
                             f"got {lengths}.")
        if sequences is None or isinstance(sequences, str):
            seqs = [sequences or ""] * B
        else:
            seqs = [str(s) for s in sequences]
            if len(seqs) != B:
                raise ShapeError(f"MetricAccumulator.update: `sequences` has {len(seqs)} names for a "
                                 f"batch of {B} samples; pass one name per sample or a single string.")
        for k, a in arrays.items():
            if not np.isfinite(a).all():
                n_bad = int((~np.isfinite(a)).sum())
                logger.warning("metric %s has %d non-finite values in this batch", k, n_bad)
            self._chunks[k].append(a)
        self._sequences.extend(seqs)

    def per_sample(self) -> dict[str, np.ndarray]:
        """All values in update order: metric name → array (N,), plus ``"sequence"`` → array of str."""
        out = {k: (np.concatenate(c) if c else np.zeros(0)) for k, c in self._chunks.items()}
        out["sequence"] = np.asarray(self._sequences, dtype=str)
        return out

    def total(self) -> dict[str, float]:
        """Mean over all samples of each metric (NaN if nothing was added)."""
        values = self.per_sample()
        return {k: (float(values[k].mean()) if len(self) else float("nan")) for k in self.names}

    def std(self) -> dict[str, float]:
        """Standard deviation over all samples of each metric (population, as ``np.std``)."""
        values = self.per_sample()
        return {k: (float(values[k].std()) if len(self) else float("nan")) for k in self.names}

    def per_sequence(self) -> dict[str, dict[str, float | int]]:
        """Per sequence (in order of first appearance): metric name → mean, plus ``"count"``."""
        values = self.per_sample()
        seqs = values["sequence"]
        out: dict[str, dict[str, float | int]] = {}
        for name in dict.fromkeys(self._sequences):
            mask = seqs == name
            row: dict[str, float | int] = {k: float(values[k][mask].mean()) for k in self.names}
            row["count"] = int(mask.sum())
            out[name] = row
        return out

    def summary(self) -> dict:
        """A JSON-serialisable summary: ``{"count", "total", "std", "per_sequence"}``."""
        return {"count": len(self), "total": self.total(), "std": self.std(),
                "per_sequence": self.per_sequence()}
