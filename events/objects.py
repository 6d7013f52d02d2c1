"""Objects: the connected regions of one class at one time step, with their size, place and strength.

A region is 8-connected and, on a grid that goes all the way round, periodic in longitude: a storm or river
across 0/360 is one object (:func:`labeling.grid.label_regions`). Areas are sums of the cells' areas on the
sphere (km2), never pixel counts. The centroid is the area-weighted mean of the cells' unit vectors projected
back onto the sphere, so it is right across 0/360 and near the poles.

Columns of :func:`find_objects`' table (one row per object)
-----------------------------------------------------------
``label`` (1..n, as in the label map), ``cells`` (number of grid cells), ``area_km2``, ``lat``, ``lon``
(centroid, degrees north, degrees east in [0, 360)), ``row``, ``col`` (canonical row and column of the cell
nearest the centroid), ``length_km`` (extent along the major axis of the region's area distribution in the
plane tangent at the centroid, plus one cell), ``width_km`` (``area_km2 / length_km``), and from the raw fields,
NaN when not given: ``psl_min_pa`` (minimum sea-level
pressure), ``psl_min_lat``, ``psl_min_lon`` (where it is), ``wind_max_ms`` (maximum surface wind
``|UBOT, VBOT|``), ``tmq_mean_kg_m2`` (area-weighted mean precipitable water), ``water_kg`` (precipitable
water held, the area integral of TMQ), ``ivt_mean_kg_m_s``, ``ivt_max_kg_m_s`` (IVT proxy ``TMQ * |U850,
V850|``, :func:`labeling.ivt.ivt_proxy`), ``transport_kg_s`` (the vapour the object carries: area integral of IVT
over its length, i.e. mean IVT times mean width, kg s-1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from climseg.sphere import EARTH_RADIUS_KM, wrap_lon_deg
from labeling.grid import label_regions

COLUMNS = ("label", "cells", "area_km2", "lat", "lon", "row", "col", "length_km", "width_km", "psl_min_pa",
           "psl_min_lat", "psl_min_lon", "wind_max_ms", "tmq_mean_kg_m2", "water_kg", "ivt_mean_kg_m_s",
           "ivt_max_kg_m_s", "transport_kg_s")


class Cells:
    """The labelled cells of a label map, grouped by label: per-region sums, minima and maxima cost O(cells inside).

    Parameters
    ----------
    labels : ndarray int (lat, lon), 0 outside, 1..n inside (every label present)
    n : int
    """

    def __init__(self, labels, n: int):
        flat = labels.ravel()
        self.index = np.flatnonzero(flat)  # (cells,) flat indices of the labelled cells
        label = flat[self.index]
        self.order = np.argsort(label, kind="stable")
        self.label = label[self.order]
        self.starts = np.searchsorted(self.label, np.arange(1, n + 1))
        self.n = n
        self.shape = labels.shape

    def values(self, field) -> np.ndarray:
        """The field's values at the labelled cells, grouped by label."""
        return np.broadcast_to(field, self.shape).ravel()[self.index][self.order]

    def sum(self, field) -> np.ndarray:
        return np.add.reduceat(self.values(field).astype(np.float64), self.starts) if self.n else np.zeros(0)

    def min(self, field) -> np.ndarray:
        return np.minimum.reduceat(self.values(field), self.starts) if self.n else np.zeros(0)

    def max(self, field) -> np.ndarray:
        return np.maximum.reduceat(self.values(field), self.starts) if self.n else np.zeros(0)

    def reduce(self, ufunc, grouped) -> np.ndarray:
        """``ufunc.reduceat`` of values already grouped by label (:meth:`values`), one result per region."""
        return ufunc.reduceat(grouped, self.starts) if self.n else np.zeros(0)

    def argmin(self, field) -> np.ndarray:
        """Flat index (into the (lat, lon) grid) of each region's minimum (the first one on ties)."""
        return self.argmin_grouped(self.values(field))

    def argmin_grouped(self, grouped) -> np.ndarray:
        """:meth:`argmin` of values already grouped by label."""
        order = np.lexsort((grouped, self.label))
        return self.index[self.order][order[self.starts]]

    def any(self, mask) -> np.ndarray:
        """bool (n,): whether each region covers at least one cell of ``mask``."""
        return np.maximum.reduceat(self.values(mask).astype(np.int8), self.starts) > 0 if self.n else \
            np.zeros(0, bool)


