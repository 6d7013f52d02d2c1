"""Atmospheric rivers: long, narrow plumes of high integrated vapour transport.

Recipe (Kurth et al. 2018 and the TECA AR detector it builds on, with the geometric criteria of
Guan & Waliser 2015):

1. damp the tropics: IVT * (1 - exp(-lat^2 / (2 sigma^2))), where the global IVT percentile is
   dominated by the moist trade winds and the ITCZ;
2. mark cells at or above the 95th percentile of the damped IVT of the time step (and above an
   optional physical floor, e.g. 250 kg m-1 s-1);
3. remove cells the caller excludes (tropical-cyclone cores, which carry the highest IVT on Earth
   and are round, not rivers);
4. 8-connected regions, periodic in longitude (a river crossing 0/360 is one river);
5. keep regions that are long (largest great-circle distance between two cells), narrow
   (length / width with width = area / length), large enough (area on the sphere) and whose
   area-weighted centroid lies in the mid-latitude band.

A round TC core cannot pass step 5 either: a disc has length / width = 4 / pi = 1.27.
"""

from typing import NamedTuple

import numpy as np
from scipy import ndimage

from labeling.config import ARConfig
from labeling.grid import EARTH_RADIUS_KM, cell_area_km2, check_grid, is_periodic, label_regions


class RiverRegion(NamedTuple):
    """Geometry of one candidate region (see :func:`atmospheric_river_regions`)."""

    label: int
    area_km2: float
    length_km: float
    width_km: float
    centroid_lat_deg: float
    accepted: bool
    reason: str
    """Why it was rejected ('' when accepted): 'area', 'latitude', 'length' or 'length/width'."""


def tropical_damping(lat_deg, sigma_deg: float):
    """Factor (lat,) ``1 - exp(-lat^2 / (2 sigma^2))``: 0 at the equator, ~1 poleward of 2-3 sigma (1 if sigma is 0)."""
    lat = np.asarray(lat_deg, dtype=np.float64)
    if sigma_deg <= 0:
        return np.ones_like(lat)
    return 1.0 - np.exp(-(lat**2) / (2.0 * sigma_deg**2))


def ivt_threshold(ivt, lat_deg, *, config: ARConfig) -> float:
    """IVT threshold (kg m-1 s-1) of a time step: the configured percentile of the damped field, floored.

    NaN cells are ignored; the result is NaN when every cell is NaN.
    """
    damped = np.asarray(ivt, dtype=np.float64) * tropical_damping(lat_deg, config.tropical_damping_sigma_deg)[:, None]
    return _threshold_of_damped(damped, config)


def _threshold_of_damped(damped, config: ARConfig) -> float:
    finite = damped[np.isfinite(damped)]
    if finite.size == 0:
        return float("nan")
    return max(float(np.percentile(finite, config.percentile)), config.min_ivt_kg_m_s)


