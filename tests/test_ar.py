"""Atmospheric-river detection on hand-drawn IVT fields with known geometry."""

import dataclasses

import numpy as np
import pytest

from labeling.ar import atmospheric_river_mask, atmospheric_river_regions, ivt_threshold, tropical_damping
from labeling.config import ARConfig
from climseg.sphere import great_circle_km
from labeling.grid import EARTH_RADIUS_KM, cell_area_km2, label_regions

LAT = np.linspace(-90, 90, 181)  # 1 degree
LON = np.arange(360) * 1.0
BACKGROUND = 100.0  # kg m-1 s-1


def band(lat0, lon0, lon1, half_width_deg=2, value=800.0, field=None):
    """IVT with a zonal band of ``value`` between lon0 and lon1 (may wrap) at lat0 +- half_width_deg."""
    ivt = np.full((LAT.size, LON.size), BACKGROUND) if field is None else field
    rows = np.abs(LAT - lat0) <= half_width_deg
    cols = ((LON - lon0) % 360) <= ((lon1 - lon0) % 360)
    ivt[np.ix_(rows, cols)] = value
    return ivt


def test_tropical_damping_formula():
    f = tropical_damping(np.array([0.0, 15.0, 45.0, -45.0]), 15.0)
    np.testing.assert_allclose(f, 1 - np.exp(-np.array([0.0, 15.0, 45.0, 45.0]) ** 2 / (2 * 15.0**2)))
    assert f[0] == 0 and f[2] > 0.98
    np.testing.assert_array_equal(tropical_damping(np.array([0.0, 30.0]), 0.0), 1.0)


def test_threshold_is_the_percentile_of_the_damped_field_with_a_floor():
    rng = np.random.default_rng(0)
    ivt = rng.gamma(2.0, 100.0, (LAT.size, LON.size))
    ivt[:5] = np.nan
    config = ARConfig(percentile=90.0, min_ivt_kg_m_s=0.0, tropical_damping_sigma_deg=10.0)
    damped = ivt * tropical_damping(LAT, 10.0)[:, None]
    assert ivt_threshold(ivt, LAT, config=config) == pytest.approx(np.nanpercentile(damped, 90.0))
    floored = dataclasses.replace(config, min_ivt_kg_m_s=5000.0)
    assert ivt_threshold(ivt, LAT, config=floored) == 5000.0
    assert np.isnan(ivt_threshold(np.full_like(ivt, np.nan), LAT, config=config))


def test_long_narrow_midlatitude_band_is_an_ar_with_its_true_geometry():
    ivt = band(45, 100, 150)  # 50 degrees of longitude at 45 N: about 3900 km
    labels, regions = atmospheric_river_regions(ivt, LAT, LON, config=ARConfig())
    assert len(regions) == 1 and regions[0].accepted
    inside = ivt > BACKGROUND
    np.testing.assert_array_equal(atmospheric_river_mask(ivt, LAT, LON, config=ARConfig()), inside)
    r = regions[0]
    assert r.area_km2 == pytest.approx(cell_area_km2(LAT, LON)[inside].sum())
    # longest chord: between opposite corner cells of the band
    corners = [great_circle_km(a, 100, b, 150) for a in (43, 47) for b in (43, 47)]
    assert r.length_km == pytest.approx(max(corners), rel=1e-9)
    assert r.width_km == pytest.approx(r.area_km2 / r.length_km)
    assert r.centroid_lat_deg == pytest.approx(45.0, abs=0.1)


@pytest.mark.parametrize("make_ivt, reason", [
    (lambda: band(45, 100, 115), "length"),                          # ~1200 km long
    (lambda: band(45, 100, 140, half_width_deg=12), "length/width"),  # long but as wide as it is long
    (lambda: band(5, 100, 160, value=5000.0), "latitude"),            # tropical, even undamped-strong
    (lambda: band(85, 0, 359), "latitude"),                          # polar ring
])
def test_each_filter_rejects_what_it_should(make_ivt, reason):
    ivt = make_ivt()
    _, regions = atmospheric_river_regions(ivt, LAT, LON, config=ARConfig())
    assert [r.reason for r in regions] == [reason]
    assert not atmospheric_river_mask(ivt, LAT, LON, config=ARConfig()).any()


def test_area_filter_rejects_small_regions():
    ivt = band(45, 100, 140, half_width_deg=0)  # one row: long and narrow, ~2.4e5 km2
    config = ARConfig(min_area_km2=5e5)
    _, regions = atmospheric_river_regions(ivt, LAT, LON, config=config)
    assert [r.reason for r in regions] == ["area"]
    assert atmospheric_river_mask(ivt, LAT, LON, config=dataclasses.replace(config, min_area_km2=1e5)).any()


