"""Spherical geometry on regular latitude/longitude grids.

Everything the labellers measure is in physical units: cell areas in km2, distances along great
circles in km, derivatives per metre. Grids have latitude ascending (any spacing) and longitude
ascending with a uniform spacing; a grid whose longitudes cover the full circle is *periodic*: its
first and last columns are neighbours.
"""

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from climseg.sphere import EARTH_RADIUS_KM, great_circle_km

EARTH_RADIUS_M = EARTH_RADIUS_KM * 1000.0

KM_PER_DEGREE = np.pi * EARTH_RADIUS_KM / 180.0
"""Length of one degree of great circle (km), about 111.2."""

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def check_grid(lat_deg, lon_deg):
    """Return ``lat_deg``, ``lon_deg`` as float64 1-D arrays after checking the grid conventions.

    Raises ValueError when latitude is not strictly ascending within [-90, 90] or longitude is not
    ascending with a uniform spacing.
    """
    lat = np.asarray(lat_deg, dtype=np.float64)
    lon = np.asarray(lon_deg, dtype=np.float64)
    if lat.ndim != 1 or lon.ndim != 1 or lat.size < 2 or lon.size < 2:
        raise ValueError(f"grid needs 1-D latitude and longitude with 2+ points, got shapes {lat.shape}, {lon.shape}")
    if not np.all(np.diff(lat) > 0) or lat[0] < -90.0 - 1e-6 or lat[-1] > 90.0 + 1e-6:
        raise ValueError(f"latitude must ascend within [-90, 90], got {lat[0]:g}..{lat[-1]:g}")
    step = np.diff(lon)
    if not np.all(step > 0) or np.ptp(step) > 1e-3 * step.mean():
        raise ValueError(f"longitude must ascend with a uniform spacing, got {lon[0]:g}..{lon[-1]:g}")
    return lat, lon


def longitude_spacing_deg(lon_deg) -> float:
    """Uniform longitude spacing (degrees) of a grid."""
    lon = np.asarray(lon_deg, dtype=np.float64)
    return float((lon[-1] - lon[0]) / (lon.size - 1))


def is_periodic(lon_deg) -> bool:
    """True when the longitudes cover the full circle (n * spacing == 360 degrees)."""
    lon = np.asarray(lon_deg, dtype=np.float64)
    return bool(abs(lon.size * longitude_spacing_deg(lon) - 360.0) < 1e-3 * longitude_spacing_deg(lon))


def latitude_bounds_deg(lat_deg):
    """Cell edges (lat + 1,) in degrees: midpoints between centres, outer edges clipped to +-90."""
    lat = np.asarray(lat_deg, dtype=np.float64)
    mid = 0.5 * (lat[1:] + lat[:-1])
    edges = np.concatenate([[lat[0] - (mid[0] - lat[0])], mid, [lat[-1] + (lat[-1] - mid[-1])]])
    return np.clip(edges, -90.0, 90.0)


def cell_area_km2(lat_deg, lon_deg):
    """Area of each grid cell on the sphere.

    Parameters
    ----------
    lat_deg : ndarray (lat,), degrees north, ascending
    lon_deg : ndarray (lon,), degrees east, uniform spacing

    Returns
    -------
    area : ndarray (lat, lon), km2
        ``R^2 dlon (sin(lat_north) - sin(lat_south))``; cells are bounded by the midpoints between
        centres, so a cell at the pole is a polar cap sector. Summed over a periodic grid that reaches
        the poles it is the area of the sphere, ``4 pi R^2``.
    """
    lat, lon = check_grid(lat_deg, lon_deg)
    edges = np.deg2rad(latitude_bounds_deg(lat))
    dlon = np.deg2rad(longitude_spacing_deg(lon))
    per_row = EARTH_RADIUS_KM**2 * dlon * np.diff(np.sin(edges))
    return np.broadcast_to(per_row[:, None], (lat.size, lon.size))


