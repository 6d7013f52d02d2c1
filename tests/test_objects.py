"""events.objects: connected regions, areas on the sphere, centroids across 0/360, raw-field properties."""

import numpy as np
import pytest

from climseg.sphere import EARTH_RADIUS_KM
from events.objects import find_objects, nearest_cell
from labeling.grid import cell_area_km2

LAT = np.linspace(-90.0, 90.0, 91)  # 2 degrees
LON = np.arange(180) * 2.0


def _objects(mask, **kwargs):
    return find_objects(mask, LAT, LON, cell_area_km2(LAT, LON), periodic=True, **kwargs)


def test_region_across_the_meridian_is_one_object_with_its_centroid_on_it():
    mask = np.zeros((LAT.size, LON.size), bool)
    mask[50:55, :3] = True  # lon 0..4
    mask[50:55, -3:] = True  # lon 354..358
    labels, table = _objects(mask)
    assert len(table) == 1 and labels.max() == 1
    assert table.lon[0] == pytest.approx(359.0, abs=1e-6)  # mean of 354..358 and 0..4, not 180
    assert table.lat[0] == pytest.approx(LAT[52], abs=0.05)
    # not periodic: two regions
    _, apart = find_objects(mask, LAT, LON, cell_area_km2(LAT, LON), periodic=False)
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
