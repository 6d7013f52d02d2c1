"""Tropical cyclones: centres (TECA / GFDL criteria), a radius per storm, and a mask of its footprint.

Detection (:func:`detect_tc_centres`), with every window a great-circle distance in km:

1. 850 hPa relative vorticity on the sphere, sign flipped in the southern hemisphere, from centred
   differences over exactly +-``vorticity_scale_km`` (so a 0.25 and a 0.5 degree grid see the same
   number); each connected region above ``vorticity_threshold_per_s`` gives one candidate at its maximum
   (on grids whose rows are wider than that scale the difference spans one row and the threshold is
   lowered, see :func:`vorticity_threshold_on_grid`);
2. the PSL minimum within ``psl_search_km`` is the storm centre (refined between grid points by a
   parabola through its neighbours); PSL must rise by ``psl_rise_pa`` within ``psl_rise_within_km``
   along each of 16 bearings (a closed low);
3. warm core: the (T200 + T500) / 2 maximum within ``warm_core_search_km`` drops by
   ``warm_core_drop_k`` within ``warm_core_drop_within_km`` along every bearing; likewise the
   thickness Z200 - Z1000 by ``thickness_drop_m`` within ``thickness_drop_within_km``;
4. surface wind |UBOT, VBOT| reaches ``min_surface_wind_m_s`` within ``wind_search_km``;
5. of centres closer than ``min_separation_km`` the deeper one is kept.

Radius: the azimuthal mean of the surface wind speed in rings of one grid spacing around the centre;
the radius is where it falls below ``gale_wind_m_s`` (17.5 m s-1 = 34 kt, the R34 forecasters use
for the size of a storm) outside the radius of maximum wind.

Mask (:func:`tropical_cyclone_mask`): see there for the three methods and why the area of gale-force
wind is the default.
"""

from typing import NamedTuple

import numpy as np
from scipy import ndimage

from labeling.config import TCConfig
from climseg.sphere import great_circle_km
from labeling.grid import (EARTH_RADIUS_M, EIGHT_CONNECTED, KM_PER_DEGREE, check_grid, destination_point,
                           disc_window, is_periodic, label_regions, longitude_spacing_deg, nearest_grid_index,
                           relative_vorticity)

N_BEARINGS = 16


class TCCentre(NamedTuple):
    """A detected tropical cyclone."""

    lat_deg: float
    lon_deg: float
    """Centre (the PSL minimum), longitude in [0, 360)."""
    row: int
    col: int
    """Grid indices of the centre."""
    psl_pa: float
    """Central sea-level pressure."""
    vorticity_per_s: float
    """Peak 850 hPa vorticity at ``vorticity_scale_km`` (sign-flipped in the south, so positive)."""
    max_wind_m_s: float
    """Maximum surface wind speed within ``wind_search_km``."""
    radius_km: float
    """Radius of gale-force (azimuthal-mean) surface wind; 0 when the mean never reaches gale force."""
    rmw_km: float
    """Radius of maximum azimuthal-mean surface wind."""


