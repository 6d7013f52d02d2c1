"""events.objects: connected regions, areas on the sphere, centroids across 0/360, raw-field properties."""

import numpy as np
import pytest

from climseg.sphere import EARTH_RADIUS_KM, great_circle_km
from events.objects import Cells, find_objects, nearest_cell
from labeling.grid import cell_area_km2

LAT = np.linspace(-90.0, 90.0, 91)  # 2 degrees
LON = np.arange(180) * 2.0


def _objects(mask, **kwargs):
    labels, table, _ = find_objects(mask, LAT, LON, cell_area_km2(LAT, LON), periodic=True, **kwargs)
    return labels, table


def test_region_across_the_meridian_is_one_object_with_its_centroid_on_it():
    mask = np.zeros((LAT.size, LON.size), bool)
    mask[50:55, :3] = True  # lon 0..4
    mask[50:55, -3:] = True  # lon 354..358
    labels, table = _objects(mask)
    assert len(table) == 1 and labels.max() == 1
    assert table.lon[0] == pytest.approx(359.0, abs=1e-6)  # mean of 354..358 and 0..4, not 180
    assert table.lat[0] == pytest.approx(LAT[52], abs=0.05)
    # not periodic: two regions
    _, apart, _ = find_objects(mask, LAT, LON, cell_area_km2(LAT, LON), periodic=False)
    assert len(apart) == 2


def test_diagonal_neighbours_connect_and_areas_are_on_the_sphere():
    mask = np.zeros((LAT.size, LON.size), bool)
    mask[10, 10] = mask[11, 11] = True  # diagonal: one object
    mask[80, 100] = True  # near the pole: a small cell
    labels, table = _objects(mask)
    assert len(table) == 2
    band = EARTH_RADIUS_KM**2 * np.deg2rad(2.0)
    expected = band * (np.sin(np.deg2rad(LAT[80] + 1)) - np.sin(np.deg2rad(LAT[80] - 1)))
    polar = table[table.cells == 1].iloc[0]
    assert polar.area_km2 == pytest.approx(expected, rel=1e-9)
    assert table.area_km2.sum() == pytest.approx(cell_area_km2(LAT, LON)[mask].sum())
    assert cell_area_km2(LAT, LON).sum() == pytest.approx(4 * np.pi * EARTH_RADIUS_KM**2, rel=1e-9)


def test_min_area_drops_small_regions_and_empty_mask_gives_empty_table():
    mask = np.zeros((LAT.size, LON.size), bool)
    mask[40:46, 20:26] = True
    mask[60, 60] = True
    labels, table = _objects(mask, min_area_km2=50_000.0)
    assert len(table) == 1 and set(np.unique(labels)) == {0, 1} and table.cells[0] == 36
    _, empty = _objects(np.zeros_like(mask))
    assert len(empty) == 0 and "psl_min_pa" in empty.columns


def test_raw_field_properties():
    mask = np.zeros((LAT.size, LON.size), bool)
    mask[55:60, 30:35] = True
    psl = np.full(mask.shape, 101000.0)
    psl[57, 33] = 95000.0
    psl[10, 10] = 90000.0  # outside the object
    ubot = np.zeros(mask.shape)
    vbot = np.zeros(mask.shape)
    ubot[56, 31], vbot[56, 31] = 30.0, 40.0  # 50 m/s
    tmq = np.full(mask.shape, 20.0)
    u850 = np.full(mask.shape, 3.0)
    v850 = np.full(mask.shape, 4.0)
    _, table = _objects(mask, fields={"PSL": psl, "UBOT": ubot, "VBOT": vbot, "TMQ": tmq, "U850": u850, "V850": v850})
    row = table.iloc[0]
    assert row.psl_min_pa == 95000.0 and (row.psl_min_lat, row.psl_min_lon) == (LAT[57], LON[33])
    assert row.wind_max_ms == pytest.approx(50.0)
    assert row.tmq_mean_kg_m2 == pytest.approx(20.0)
    assert row.water_kg == pytest.approx(20.0 * row.area_km2 * 1e6)
    assert row.ivt_mean_kg_m_s == pytest.approx(100.0) and row.ivt_max_kg_m_s == pytest.approx(100.0)
    _, bare = _objects(mask)
    assert np.isnan(bare.psl_min_pa[0]) and np.isnan(bare.wind_max_ms[0])


def test_nearest_cell_wraps_longitude():
    rows, cols = nearest_cell(np.array([0.9, -88.8]), np.array([359.5, 181.1]), LAT, LON)
    assert list(rows) == [45, 1] and list(cols) == [0, 91]


def test_per_region_reductions_agree_with_scipy():
    from scipy import ndimage

    rng = np.random.default_rng(0)
    labels, n = ndimage.label(rng.random((40, 60)) > 0.6)
    field = rng.random((40, 60))
    cells = Cells(labels, n)
    index = np.arange(1, n + 1)
    np.testing.assert_allclose(cells.sum(field), ndimage.sum(field, labels, index))
    np.testing.assert_array_equal(cells.min(field), ndimage.minimum(field, labels, index))
    np.testing.assert_array_equal(cells.max(field), ndimage.maximum(field, labels, index))
    positions = [np.ravel_multi_index(p, labels.shape) for p in ndimage.minimum_position(field, labels, index)]
    np.testing.assert_array_equal(cells.argmin(field), positions)
    np.testing.assert_array_equal(cells.any(field > 0.99), ndimage.maximum(field > 0.99, labels, index) > 0)


@pytest.mark.parametrize("bearing_deg", [0.0, 45.0, 90.0, 135.0])
def test_length_width_and_transport_of_a_band_in_any_direction(bearing_deg):
    """A band 3000 km long and about 400 km wide, on a fine grid, at 45 N across 0/360, any orientation."""
    lat = np.linspace(-90.0, 90.0, 721)  # 0.25 degrees
    lon = np.arange(1440) * 0.25
    from labeling.grid import destination_point

    s = np.linspace(-1500.0, 1500.0, 600)
    spine_lat, spine_lon = destination_point(45.0, 0.0, bearing_deg, s)
    mask = np.zeros((lat.size, lon.size), bool)
    rows = np.abs(lat - 45.0) < 20
    sub_lat = lat[rows]
    distance = np.full((sub_lat.size, lon.size), np.inf)
    for a, b in zip(spine_lat[::4], spine_lon[::4]):
        distance = np.minimum(distance, great_circle_km(sub_lat[:, None], lon[None, :], a, b))
    mask[rows] = distance <= 200.0
    area = cell_area_km2(lat, lon)
    tmq = np.full(mask.shape, 25.0)
    u850, v850 = np.full(mask.shape, 30.0), np.zeros(mask.shape)  # IVT 750 kg m-1 s-1 everywhere
    _, table, _ = find_objects(mask, lat, lon, area, periodic=True, fields={"TMQ": tmq, "U850": u850, "V850": v850})
    assert len(table) == 1
    row = table.iloc[0]
    assert row.length_km == pytest.approx(3400.0, rel=0.03)  # 3000 km + two 200 km caps
    assert row.width_km == pytest.approx(row.area_km2 / row.length_km)
    assert 330.0 < row.width_km < 400.0  # mean width of a stadium 400 km wide with round ends
    assert row.transport_kg_s == pytest.approx(750.0 * row.width_km * 1e3, rel=1e-6)
    assert abs((row.lon + 180) % 360 - 180) < 0.5 and row.lat == pytest.approx(45.0, abs=0.5)