def test_river_crossing_0_360_is_one_region_and_passes_only_as_one():
    ivt = band(45, 345, 15)  # 15 degrees on each side of the seam: ~1170 km each, ~2350 km together
    labels, regions = atmospheric_river_regions(ivt, LAT, LON, config=ARConfig())
    assert len(regions) == 1 and regions[0].accepted
    assert regions[0].length_km > 2000
    mask = atmospheric_river_mask(ivt, LAT, LON, config=ARConfig())
    assert mask[:, 0].any() and mask[:, -1].any()
    assert label_regions(mask, periodic=True)[1] == 1


def test_excluded_cells_are_never_ar_and_split_nothing_else():
    ivt = band(45, 100, 150)
    ivt[40 + 90:51 + 90, 150:162] = 3000.0  # a round TC-like core touching the east end
    exclude = np.zeros_like(ivt, dtype=bool)
    exclude[40 + 90:51 + 90, 150:162] = True
    mask = atmospheric_river_mask(ivt, LAT, LON, config=ARConfig(), exclude=exclude)
    assert not (mask & exclude).any()
    np.testing.assert_array_equal(mask, (ivt > BACKGROUND) & ~exclude)


def test_round_high_ivt_core_alone_is_not_an_ar():
    ivt = np.full((LAT.size, LON.size), BACKGROUND)
    d = np.hypot(*np.meshgrid(LAT - 30, LON - 200, indexing="ij"))
    ivt[d < 10] = 3000.0  # a 2000 km wide disc of TC-strength IVT
    _, regions = atmospheric_river_regions(ivt, LAT, LON, config=ARConfig())
    assert [r.reason for r in regions] == ["length/width"]


def test_missing_values_are_no_event_and_all_nan_is_empty():
    ivt = band(45, 100, 150)
    ivt[135, 120] = np.nan
    mask = atmospheric_river_mask(ivt, LAT, LON, config=ARConfig())
    assert not mask[135, 120] and mask[135, 121]
    nan = np.full_like(ivt, np.nan)
    assert not atmospheric_river_mask(nan, LAT, LON, config=ARConfig()).any()
    assert atmospheric_river_regions(nan, LAT, LON, config=ARConfig())[1] == []
    assert not atmospheric_river_mask(np.zeros_like(ivt), LAT, LON, config=ARConfig()).any()


def test_threshold_follows_the_percentile_and_floor():
    """A weak plume (200 kg m-1 s-1) passes the 95th percentile but not the 250 floor."""
    ivt = band(45, 100, 150, value=200.0, field=np.full((LAT.size, LON.size), 50.0))
    assert not atmospheric_river_mask(ivt, LAT, LON, config=ARConfig()).any()
    assert atmospheric_river_mask(ivt, LAT, LON, config=ARConfig(min_ivt_kg_m_s=0.0)).any()


def test_core_fraction_keeps_the_half_maximum_core():
    ivt = np.full((LAT.size, LON.size), BACKGROUND)
    cross = 800.0 * np.exp2(-((LAT - 45) / 4) ** 2)  # FWHM 8 degrees
    ivt[:, 100:151] = np.maximum(BACKGROUND, cross)[:, None]
    config = ARConfig(min_ivt_kg_m_s=300.0, percentile=50.0, core_fraction=0.5)
    mask = atmospheric_river_mask(ivt, LAT, LON, config=config)
    rows = np.flatnonzero(mask[:, 120])
    half = 300.0 + 0.5 * (800.0 - 300.0)
    np.testing.assert_array_equal(rows, np.flatnonzero(ivt[:, 120] >= half))
    wide = atmospheric_river_mask(ivt, LAT, LON, config=dataclasses.replace(config, core_fraction=0.0))
    assert wide.sum() > mask.sum()


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match=r"IVT shape \(10, 10\) does not match the grid \(181, 360\)"):
        atmospheric_river_mask(np.zeros((10, 10)), LAT, LON, config=ARConfig())


def test_length_and_area_are_in_km_not_grid_points():
    """A band on a 0.5 degree grid: area of the spherical rectangle it covers, length corner to corner."""
    lat2, lon2 = np.linspace(-90, 90, 361), np.arange(720) * 0.5
    ivt2 = np.full((lat2.size, lon2.size), BACKGROUND)
    ivt2[np.ix_(np.abs(lat2 - 45) <= 2.0, (lon2 >= 100) & (lon2 <= 150))] = 800.0
    _, fine = atmospheric_river_regions(ivt2, lat2, lon2, config=ARConfig())
    _, coarse = atmospheric_river_regions(band(45, 100, 150), LAT, LON, config=ARConfig())
    rectangle = EARTH_RADIUS_KM**2 * np.deg2rad(50.5) * (np.sin(np.deg2rad(47.25)) - np.sin(np.deg2rad(42.75)))
    assert fine[0].area_km2 == pytest.approx(rectangle, rel=1e-9)
    assert fine[0].length_km == pytest.approx(coarse[0].length_km, rel=1e-9)  # same corner cells
