"""events.landmask: land on the data grid (bundled global-land-mask or LANDFRAC) and landfall regions."""

import numpy as np
import pytest

from events.landmask import DEFAULT_REGIONS, Region, land_from_landfrac, land_mask, region_land_masks


def test_land_at_known_places_on_any_longitude_convention():
    lat = np.array([-33.9, 37.8, 40.0, 48.9])
    lon = np.array([2.35, 238.0, 200.0, 345.0])  # Paris lon, San Francisco Bay, mid-Pacific, Atlantic off France
    mask = land_mask(lat, lon)
    assert mask[1, 1] and not mask[2, 2] and not mask[3, 3] and mask[3, 0]  # SF land; ocean; ocean; Paris
    assert (land_mask(lat, (lon + 180) % 360 - 180) == mask).all()


def test_region_boxes_cross_the_meridian_and_parse():
    europe = Region.parse("europe:36:60:-15:15")
    assert (europe.lon_min, europe.lon_max) == (345.0, 15.0)
    lat = np.array([30.0, 50.0])
    lon = np.array([0.0, 10.0, 20.0, 350.0])
    assert europe.mask(lat, lon).tolist() == [[False] * 4, [True, True, False, True]]
    for bad in ("x:1:2", "global:0:10:0:10", "y:10:0:0:10", "z:a:b:c:d"):
        with pytest.raises(ValueError, match="region"):
            Region.parse(bad)


def test_region_land_masks_and_landfrac():
    lat = np.linspace(-90, 90, 91)
    lon = np.arange(180) * 2.0
    masks = region_land_masks(land_mask(lat, lon), lat, lon, DEFAULT_REGIONS)
    assert list(masks) == ["global", "us_west_coast", "western_europe", "chile"]
    assert all(masks[name].any() and not (masks[name] & ~masks["global"]).any() for name in masks)
    assert 0.25 < masks["global"].mean() < 0.4
    assert land_from_landfrac(np.array([0.2, 0.5, np.nan, 1.0])).tolist() == [False, True, False, True]
