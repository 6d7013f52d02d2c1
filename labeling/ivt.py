"""Integrated vapour transport (IVT), the field atmospheric rivers are found in.

IVT = (1 / g) * integral of q (u, v) dp over the column, in kg m-1 s-1. With specific humidity and
wind on pressure levels, :func:`integrated_vapor_transport` integrates it; CAM5 h2 files of the
DeepCAM data set carry only 2-D fields, for which :func:`ivt_proxy` gives the documented proxy.
"""

import numpy as np

GRAVITY_M_S2 = 9.80665
"""Standard gravity (m s-2)."""


def integrated_vapor_transport(q, u, v, plev_pa, ps_pa):
    """Vertically integrated water vapour transport from fields on pressure levels.

    Parameters
    ----------
    q : ndarray (plev, lat, lon), kg kg-1, specific humidity
    u, v : ndarray (plev, lat, lon), m s-1, eastward and northward wind
    plev_pa : ndarray (plev,), Pa, pressure levels in any order
    ps_pa : ndarray (lat, lon), Pa, surface pressure

    Returns
    -------
    ivt_east, ivt_north, ivt : ndarray (lat, lon), float64, kg m-1 s-1
        The components ``(1/g) int q u dp``, ``(1/g) int q v dp`` and the magnitude of the vector.

    Notes
    -----
    Trapezoid rule in pressure from the highest level (lowest pressure) down to the surface:

    - layers entirely above ground count in full;
    - levels below ground (p > ps) are masked. The layer that the surface cuts is integrated from
      its upper level down to ``ps``, with the integrand at ``ps`` linearly interpolated in pressure
      between the two levels of the layer (constant from the upper level when the lower one is NaN,
      as below-ground values often are);
    - when the surface lies below the lowest level (ps > max plev, e.g. 1013 hPa under a 1000 hPa
      level), the integrand of the lowest level is held constant down to ``ps``;
    - the air above the highest level is not counted (it holds almost no vapour).

    A column with a missing (NaN) value above ground or a missing surface pressure is NaN.

    Raises
    ------
    ValueError
        When pressures look like hPa rather than Pa, or shapes disagree.
    """
    plev = np.asarray(plev_pa, dtype=np.float64)
    ps = np.asarray(ps_pa, dtype=np.float64)
    q, u, v = (np.asarray(a) for a in (q, u, v))
    if plev.ndim != 1 or plev.size < 2:
        raise ValueError(f"IVT needs 2+ pressure levels as a 1-D array, got shape {plev.shape}")
    if q.shape != u.shape or q.shape != v.shape or q.shape[0] != plev.size or q.shape[1:] != ps.shape:
        raise ValueError(f"IVT needs Q, U, V of shape (plev={plev.size},) + PS shape {ps.shape}, "
                         f"got {q.shape}, {u.shape}, {v.shape}")
    if np.nanmax(plev) < 2000.0:
        raise ValueError(f"IVT needs pressure levels in Pa, got levels {plev.min():g}..{plev.max():g} (hPa?)")
    if np.isfinite(ps).any() and np.nanmedian(ps) < 2000.0:
        raise ValueError(f"IVT needs surface pressure in Pa, got a median of {np.nanmedian(ps):g} (hPa?)")

    order = np.argsort(plev)  # top of the atmosphere first
    p = plev[order]
    # Trapezoid weights (Pa) of the levels, in the order of the input, divided by g.
    weights = np.zeros(p.size)
    weights[:-1] += 0.5 * np.diff(p)
    weights[1:] += 0.5 * np.diff(p)
    level_weights = np.empty(p.size)
    level_weights[order] = weights / GRAVITY_M_S2
    lowest = order[-1]
    with np.errstate(invalid="ignore"):
        below_lowest = np.maximum(ps - p[-1], 0.0) / GRAVITY_M_S2  # integrand held constant down to the surface
        cut = np.nonzero(ps < p[-1])  # columns whose surface cuts the levels
    missing = np.isnan(ps)
    # Work in the input precision (float32 products summed over ~10-30 levels lose < 1e-6 relative).
    dtype = np.result_type(q.dtype, u.dtype, v.dtype, np.float32)
    w = level_weights.astype(dtype)
    components = []
    for wind in (u, v):
        total = np.einsum("k,kij,kij->ij", w, q, wind).astype(np.float64)  # every level above ground
        total += below_lowest * (q[lowest] * wind[lowest])
        if cut[0].size:
            f = (q[:, cut[0], cut[1]][order] * wind[:, cut[0], cut[1]][order]).astype(np.float64)  # (plev, columns)
            total[cut] = _column_integral(f, p, ps[cut]) / GRAVITY_M_S2
        total[missing] = np.nan
        components.append(total)
    east, north = components
    return east, north, np.sqrt(east * east + north * north)


