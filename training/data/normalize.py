"""Per-channel normalization ``(x - offset) * scale`` from the statistics, and its north-south flip."""

import numpy as np

from climseg.contract import CHANNELS, NORMALIZATIONS

from .stats import ChannelStats

MERIDIONAL_WIND_CHANNELS = tuple(CHANNELS.index(name) for name in ("V850", "VBOT"))
"""Channels whose sign flips when a sample is mirrored north-south."""


def normalization_coefficients(stats: ChannelStats, *, method: str = "zscore") -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``offset`` and ``scale`` with ``normalized = (x - offset) * scale``.

    Parameters
    ----------
    stats : ChannelStats
    method : str, one of :data:`climseg.contract.NORMALIZATIONS`
        ``minmax``: ``(x - minval) / (maxval - minval)``, in [0, 1] on the samples of the statistics (as
        MLPerf DeepCAM); ``zscore``: ``(x - mean) / std``.

    Returns
    -------
    offset, scale : ndarray (16,), float32
        A channel with zero (or non-finite) range or standard deviation gets ``scale = 0``: it becomes
        all zeros instead of NaN or infinity.
    """
    if method == "minmax":
        offset, spread = stats.minval, stats.maxval - stats.minval
    elif method == "zscore":
        offset, spread = stats.mean, stats.std
    else:
        raise ValueError(f"normalization must be one of {', '.join(NORMALIZATIONS)}, got {method!r}")
    usable = np.isfinite(spread) & (spread > 0)
    scale = np.where(usable, 1.0 / np.where(usable, spread, 1.0), 0.0)
    offset = np.where(np.isfinite(offset), offset, 0.0)
    return offset.astype(np.float32), scale.astype(np.float32)


def row_coefficients(offset, scale, *, cols: int, flip_latitude: bool) -> tuple[np.ndarray, np.ndarray]:
    """``offset`` and ``scale`` repeated over a row of ``cols`` points, (cols * 16,) float32.

    Normalizing rows against these long vectors runs about twice as fast as broadcasting (16,) vectors.
    A north-south flip negates V850 and VBOT: ``(-x - o) * s == (x + o) * -s``, folded in here.
    """
    offset, scale = np.array(offset, np.float32), np.array(scale, np.float32)
    if flip_latitude:
        offset[list(MERIDIONAL_WIND_CHANNELS)] *= -1
        scale[list(MERIDIONAL_WIND_CHANNELS)] *= -1
    return np.tile(offset, cols), np.tile(scale, cols)
