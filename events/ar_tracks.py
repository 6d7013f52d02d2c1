"""Atmospheric-river objects followed in time by overlap (as TempestExtremes StitchBlobs), one id per AR.

Linking rule (:class:`ARTracker`, streaming: only the previous time step's id map is held)
-----------------------------------------------------------------------------------------
The AR regions of a time step (:func:`events.objects.find_objects`) are matched with the objects of the previous
step by overlap area (km2, cells covered by both): pairs are taken in order of decreasing overlap, each region
and each previous object at most once. A matched region continues that object's id; an unmatched one starts a
new id. So when an AR splits, the piece overlapping it most keeps its id and the others are new ARs; when two
merge, the merged region continues the one it overlaps most and the other ends. Every id covers at most one
region per time step; ids are 1, 2, ... in order of first appearance (0 = no AR).

Object id file ``<mask stem>.ar_objects.nc`` (one per mask file, :func:`ar_object_file`)
----------------------------------------------------------------------------------------
``time``, ``lat``, ``lon`` copied from the mask file (its own orientation and attributes); ``ar_object_id``
(time, lat, lon) int32, 0 outside ARs, else the AR's id (ids run on across the files of one ``climseg track``
run), ``long_name``, no ``_FillValue``, zlib level 4, one chunk per time step; global attributes
``Conventions = "CF-1.8"``, ``title``, ``history``, ``source`` (the mask file), ``climseg_min_area_km2``.

AR object table ``ar_objects.csv`` (:func:`ar_object_table`, one row per AR)
----------------------------------------------------------------------------
``object_id``, ``start_time``, ``end_time`` (ISO), ``duration_hours`` (last minus first time), ``steps``,
``area_max_km2``, ``area_mean_km2``, ``length_max_km``, ``lat_start``, ``lon_start`` (centroid at the first step),
``ivt_mean_kg_m_s`` (mean over its steps of the area-mean IVT proxy), ``ivt_max_kg_m_s``, ``transport_mean_kg_s``
(mean over its steps of the vapour it carries, mean IVT times mean width, kg s-1), ``water_max_kg`` (most
precipitable water it held), then ``landfall_<region>`` (1 when it covered land of the region at some step,
else 0) for ``global`` and each region. IVT and water are NaN without the raw file.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd

RECORD_COLUMNS = ("object_id", "time", "area_km2", "lat", "lon", "length_km", "width_km", "ivt_mean_kg_m_s",
                  "ivt_max_kg_m_s", "transport_kg_s", "water_kg")
"""Columns of the per-step records of AR objects (plus one ``land_<region>`` column per region)."""


def match_by_overlap(labels, n: int, previous, area_km2) -> dict[int, int]:
    """Region -> previous object id, for the pairs taken by decreasing overlap area (module notes).

    Parameters
    ----------
    labels : ndarray int (lat, lon), current regions 1..n, 0 elsewhere
    n : int, number of regions
    previous : ndarray int (lat, lon), previous step's object ids, 0 elsewhere (or None)
    area_km2 : ndarray (lat, lon), cell areas
    """
    if previous is None or n == 0:
        return {}
    both = (labels > 0) & (previous > 0)
    if not both.any():
        return {}
    region = labels[both].astype(np.int64)
    before = previous[both].astype(np.int64)
    keys, inverse = np.unique(region * (int(previous.max()) + 1) + before, return_inverse=True)
    overlap = np.bincount(inverse, weights=np.broadcast_to(area_km2, labels.shape)[both])
    pairs_region, pairs_before = keys // (int(previous.max()) + 1), keys % (int(previous.max()) + 1)
    order = np.lexsort((pairs_before, pairs_region, -overlap))
    matched, used = {}, set()
    for k in order:
        r, b = int(pairs_region[k]), int(pairs_before[k])
        if r not in matched and b not in used:
            matched[r] = b
            used.add(b)
    return matched


class ARTracker:
    """Give every AR region of each time step an object id, following ARs by overlap (module notes)."""

    def __init__(self, *, first_id: int = 1):
        self.next_id = first_id
        self.previous = None

    def add(self, labels, n: int, area_km2) -> tuple[np.ndarray, np.ndarray]:
        """Ids of the regions of the next time step.

        Returns
        -------
        ids : ndarray int32 (lat, lon), object id of each cell (0 outside ARs)
        region_ids : ndarray int64 (n,), object id of region 1..n
        """
        matched = match_by_overlap(labels, n, self.previous, area_km2)
        region_ids = np.zeros(n, np.int64)
        for r in range(1, n + 1):
            if r in matched:
                region_ids[r - 1] = matched[r]
            else:
                region_ids[r - 1] = self.next_id
                self.next_id += 1
        lookup = np.concatenate([[0], region_ids]).astype(np.int32)
        ids = lookup[labels]
        self.previous = ids
        return ids, region_ids


def land_flags(cells, region_masks: dict) -> dict[str, np.ndarray]:
    """``{region: bool (n,)}``: whether each region of ``cells`` (``events.objects.Cells``) covers land of it."""
    return {name: cells.any(mask) for name, mask in region_masks.items()}


def ar_object_table(records: pd.DataFrame, regions) -> pd.DataFrame:
    """One row per AR object from its per-step records (columns :data:`RECORD_COLUMNS` + ``land_<region>``)."""
    columns = ["object_id", "start_time", "end_time", "duration_hours", "steps", "area_max_km2", "area_mean_km2",
               "length_max_km", "lat_start", "lon_start", "ivt_mean_kg_m_s", "ivt_max_kg_m_s", "transport_mean_kg_s",
               "water_max_kg"] + \
        [f"landfall_{name}" for name in regions]
    if len(records) == 0:
        return pd.DataFrame({c: [] for c in columns})
    records = records.sort_values(["object_id", "time"], kind="stable")
    groups = records.groupby("object_id", sort=True)
    first, last = groups["time"].min(), groups["time"].max()
    starts = groups.first()
    with np.errstate(invalid="ignore"), contextlib.suppress(RuntimeWarning):
        table = pd.DataFrame({
            "object_id": first.index.astype(np.int64),
            "start_time": [t.isoformat() for t in first], "end_time": [t.isoformat() for t in last],
            "duration_hours": [(b - a).total_seconds() / 3600.0 for a, b in zip(first, last)],
            "steps": groups.size().to_numpy(), "area_max_km2": groups["area_km2"].max().to_numpy(),
            "area_mean_km2": groups["area_km2"].mean().to_numpy(),
            "length_max_km": groups["length_km"].max().to_numpy(), "lat_start": starts["lat"].to_numpy(),
            "lon_start": starts["lon"].to_numpy(), "ivt_mean_kg_m_s": groups["ivt_mean_kg_m_s"].mean().to_numpy(),
            "ivt_max_kg_m_s": groups["ivt_max_kg_m_s"].max().to_numpy(),
            "transport_mean_kg_s": groups["transport_kg_s"].mean().to_numpy(),
            "water_max_kg": groups["water_kg"].max().to_numpy()})
    for name in regions:
        table[f"landfall_{name}"] = groups[f"land_{name}"].max().to_numpy().astype(np.int64)
    return table[columns]


def to_file_order(field, grid) -> np.ndarray:
    """``field`` (lat, lon) on the canonical grid -> the file's own order (inverse of ``Grid.canonical``)."""
    out = np.empty_like(field)
    out[np.ix_(grid.lat_order, grid.lon_order)] = field
    return out


