"""Spherical geometry: areas, distances, derivatives and periodic regions against analytic answers."""

import numpy as np
import pytest

from climseg.sphere import great_circle_km
from labeling.grid import (EARTH_RADIUS_KM, EARTH_RADIUS_M, cell_area_km2, check_grid, destination_point,
                           disc_window, is_periodic, label_regions, nearest_grid_index, relative_vorticity)


def grid(nlat, nlon, *, poles=True):
    if poles:
        lat = np.linspace(-90, 90, nlat)
    else:
        dlat = 180.0 / nlat
        lat = np.linspace(-90 + dlat / 2, 90 - dlat / 2, nlat)
    return lat, np.arange(nlon) * 360.0 / nlon


@pytest.mark.parametrize("shape", [(192, 288), (96, 144)])
@pytest.mark.parametrize("poles", [True, False])
def test_cell_areas_sum_to_the_sphere_and_shrink_poleward(shape, poles):
    lat, lon = grid(*shape, poles=poles)
    area = cell_area_km2(lat, lon)
    assert area.shape == shape
    assert area.sum() == pytest.approx(4 * np.pi * EARTH_RADIUS_KM**2, rel=1e-12)
    equator = np.argmin(np.abs(lat))
    assert area[equator, 0] > area[equator + shape[0] // 4, 0] > area[-2, 0] > 0


def test_great_circle_distances_known_values():
    quarter = np.pi * EARTH_RADIUS_KM / 2
    assert great_circle_km(0, 0, 0, 90) == pytest.approx(quarter)
    assert great_circle_km(0, 0, 90, 0) == pytest.approx(quarter)
    assert great_circle_km(-90, 0, 90, 123) == pytest.approx(2 * quarter)
    # across the seam: 359.5 to 0.5 degrees east on the equator is one degree
    assert great_circle_km(0, 359.5, 0, 0.5) == pytest.approx(np.pi * EARTH_RADIUS_KM / 180)
    # one degree of longitude at 60 N is half as long (nearly: the great circle cuts the parallel)
    assert great_circle_km(60, 10, 60, 11) == pytest.approx(0.5 * np.pi * EARTH_RADIUS_KM / 180, rel=1e-4)
    assert great_circle_km(12.3, 45.6, 12.3, 45.6) == 0.0


def test_destination_point_inverts_distance():
    rng = np.random.default_rng(0)
    lat0, lon0 = rng.uniform(-80, 80, 50), rng.uniform(0, 360, 50)
    bearing, dist = rng.uniform(0, 360, 50), rng.uniform(1, 3000, 50)
    lat1, lon1 = destination_point(lat0, lon0, bearing, dist)
    assert np.all((lon1 >= 0) & (lon1 < 360))
    np.testing.assert_allclose(great_circle_km(lat0, lon0, lat1, lon1), dist, rtol=1e-9)


def test_solid_body_rotation_about_the_axis_has_vorticity_two_omega_sin_lat():
    lat, lon = grid(181, 360)
    omega = 1e-5  # s-1, angular velocity of the rotating atmosphere
    u = omega * EARTH_RADIUS_M * np.cos(np.deg2rad(lat))[:, None] * np.ones(lon.size)
    zeta = relative_vorticity(u, np.zeros_like(u), lat, lon)
    expected = 2 * omega * np.sin(np.deg2rad(lat))[:, None] * np.ones(lon.size)
    np.testing.assert_allclose(zeta[1:-1], expected[1:-1], atol=5e-4 * 2 * omega)  # O(dlat^2)
    # poles by Stokes' theorem: +2 omega at the north pole, -2 omega at the south pole
    np.testing.assert_allclose(zeta[-1], 2 * omega, rtol=1e-3)
    np.testing.assert_allclose(zeta[0], -2 * omega, rtol=1e-3)


@pytest.mark.parametrize("centre", [(20.0, 140.0), (-25.0, 359.0)])
def test_solid_body_vortex_has_vorticity_two_omega_at_its_centre(centre):
    """Rotation about an axis through a point (lat0, lon0): vorticity 2 omega cos(angular distance)."""
    lat, lon = grid(361, 720, poles=False)
    omega = 2e-4
    phi, lam = np.meshgrid(np.deg2rad(lat), np.deg2rad(lon), indexing="ij")
    axis = np.array([np.cos(np.deg2rad(centre[0])) * np.cos(np.deg2rad(centre[1])),
                     np.cos(np.deg2rad(centre[0])) * np.sin(np.deg2rad(centre[1])), np.sin(np.deg2rad(centre[0]))])
    r = np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=-1)
    velocity = omega * EARTH_RADIUS_M * np.cross(axis, r)  # m s-1
    east = np.stack([-np.sin(lam), np.cos(lam), np.zeros_like(lam)], axis=-1)
    north = np.stack([-np.sin(phi) * np.cos(lam), -np.sin(phi) * np.sin(lam), np.cos(phi)], axis=-1)
    u, v = (velocity * east).sum(-1), (velocity * north).sum(-1)
    zeta = relative_vorticity(u, v, lat, lon)
    expected = 2 * omega * (r @ axis)
    near = great_circle_km(centre[0], centre[1], lat[:, None], lon[None, :]) < 1500
    np.testing.assert_allclose(zeta[near], expected[near], rtol=1e-3)
    assert abs(zeta[np.abs(lat) < 80]).max() <= 2 * omega * 1.001