def cyclonic_vorticity(u850, v850, lat_deg, lon_deg, *, scale_km: float):
    """850 hPa relative vorticity at a fixed physical scale, positive for cyclones in both hemispheres.

    Parameters
    ----------
    u850, v850 : ndarray (lat, lon), m s-1
    lat_deg, lon_deg : ndarray (lat,), (lon,), degrees
    scale_km : float
        Centred differences span exactly +-``scale_km`` (the winds linearly interpolated between grid
        cells) where one cell is no wider than that, and one cell where it is wider (the grid's own
        resolution; see :func:`vorticity_reach_km`), so a storm has the same vorticity on a 0.25 and a
        0.5 degree grid: about 2 V(r) / r, the mean vorticity inside radius r = scale_km. 0 uses
        adjacent cells (the native resolution).

    Returns
    -------
    zeta : ndarray (lat, lon), float64, s-1, ``relative_vorticity * sign(lat)`` (0 on the equator, NaN
        where the wind is missing)
    """
    lat, lon = check_grid(lat_deg, lon_deg)
    u = np.asarray(u850, dtype=np.float64)
    v = np.asarray(v850, dtype=np.float64)
    sign = np.sign(lat)[:, None]
    if scale_km <= 0:
        return relative_vorticity(u, v, lat, lon) * sign
    phi = np.deg2rad(lat)
    cos_phi = np.cos(phi)
    n_lat, n_lon = u.shape
    # d(u cos phi)/dphi between the rows +-scale away (clipped at the poles, with the true latitude difference)
    offset = _stencil_cells(vorticity_reach_km(lat, scale_km) / _row_spacing_km(lat))  # rows, fractional
    north = np.minimum(np.arange(n_lat) + offset, n_lat - 1)
    south = np.maximum(np.arange(n_lat) - offset, 0)
    ucos = u * cos_phi[:, None]
    ducos_dphi = ((_rows_at(ucos, north) - _rows_at(ucos, south))
                  / (np.interp(north, np.arange(n_lat), phi) - np.interp(south, np.arange(n_lat), phi))[:, None])
    # dv/dlambda between the columns +-scale away at each latitude (at least one cell, at most a quarter circle)
    dlon_deg = longitude_spacing_deg(lon)
    dx_km = dlon_deg * KM_PER_DEGREE * np.maximum(cos_phi, 1e-6)
    half_width = np.clip(_stencil_cells(scale_km / dx_km), 1.0, n_lon // 4)  # (lat,) cells
    if is_periodic(lon):
        dv_dlambda = _periodic_difference(v, half_width) / np.deg2rad(2.0 * half_width * dlon_deg)[:, None]
    else:
        columns = np.arange(n_lon)[None, :]
        east = np.minimum(columns + half_width[:, None], n_lon - 1)
        west = np.maximum(columns - half_width[:, None], 0)
        dv_dlambda = (_columns_at(v, east) - _columns_at(v, west)) / np.deg2rad((east - west) * dlon_deg)
    with np.errstate(divide="ignore", invalid="ignore"):
        zeta = (dv_dlambda - ducos_dphi) / (EARTH_RADIUS_M * cos_phi[:, None])
    pole = np.flatnonzero(np.abs(np.abs(lat) - 90.0) < 1e-6)
    if pole.size:  # Stokes' theorem on the polar caps, from the rows next to the poles
        near = np.clip(pole + np.where(lat[pole] > 0, -1, 1), 0, n_lat - 1)
        rows = np.unique(np.concatenate([pole, near]))
        zeta[pole] = relative_vorticity(u[rows], v[rows], lat[rows], lon)[np.searchsorted(rows, pole)]
    return zeta * sign


def _stencil_cells(cells):
    """Stencil half-widths in cells, at least one; within 1e-9 of a whole number it is made whole, so that
    a scale of exactly k cells reads the grid values without interpolating."""
    cells = np.maximum(np.asarray(cells, dtype=np.float64), 1.0)
    whole = np.rint(cells)
    return np.where(np.abs(cells - whole) < 1e-9, whole, cells)


def _rows_at(a, position):
    """Rows of ``a`` (lat, lon) at fractional row positions (lat,) within [0, n_lat - 1], linearly interpolated."""
    low = np.floor(position).astype(np.intp)
    high = np.minimum(low + 1, a.shape[0] - 1)
    weight = (position - low)[:, None]
    return a[low] * (1.0 - weight) + a[high] * weight


def _columns_at(a, position):
    """Values of ``a`` (lat, lon) at fractional column positions (lat, lon) within [0, n_lon - 1], linearly
    interpolated."""
    low = np.floor(position).astype(np.intp)
    weight = position - low
    high = np.minimum(low + 1, a.shape[1] - 1)
    return np.take_along_axis(a, low, axis=1) * (1.0 - weight) + np.take_along_axis(a, high, axis=1) * weight


def _periodic_difference(a, half_width):
    """``a(col + w) - a(col - w)`` along a periodic longitude axis, a (lat, lon), w (lat,) in cells (fractional:
    linear interpolation between the two whole-cell differences); rows sharing a whole part are shifted
    together (a few bands)."""
    out = np.empty_like(a)
    whole = np.floor(half_width).astype(np.intp)
    weight = half_width - whole
    for m in np.unique(whole):
        band = np.flatnonzero(whole == m)
        block = a[band]
        near = np.roll(block, -m, axis=1) - np.roll(block, m, axis=1)
        w = weight[band][:, None]
        if np.any(w > 0):
            far = np.roll(block, -(m + 1), axis=1) - np.roll(block, m + 1, axis=1)
            near += w * (far - near)
        out[band] = near
    return out


def _row_spacing_km(lat):
    """Typical (median) meridional grid spacing (km)."""
    return float(np.median(np.diff(lat))) * KM_PER_DEGREE


def vorticity_reach_km(lat_deg, scale_km: float) -> float:
    """Meridional half-width (km) of the vorticity difference on a grid with these latitudes.

    ``scale_km`` where one grid row is no wider than that (the winds are interpolated between rows), else
    one row (the grid cannot resolve a smaller scale).
    """
    return max(float(scale_km), _row_spacing_km(np.asarray(lat_deg, dtype=np.float64)))


def vorticity_threshold_on_grid(lat_deg, *, config: TCConfig) -> float:
    """The vorticity threshold (s-1) that applies on a grid with these latitudes.

    The configured ``vorticity_threshold_per_s`` wherever the grid resolves ``vorticity_scale_km`` (one row
    no wider than it: 0.25, 0.5 degree; the difference then spans exactly +-scale). On a coarser grid the
    difference spans one row, r = :func:`vorticity_reach_km` > scale, and a storm's mean vorticity inside r
    (2 V(r) / r with V ~ r^-0.5 outside the eye wall) falls like r^-1.5; the threshold is lowered in
    proportion, ``threshold * (scale / r) ** vorticity_scale_exponent``: 1.6e-4 s-1 of TECA becomes
    1.37e-4 on a 1 degree grid (r = 111 km) and 3.5e-5 on a 2.5 degree grid, the GFDL value for coarse
    models.
    """
    scale = config.vorticity_scale_km
    if scale <= 0 or config.vorticity_scale_exponent == 0:
        return config.vorticity_threshold_per_s
    reach_km = vorticity_reach_km(lat_deg, scale)
    return config.vorticity_threshold_per_s * (scale / reach_km) ** config.vorticity_scale_exponent


def detect_tc_centres(fields, lat_deg, lon_deg, *, config: TCConfig):
    """Find tropical-cyclone centres in one time step (see the module docstring).

    Parameters
    ----------
    fields : mapping of CAM5 name -> ndarray (lat, lon)
        Needs U850, V850 (m s-1), PSL (Pa), T200, T500 (K), UBOT, VBOT (m s-1), and Z200, Z1000 (m)
        unless ``config.thickness_drop_m`` is 0. NaN = missing.
    lat_deg, lon_deg : ndarray (lat,), (lon,), degrees, ascending, longitude in [0, 360)
    config : TCConfig

    Returns
    -------
    centres : list of TCCentre, deepest (lowest PSL) first
    """
    lat, lon = check_grid(lat_deg, lon_deg)
    needed = ["U850", "V850", "PSL", "T200", "T500", "UBOT", "VBOT"]
    if config.thickness_drop_m > 0:
        needed += ["Z200", "Z1000"]
    missing = [name for name in needed if name not in fields]
    if missing:
        raise ValueError(f"TC detection needs fields {', '.join(missing)}")
    f = {name: np.asarray(fields[name]) for name in needed}
    for name, a in f.items():
        if a.shape != (lat.size, lon.size):
            raise ValueError(f"TC detection: {name} has shape {a.shape}, the grid is ({lat.size}, {lon.size})")

    # Vorticity only in the latitude band where storms may be (plus the stencil's reach).
    reach_deg = config.max_abs_lat_deg + config.vorticity_scale_km / KM_PER_DEGREE + 2 * float(np.max(np.diff(lat)))
    band = np.flatnonzero(np.abs(lat) <= reach_deg)
    if band.size < 2:
        return []
    band = slice(band[0], band[-1] + 1)
    zeta = cyclonic_vorticity(f["U850"][band], f["V850"][band], lat[band], lon, scale_km=config.vorticity_scale_km)
    threshold = vorticity_threshold_on_grid(lat, config=config)
    with np.errstate(invalid="ignore"):
        strong = (zeta > threshold) & (np.abs(lat[band]) <= config.max_abs_lat_deg)[:, None]
    labels, n = label_regions(strong, periodic=is_periodic(lon))
    if n == 0:
        return []
    peaks = []  # (row in the band, column, vorticity)
    for k, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        local = np.where(labels[box] == k, zeta[box], -np.inf)
        i, j = np.unravel_index(np.argmax(local), local.shape)
        peaks.append((band.start + box[0].start + i, box[1].start + j, float(local[i, j])))

    # Derived fields are evaluated only where the tests look (windows and rays around candidates).
    psl = _Derived(lambda p: p, f["PSL"])
    core_t = _Derived(lambda t200, t500: 0.5 * (t200 + t500), f["T200"], f["T500"])
    thickness = _Derived(np.subtract, f["Z200"], f["Z1000"]) if config.thickness_drop_m > 0 else None
    wind = _Derived(np.hypot, f["UBOT"], f["VBOT"])
    step_km = min(float(np.min(np.diff(lat))), longitude_spacing_deg(lon)) * KM_PER_DEGREE

    found = []
    for peak_row, peak_col, peak_zeta in peaks:
        rows, cols, dist = disc_window(lat, lon, lat[peak_row], lon[peak_col], config.psl_search_km)
        sub = np.where(dist <= config.psl_search_km, psl[np.ix_(rows, cols)], np.nan)
        if not np.isfinite(sub).any():
            continue
        i, j = np.unravel_index(np.nanargmin(sub), sub.shape)
        row, col = int(rows[i]), int(cols[j])
        lat0, lon0 = _refined_minimum(psl, lat, lon, row, col)
        psl0 = float(psl[row, col])
        if abs(lat0) > config.max_abs_lat_deg:
            continue
        rise = _ray_values(psl, lat, lon, lat0, lon0, config.psl_rise_within_km, step_km)
        if not np.all(np.fmax.reduce(rise, axis=1) - psl0 >= config.psl_rise_pa):  # fmax: NaN-skipping, no warning
            continue
        if config.warm_core_drop_k > 0 and not _drops_everywhere(
                core_t, lat, lon, lat0, lon0, config.warm_core_search_km, config.warm_core_drop_within_km,
                config.warm_core_drop_k, step_km):
            continue
        if thickness is not None and not _drops_everywhere(
                thickness, lat, lon, lat0, lon0, config.warm_core_search_km, config.thickness_drop_within_km,
                config.thickness_drop_m, step_km):
            continue
        rows, cols, dist = disc_window(lat, lon, lat0, lon0, config.wind_search_km)
        near_wind = np.where(dist <= config.wind_search_km, wind[np.ix_(rows, cols)], np.nan)
        max_wind = float(np.nanmax(near_wind)) if np.isfinite(near_wind).any() else float("nan")
        if not max_wind >= config.min_surface_wind_m_s:
            continue
        radius, rmw = gale_radius_km(wind, lat, lon, lat0, lon0, gale_m_s=config.gale_wind_m_s,
                                     max_radius_km=config.max_radius_km)
        found.append(TCCentre(lat0, lon0, row, col, psl0, peak_zeta, max_wind, radius, rmw))

    found.sort(key=lambda c: c.psl_pa)
    kept = []
    for c in found:
        if all(_distance_km(c, k) >= config.min_separation_km for k in kept):
            kept.append(c)
    return kept


class _Derived:
    """A field computed from CAM5 fields (float64) only at the cells it is indexed with."""

    def __init__(self, combine, *arrays):
        self.combine = combine
        self.arrays = arrays

    def __getitem__(self, index):
        return self.combine(*(np.asarray(a[index], dtype=np.float64) for a in self.arrays))


def _refined_minimum(field, lat, lon, row, col):
    """(lat, lon) of a grid minimum moved by a parabola through its neighbours (at most half a cell)."""
    def offset(minus, centre, plus):
        curvature = minus - 2.0 * centre + plus
        if not np.isfinite(curvature) or curvature <= 0:
            return 0.0
        return float(np.clip(0.5 * (minus - plus) / curvature, -0.5, 0.5))

    lat0 = float(lat[row])
    if 0 < row < lat.size - 1:
        d = offset(field[row - 1, col], field[row, col], field[row + 1, col])
        lat0 += d * float(lat[row + 1] - lat[row - 1]) / 2.0
    n = lon.size
    if is_periodic(lon) or 0 < col < n - 1:
        d = offset(field[row, (col - 1) % n], field[row, col], field[row, (col + 1) % n])
        return lat0, float((lon[col] + d * longitude_spacing_deg(lon)) % 360.0)
    return lat0, float(lon[col])


def gale_radius_km(wind_m_s, lat_deg, lon_deg, lat0_deg, lon0_deg, *, gale_m_s: float, max_radius_km: float):
    """Radius of gale-force wind and of maximum wind from the azimuthal-mean radial wind profile.

    Parameters
    ----------
    wind_m_s : ndarray (lat, lon), m s-1, surface wind speed
    lat_deg, lon_deg : ndarray (lat,), (lon,), degrees
    lat0_deg, lon0_deg : float, storm centre
    gale_m_s : float, wind speed defining the radius (17.5 m s-1)
    max_radius_km : float, the profile is followed out to here

    Returns
    -------
    radius_km : float
        Outside the radius of maximum wind, the distance where the mean wind first falls below
        ``gale_m_s`` (linear interpolation between rings of one grid spacing); 0 when the mean never
        reaches it; ``max_radius_km`` when it does not fall below it before.
    rmw_km : float
        Radius of the maximum mean wind (centre of the ring).
    """
    lat = np.asarray(lat_deg, dtype=np.float64)
    rows, cols, dist = disc_window(lat, lon_deg, lat0_deg, lon0_deg, max_radius_km)
    ring_km = float(np.median(np.diff(lat))) * KM_PER_DEGREE
    speed = wind_m_s[np.ix_(rows, cols)]
    use = (dist <= max_radius_km) & np.isfinite(speed)
    ring = np.floor(dist[use] / ring_km).astype(np.intp)
    count = np.bincount(ring)
    total = np.bincount(ring, weights=speed[use])
    with np.errstate(invalid="ignore", divide="ignore"):
        profile = total / count
    centres_km = (np.arange(profile.size) + 0.5) * ring_km
    valid = count > 0
    profile, centres_km = profile[valid], centres_km[valid]
    if profile.size == 0:
        return 0.0, 0.0
    peak = int(np.argmax(profile))
    rmw = float(centres_km[peak])
    if profile[peak] < gale_m_s:
        return 0.0, rmw
    below = np.flatnonzero(profile[peak:] < gale_m_s)
    if below.size == 0:
        return float(max_radius_km), rmw
    k = peak + int(below[0])
    v_in, v_out = profile[k - 1], profile[k]
    fraction = (v_in - gale_m_s) / (v_in - v_out)
    return float(centres_km[k - 1] + fraction * (centres_km[k] - centres_km[k - 1])), rmw


def tropical_cyclone_mask(fields, lat_deg, lon_deg, centres, *, config: TCConfig):
    """Boolean (lat, lon) mask of the footprints of the given storms.

    Parameters
    ----------
    fields : mapping of CAM5 name -> ndarray (lat, lon)
        ``"gale"`` needs UBOT, VBOT (m s-1); ``"percentile"`` needs TMQ (kg m-2), U850, V850 (m s-1)
        and PRECT (m s-1); ``"radius"`` needs none.
    lat_deg, lon_deg : ndarray (lat,), (lon,), degrees
    centres : sequence of TCCentre (from :func:`detect_tc_centres`)
    config : TCConfig

    Returns
    -------
    mask : ndarray (lat, lon) bool

    Notes
    -----
    ``mask_method="gale"`` (default): the storm is where its surface wind blows at gale force. Within
    radius + ``mask_margin_km`` of the centre, cells with |UBOT, VBOT| >= ``gale_wind_m_s`` plus the
    disc inside the radius of maximum wind (the calm eye) form regions; the one containing the centre
    is kept, holes filled. This is the physical size of a storm as forecasters define it (the R34
    area, asymmetric like the real wind field) and it does not depend on the grid. On ``climseg synth``
    data (truth: the disc of the vortex's own gale radius) it scores a pixel IoU of about 0.84 at 1 and
    0.25 degree; the background flow, which strengthens the wind on one side of a moving storm, is what
    separates the two.

    ``mask_method="radius"``: the disc of the storm's gale radius (the symmetric R34 of best-track
    archives). It ignores the asymmetry of the wind field, which makes it match idealised symmetric
    truth (such as ``climseg synth``'s) slightly better than ``"gale"`` (IoU about 0.87 at 1 degree).

    ``mask_method="percentile"``: the recipe of the original scripts. In a box of radius +
    ``percentile_box_margin_km`` (6.6 degrees) TMQ, the 850 hPa wind speed and PRECT are each
    binarized at their ``mask_percentile`` (93rd) percentile, each reduced to its largest region; the
    union is reduced to the region containing (or else the largest near) the centre. By construction
    it marks 7 % of a box whose size is set by the margin rather than by the storm, so small storms
    get too large a mask and large ones too small a one (IoU about 0.71 on ``climseg synth`` at 1
    degree); it is kept for comparison with the published labels.
    """
    lat, lon = check_grid(lat_deg, lon_deg)
    mask = np.zeros((lat.size, lon.size), dtype=bool)
    if not centres:
        return mask
    if config.mask_method == "radius":
        for c in centres:
            rows, cols, dist = disc_window(lat, lon, c.lat_deg, c.lon_deg, c.radius_km)
            mask[np.ix_(rows, cols)] |= dist <= c.radius_km
        return mask
    if config.mask_method == "gale":
        wind = _Derived(np.hypot, np.asarray(fields["UBOT"]), np.asarray(fields["VBOT"]))
    else:
        tmq = _Derived(lambda x: x, np.asarray(fields["TMQ"]))
        wind850 = _Derived(np.hypot, np.asarray(fields["U850"]), np.asarray(fields["V850"]))
        prect = _Derived(lambda x: x, np.asarray(fields["PRECT"]))
    cell_km = float(np.median(np.diff(lat))) * KM_PER_DEGREE
    for c in centres:
        if config.mask_method == "gale":
            reach = max(c.radius_km, c.rmw_km) + config.mask_margin_km
            rows, cols, dist = disc_window(lat, lon, c.lat_deg, c.lon_deg, reach)
            with np.errstate(invalid="ignore"):
                core = (wind[np.ix_(rows, cols)] >= config.gale_wind_m_s) | (dist <= max(c.rmw_km, cell_km))
            footprint = _region_at_centre(core & (dist <= reach), dist)
        else:
            reach = c.radius_km + config.percentile_box_margin_km
            rows, cols, dist = disc_window(lat, lon, c.lat_deg, c.lon_deg, reach)
            inside = dist <= reach
            union = np.zeros(dist.shape, bool)
            for field in (tmq, wind850, prect):
                sub = field[np.ix_(rows, cols)]
                values = sub[inside & np.isfinite(sub)]
                if values.size == 0:
                    continue
                with np.errstate(invalid="ignore"):
                    high = inside & (sub >= np.percentile(values, config.mask_percentile))
                union |= _largest_region(high)
            footprint = _region_at_centre(union, dist)
        mask[np.ix_(rows, cols)] |= footprint
    return mask


def _region_at_centre(binary, dist):
    """The 8-connected region of ``binary`` containing the window cell nearest the centre (else the
    largest region within the nearest quarter of the window), holes filled."""
    labels, n = ndimage.label(binary, structure=EIGHT_CONNECTED)
    if n == 0:
        return binary
    centre = np.unravel_index(np.argmin(dist), dist.shape)
    keep = labels[centre]
    if keep == 0:
        near = labels[(dist <= np.quantile(dist, 0.25)) & (labels > 0)]
        if near.size == 0:
            return np.zeros_like(binary)
        keep = np.bincount(near).argmax()
    return ndimage.binary_fill_holes(labels == keep)


def _largest_region(binary):
    labels, n = ndimage.label(binary, structure=EIGHT_CONNECTED)
    if n == 0:
        return binary
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == sizes.argmax()


def _ray_values(field, lat, lon, lat0, lon0, within_km, step_km):
    """Values of ``field`` along 16 great-circle rays from (lat0, lon0), every step_km out to within_km:
    (16, steps), nearest grid cell."""
    distances = np.arange(1, int(np.ceil(within_km / step_km)) + 1) * step_km
    distances = np.minimum(distances, within_km)
    bearings = np.arange(N_BEARINGS) * (360.0 / N_BEARINGS)
    pts_lat, pts_lon = destination_point(lat0, lon0, bearings[:, None], distances[None, :])
    rows, cols = nearest_grid_index(lat, lon, pts_lat, pts_lon)
    return field[rows, cols]


def _drops_everywhere(field, lat, lon, lat0, lon0, search_km, within_km, drop, step_km):
    """True when the maximum of ``field`` within search_km of the centre falls by ``drop`` within
    within_km of that maximum along every bearing."""
    rows, cols, dist = disc_window(lat, lon, lat0, lon0, search_km)
    sub = np.where(dist <= search_km, field[np.ix_(rows, cols)], np.nan)
    if not np.isfinite(sub).any():
        return False
    i, j = np.unravel_index(np.nanargmax(sub), sub.shape)
    top = sub[i, j]
    rays = _ray_values(field, lat, lon, lat[rows[i]], lon[cols[j]], within_km, step_km)
    with np.errstate(invalid="ignore"):
        return bool(np.all(top - np.fmin.reduce(rays, axis=1) >= drop))


def _distance_km(a: TCCentre, b: TCCentre) -> float:
    return float(great_circle_km(a.lat_deg, a.lon_deg, b.lat_deg, b.lon_deg))