def destination_point(lat_deg, lon_deg, bearing_deg, distance_km):
    """Point reached from (lat, lon) travelling ``distance_km`` along a great circle at ``bearing_deg``.

    Bearings are clockwise from north. Returns (lat_deg, lon_deg) with lon in [0, 360); broadcasts.
    """
    lat1, lon1, theta = (np.deg2rad(np.asarray(a, dtype=np.float64)) for a in (lat_deg, lon_deg, bearing_deg))
    delta = np.asarray(distance_km, dtype=np.float64) / EARTH_RADIUS_KM
    sin_lat2 = np.sin(lat1) * np.cos(delta) + np.cos(lat1) * np.sin(delta) * np.cos(theta)
    lat2 = np.arcsin(np.clip(sin_lat2, -1.0, 1.0))
    lon2 = lon1 + np.arctan2(np.sin(theta) * np.sin(delta) * np.cos(lat1), np.cos(delta) - np.sin(lat1) * sin_lat2)
    return np.rad2deg(lat2), np.mod(np.rad2deg(lon2), 360.0)


def nearest_grid_index(lat_deg, lon_deg, lat_points, lon_points):
    """Row and column of the grid cell nearest to each point (lat_points, lon_points in degrees).

    Longitude wraps on periodic grids and is clipped to the edges otherwise.
    """
    lat = np.asarray(lat_deg, dtype=np.float64)
    lon = np.asarray(lon_deg, dtype=np.float64)
    rows = np.rint(np.interp(lat_points, lat, np.arange(lat.size))).astype(np.intp)
    fractional = (np.asarray(lon_points, dtype=np.float64) - lon[0]) / longitude_spacing_deg(lon)
    if is_periodic(lon):
        cols = np.mod(np.rint(np.mod(fractional, lon.size)), lon.size).astype(np.intp)
    else:
        cols = np.clip(np.rint(fractional), 0, lon.size - 1).astype(np.intp)
    return rows, cols


