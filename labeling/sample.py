"""Sample files of the data contract: one labelled time step per ``data-YYYY-MM-DD-TT-R.h5``.

Layout (:mod:`climseg.contract`)::

    climate/data      float32 (lat, lon, 16)  channels last, in the order of CHANNELS
    climate/labels_0  uint8   (lat, lon)      0 background, 1 TC, 2 AR (TC wins where both)
    lat, lon          float64 (lat,), (lon,)  degrees, the grid (latitude ascending, longitude 0..360)

and provenance as attributes of the file: ``source_file`` (the netCDF file), ``source_time_index``,
``time`` (ISO), ``calendar``, ``labeling_config`` (JSON of ``LabelConfig.to_dict()``), ``climseg_version``,
``code_revision`` (git commit of the labelling code, ``+dirty`` with uncommitted changes, or ``unknown``),
``grid_orientation`` (JSON: the canonical orientation and what was done to the source grid), ``grid``
(JSON: shape, spacing and extent of the canonical grid, periodic or not), ``thresholds`` (JSON: the
thresholds applied to this time step beside the configured ones, see ``labeling.labels.applied_thresholds``),
``channels`` (JSON list), ``class_names``, ``ivt_source`` (``levels`` or ``proxy``: what ``auto`` resolved
to) and ``tc_centres`` (JSON list of detected centres: lat, lon, radius in km).

Together they reproduce the labels exactly: the source file and time index give the fields,
``labeling_config`` with ``ivt.source`` set to ``ivt_source`` gives the configuration, and
``labeling.labels.label_time_step`` at ``code_revision`` gives the same labels and ``thresholds``.

:func:`read_sample` also reads the public DeepCAM files (labels stored as float32, no attributes, no
``lat``/``lon``: the CAM5 grid is assumed).
"""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path
from typing import NamedTuple

import numpy as np

from climseg import __version__
from climseg.atomic import atomic_output
from climseg.disk import reporting_disk_full
from climseg.contract import AR, CHANNELS, CLASS_NAMES, DATA_KEY, LABELS_KEY, NUM_CLASSES, TC, cam5_grid


class Sample(NamedTuple):
    """One sample file read back."""

    data: np.ndarray
    """float32 (lat, lon, 16), channels in contract order."""
    labels: np.ndarray
    """uint8 (lat, lon), 0 / 1 / 2."""
    lat_deg: np.ndarray
    """(lat,), degrees ascending (the CAM5 grid when the file does not say)."""
    lon_deg: np.ndarray
    """(lon,), degrees in [0, 360)."""
    attrs: dict
    """Provenance attributes (empty for public DeepCAM files)."""


_INTERLEAVE_BLOCK_BYTES = 1 << 18
"""Rows of ``climate/data`` filled at a time by :func:`stack_channels`: a block this size stays in the CPU
cache while its 16 channels are written into it (channel by channel over the whole array, each write
touched every cache line of the 57 MB full-size sample: 5x slower)."""


