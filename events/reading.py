"""Read mask files and their raw inputs one time step at a time, on the canonical grid.

A mask file (``climseg infer`` or ``climseg export``; format in :mod:`inference.masks`) is on its input's own
grid and orientation. Events work on the canonical grid: latitude ascending, longitude ascending in [0, 360)
(:func:`labeling.reading.canonical_grid`); ``Grid.lat_order`` / ``Grid.lon_order`` map canonical rows and
columns back to the file's own indices (the ``j`` and ``i`` of the track files). Only one time step is in
memory at a time.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterator

import numpy as np

from labeling.grid import cell_area_km2, is_periodic
from labeling.reading import canonical_grid

RAW_FIELDS = ("PSL", "UBOT", "VBOT", "TMQ", "U850", "V850", "LANDFRAC")
"""Raw variables the object properties (and the land mask) use; any missing one leaves its properties NaN."""


@dataclasses.dataclass(frozen=True, eq=False)
class Grid:
    """A latitude-longitude grid in canonical orientation and how to get there from a file's own order."""

    lat_deg: np.ndarray
    """(lat,) ascending, degrees."""
    lon_deg: np.ndarray
    """(lon,) ascending in [0, 360), degrees."""
    lat_order: np.ndarray
    """(lat,) int: canonical row r is the file's latitude index ``lat_order[r]``."""
    lon_order: np.ndarray
    """(lon,) int: canonical column c is the file's longitude index ``lon_order[c]``."""
    area_km2: np.ndarray
    """(lat, lon) cell areas, km2."""
    periodic: bool
    """The longitudes go all the way round (the first and last columns are neighbours)."""

    @classmethod
    def from_coordinates(cls, lat_deg, lon_deg) -> "Grid":
        lat, lon, lat_order, lon_order = canonical_grid(lat_deg, lon_deg)
        return cls(lat, lon, lat_order, lon_order, np.ascontiguousarray(cell_area_km2(lat, lon)), is_periodic(lon))

    def canonical(self, field: np.ndarray) -> np.ndarray:
        """``field`` (..., lat, lon) in the file's order -> canonical order (C-contiguous)."""
        return np.ascontiguousarray(field[..., self.lat_order, :][..., self.lon_order])

    def same_as(self, other: "Grid") -> bool:
        return (self.lat_deg.shape == other.lat_deg.shape and self.lon_deg.shape == other.lon_deg.shape
                and np.allclose(self.lat_deg, other.lat_deg) and np.allclose(self.lon_deg, other.lon_deg))


@dataclasses.dataclass(frozen=True)
class Step:
    """One time step of a mask file."""

    time: object
    """Time stamp, a ``cftime`` datetime in the file's calendar (``noleap`` for CAM5: 28 February + 3 h is
    1 March, in every year); ``year``, ``month``, ``day``, ``hour``, ``isoformat()``, differences as timedelta."""
    index: int
    """Index on the file's time axis."""
    classes: np.ndarray
    """int8 (lat, lon), canonical order: 0 background, 1 TC, 2 AR."""
    fields: dict
    """Raw variables (lat, lon) float32, canonical order, NaN where missing; empty without a raw file."""


def mask_grid(path) -> Grid:
    """The canonical grid of a mask file."""
    import xarray as xr

    with xr.open_dataset(path, decode_times=False) as ds:
        return Grid.from_coordinates(ds["lat"].values, ds["lon"].values)


def raw_file_of(mask_path, raw_dir=None) -> Path | None:
    """The raw input of a mask file: ``raw_dir/<input name>`` or its ``climseg_input_file``; None if absent."""
    import netCDF4

    with netCDF4.Dataset(mask_path) as ds:
        source = getattr(ds, "climseg_input_file", None)
    if source is None:
        return None
    candidate = Path(raw_dir) / Path(source).name if raw_dir is not None else Path(source)
    return candidate if candidate.exists() else None


def read_steps(path, *, raw_path=None, fields=RAW_FIELDS) -> Iterator[tuple[Grid, Step]]:
    """Yield ``(grid, step)`` for every time step of a mask file, one at a time.

    Parameters
    ----------
    path : a mask file (``class`` (time, lat, lon) int8)
    raw_path : path of its raw input file or None
        Its ``fields`` (those present) are read at the same time step; the grids must match.

    Raises
    ------
    ValueError
        Naming the file: not a mask file, or the raw file's grid or time axis differs.
    """
    import xarray as xr

    times_coder = xr.coders.CFDatetimeCoder(use_cftime=True)
    with xr.open_dataset(path, mask_and_scale=False, decode_times=times_coder) as masks:
        if "class" not in masks.variables:
            raise ValueError(f"{path}: not a mask file (no variable 'class')")
        grid = Grid.from_coordinates(masks["lat"].values, masks["lon"].values)
        times = list(masks["time"].values)  # cftime objects: differences follow the file's calendar
        raw = xr.open_dataset(raw_path, decode_times=times_coder) if raw_path is not None else None
        try:
            present = []
            if raw is not None:
                raw_grid = Grid.from_coordinates(raw["lat"].values, raw["lon"].values)
                if not raw_grid.same_as(grid) or raw.sizes.get("time") != len(times):
                    raise ValueError(f"{raw_path}: grid or time axis differs from its mask file {path}")
                present = [name for name in fields if name in raw.variables]
            for index, time in enumerate(times):
                classes = grid.canonical(np.asarray(masks["class"][index].values, dtype=np.int8))
                values = {name: grid.canonical(np.asarray(raw[name][index].values, dtype=np.float32))
                          for name in present}
                yield grid, Step(time=time, index=index, classes=classes, fields=values)
        finally:
            if raw is not None:
                raw.close()
