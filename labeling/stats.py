"""Per-channel statistics of sample files (``stats.h5``) and the class frequencies of their labels.

One streaming pass over the files, memory independent of their number: each file's per-channel count,
mean and sum of squared deviations from its own mean (two passes over the file) are merged into running
values with Chan et al.'s pairwise update, minima and maxima kept as we go. Unlike running sums of values and
of squares, whose variance ``sum_sq / n - (sum / n)**2`` cancels catastrophically once the mean is large
against the spread (nothing is left of a variance of 1 around 1e8 in float64), the merged variance keeps
full precision. NaN / infinite values are left out of every statistic.

``stats.h5`` layout (all float64)::

    climate/count              (16,)  finite values seen per channel (lat * lon * files without NaN)
    climate/mean               (16,)  mean per channel
    climate/sqmean             (16,)  mean of the squares per channel (std = sqrt(sqmean - mean**2))
    climate/variance           (16,)  variance per channel, from the merged deviations (full precision)
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
from climseg.contract import (CHANNELS, CLASS_COUNTS_KEY, CLASS_FREQUENCIES_KEY, CLASS_NAMES, NUM_CLASSES,
                              STATS_KEYS, STATS_VARIANCE_KEY)


@dataclasses.dataclass
class RunningStats:
    """Per-channel statistics merged one sample at a time (Chan, Golub and LeVeque's pairwise update).

    All arrays (16,) float64 in channel units; ``m2`` is the sum of squared deviations from ``mean``.

    References
    ----------
    T. F. Chan, G. H. Golub, R. J. LeVeque (1979), "Updating formulae and a pairwise algorithm for computing
    sample variances", Stanford CS report STAN-CS-79-773.
    """

    count: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(len(CHANNELS)))
    mean: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(len(CHANNELS)))
    m2: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(len(CHANNELS)))
    minval: np.ndarray = dataclasses.field(default_factory=lambda: np.full(len(CHANNELS), np.inf))
    maxval: np.ndarray = dataclasses.field(default_factory=lambda: np.full(len(CHANNELS), -np.inf))
    class_counts: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(NUM_CLASSES))
    files: int = 0

    def add(self, data, labels=None) -> None:
        """Merge one sample: ``data`` (lat, lon, 16) any float dtype, ``labels`` (lat, lon) class ids or None."""
        values = np.asarray(data).reshape(-1, len(CHANNELS)).astype(np.float64)  # (pixels, channels)
        finite = np.isfinite(values)
        n = finite.sum(axis=0).astype(np.float64)
        seen = n > 0
        clean = np.where(finite, values, 0.0)
        batch_mean = np.divide(clean.sum(axis=0), n, out=np.zeros_like(n), where=seen)
        deviations = np.where(finite, values - batch_mean, 0.0)
        batch_m2 = np.einsum("ij,ij->j", deviations, deviations)
        merged = self.count + n
        delta = batch_mean - self.mean
        weight = np.divide(n, merged, out=np.zeros_like(n), where=merged > 0)
        self.mean = np.where(seen, self.mean + delta * weight, self.mean)
        self.m2 = np.where(seen, self.m2 + batch_m2 + delta**2 * self.count * weight, self.m2)
        self.count = merged
        self.minval = np.minimum(self.minval, np.min(values, axis=0, initial=np.inf, where=finite))
        self.maxval = np.maximum(self.maxval, np.max(values, axis=0, initial=-np.inf, where=finite))
        if labels is not None:
            self.class_counts += np.bincount(np.asarray(labels, np.int64).ravel(), minlength=NUM_CLASSES)[:NUM_CLASSES]
        self.files += 1

    @property
    def variance(self) -> np.ndarray:
        """(16,) population variance per channel (0 for a channel without values)."""
        return np.divide(self.m2, self.count, out=np.zeros_like(self.m2), where=self.count > 0)

    @property
    def sqmean(self) -> np.ndarray:
        """(16,) mean of the squares per channel, as ``stats.h5`` stores it: variance + mean**2."""
        return self.variance + self.mean**2

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
        f.create_dataset(STATS_VARIANCE_KEY, data=stats.variance)
        f.create_dataset(CLASS_COUNTS_KEY, data=np.asarray(stats.class_counts, np.float64))
        f.create_dataset(CLASS_FREQUENCIES_KEY, data=stats.class_frequencies)
        f.attrs["channels"] = json.dumps(list(CHANNELS))
        f.attrs["class_names"] = json.dumps(list(CLASS_NAMES))
        f.attrs["files"] = stats.files
        f.attrs["climseg_version"] = __version__
    return path