def stack_channels(fields) -> np.ndarray:
    """``climate/data`` of a time step: the 16 channels (lat, lon) of ``fields`` -> float32 (lat, lon, 16)."""
    missing = [name for name in CHANNELS if name not in fields]
    if missing:
        raise ValueError(f"cannot stack channels: missing {', '.join(missing)}")
    channels = [fields[name] for name in CHANNELS]
    n_lat, n_lon = np.shape(channels[0])
    data = np.empty((n_lat, n_lon, len(CHANNELS)), dtype=np.float32)
    rows = max(1, _INTERLEAVE_BLOCK_BYTES // (n_lon * len(CHANNELS) * data.itemsize))
    for start in range(0, n_lat, rows):
        block = data[start:start + rows]
        for index, channel in enumerate(channels):
            block[..., index] = channel[start:start + rows]
    return data


def class_map(tc_mask, ar_mask) -> np.ndarray:
    """``climate/labels_0``: uint8 (lat, lon) with 1 where ``tc_mask``, else 2 where ``ar_mask``, else 0."""
    labels = np.zeros(np.shape(tc_mask), dtype=np.uint8)
    labels[np.asarray(ar_mask, bool)] = AR
    labels[np.asarray(tc_mask, bool)] = TC
    return labels


def provenance(*, source_file, time_index: int, time: str, calendar: str, config, orientation: dict,
               ivt_source: str, lat_deg, lon_deg, thresholds: dict, tc_centres=()) -> dict:
    """The provenance attributes of a sample (see the module docstring).

    ``config`` is a ``labeling.config.LabelConfig``; ``lat_deg``, ``lon_deg`` (degrees) the canonical grid;
    ``thresholds`` the ``LabelResult.thresholds`` of the time step; ``tc_centres`` are
    ``labeling.tc.TCCentre`` (or any objects with ``lat_deg``, ``lon_deg``, ``radius_km``).
    """
    centres = [{"lat_deg": round(float(c.lat_deg), 4), "lon_deg": round(float(c.lon_deg), 4),
                "radius_km": round(float(c.radius_km), 1)} for c in tc_centres]
    return {
        "source_file": str(source_file),
        "source_time_index": int(time_index),
        "time": time,
        "calendar": calendar,
        "labeling_config": json.dumps(config.to_dict(), sort_keys=True),
        "climseg_version": __version__,
        "code_revision": code_revision(),
        "grid_orientation": json.dumps(orientation, sort_keys=True),
        "grid": json.dumps(grid_description(lat_deg, lon_deg), sort_keys=True),
        "thresholds": json.dumps(thresholds, sort_keys=True),
        "channels": json.dumps(list(CHANNELS)),
        "class_names": json.dumps(list(CLASS_NAMES)),
        "ivt_source": ivt_source,
        "tc_centres": json.dumps(centres),
    }


def grid_description(lat_deg, lon_deg) -> dict:
    """Shape, spacing (degrees; latitude: the median) and extent of a grid, and whether it is periodic."""
    from labeling.grid import is_periodic, longitude_spacing_deg

    lat = np.asarray(lat_deg, dtype=np.float64)
    lon = np.asarray(lon_deg, dtype=np.float64)
    return {"shape": [int(lat.size), int(lon.size)], "lat_spacing_deg": float(np.median(np.diff(lat))),
            "lon_spacing_deg": longitude_spacing_deg(lon), "lat_range_deg": [float(lat[0]), float(lat[-1])],
            "lon_range_deg": [float(lon[0]), float(lon[-1])], "periodic": is_periodic(lon)}


@functools.lru_cache(maxsize=1)
def code_revision() -> str:
    """Git commit of the checkout the labelling code runs from (``+dirty`` when tracked files have changed),
    or ``unknown`` when it is not a git checkout (an installed package: ``climseg_version`` then says it)."""
    here = Path(__file__).resolve().parent

    def git(*args):
        return subprocess.run(["git", "-C", str(here), *args], capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def write_sample(path, data, labels, lat_deg, lon_deg, *, attrs: dict) -> Path:
    """Write one sample file (written to a temporary name, renamed when complete).

    Parameters
    ----------
    path : path of ``data-YYYY-MM-DD-TT-R.h5``
    data : ndarray float32 (lat, lon, 16), channels in contract order
    labels : ndarray integer (lat, lon), values 0, 1, 2
    lat_deg, lon_deg : ndarray (lat,), (lon,), degrees
    attrs : dict of provenance attributes (:func:`provenance`)

    Raises
    ------
    ValueError
        Naming the file, when the shapes disagree or a label is not 0, 1 or 2 (nothing is written).
    OSError
        With ``errno`` ENOSPC or EDQUOT and a one-line message naming the file, the space the sample needs
        and the space free, when the disk or quota is full; a previous file of that name is left as it was
        and no temporary file remains.
    """
    import h5py

    data = np.asarray(data)
    labels = np.asarray(labels)
    if data.ndim != 3 or data.shape[2] != len(CHANNELS):
        raise ValueError(f"{path}: data must be (lat, lon, {len(CHANNELS)}), got {data.shape}")
    if labels.shape != data.shape[:2]:
        raise ValueError(f"{path}: labels {labels.shape} do not match data {data.shape[:2]}")
    if np.size(lat_deg) != data.shape[0] or np.size(lon_deg) != data.shape[1]:
        raise ValueError(f"{path}: grid ({np.size(lat_deg)}, {np.size(lon_deg)}) does not match data {data.shape[:2]}")
    if labels.size and not (labels.min() >= 0 and labels.max() < NUM_CLASSES):  # NaN fails both
        raise ValueError(f"{path}: labels hold values outside 0..{NUM_CLASSES - 1} ({labels.min()}..{labels.max()})")
    path = Path(path)
    needed = (data.nbytes + labels.size + 8 * (data.shape[0] + data.shape[1])
              + sum(len(str(value)) for value in attrs.values()) + _HDF5_OVERHEAD_BYTES)
    with reporting_disk_full(path, needed_bytes=needed, kept="no partial file was left"):
        with atomic_output(path) as tmp:
            with h5py.File(tmp, "w") as f:
                f.create_dataset(DATA_KEY, data=data.astype(np.float32, copy=False))
                f.create_dataset(LABELS_KEY, data=labels.astype(np.uint8, copy=False))
                f.create_dataset("lat", data=np.asarray(lat_deg, np.float64)).attrs["units"] = "degrees_north"
                f.create_dataset("lon", data=np.asarray(lon_deg, np.float64)).attrs["units"] = "degrees_east"
                for key, value in attrs.items():
                    f.attrs[key] = value
    return path


_HDF5_OVERHEAD_BYTES = 16 * 1024
"""Metadata of a sample file beyond its arrays and attributes (superblock, object headers, B-trees):
about 10 KiB measured; the estimate of the space a sample needs rounds it up."""


def _attr(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_sample(path, *, data: bool = True) -> Sample:
    """Read a sample file: ours or a public DeepCAM one.

    ``data=False`` skips ``climate/data`` (``Sample.data`` is then None), for label-only work.

    Raises
    ------
    OSError
        The file cannot be read as HDF5.
    ValueError
        A data set is missing, shapes disagree, ``climate/data`` does not have 16 channels, or the labels
        hold values other than 0, 1, 2.
    """
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as error:
        raise OSError(f"{path}: cannot read sample file ({error})") from None
    with f:
        for key in (DATA_KEY, LABELS_KEY):
            if key not in f:
                raise ValueError(f"{path}: not a sample file (missing {key})")
        shape = f[DATA_KEY].shape
        if len(shape) != 3 or shape[2] != len(CHANNELS):
            raise ValueError(f"{path}: {DATA_KEY} has shape {shape}, expected (lat, lon, {len(CHANNELS)})")
        if f[LABELS_KEY].shape != shape[:2]:
            raise ValueError(f"{path}: {LABELS_KEY} has shape {f[LABELS_KEY].shape}, expected {shape[:2]}")
        values = f[DATA_KEY][()].astype(np.float32, copy=False) if data else None
        raw = f[LABELS_KEY][()]
        if "lat" in f and "lon" in f:
            lat, lon = f["lat"][()], f["lon"][()]
        else:
            lat, lon = cam5_grid(*shape[:2])
        attrs = {key: _attr(value) for key, value in f.attrs.items()}
    if raw.dtype.kind == "f" and not np.isfinite(raw).all():
        raise ValueError(f"{path}: {LABELS_KEY} holds NaN or infinite values")
    labels = np.rint(raw).astype(np.int64) if raw.dtype.kind == "f" else raw.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise ValueError(f"{path}: {LABELS_KEY} holds values outside 0..{NUM_CLASSES - 1} "
                         f"({labels.min()}..{labels.max()})")
    return Sample(values, labels.astype(np.uint8), np.asarray(lat), np.asarray(lon), attrs)
