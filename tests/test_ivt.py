"""IVT against an independent column-by-column integration with scipy, and the 2-D proxy."""

import numpy as np
import pytest
from scipy import integrate

from labeling.ivt import GRAVITY_M_S2, integrated_vapor_transport, ivt_proxy

PLEV_PA = np.array([100000, 92500, 85000, 70000, 60000, 50000, 40000, 30000, 25000, 20000], dtype=float)


def columns(shape=(6, 7), seed=0):
    rng = np.random.default_rng(seed)
    p = PLEV_PA[:, None, None]
    q = 0.018 * (p / 1e5) ** 3 * rng.uniform(0.5, 1.5, (PLEV_PA.size,) + shape)  # kg kg-1, moist near the ground
    u = rng.normal(5, 15, q.shape)
    v = rng.normal(0, 15, q.shape)
    return q, u, v


def reference_column(p_pa, f, ps):
    """Independent integral of one column: scipy trapezoid over the levels above ground plus the
    surface point (value interpolated in pressure; lowest value held below the lowest level)."""
    order = np.argsort(p_pa)
    p, f = p_pa[order], f[order]
    above = p < ps
    p_nodes = list(p[above])
    f_nodes = list(f[above])
    if ps <= p[-1]:
        f_nodes.append(np.interp(ps, p, f))
    else:
        f_nodes.append(f[-1])
        p_nodes.append(p[-1])
        f_nodes.append(f[-1])
    p_nodes.append(ps)
    return integrate.trapezoid(f_nodes, p_nodes) / GRAVITY_M_S2


def test_ivt_matches_scipy_when_all_levels_are_above_ground():
    q, u, v = columns()
    ps = np.full(q.shape[1:], 100000.0)
    east, north, ivt = integrated_vapor_transport(q, u, v, PLEV_PA, ps)
    expected_east = -integrate.trapezoid(q * u, PLEV_PA, axis=0) / GRAVITY_M_S2  # levels descend in p
    expected_north = -integrate.trapezoid(q * v, PLEV_PA, axis=0) / GRAVITY_M_S2
    np.testing.assert_allclose(east, expected_east, rtol=1e-5)
    np.testing.assert_allclose(north, expected_north, rtol=1e-5)
    np.testing.assert_allclose(ivt, np.hypot(expected_east, expected_north), rtol=1e-5)
    assert 50 < np.median(ivt) < 1000  # kg m-1 s-1, the range of real IVT


def test_ivt_masks_levels_below_the_surface_and_integrates_the_partial_layer():
    q, u, v = columns(seed=1)
    rng = np.random.default_rng(2)
    ps = rng.uniform(55000, 103000, q.shape[1:])  # mountains to deep lows; some below the 1000 hPa level
    ps[0, 0] = 85000.0  # surface exactly on a level
    q[0, 1, 1] = np.nan  # a missing value below ground (1000 hPa under an 800 hPa surface) is harmless
    ps[1, 1] = 80000.0
    east, north, ivt = integrated_vapor_transport(q, u, v, PLEV_PA, ps)
    for i, j in np.ndindex(ps.shape):
        if (i, j) == (1, 1):
            continue  # checked below
        assert east[i, j] == pytest.approx(reference_column(PLEV_PA, q[:, i, j] * u[:, i, j], ps[i, j]), rel=1e-5)
        assert north[i, j] == pytest.approx(reference_column(PLEV_PA, q[:, i, j] * v[:, i, j], ps[i, j]), rel=1e-5)
    # the surface at 800 hPa cuts the 850-700 hPa layer; the NaN at 1000 hPa below ground is ignored
    qu = (q * u)[2:, 1, 1]
    assert east[1, 1] == pytest.approx(reference_column(PLEV_PA[2:], qu, 80000.0), rel=1e-5)
    assert np.isfinite(ivt).all()


def test_ivt_is_independent_of_level_order():
    q, u, v = columns(seed=3)
    ps = np.full(q.shape[1:], 95000.0)
    a = integrated_vapor_transport(q, u, v, PLEV_PA, ps)
    b = integrated_vapor_transport(q[::-1], u[::-1], v[::-1], PLEV_PA[::-1], ps)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-12)