def atmospheric_river_regions(ivt, lat_deg, lon_deg, *, config: ARConfig, exclude=None, threshold=None):
    """Candidate regions of high IVT with their geometry and the verdict of each filter.

    Parameters
    ----------
    ivt : ndarray (lat, lon), kg m-1 s-1, IVT magnitude (NaN = missing, never an event)
    lat_deg, lon_deg : ndarray (lat,), (lon,), degrees, ascending
    config : ARConfig
    exclude : ndarray (lat, lon) bool, optional
        Cells that cannot belong to an AR (e.g. tropical-cyclone cores).
    threshold : float, optional
        The damped-IVT threshold (kg m-1 s-1) when the caller has computed it with :func:`ivt_threshold`
        (to record it); None computes it here.

    Returns
    -------
    labels : ndarray (lat, lon) int32, candidate regions 1..n (0 elsewhere)
    regions : list of RiverRegion, one per label
    """
    lat, lon = check_grid(lat_deg, lon_deg)
    ivt = np.asarray(ivt, dtype=np.float64)
    if ivt.shape != (lat.size, lon.size):
        raise ValueError(f"IVT shape {ivt.shape} does not match the grid ({lat.size}, {lon.size})")
    damped = ivt * tropical_damping(lat, config.tropical_damping_sigma_deg)[:, None]
    if threshold is None:
        threshold = _threshold_of_damped(damped, config)
    if not np.isfinite(threshold):
        return np.zeros(ivt.shape, np.int32), []
    with np.errstate(invalid="ignore"):
        candidate = damped >= threshold  # NaN compares False
    if exclude is not None:
        candidate &= ~np.asarray(exclude, dtype=bool)
    labels, n = label_regions(candidate, periodic=is_periodic(lon))
    if n == 0:
        return labels, []
    if config.core_fraction > 0:
        # Each plume's core: where its IVT excess over the threshold is at least core_fraction of its peak excess.
        peak = np.zeros(n + 1)
        peak[1:] = ndimage.maximum(damped, labels, np.arange(1, n + 1))
        cut = threshold + config.core_fraction * (peak - threshold)
        candidate &= damped >= cut[labels]
        labels, n = label_regions(candidate, periodic=is_periodic(lon))

    # Per-region sums over the candidate cells only (a few per cent of the grid).
    c_rows, c_cols = np.nonzero(labels)
    c_labels = labels[c_rows, c_cols]
    row_area = cell_area_km2(lat, lon)[:, 0]
    region_area = np.bincount(c_labels, weights=row_area[c_rows], minlength=n + 1)
    lat_area = np.bincount(c_labels, weights=(row_area * lat)[c_rows], minlength=n + 1)
    centroid_lat = lat_area / np.maximum(region_area, 1e-300)

    # Boundary cells, grouped by region: the longest chord of a region joins two of them.
    boundary = candidate & ~ndimage.binary_erosion(candidate, structure=np.ones((3, 3), bool))
    b_rows, b_cols = np.nonzero(boundary)
    b_labels = labels[b_rows, b_cols]
    order = np.argsort(b_labels, kind="stable")
    starts = np.searchsorted(b_labels[order], np.arange(1, n + 2))

    regions = []
    for k in range(1, n + 1):
        a = float(region_area[k])
        c = float(centroid_lat[k])
        length = width = float("nan")
        reason = ""
        if a < config.min_area_km2:
            reason = "area"
        elif not config.min_abs_centroid_lat_deg <= abs(c) <= config.max_abs_centroid_lat_deg:
            reason = "latitude"
        else:
            members = order[starts[k - 1]:starts[k]]
            length = _longest_chord_km(lat[b_rows[members]], lon[b_cols[members]])
            width = a / length if length > 0 else float("inf")
            if length < config.min_length_km:
                reason = "length"
            elif length < config.min_length_width_ratio * width:
                reason = "length/width"
        regions.append(RiverRegion(k, a, length, width, c, reason == "", reason))
    return labels, regions


def atmospheric_river_mask(ivt, lat_deg, lon_deg, *, config: ARConfig, exclude=None, threshold=None):
    """Boolean (lat, lon) mask of atmospheric rivers (see the module docstring for the recipe).

    Parameters
    ----------
    ivt : ndarray (lat, lon), kg m-1 s-1, IVT magnitude (NaN = missing, never an event)
    lat_deg, lon_deg : ndarray (lat,), (lon,), degrees, latitude and longitude ascending
    config : ARConfig
    exclude : ndarray (lat, lon) bool, optional, cells that cannot be AR (TC cores)
    threshold : float, optional, kg m-1 s-1, see :func:`atmospheric_river_regions`

    Returns
    -------
    mask : ndarray (lat, lon) bool
    """
    labels, regions = atmospheric_river_regions(ivt, lat_deg, lon_deg, config=config, exclude=exclude,
                                                threshold=threshold)
    keep = np.zeros(len(regions) + 1, dtype=bool)
    for region in regions:
        keep[region.label] = region.accepted
    return keep[labels]


_COARSE_CHORD_POINTS = 400


def _longest_chord_km(lat_deg, lon_deg) -> float:
    """Largest great-circle distance (km) between two of the points.

    Exact for up to 400 points; for more, the best pair among 400 evenly picked points is refined by
    two sweeps over all points (farthest from one end, then farthest from that), which for the long
    shapes of interest finds the true diameter or one within a cell of it.
    """
    if lat_deg.size < 2:
        return 0.0
    phi, lam = np.deg2rad(lat_deg), np.deg2rad(lon_deg)
    xyz = np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=1)
    step = max(1, int(np.ceil(len(xyz) / _COARSE_CHORD_POINTS)))
    coarse = xyz[::step]
    cosines = coarse @ coarse.T
    a, b = np.unravel_index(np.argmin(cosines), cosines.shape)
    smallest = cosines[a, b]
    if step > 1:
        end = coarse[a]
        for _ in range(2):
            sweep = xyz @ end
            far = int(np.argmin(sweep))
            smallest = min(smallest, sweep[far])
            end = xyz[far]
    return float(EARTH_RADIUS_KM * np.arccos(np.clip(smallest, -1.0, 1.0)))
