"""The data contract every stage shares, in one place.

A *sample file* ``data-YYYY-MM-DD-TT-R.h5`` (TT = time step of the day, R = ensemble run) holds

- ``climate/data``: float32 (lat, lon, 16), channels last, in the order of :data:`CHANNELS`;
- ``climate/labels_0``: integer (lat, lon), :data:`BACKGROUND` / :data:`TC` / :data:`AR`;
- provenance as attributes (labelling parameters, source file, code version).

The public DeepCAM data set stores labels as float32 and has no provenance attributes; readers
accept both.

A *statistics file* ``stats.h5`` holds per-channel (16,) float64 data sets ``climate/count``,
``climate/mean``, ``climate/sqmean``, ``climate/minval`` and ``climate/maxval`` (:data:`STATS_KEYS`, the
MLPerf DeepCAM layout); ``climate stats`` also writes ``climate/variance`` (16,) and the per-class
``climate/class_counts`` and ``climate/class_frequencies`` (:data:`NUM_CLASSES`,), which readers take when
present.

A sample without ``lat``/``lon`` data sets (the public DeepCAM files) is on :func:`cam5_grid`.

Everything every stage shares is defined here once: production code takes it from this module, never from
the demo-data generator (``climseg.synth``).
"""

import datetime as _dt
import re
from typing import NamedTuple

import numpy as np

CHANNELS = (
    "TMQ", "U850", "V850", "UBOT", "VBOT", "QREFHT", "PS", "PSL",
    "T200", "T500", "PRECT", "TS", "TREFHT", "Z1000", "Z200", "ZBOT",
)
"""Names of the 16 input channels, in the order of the last axis of ``climate/data``."""

CHANNEL_UNITS = {
    "TMQ": "kg m-2", "U850": "m s-1", "V850": "m s-1", "UBOT": "m s-1", "VBOT": "m s-1",
    "QREFHT": "kg kg-1", "PS": "Pa", "PSL": "Pa", "T200": "K", "T500": "K", "PRECT": "m s-1",
    "TS": "K", "TREFHT": "K", "Z1000": "m", "Z200": "m", "ZBOT": "m",
}
"""CAM5 units of each channel."""

BACKGROUND, TC, AR = 0, 1, 2
CLASS_NAMES = ("background", "TC", "AR")
NUM_CLASSES = len(CLASS_NAMES)

DATA_KEY = "climate/data"
LABELS_KEY = "climate/labels_0"
STATS_KEYS = ("climate/count", "climate/mean", "climate/sqmean", "climate/minval", "climate/maxval")
"""The per-channel data sets every ``stats.h5`` has, in this order."""
STATS_VARIANCE_KEY = "climate/variance"
CLASS_COUNTS_KEY = "climate/class_counts"
CLASS_FREQUENCIES_KEY = "climate/class_frequencies"

NORMALIZATIONS = ("minmax", "zscore")
"""Per-channel input normalizations from ``stats.h5``: to [0, 1] by minval/maxval, or by mean and std."""

FULL_GRID = (768, 1152)
"""(lat, lon) points of the CAM5 0.25 degree grid of the paper."""


def cam5_grid(n_lat: int, n_lon: int) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes (n_lat,) from -90 to 90 inclusive and longitudes (n_lon,) from 0 to 360 exclusive, degrees:
    CAM5's finite-volume grid (the grid of samples that carry no coordinates, and of ``climseg synth``)."""
    return np.linspace(-90.0, 90.0, n_lat), np.arange(n_lon) * (360.0 / n_lon)

_SAMPLE_NAME = re.compile(r"^data-(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d+)\.h5$")


class SampleName(NamedTuple):
    """The parts of a sample file name ``data-YYYY-MM-DD-TT-R.h5``."""

    date: _dt.date
    step: int
    """Time step of the day, 0-based (3-hourly data: 0..7)."""
    run: int
    """Ensemble run."""

    def __str__(self) -> str:
        return f"data-{self.date:%Y-%m-%d}-{self.step:02d}-{self.run}.h5"


def sample_file_name(date: _dt.date, step: int, run: int = 1) -> str:
    """Return ``data-YYYY-MM-DD-TT-R.h5`` for time step ``step`` of ``date`` in ensemble run ``run``."""
    return str(SampleName(date, step, run))


def parse_sample_file_name(name: str) -> SampleName:
    """Split a sample file name (a path is fine) into date, time step and run.

    Raises ValueError naming the file when it does not follow ``data-YYYY-MM-DD-TT-R.h5``.
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    match = _SAMPLE_NAME.match(base)
    if not match:
        raise ValueError(f"{name}: not a sample file name of the form data-YYYY-MM-DD-TT-R.h5")
    year, month, day, step, run = (int(g) for g in match.groups())
    try:
        date = _dt.date(year, month, day)
    except ValueError as error:
        raise ValueError(f"{name}: not a valid date in the sample file name ({error})") from None
    return SampleName(date, step, run)
