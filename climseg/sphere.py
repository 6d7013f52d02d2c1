"""Geometry on the sphere: great-circle distances, grid-cell areas, periodic longitudes.

Shared by the demo-data generator (``climseg.synth``) and the event analysis (``events``). The Earth is a
sphere of radius :data:`EARTH_RADIUS_KM` (the mean radius; CAM5 uses 6371.22 km, 0.003 % away).
"""

from __future__ import annotations

import numpy as np

EARTH_RADIUS_KM = 6371.0
"""Mean radius of the Earth, km."""


def great_circle_km(lat1_deg, lon1_deg, lat2_deg, lon2_deg):
    """Great-circle distance (km) between points given in degrees (broadcasting, haversine)."""
    phi1, phi2 = np.deg2rad(lat1_deg), np.deg2rad(lat2_deg)
    dphi = phi2 - phi1
    dlam = np.deg2rad(np.asarray(lon2_deg) - np.asarray(lon1_deg))
    h = np.sin(dphi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def cell_edges_deg(centres_deg, *, clip=None) -> np.ndarray:
    """Edges (n + 1,) of cells around ascending or descending ``centres_deg`` (n,): midpoints, ends mirrored.

    ``clip`` (low, high) limits the edges, e.g. (-90, 90) for latitudes.
    """
    centres = np.asarray(centres_deg, dtype=float)
    if centres.size == 1:
        raise ValueError("a grid needs at least 2 points along each axis to have cell edges")
    middle = (centres[1:] + centres[:-1]) / 2
    edges = np.concatenate([[2 * centres[0] - middle[0]], middle, [2 * centres[-1] - middle[-1]]])
    return edges if clip is None else np.clip(edges, *clip)


def cell_areas_km2(lat_deg, lon_deg) -> np.ndarray:
    """Area (km2) of each cell of a regular latitude-longitude grid, shape (lat, lon).

    Parameters
    ----------
    lat_deg : ndarray (lat,), degrees, ascending or descending (cell edges at the midpoints, clipped at the poles)
    lon_deg : ndarray (lon,), degrees, monotonic (any range, e.g. 0..360 or -180..180)

    Notes
    -----
    A cell between latitudes phi1, phi2 and longitudes l1, l2 has area ``R**2 |sin phi2 - sin phi1| |l2 - l1|``
    (radians); on a global grid the areas sum to ``4 pi R**2``. A CAM5 grid (``linspace(-90, 90, n)``) has half
    cells at the poles.
    """
    lat_edges = np.deg2rad(cell_edges_deg(lat_deg, clip=(-90.0, 90.0)))
    lon_edges = np.deg2rad(cell_edges_deg(lon_deg))
    band = np.abs(np.diff(np.sin(lat_edges)))  # (lat,)
    width = np.abs(np.diff(lon_edges))  # (lon,)
    return EARTH_RADIUS_KM**2 * band[:, None] * width[None, :]


def is_global_longitude(lon_deg) -> bool:
    """Whether longitudes (lon,) of a regular grid go all the way round (the last cell touches the first)."""
    lon = np.asarray(lon_deg, dtype=float)
    if lon.size < 2:
        return False
    spacing = abs(lon[1] - lon[0])
    return bool(abs(abs(lon[-1] - lon[0]) + spacing - 360.0) < 0.5 * spacing)


def circular_mean_lon_deg(lon_deg, weights=None) -> float:
    """Weighted mean longitude (degrees, in [0, 360)) on the circle: the mean of 359 and 1 is 0, not 180."""
    lam = np.deg2rad(np.asarray(lon_deg, dtype=float))
    w = np.ones_like(lam) if weights is None else np.asarray(weights, dtype=float)
    angle = np.arctan2(np.sum(w * np.sin(lam)), np.sum(w * np.cos(lam)))
    return float(np.rad2deg(angle) % 360.0)


def lon_difference_deg(lon1_deg, lon2_deg):
    """``lon2 - lon1`` wrapped into [-180, 180), degrees (broadcasting)."""
    return (np.asarray(lon2_deg) - np.asarray(lon1_deg) + 180.0) % 360.0 - 180.0