def _column_integral(f, p, ps):
    """Integral of f dp (f in any unit, times Pa) from p[0] down to the surface ps, for columns whose
    surface lies above the lowest level (see integrated_vapor_transport); f (plev, m), p (plev,)
    ascending, ps (m,) < p[-1]."""
    columns = np.arange(ps.size)
    j = np.searchsorted(p, ps, side="left") - 1  # lowest level above ground (p[j] < ps <= p[j+1]); -1: none
    j_safe = np.maximum(j, 0)
    layers = 0.5 * (f[:-1] + f[1:]) * np.diff(p)[:, None]  # (plev - 1, m)
    above = np.concatenate([np.zeros((1, ps.size)), np.cumsum(layers, axis=0)])  # full layers above level k
    f_top = f[j_safe, columns]
    f_below = f[j_safe + 1, columns]
    fraction = (ps - p[j_safe]) / (p[j_safe + 1] - p[j_safe])
    f_surface = np.where(np.isnan(f_below), f_top, f_top + fraction * (f_below - f_top))
    partial = 0.5 * (f_top + f_surface) * (ps - p[j_safe])
    # NaN above ground must stay NaN: cumsum carries it into every later level, the gather picks it up.
    return np.where(j >= 0, above[j_safe, columns] + partial, 0.0)


def ivt_proxy(tmq, u850, v850):
    """IVT proxy from 2-D CAM5 fields: precipitable water times the 850 hPa wind.

    Parameters
    ----------
    tmq : ndarray (lat, lon), kg m-2, total precipitable water (column-integrated vapour)
    u850, v850 : ndarray (lat, lon), m s-1, wind at 850 hPa

    Returns
    -------
    ivt_east, ivt_north, ivt : ndarray (lat, lon), float64, kg m-1 s-1

    Notes
    -----
    IVT = (1/g) int q V dp = TMQ * V_q, where V_q is the moisture-weighted mean wind of the column.
    Most vapour sits below 700 hPa, so V_q is close to the 850 hPa wind, which also carries the
    low-level jet of an atmospheric river; TMQ * V850 is therefore dimensionally IVT
    (kg m-2 * m s-1 = kg m-1 s-1) and close to it in magnitude (TMQ 30 kg m-2 and V850 15 m s-1
    give 450 kg m-1 s-1, in the usual AR range above 250). The ``QREFHT * |V850|`` variant of the
    original scripts has units kg kg-1 m s-1 and needs an arbitrary layer depth to become a flux, so
    we do not use it.
    """
    tmq, u850, v850 = (np.asarray(a) for a in (tmq, u850, v850))
    if tmq.shape != u850.shape or tmq.shape != v850.shape:
        raise ValueError(f"IVT proxy needs TMQ, U850, V850 of one shape, got {tmq.shape}, {u850.shape}, {v850.shape}")
    tmq = tmq.astype(np.float64)
    east = tmq * u850
    north = tmq * v850
    return east, north, np.sqrt(east * east + north * north)