def centroids_deg(cells: Cells, lat_deg, lon_deg, weights):
    """Weighted centroids of labelled regions on the sphere.

    Parameters
    ----------
    cells : Cells of the label map (lat, lon)
    lat_deg, lon_deg : ndarray (lat,), (lon,), degrees
    weights : ndarray (lat, lon), e.g. cell areas in km2

    Returns
    -------
    lat, lon : ndarray (n,), degrees (lon in [0, 360))
    """
    rows, cols = np.divmod(cells.index[cells.order], cells.shape[1])
    phi = np.deg2rad(np.asarray(lat_deg, dtype=np.float64))[rows]
    lam = np.deg2rad(np.asarray(lon_deg, dtype=np.float64))[cols]
    w = cells.values(weights).astype(np.float64)
    x, y, z = (np.add.reduceat(w * c, cells.starts) for c in (np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam),
                                                              np.sin(phi)))
    return np.rad2deg(np.arctan2(z, np.hypot(x, y))), wrap_lon_deg(np.rad2deg(np.arctan2(y, x)))


def lengths_km(cells: Cells, lat_deg, lon_deg, area_km2, centre_lat_deg, centre_lon_deg) -> np.ndarray:
    """Length (km) of each region: its extent along the major axis of its area distribution, plus one cell.

    The cells are projected onto the plane tangent to the sphere at the region's centroid (x east, y north, km);
    the major axis is the principal axis of the area-weighted second moments; one cell (the square root of the
    mean cell area) is added so that a single cell is one cell long.
    """
    rows, cols = np.divmod(cells.index[cells.order], cells.shape[1])
    phi = np.deg2rad(np.asarray(lat_deg, dtype=np.float64))[rows]
    lam = np.deg2rad(np.asarray(lon_deg, dtype=np.float64))[cols]
    group = cells.label - 1
    phi0 = np.deg2rad(np.asarray(centre_lat_deg, dtype=np.float64))[group]
    lam0 = np.deg2rad(np.asarray(centre_lon_deg, dtype=np.float64))[group]
    x = EARTH_RADIUS_KM * np.cos(phi) * np.sin(lam - lam0)
    y = EARTH_RADIUS_KM * (np.sin(phi) * np.cos(phi0) - np.cos(phi) * np.sin(phi0) * np.cos(lam - lam0))
    w = cells.values(area_km2).astype(np.float64)
    sw = np.add.reduceat(w, cells.starts)
    mx, my = (np.add.reduceat(w * v, cells.starts) / sw for v in (x, y))
    dx, dy = x - mx[group], y - my[group]
    sxx, syy, sxy = (np.add.reduceat(w * v, cells.starts) for v in (dx * dx, dy * dy, dx * dy))
    theta = 0.5 * np.arctan2(2 * sxy, sxx - syy)[group]
    along = dx * np.cos(theta) + dy * np.sin(theta)
    extent = np.maximum.reduceat(along, cells.starts) - np.minimum.reduceat(along, cells.starts)
    counts = np.diff(np.append(cells.starts, cells.label.size))
    return extent + np.sqrt(sw / counts)


