"""Land-sea mask on the data grid and the regions landfall is counted in.

The mask comes from the input's ``LANDFRAC`` (land fraction, land where >= 0.5) when the raw file has it, else
from the PyPI package ``global-land-mask`` (GLOBE 1 km land/water data shipped inside the package: nothing is
downloaded at run time), sampled at the cell centres.

A :class:`Region` is a latitude-longitude box (longitudes in degrees east, the box may cross 0/360:
``lon_min > lon_max``). Landfall in a region: an object covers at least one land cell inside the box. The region
``global`` (all land) is always counted. ``DEFAULT_REGIONS``: the US West Coast box of the AR landfall studies
(32..50 N, 130..115 W), Western Europe (36..60 N, 15 W..15 E) and Chile (45..30 S, 80..68 W).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

LANDFRAC_THRESHOLD = 0.5


@dataclasses.dataclass(frozen=True)
class Region:
    """A latitude-longitude box, degrees; ``lon_min > lon_max`` crosses the 0/360 meridian."""

    name: str
    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float

    @classmethod
    def parse(cls, text: str) -> "Region":
        """``NAME:LAT_MIN:LAT_MAX:LON_MIN:LON_MAX`` (degrees north, degrees east in 0..360 or -180..180)."""
        parts = text.split(":")
        try:
            name, *numbers = parts
            lat_min, lat_max, lon_min, lon_max = (float(v) for v in numbers)
        except ValueError:
            raise ValueError(f"region {text!r}: expected NAME:LAT_MIN:LAT_MAX:LON_MIN:LON_MAX") from None
        if not name or name == "global" or not -90 <= lat_min < lat_max <= 90:
            raise ValueError(f"region {text!r}: needs a name other than 'global' and -90 <= LAT_MIN < LAT_MAX <= 90")
        return cls(name, lat_min, lat_max, lon_min % 360.0, lon_max % 360.0)

    def mask(self, lat_deg, lon_deg) -> np.ndarray:
        """bool (lat, lon): cell centres inside the box."""
        lat = np.asarray(lat_deg, dtype=float)[:, None]
        lon = np.asarray(lon_deg, dtype=float)[None, :] % 360.0
        inside_lat = (lat >= self.lat_min) & (lat <= self.lat_max)
        if self.lon_min <= self.lon_max:
            inside_lon = (lon >= self.lon_min) & (lon <= self.lon_max)
        else:
            inside_lon = (lon >= self.lon_min) | (lon <= self.lon_max)
        return inside_lat & inside_lon

    def spec(self) -> str:
        return f"{self.name}:{self.lat_min:g}:{self.lat_max:g}:{self.lon_min:g}:{self.lon_max:g}"


DEFAULT_REGIONS = (Region("us_west_coast", 32.0, 50.0, 230.0, 245.0),
                   Region("western_europe", 36.0, 60.0, 345.0, 15.0),
                   Region("chile", -45.0, -30.0, 280.0, 292.0))


def land_mask(lat_deg, lon_deg) -> np.ndarray:
    """bool (lat, lon): land at the cell centres, from the ``global-land-mask`` package (no download)."""
    return _land_mask(tuple(np.asarray(lat_deg, float)), tuple(np.asarray(lon_deg, float)))


@functools.lru_cache(maxsize=8)
def _land_mask(lat_deg: tuple, lon_deg: tuple) -> np.ndarray:
    from global_land_mask import globe

    lat = np.clip(np.asarray(lat_deg), -90.0, 90.0)
    lon = (np.asarray(lon_deg) + 180.0) % 360.0 - 180.0  # the package wants -180..180
    lat2d, lon2d = np.broadcast_arrays(lat[:, None], lon[None, :])
    mask = globe.is_land(np.ascontiguousarray(lat2d), np.ascontiguousarray(lon2d))
    mask.setflags(write=False)
    return mask


def land_from_landfrac(landfrac) -> np.ndarray:
    """bool (lat, lon): land where the land fraction is at least 0.5 (NaN is sea)."""
    return np.nan_to_num(np.asarray(landfrac, dtype=float)) >= LANDFRAC_THRESHOLD


def region_land_masks(land, lat_deg, lon_deg, regions=DEFAULT_REGIONS) -> dict[str, np.ndarray]:
    """``{"global": land, name: land inside the region's box, ...}``, bool (lat, lon) each."""
    masks = {"global": np.asarray(land, dtype=bool)}
    for region in regions:
        masks[region.name] = masks["global"] & region.mask(lat_deg, lon_deg)
    return masks
