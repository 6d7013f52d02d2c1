"""Small labelled samples for tests and CPU benchmarks of the training stage, written straight to HDF5.

``climseg synth`` + ``climseg label`` make realistic demo data through the whole pipeline; this module
makes a *learnable toy problem* in seconds, for the training loop alone: smooth random fields with
planted round "tropical cyclones" (TMQ and precipitation up, PSL and PS down, a vortex in the winds)
and elongated, tilted "atmospheric rivers" (TMQ up, strong wind along the band), labelled 1 and 2.
The labels are a function of the fields (what a segmentation network must learn), the signatures of the
two classes differ (pressure low vs. wind band, round vs. elongated), and background is about 90 % of
the pixels, as in the real data.

    >>> files, stats = write_demo_samples("demo", count=8, grid=(32, 48), seed=0)   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import datetime as dt
import h5py
import numpy as np
from scipy import ndimage

from climseg.atomic import atomic_output
from climseg.contract import AR, CHANNELS, DATA_KEY, LABELS_KEY, TC, sample_file_name
from labeling.stats import RunningStats, write_stats

# Typical value and spread of each channel (channel units), so normalization has work to do.
_TYPICAL = {
    "TMQ": (25.0, 12.0), "U850": (2.0, 8.0), "V850": (0.0, 6.0), "UBOT": (1.0, 5.0), "VBOT": (0.0, 4.0),
    "QREFHT": (0.01, 0.005), "PS": (98000.0, 1500.0), "PSL": (101000.0, 1000.0), "T200": (218.0, 6.0),
    "T500": (255.0, 10.0), "PRECT": (3e-8, 4e-8), "TS": (288.0, 15.0), "TREFHT": (287.0, 14.0),
    "Z1000": (110.0, 60.0), "Z200": (11800.0, 300.0), "ZBOT": (60.0, 5.0),
}


def demo_sample(rng: np.random.Generator, grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """One sample: fields (lat, lon, 16) float32 in channel units and labels (lat, lon) uint8."""
    rows, cols = grid
    ch = {name: i for i, name in enumerate(CHANNELS)}
    anomaly = ndimage.gaussian_filter(rng.normal(size=(rows, cols, len(CHANNELS))), sigma=(3, 3, 0),
                                      mode="wrap") * 4.0  # smooth background weather, about unit variance
    labels = np.zeros(grid, np.uint8)
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
    scale = min(rows, cols)

    for _ in range(rng.integers(1, 3)):  # atmospheric rivers: long, thin, tilted bands
        cy, cx = rng.uniform(0.2, 0.8) * rows, rng.uniform(0, cols)
        angle = rng.uniform(-0.6, 0.6)
        along = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
        across = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
        band = np.exp(-(along / (0.45 * scale)) ** 4 - (across / (0.05 * scale)) ** 2)  # (lat, lon), 0..1
        anomaly[..., ch["TMQ"]] += 3.0 * band
        anomaly[..., ch["QREFHT"]] += 2.0 * band
        anomaly[..., ch["U850"]] += 3.5 * band * np.cos(angle)
        anomaly[..., ch["V850"]] += 3.5 * band * np.sin(angle)
        labels[band > 0.5] = AR

    for _ in range(rng.integers(1, 3)):  # tropical cyclones: round, pressure low, vortex, rain
        cy, cx = rng.uniform(0.15, 0.85) * rows, rng.uniform(0, cols)
        radius = rng.uniform(0.06, 0.1) * scale
        r2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / radius ** 2
        core = np.exp(-r2)
        anomaly[..., ch["PSL"]] -= 4.0 * core
        anomaly[..., ch["PS"]] -= 3.0 * core
        anomaly[..., ch["TMQ"]] += 2.0 * core
        anomaly[..., ch["PRECT"]] += 4.0 * core
        anomaly[..., ch["T500"]] += 2.0 * core  # warm core
        swirl = 3.0 * np.sqrt(r2) * np.exp(-r2 / 2)
        for u, v in (("U850", "V850"), ("UBOT", "VBOT")):
            anomaly[..., ch[u]] += -swirl * (yy - cy) / (radius * np.sqrt(r2) + 1e-9)
            anomaly[..., ch[v]] += swirl * (xx - cx) / (radius * np.sqrt(r2) + 1e-9)
        labels[r2 < 1.0] = TC

    mean = np.array([_TYPICAL[name][0] for name in CHANNELS])
    spread = np.array([_TYPICAL[name][1] for name in CHANNELS])
    fields = (mean + spread * anomaly).astype(np.float32)  # (lat, lon, 16)
    return fields, labels


def write_demo_samples(out_dir, *, count: int, grid: tuple[int, int] = (32, 48), seed: int = 0,
                       start: dt.date = dt.date(2000, 1, 1)) -> tuple[list[Path], Path]:
    """Write ``count`` samples ``data-YYYY-MM-DD-TT-1.h5`` (8 per day) and their ``stats.h5``.

    Returns the sample paths and the stats path (``out_dir/stats.h5``, with ``climate/class_frequencies``).
    """
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    files, stats = [], RunningStats()
    for i in range(count):
        fields, labels = demo_sample(rng, grid)
        path = out_dir / sample_file_name(start + dt.timedelta(days=i // 8), i % 8)
        with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
            f.create_dataset(DATA_KEY, data=fields)
            f.create_dataset(LABELS_KEY, data=labels)
            f.attrs["source"] = "training.demo"
        files.append(path)
        stats.add(fields, labels)
    stats_path = write_stats(out_dir / "stats.h5", stats)  # the stats.h5 of climseg stats
    return files, stats_path