def find_objects(mask, lat_deg, lon_deg, area_km2, *, periodic: bool, fields=None, min_area_km2: float = 0.0,
                 as_frame: bool = True):
    """Connected regions of a boolean mask and their properties.

    Parameters
    ----------
    mask : ndarray bool (lat, lon), canonical grid (latitude ascending, longitude ascending)
    lat_deg, lon_deg : ndarray (lat,), (lon,), degrees
    area_km2 : ndarray (lat, lon), cell areas, km2
    periodic : bool
        The first and last columns are neighbours (a global grid).
    fields : dict of ndarray (lat, lon), optional
        Raw variables ``PSL`` (Pa), ``UBOT``, ``VBOT``, ``U850``, ``V850`` (m s-1), ``TMQ`` (kg m-2); the
        properties of the missing ones are NaN.
    min_area_km2 : float
        Regions smaller than this are dropped (their cells get label 0).
    as_frame : bool
        Return the table as a DataFrame; False: a dict of arrays (no pandas overhead per time step).

    Returns
    -------
    labels : ndarray int32 (lat, lon), 0 outside, 1..n inside (consecutive, in the table's order)
    table : pandas.DataFrame (or dict of arrays), one row per region, columns :data:`COLUMNS` (module notes)
    cells : Cells of ``labels`` (for further per-region reductions)
    """
    labels, n = label_regions(mask, periodic=periodic)
    area = np.asarray(area_km2, dtype=np.float64)
    cells = Cells(labels, n)
    if n and min_area_km2 > 0:
        keep = np.concatenate([[False], cells.sum(area) >= min_area_km2])
        lookup = np.zeros(n + 1, np.int32)
        lookup[keep] = np.arange(1, keep.sum() + 1, dtype=np.int32)
        labels, n = lookup[labels], int(keep.sum())
        cells = Cells(labels, n)
    table = {name: np.full(n, np.nan) for name in COLUMNS}
    table["label"] = np.arange(1, n + 1)
    table["cells"] = table["row"] = table["col"] = np.zeros(n, np.int64)
    if n == 0:
        return labels, pd.DataFrame(table, columns=list(COLUMNS)) if as_frame else table, cells
    table["cells"] = np.diff(np.append(cells.starts, cells.label.size)).astype(np.int64)
    table["area_km2"] = cells.sum(area)
    table["lat"], table["lon"] = centroids_deg(cells, lat_deg, lon_deg, area)
    table["row"], table["col"] = nearest_cell(table["lat"], table["lon"], lat_deg, lon_deg)
    table["length_km"] = lengths_km(cells, lat_deg, lon_deg, area, table["lat"], table["lon"])
    table["width_km"] = table["area_km2"] / table["length_km"]
    fields = fields or {}
    grouped = {name: cells.values(values).astype(np.float64) for name, values in fields.items()
               if name in ("PSL", "UBOT", "VBOT", "TMQ", "U850", "V850")}  # the labelled cells only
    if "PSL" in grouped:
        psl = np.where(np.isfinite(grouped["PSL"]), grouped["PSL"], np.inf)
        table["psl_min_pa"] = cells.reduce(np.minimum, psl)
        rows, cols = np.divmod(cells.argmin_grouped(psl), labels.shape[1])
        table["psl_min_lat"] = np.asarray(lat_deg, dtype=np.float64)[rows]
        table["psl_min_lon"] = np.asarray(lon_deg, dtype=np.float64)[cols]
        table["psl_min_pa"][~np.isfinite(table["psl_min_pa"])] = np.nan
    if "UBOT" in grouped and "VBOT" in grouped:
        wind = np.hypot(grouped["UBOT"], grouped["VBOT"])
        table["wind_max_ms"] = cells.reduce(np.maximum, np.where(np.isfinite(wind), wind, -np.inf))
        table["wind_max_ms"][~np.isfinite(table["wind_max_ms"])] = np.nan
    if "TMQ" in grouped:
        tmq = np.nan_to_num(grouped["TMQ"])
        cell_area = cells.values(area)
        water = cells.reduce(np.add, tmq * cell_area)
        table["tmq_mean_kg_m2"] = water / table["area_km2"]
        table["water_kg"] = water * 1e6  # kg m-2 * km2
        if "U850" in grouped and "V850" in grouped:
            ivt = tmq * np.nan_to_num(np.hypot(grouped["U850"], grouped["V850"]))
            table["ivt_mean_kg_m_s"] = cells.reduce(np.add, ivt * cell_area) / table["area_km2"]
            table["ivt_max_kg_m_s"] = cells.reduce(np.maximum, ivt)
            table["transport_kg_s"] = table["ivt_mean_kg_m_s"] * table["width_km"] * 1e3  # kg m-1 s-1 * m
    return labels, pd.DataFrame(table, columns=list(COLUMNS)) if as_frame else table, cells


def nearest_cell(lat_points, lon_points, lat_deg, lon_deg):
    """Canonical row and column (int arrays) of the cells nearest to points (degrees); longitude wraps."""
    lat = np.asarray(lat_deg, dtype=np.float64)
    lon = np.asarray(lon_deg, dtype=np.float64)
    rows = np.rint(np.interp(lat_points, lat, np.arange(lat.size))).astype(np.int64)
    distance = np.abs((np.asarray(lon_points, dtype=np.float64)[:, None] - lon[None, :] + 180.0) % 360.0 - 180.0)
    return rows, np.argmin(distance, axis=1).astype(np.int64)
