"""Per-channel statistics of sample files (``stats.h5``) and the class frequencies of their labels.

One streaming pass over the files, memory independent of their number: each file's per-channel count,
mean and mean of squares are merged into running values (Chan et al.'s pairwise update, stable in
float64), minima and maxima kept as we go. NaN / infinite values are left out of every statistic.

``stats.h5`` layout (all float64)::

    climate/count              (16,)  finite values seen per channel (lat * lon * files without NaN)
    climate/mean               (16,)  mean per channel
    climate/sqmean             (16,)  mean of the squares per channel (std = sqrt(sqmean - mean**2))
    climate/minval, maxval     (16,)
    climate/class_counts       (3,)   pixels labelled background, TC, AR
    climate/class_frequencies  (3,)   class_counts / their sum (used for the loss weights)

with attributes ``channels``, ``class_names`` (JSON), ``files`` (number of samples) and
``climseg_version``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from climseg import __version__
from climseg.atomic import atomic_output
from climseg.contract import CHANNELS, CLASS_NAMES, NUM_CLASSES, STATS_KEYS

CLASS_COUNTS_KEY = "climate/class_counts"
CLASS_FREQUENCIES_KEY = "climate/class_frequencies"


@dataclasses.dataclass
class RunningStats:
    """Per-channel statistics merged one sample at a time."""

    count: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(len(CHANNELS)))
    mean: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(len(CHANNELS)))
    sqmean: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(len(CHANNELS)))
    minval: np.ndarray = dataclasses.field(default_factory=lambda: np.full(len(CHANNELS), np.inf))
    maxval: np.ndarray = dataclasses.field(default_factory=lambda: np.full(len(CHANNELS), -np.inf))
    class_counts: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(NUM_CLASSES))
    files: int = 0

    def add(self, data, labels=None) -> None:
        """Merge one sample: ``data`` (lat, lon, 16) any float dtype, ``labels`` (lat, lon) 0/1/2 or None."""
        values = np.asarray(data).reshape(-1, len(CHANNELS)).astype(np.float64)  # (pixels, channels)
        finite = np.isfinite(values)
        if finite.all():
            n = np.full(len(CHANNELS), float(values.shape[0]))
            total, squares = values.sum(axis=0), np.einsum("ij,ij->j", values, values)
            low, high = values.min(axis=0), values.max(axis=0)
        else:
            n = finite.sum(axis=0).astype(np.float64)
            clean = np.where(finite, values, 0.0)
            total, squares = clean.sum(axis=0), np.einsum("ij,ij->j", clean, clean)
            low = np.min(values, axis=0, initial=np.inf, where=finite)
            high = np.max(values, axis=0, initial=-np.inf, where=finite)
        seen = n > 0
        merged = self.count + n
        weight = np.divide(n, merged, out=np.zeros_like(n), where=merged > 0)
        self.mean = np.where(seen, self.mean + (np.divide(total, n, where=seen, out=np.zeros_like(n)) - self.mean)
                             * weight, self.mean)
        self.sqmean = np.where(seen, self.sqmean + (np.divide(squares, n, where=seen, out=np.zeros_like(n))
                                                    - self.sqmean) * weight, self.sqmean)
        self.count = merged
        self.minval = np.minimum(self.minval, low)
        self.maxval = np.maximum(self.maxval, high)
        if labels is not None:
            self.class_counts += np.bincount(np.asarray(labels, np.int64).ravel(), minlength=NUM_CLASSES)[:NUM_CLASSES]
        self.files += 1

    @property
    def class_frequencies(self) -> np.ndarray:
        """(3,) fractions of background, TC, AR pixels (zeros before any labels)."""
        total = self.class_counts.sum()
        return self.class_counts / total if total else np.zeros(NUM_CLASSES)


def compute_stats(paths, *, on_file=None) -> RunningStats:
    """Statistics of sample files, read one at a time. ``on_file()`` is called after each."""
    from labeling.sample import read_sample

    stats = RunningStats()
    for path in paths:
        sample = read_sample(path)
        stats.add(sample.data, sample.labels)
        if on_file is not None:
            on_file()
    return stats


def write_stats(path, stats: RunningStats) -> Path:
    """Write ``stats.h5`` (see the module docstring), atomically."""
    import h5py

    if stats.files == 0:
        raise ValueError(f"{path}: no samples to compute statistics of")
    path = Path(path)
    values = dict(zip(STATS_KEYS, (stats.count, stats.mean, stats.sqmean, stats.minval, stats.maxval)))
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        for key, value in values.items():
            f.create_dataset(key, data=np.asarray(value, np.float64))
        f.create_dataset(CLASS_COUNTS_KEY, data=np.asarray(stats.class_counts, np.float64))
        f.create_dataset(CLASS_FREQUENCIES_KEY, data=stats.class_frequencies)
        f.attrs["channels"] = json.dumps(list(CHANNELS))
        f.attrs["class_names"] = json.dumps(list(CLASS_NAMES))
        f.attrs["files"] = stats.files
        f.attrs["climseg_version"] = __version__
    return path