def test_ivt_missing_values_above_ground_are_missing():
    q, u, v = columns(seed=4)
    q[5, 2, 3] = np.nan
    q[5, 4, 4] = np.nan  # 500 hPa, above an 800 hPa surface
    q[0, 4, 5] = np.nan  # 1000 hPa, below an 800 hPa surface: harmless
    ps = np.full(q.shape[1:], 100000.0)
    ps[0, 0] = np.nan
    ps[4, 4] = ps[4, 5] = 80000.0
    _, _, ivt = integrated_vapor_transport(q, u, v, PLEV_PA, ps)
    assert np.isnan(ivt[2, 3]) and np.isnan(ivt[0, 0]) and np.isnan(ivt[4, 4])
    assert np.isfinite(ivt).sum() == ivt.size - 3


def test_ivt_rejects_levels_in_hpa():
    q, u, v = columns()
    ps = np.full(q.shape[1:], 100000.0)
    with pytest.raises(ValueError, match=r"pressure levels in Pa, got levels 200\.\.1000 \(hPa\?\)"):
        integrated_vapor_transport(q, u, v, PLEV_PA / 100, ps)
    with pytest.raises(ValueError, match="surface pressure in Pa"):
        integrated_vapor_transport(q, u, v, PLEV_PA, ps / 100)


def test_ivt_rejects_mismatched_shapes():
    q, u, v = columns()
    with pytest.raises(ValueError, match="IVT needs Q, U, V of shape"):
        integrated_vapor_transport(q, u[:, :-1], v, PLEV_PA, np.full(q.shape[1:], 1e5))
    with pytest.raises(ValueError, match="2\\+ pressure levels"):
        integrated_vapor_transport(q[:1], u[:1], v[:1], PLEV_PA[:1], np.full(q.shape[1:], 1e5))


def test_proxy_is_tmq_times_850_wind_in_ivt_units():
    tmq = np.array([[30.0, 0.0], [50.0, np.nan]])  # kg m-2
    u850 = np.array([[3.0, 10.0], [-6.0, 1.0]])
    v850 = np.array([[4.0, 10.0], [8.0, 1.0]])
    east, north, ivt = ivt_proxy(tmq, u850, v850)
    np.testing.assert_allclose(east[0], [90.0, 0.0])
    np.testing.assert_allclose(north[1, 0], 400.0)
    np.testing.assert_allclose(ivt[:, 0], [150.0, 500.0])
    assert np.isnan(ivt[1, 1])
    with pytest.raises(ValueError, match="one shape"):
        ivt_proxy(tmq, u850[:1], v850)


def test_proxy_is_close_to_true_ivt_for_a_uniform_wind_column():
    """With the same wind at every level, (1/g) int q V dp = TMQ * V exactly."""
    q, _, _ = columns(seed=5)
    u = np.full_like(q, 12.0)
    v = np.full_like(q, -7.0)
    ps = np.full(q.shape[1:], 100000.0)
    east, north, _ = integrated_vapor_transport(q, u, v, PLEV_PA, ps)
    tmq = -integrate.trapezoid(q, PLEV_PA, axis=0) / GRAVITY_M_S2
    p_east, p_north, _ = ivt_proxy(tmq, u[0], v[0])
    np.testing.assert_allclose(p_east, east, rtol=1e-10)
    np.testing.assert_allclose(p_north, north, rtol=1e-10)


def test_float32_input_keeps_1e5_relative_accuracy():
    q, u, v = columns(shape=(20, 30), seed=6)
    rng = np.random.default_rng(7)
    ps = rng.uniform(80000, 103000, q.shape[1:])
    exact = integrated_vapor_transport(q, u, v, PLEV_PA, ps)
    single = integrated_vapor_transport(q.astype(np.float32), u.astype(np.float32), v.astype(np.float32),
                                        PLEV_PA.astype(np.float32), ps.astype(np.float32))
    assert all(a.dtype == np.float64 for a in single)
    np.testing.assert_allclose(single[2], exact[2], rtol=1e-5)