def disc_window(lat_deg, lon_deg, lat0_deg, lon0_deg, radius_km):
    """Rows, columns and distances of the rectangular window holding the disc of ``radius_km``.

    The window spans the disc's latitude range and, in longitude, the widest extent of the disc
    (``radius / (111.2 km cos(lat))`` at the most poleward latitude of the window), wrapping across
    0/360 on periodic grids and covering the whole circle near a pole.

    Returns
    -------
    rows : ndarray (m,) int, ascending grid rows
    cols : ndarray (n,) int, grid columns in the order of increasing longitude from the west edge
        of the window (so the window is contiguous even across the seam)
    distance_km : ndarray (m, n), great-circle distance of each window cell from (lat0, lon0)
    """
    lat = np.asarray(lat_deg, dtype=np.float64)
    lon = np.asarray(lon_deg, dtype=np.float64)
    half_lat = radius_km / KM_PER_DEGREE
    rows = np.flatnonzero(np.abs(lat - lat0_deg) <= half_lat)
    if rows.size == 0:
        rows = np.array([int(np.argmin(np.abs(lat - lat0_deg)))])
    poleward = min(90.0, abs(lat0_deg) + half_lat)
    cos_min = np.cos(np.deg2rad(poleward))
    dlon = longitude_spacing_deg(lon)
    periodic = is_periodic(lon)
    if cos_min * 180.0 <= half_lat:  # the window reaches around the pole
        half_cols = lon.size
    else:
        half_lat_lon = np.rad2deg(np.arcsin(min(1.0, np.sin(np.deg2rad(half_lat)) / cos_min)))
        half_cols = int(np.ceil(half_lat_lon / dlon))
    centre_col = int(np.rint((lon0_deg - lon[0]) / dlon))
    if periodic:
        if 2 * half_cols + 1 >= lon.size:
            cols = np.mod(np.arange(centre_col - lon.size // 2, centre_col - lon.size // 2 + lon.size), lon.size)
        else:
            cols = np.mod(np.arange(centre_col - half_cols, centre_col + half_cols + 1), lon.size)
    else:
        cols = np.arange(max(0, centre_col - half_cols), min(lon.size, centre_col + half_cols + 1))
    distance = great_circle_km(lat0_deg, lon0_deg, lat[rows][:, None], lon[cols][None, :])
    return rows, cols, distance


def relative_vorticity(u, v, lat_deg, lon_deg):
    """Vertical component of the relative vorticity of a horizontal wind on the sphere.

    Parameters
    ----------
    u, v : ndarray (lat, lon), m s-1, eastward and northward wind
    lat_deg, lon_deg : ndarray (lat,), (lon,), degrees

    Returns
    -------
    zeta : ndarray (lat, lon), s-1
        ``(1 / (R cos lat)) (dv/dlon - d(u cos lat)/dlat)`` (flux form, exact for solid-body
        rotation up to the truncation error of centred differences). On a pole row, where the
        formula is singular, zeta is the circulation of the neighbouring ring divided by the area
        of the polar cap it encloses (Stokes' theorem).

    Notes
    -----
    Positive is counter-clockwise seen from above, so cyclones are positive in the northern and
    negative in the southern hemisphere.
    """
    lat, lon = check_grid(lat_deg, lon_deg)
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    phi = np.deg2rad(lat)
    cos_phi = np.cos(phi)[:, None]
    dv_dlon = _longitude_derivative(v, lon)
    ducos_dphi = np.gradient(u * cos_phi, phi, axis=0)
    pole = _at_pole(lat)
    with np.errstate(divide="ignore", invalid="ignore"):
        zeta = (dv_dlon - ducos_dphi) / (EARTH_RADIUS_M * cos_phi)
    for row, neighbour in ((0, 1), (lat.size - 1, lat.size - 2)):
        if pole[row]:
            ring_phi = phi[neighbour]
            ring = u[neighbour][np.isfinite(u[neighbour])]
            ring_u = ring.mean() if ring.size else np.nan
            sign = 1.0 if lat[row] > 0 else -1.0
            zeta[row] = sign * ring_u * np.cos(ring_phi) / (EARTH_RADIUS_M * (1.0 - abs(np.sin(ring_phi))))
    return zeta


def label_regions(mask, *, periodic: bool):
    """8-connected regions of a boolean (lat, lon) mask, merged across the 0/360 seam if ``periodic``.

    Returns
    -------
    labels : ndarray (lat, lon) int32, 0 outside, 1..n inside regions (consecutive)
    n : int, number of regions

    Notes
    -----
    A region touching both the first and the last column (in 8-connectivity: rows i and i +- 1) is
    one region: the labels of each touching pair are joined with a connected-components pass over
    the (small) graph of label pairs.
    """
    mask = np.asarray(mask, dtype=bool)
    labels, n = ndimage.label(mask, structure=EIGHT_CONNECTED)
    if not periodic or n == 0 or mask.shape[1] < 3:
        return labels.astype(np.int32, copy=False), int(n)
    west, east = labels[:, 0], labels[:, -1]
    pairs = []
    for shift in (-1, 0, 1):
        e = np.roll(east, shift)
        if shift == 1:
            e[0] = 0
        elif shift == -1:
            e[-1] = 0
        touching = (west > 0) & (e > 0)
        pairs.append(np.stack([west[touching], e[touching]]))
    pairs = np.concatenate(pairs, axis=1)
    if pairs.shape[1] == 0:
        return labels.astype(np.int32, copy=False), int(n)
    graph = coo_matrix((np.ones(pairs.shape[1]), (pairs[0], pairs[1])), shape=(n + 1, n + 1))
    _, component = connected_components(graph, directed=False)
    # Renumber components so that background stays 0 and regions are 1..m in first-seen order.
    _, new_ids = np.unique(component[1:], return_inverse=True)
    lookup = np.concatenate([[0], new_ids + 1]).astype(np.int32)
    return lookup[labels], int(new_ids.max() + 1)


def _longitude_derivative(f, lon):
    """dF/dlambda (per radian) by centred differences; periodic on global grids."""
    dlon = np.deg2rad(longitude_spacing_deg(lon))
    if is_periodic(lon):
        return (np.roll(f, -1, axis=1) - np.roll(f, 1, axis=1)) / (2.0 * dlon)
    return np.gradient(f, dlon, axis=1)


def _at_pole(lat):
    return np.abs(np.abs(lat) - 90.0) < 1e-6
