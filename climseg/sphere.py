"""Geometry on the sphere: great-circle distances and periodic longitudes.

Shared by the labeller (``labeling``), the demo-data generator (``climseg.synth``) and the event analysis
(``events``); grid-cell areas and connected regions on a grid are in :mod:`labeling.grid`. The Earth is a sphere of radius
:data:`EARTH_RADIUS_KM` (the mean radius; CAM5 uses 6371.22 km, 0.003 % away).
"""

from __future__ import annotations

import numpy as np

EARTH_RADIUS_KM = 6371.0
"""Mean radius of the Earth, km."""


def great_circle_km(lat1_deg, lon1_deg, lat2_deg, lon2_deg):
    """Great-circle distance (km) between points given in degrees (broadcasting like numpy, haversine, float64)."""
    lat1, lon1, lat2, lon2 = (np.deg2rad(np.asarray(a, dtype=np.float64))
                              for a in (lat1_deg, lon1_deg, lat2_deg, lon2_deg))
    h = np.sin(0.5 * (lat2 - lat1)) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin(0.5 * (lon2 - lon1)) ** 2
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def circular_mean_lon_deg(lon_deg, weights=None) -> float:
    """Weighted mean longitude (degrees, in [0, 360)) on the circle: the mean of 359 and 1 is 0, not 180."""
    lam = np.deg2rad(np.asarray(lon_deg, dtype=float))
    w = np.ones_like(lam) if weights is None else np.asarray(weights, dtype=float)
    angle = np.arctan2(np.sum(w * np.sin(lam)), np.sum(w * np.cos(lam)))
    return float(wrap_lon_deg(np.rad2deg(angle)))


def wrap_lon_deg(lon_deg):
    """Longitudes (degrees, any) in [0, 360): ``-1e-14 % 360`` is 360.0 in floating point, here 0."""
    wrapped = np.asarray(lon_deg, dtype=np.float64) % 360.0
    return np.where(wrapped >= 360.0, 0.0, wrapped)


def lon_difference_deg(lon1_deg, lon2_deg):
    """``lon2 - lon1`` wrapped into [-180, 180), degrees (broadcasting)."""
    return (np.asarray(lon2_deg) - np.asarray(lon1_deg) + 180.0) % 360.0 - 180.0
