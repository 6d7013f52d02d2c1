"""Grid and great-circle geometry of the planted events: the CAM5 grid, AR spines and plume shapes."""

from __future__ import annotations

import numpy as np

from climseg.sphere import EARTH_RADIUS_KM, great_circle_km  # noqa: F401  (great_circle_km re-exported)
from climseg.synth.config import ARSpec

def cam5_grid(n_lat: int, n_lon: int) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes (n_lat,) from -90 to 90 and longitudes (n_lon,) from 0 to 360 (exclusive), degrees."""
    return np.linspace(-90.0, 90.0, n_lat), np.arange(n_lon) * (360.0 / n_lon)


def _unit_vector(lat_deg, lon_deg):
    phi, lam = np.deg2rad(lat_deg), np.deg2rad(lon_deg)
    return np.stack(np.broadcast_arrays(np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)), -1)


def _spine_frame(lat_deg, lon_deg, bearing_deg):
    """Unit vectors: the spine's middle ``m``, its direction there ``t`` and the great circle's normal."""
    phi, lam, beta = np.deg2rad(lat_deg), np.deg2rad(lon_deg), np.deg2rad(bearing_deg)
    m = _unit_vector(lat_deg, lon_deg)
    east = np.array([-np.sin(lam), np.cos(lam), 0.0])
    north = np.array([-np.sin(phi) * np.cos(lam), -np.sin(phi) * np.sin(lam), np.cos(phi)])
    t = np.sin(beta) * east + np.cos(beta) * north
    return m, t, np.cross(m, t)


def spine_points(ar: ARSpec, *, spacing_km: float = 50.0) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes and longitudes (degrees, lon in [0, 360)) of points along an AR's spine."""
    m, t, _ = _spine_frame(ar.lat_deg, ar.lon_deg, ar.bearing_deg)
    half = ar.length_km / 2 / EARTH_RADIUS_KM
    s = np.linspace(-half, half, max(3, int(ar.length_km / spacing_km) + 1))
    p = np.cos(s)[:, None] * m + np.sin(s)[:, None] * t
    return np.rad2deg(np.arcsin(np.clip(p[:, 2], -1, 1))), np.rad2deg(np.arctan2(p[:, 1], p[:, 0])) % 360.0


def plume_shape(lat_deg: np.ndarray, lon_deg: np.ndarray, ar: ARSpec):
    """Shape ``S`` of an AR plume and the unit direction of its spine on a grid.

    Parameters
    ----------
    lat_deg : ndarray (lat,), degrees
    lon_deg : ndarray (lon,), degrees
    ar : ARSpec

    Returns
    -------
    smooth : ndarray (lat, lon), 0..1
        Gaussian plume ``c(x) * a(s)`` (the wind anomaly's shape).
    flat : ndarray (lat, lon), 0..1
        Flat-topped plume (the moisture's shape): ``2**-(d**4)`` where ``smooth = 2**-(d**2)``.
        Both are 1/2 on the edge of the core.
    east, north : ndarray (lat, lon)
        Components of the unit vector along the spine (direction of increasing along-spine distance).
    """
    m, t, normal = _spine_frame(ar.lat_deg, ar.lon_deg, ar.bearing_deg)
    phi = np.deg2rad(lat_deg)[:, None]
    lam = np.deg2rad(lon_deg)[None, :]
    cos_phi, sin_phi, cos_lam, sin_lam = np.cos(phi), np.sin(phi), np.cos(lam), np.sin(lam)
    px, py, pz = cos_phi * cos_lam, cos_phi * sin_lam, sin_phi * np.ones_like(lam)
    across_km = EARTH_RADIUS_KM * np.arcsin(np.clip(px * normal[0] + py * normal[1] + pz * normal[2], -1, 1))
    along_km = EARTH_RADIUS_KM * np.arctan2(px * t[0] + py * t[1] + pz * t[2], px * m[0] + py * m[1] + pz * m[2])
    beyond_km = np.maximum(np.abs(along_km) - ar.length_km / 2, 0.0)
    half_width = ar.width_km / 2
    distance2 = (across_km / half_width) ** 2 + (beyond_km / half_width) ** 2  # 1 on the core's edge
    # direction of travel along the great circle at each point: normal x p
    dx = normal[1] * pz - normal[2] * py
    dy = normal[2] * px - normal[0] * pz
    dz = normal[0] * py - normal[1] * px
    east = -sin_lam * dx + cos_lam * dy
    north = -sin_phi * cos_lam * dx - sin_phi * sin_lam * dy + cos_phi * dz
    norm = np.maximum(np.hypot(east, north), 1e-12)
    return np.exp2(-distance2), np.exp2(-(distance2**2)), east / norm, north / norm
