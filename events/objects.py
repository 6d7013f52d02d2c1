"""Objects: the connected regions of one class at one time step, with their size, place and strength.

A region is 8-connected and, on a grid that goes all the way round, periodic in longitude: a storm or river
across 0/360 is one object (:func:`labeling.grid.label_regions`). Areas are sums of the cells' areas on the
sphere (km2), never pixel counts. The centroid is the area-weighted mean of the cells' unit vectors projected
back onto the sphere, so it is right across 0/360 and near the poles.

Columns of :func:`find_objects`' table (one row per object)
-----------------------------------------------------------
``label`` (1..n, as in the label map), ``cells`` (number of grid cells), ``area_km2``, ``lat``, ``lon``
(centroid, degrees north, degrees east in [0, 360)), ``row``, ``col`` (canonical row and column of the cell
nearest the centroid), and from the raw fields, NaN when not given: ``psl_min_pa`` (minimum sea-level
pressure), ``psl_min_lat``, ``psl_min_lon`` (where it is), ``wind_max_ms`` (maximum surface wind
``|UBOT, VBOT|``), ``tmq_mean_kg_m2`` (area-weighted mean precipitable water), ``water_kg`` (precipitable
water held, the area integral of TMQ), ``ivt_mean_kg_m_s``, ``ivt_max_kg_m_s`` (IVT proxy ``TMQ * |U850,
V850|``, :func:`labeling.ivt.ivt_proxy`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage

from labeling.grid import label_regions

COLUMNS = ("label", "cells", "area_km2", "lat", "lon", "row", "col", "psl_min_pa", "psl_min_lat", "psl_min_lon",
           "wind_max_ms", "tmq_mean_kg_m2", "water_kg", "ivt_mean_kg_m_s", "ivt_max_kg_m_s")


def centroids_deg(labels, n, lat_deg, lon_deg, weights):
    """Weighted centroids of labelled regions on the sphere.

    Parameters
    ----------
    labels : ndarray (lat, lon) int, 0 outside, 1..n inside
    n : int, number of regions
    lat_deg, lon_deg : ndarray (lat,), (lon,), degrees
    weights : ndarray (lat, lon), e.g. cell areas in km2

    Returns
    -------
    lat, lon : ndarray (n,), degrees (lon in [0, 360))
    """
    phi = np.deg2rad(np.asarray(lat_deg, dtype=np.float64))[:, None]
    lam = np.deg2rad(np.asarray(lon_deg, dtype=np.float64))[None, :]
    flat = labels.ravel()
    w = np.broadcast_to(weights, labels.shape).ravel()
    sums = [np.bincount(flat, weights=w * np.broadcast_to(c, labels.shape).ravel(), minlength=n + 1)[1:]
            for c in (np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi))]
    x, y, z = sums
    return np.rad2deg(np.arctan2(z, np.hypot(x, y))), np.rad2deg(np.arctan2(y, x)) % 360.0


def find_objects(mask, lat_deg, lon_deg, area_km2, *, periodic: bool, fields=None, min_area_km2: float = 0.0):
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

    Returns
    -------
    labels : ndarray int32 (lat, lon), 0 outside, 1..n inside (consecutive, in the table's order)
    table : pandas.DataFrame, one row per region, columns :data:`COLUMNS` (see the module notes)
    """
    labels, n = label_regions(mask, periodic=periodic)
    area = np.asarray(area_km2, dtype=np.float64)
    if n and min_area_km2 > 0:
        region_area = np.bincount(labels.ravel(), weights=np.broadcast_to(area, labels.shape).ravel(),
                                  minlength=n + 1)
        keep = region_area >= min_area_km2
        keep[0] = False
        lookup = np.zeros(n + 1, np.int32)
        lookup[keep] = np.arange(1, keep.sum() + 1, dtype=np.int32)
        labels, n = lookup[labels], int(keep.sum())
    table = {name: np.full(n, np.nan) for name in COLUMNS}
    table["label"] = np.arange(1, n + 1)
    if n == 0:
        return labels, pd.DataFrame(table, columns=list(COLUMNS))
    flat = labels.ravel()
    table["cells"] = np.bincount(flat, minlength=n + 1)[1:]
    table["area_km2"] = np.bincount(flat, weights=np.broadcast_to(area, labels.shape).ravel(), minlength=n + 1)[1:]
    table["lat"], table["lon"] = centroids_deg(labels, n, lat_deg, lon_deg, area)
    table["row"], table["col"] = nearest_cell(table["lat"], table["lon"], lat_deg, lon_deg)
    index = np.arange(1, n + 1)
    fields = fields or {}
    lat2d = np.broadcast_to(np.asarray(lat_deg, dtype=np.float64)[:, None], labels.shape)
    lon2d = np.broadcast_to(np.asarray(lon_deg, dtype=np.float64)[None, :], labels.shape)
    if "PSL" in fields:
        psl = np.where(np.isfinite(fields["PSL"]), fields["PSL"], np.inf)
        table["psl_min_pa"] = ndimage.minimum(psl, labels, index)
        where = ndimage.minimum_position(psl, labels, index)
        table["psl_min_lat"] = [lat2d[p] for p in where]
        table["psl_min_lon"] = [lon2d[p] for p in where]
        table["psl_min_pa"][~np.isfinite(table["psl_min_pa"])] = np.nan
    if "UBOT" in fields and "VBOT" in fields:
        wind = np.hypot(fields["UBOT"], fields["VBOT"])
        table["wind_max_ms"] = ndimage.maximum(np.where(np.isfinite(wind), wind, -np.inf), labels, index)
        table["wind_max_ms"][~np.isfinite(table["wind_max_ms"])] = np.nan
    if "TMQ" in fields:
        tmq = np.nan_to_num(np.asarray(fields["TMQ"], dtype=np.float64))
        water = np.bincount(flat, weights=(tmq * area).ravel(), minlength=n + 1)[1:]
        table["tmq_mean_kg_m2"] = water / table["area_km2"]
        table["water_kg"] = water * 1e6  # kg m-2 * km2
        if "U850" in fields and "V850" in fields:
            ivt = tmq * np.nan_to_num(np.hypot(fields["U850"], fields["V850"]))
            table["ivt_mean_kg_m_s"] = np.bincount(flat, weights=(ivt * area).ravel(),
                                                   minlength=n + 1)[1:] / table["area_km2"]
            table["ivt_max_kg_m_s"] = ndimage.maximum(ivt, labels, index)
    frame = pd.DataFrame(table, columns=list(COLUMNS))
    return labels, frame.astype({"label": np.int64, "cells": np.int64, "row": np.int64, "col": np.int64})


def nearest_cell(lat_points, lon_points, lat_deg, lon_deg):
    """Canonical row and column (int arrays) of the cells nearest to points (degrees); longitude wraps."""
    lat = np.asarray(lat_deg, dtype=np.float64)
    lon = np.asarray(lon_deg, dtype=np.float64)
    rows = np.rint(np.interp(lat_points, lat, np.arange(lat.size))).astype(np.int64)
    distance = np.abs((np.asarray(lon_points, dtype=np.float64)[:, None] - lon[None, :] + 180.0) % 360.0 - 180.0)
    return rows, np.argmin(distance, axis=1).astype(np.int64)
