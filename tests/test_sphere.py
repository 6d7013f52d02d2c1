"""climseg.sphere: great-circle distances and periodic longitudes."""

import numpy as np
import pytest

from climseg.sphere import EARTH_RADIUS_KM, circular_mean_lon_deg, great_circle_km, lon_difference_deg, wrap_lon_deg


def test_great_circle_known_distances():
    assert great_circle_km(0, 0, 0, 90) == pytest.approx(np.pi / 2 * EARTH_RADIUS_KM)
    assert great_circle_km(-90, 0, 90, 123) == pytest.approx(np.pi * EARTH_RADIUS_KM)
    assert great_circle_km(10, 359.5, 10, 0.5) == pytest.approx(great_circle_km(10, -0.5, 10, 0.5))
    one_degree_at_10n = np.deg2rad(1) * EARTH_RADIUS_KM * np.cos(np.deg2rad(10))
    assert great_circle_km(10, 359.5, 10, 0.5) == pytest.approx(one_degree_at_10n, rel=1e-4)
    np.testing.assert_allclose(great_circle_km(np.zeros(3), np.zeros(3), np.zeros(3), [0, 1, 2]),
                               np.deg2rad([0, 1, 2]) * EARTH_RADIUS_KM)


def test_longitudes_on_the_circle():
    assert abs(lon_difference_deg(0.0, circular_mean_lon_deg([359.0, 1.0]))) < 1e-9  # not 180
    assert 0.0 <= circular_mean_lon_deg([359.0, 1.0]) < 360.0
    weighted = circular_mean_lon_deg([350.0, 20.0], weights=[2, 1])
    assert lon_difference_deg(0.0, weighted) == pytest.approx(-0.104, abs=1e-3)
    assert circular_mean_lon_deg([10.0, 30.0]) == pytest.approx(20.0)
    np.testing.assert_allclose(lon_difference_deg([350.0, 10.0], [10.0, 350.0]), [20.0, -20.0])
    np.testing.assert_array_equal(wrap_lon_deg([-1e-14, 360.0, -90.0, 725.0]), [0.0, 0.0, 270.0, 5.0])