def test_check_grid_rejects_descending_latitude_and_uneven_longitude():
    with pytest.raises(ValueError, match="latitude must ascend"):
        check_grid([10, 0, -10], [0, 1, 2])
    with pytest.raises(ValueError, match="longitude must ascend with a uniform spacing"):
        check_grid([0, 1, 2], [0, 1, 3])


def test_periodicity_and_nearest_index_wraps():
    lat, lon = grid(19, 36)
    assert is_periodic(lon) and not is_periodic(lon[:20])
    rows, cols = nearest_grid_index(lat, lon, [0.0, 89.0], [359.0, -10.0])
    assert rows.tolist() == [9, 18] and cols.tolist() == [0, 35]


def test_seam_merging_joins_a_region_crossing_0_360():
    mask = np.zeros((8, 12), bool)
    mask[3, :2] = True        # east of 0
    mask[4, -3:] = True       # west of 360, diagonal neighbour across the seam
    mask[0, 5] = True         # a separate blob
    labels, n = label_regions(mask, periodic=True)
    assert n == 2
    assert labels[3, 0] == labels[4, -1] != labels[0, 5]
    assert set(np.unique(labels)) == {0, 1, 2}
    _, n_plain = label_regions(mask, periodic=False)
    assert n_plain == 3


def test_seam_merging_joins_several_pieces_and_keeps_others_apart():
    mask = np.zeros((9, 10), bool)
    mask[1:4, 0] = True   # a column east of the seam ...
    mask[1, -1] = True    # ... touched by two separate cells west of it
    mask[3, -1] = True
    mask[1:4, 2] = True   # not adjacent to column 0 (column 1 is empty)
    mask[5, 1] = True     # isolated
    labels, n = label_regions(mask, periodic=True)
    assert n == 3
    assert labels[1, 0] == labels[1, -1] == labels[3, -1]
    assert len({labels[1, 0], labels[1, 2], labels[5, 1]}) == 3
    assert label_regions(mask, periodic=False)[1] == 5
    assert label_regions(np.zeros((4, 5), bool), periodic=True)[1] == 0


def test_disc_window_crosses_the_seam_and_reaches_around_the_pole():
    lat, lon = grid(91, 180)
    rows, cols, dist = disc_window(lat, lon, 0.0, 1.0, 500.0)
    assert 179 in cols and 0 in cols
    assert np.all(np.diff(lon[cols]) % 360 == 2.0)  # contiguous in longitude across the seam
    inside = dist <= 500
    assert inside.sum() > 10 and dist.min() < 120
    rows, cols, dist = disc_window(lat, lon, 88.0, 10.0, 600.0)
    assert len(cols) == lon.size and rows.max() == lat.size - 1