@contextlib.contextmanager
def ar_object_file(path, mask_path, *, history: str, min_area_km2: float):
    """Write an object id file (module notes) atomically; yields ``write(index, ids_in_file_order)``."""
    import netCDF4

    from climseg.atomic import atomic_output
    from inference.masks import COMPRESSION_LEVEL, read_source_coordinates

    coordinates = read_source_coordinates(mask_path)
    with atomic_output(path, suffix=".nc.tmp") as tmp:
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
            ds.setncatts({"Conventions": "CF-1.8", "title": "atmospheric river objects followed in time by overlap",
                          "history": history, "source": str(mask_path), "climseg_min_area_km2": min_area_km2})
            for name in ("time", "lat", "lon"):
                values = coordinates[name].values
                ds.createDimension(name, len(values))
                variable = ds.createVariable(name, values.dtype, (name,), fill_value=False)
                variable.setncatts(coordinates[name].attrs)
                variable[:] = values
            shape = tuple(len(coordinates[name].values) for name in ("lat", "lon"))
            ids = ds.createVariable("ar_object_id", "i4", ("time", "lat", "lon"), zlib=True,
                                    complevel=COMPRESSION_LEVEL, chunksizes=(1, *shape), fill_value=False)
            ids.long_name = "atmospheric river object id (0: no atmospheric river)"

            def write(index: int, values) -> None:
                ids[index] = values

            yield write
