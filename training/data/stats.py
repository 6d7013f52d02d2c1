"""Per-channel statistics of the training samples, read from ``stats.h5``."""

from dataclasses import dataclass

import h5py
import numpy as np

from climseg.contract import CHANNELS, CLASS_FREQUENCIES_KEY, NUM_CLASSES, STATS_KEYS, STATS_VARIANCE_KEY


@dataclass(frozen=True)
class ChannelStats:
    """Per-channel statistics of the training samples, from ``stats.h5``; all (16,) float64 in channel units."""

    mean: np.ndarray
    std: np.ndarray
    """sqrt(``climate/variance``) where ``stats.h5`` has it (Chan's pairwise merge: exact for large offsets),
    else sqrt(sqmean - mean**2), 0 where rounding makes that negative."""
    minval: np.ndarray
    maxval: np.ndarray
    count: np.ndarray
    class_frequencies: np.ndarray | None = None
    """(3,) pixel frequencies of background, TC, AR (sum 1), or None when ``stats.h5`` has none."""


def read_stats(path) -> ChannelStats:
    """Read ``stats.h5`` (``climate/mean``, ``sqmean``, ``minval``, ``maxval``, ``count``, each (16,)).

    The optional data set ``climate/class_frequencies`` (3,) becomes ``class_frequencies``
    (normalized to sum 1; all zeros, as written for samples without labels, count as absent). Raises OSError or ValueError naming the file when it cannot be read, a data set
    is missing, or one does not have one value per channel.
    """
    try:
        with h5py.File(path, "r") as f:
            missing = [key for key in STATS_KEYS if key not in f]
            if missing:
                raise ValueError(f"{path}: not a stats file: missing {', '.join(missing)}")
            values = {key.split("/")[-1]: np.asarray(f[key][()], dtype=np.float64) for key in STATS_KEYS}
            if STATS_VARIANCE_KEY in f:
                values["variance"] = np.asarray(f[STATS_VARIANCE_KEY][()], dtype=np.float64)
            frequencies = f[CLASS_FREQUENCIES_KEY][()] if CLASS_FREQUENCIES_KEY in f else None
    except OSError as error:
        raise OSError(f"{path}: cannot read stats file ({error})") from None
    for name, value in values.items():
        if value.shape != (len(CHANNELS),):
            raise ValueError(f"{path}: climate/{name} has shape {value.shape}, expected ({len(CHANNELS)},)")
    if frequencies is not None:
        frequencies = np.asarray(frequencies, dtype=np.float64)
        if frequencies.shape == (NUM_CLASSES,) and np.all(frequencies == 0):
            frequencies = None  # statistics of samples without labels
    if frequencies is not None:
        if frequencies.shape != (NUM_CLASSES,) or np.any(frequencies < 0) or not frequencies.sum() > 0:
            raise ValueError(f"{path}: {CLASS_FREQUENCIES_KEY} must be {NUM_CLASSES} non-negative values, "
                             f"got {frequencies}")
        frequencies = frequencies / frequencies.sum()
    variance = values.get("variance", values["sqmean"] - values["mean"] ** 2)
    return ChannelStats(mean=values["mean"], std=np.sqrt(np.maximum(variance, 0.0)), minval=values["minval"],
                        maxval=values["maxval"], count=values["count"], class_frequencies=frequencies)
