"""Event placement: moving the events in time, drawing random ones kept apart, planting them into the fields."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np

from climseg.synth.config import (AR_LAT_BAND_DEG, AR_SEPARATION_KM, AR_TMQ_CAP, EARTH_RADIUS_KM, INFLOW_ANGLE_DEG,
                                  STEP_SECONDS, STEPS_PER_DAY, SURFACE_WIND_FACTOR, TC_SEPARATION_KM, TC_TAPER_KM,
                                  ARSpec, SynthConfig, TCSpec)
from climseg.synth.geometry import great_circle_km, plume_shape, spine_points
from climseg.synth.tracks import tracked_positions_at
from climseg.synth.truth import PlantedTC
from climseg.synth.vortex import (_taper, gale_radius_km, holland_gradient_wind, holland_pressure_deficit,
                                  surface_wind_profile)

def _moved(lat_deg, lon_deg, east_ms, north_ms, seconds):
    lat = lat_deg + math.degrees(north_ms * seconds / (EARTH_RADIUS_KM * 1e3))
    lon = lon_deg + math.degrees(east_ms * seconds / (EARTH_RADIUS_KM * 1e3 * math.cos(math.radians(lat))))
    return lat, lon % 360.0


def tc_at_step(tc: TCSpec, step: int) -> TCSpec:
    """The TC moved to time step ``step``."""
    lat, lon = _moved(tc.lat_deg, tc.lon_deg, tc.east_ms, tc.north_ms, step * STEP_SECONDS)
    return dataclasses.replace(tc, lat_deg=lat, lon_deg=lon)


def ar_at_step(ar: ARSpec, step: int) -> ARSpec:
    """The AR drifted eastward to time step ``step`` (rotated about the Earth's axis)."""
    _, lon = _moved(ar.lat_deg, ar.lon_deg, ar.speed_ms, 0.0, step * STEP_SECONDS)
    return dataclasses.replace(ar, lon_deg=lon)


def _random_tc(rng) -> TCSpec:
    hemisphere = rng.choice([-1.0, 1.0])
    return TCSpec(
        lat_deg=hemisphere * rng.uniform(10.0, 30.0), lon_deg=rng.uniform(0.0, 360.0),
        pressure_drop_pa=rng.uniform(2500.0, 7500.0), holland_b=rng.uniform(1.3, 1.9),
        rmw_km=rng.uniform(30.0, 100.0), east_ms=rng.uniform(-5.0, 2.0), north_ms=hemisphere * rng.uniform(0.5, 3.0),
        warm_core_k=rng.uniform(4.0, 8.0), tmq_anomaly=rng.uniform(12.0, 20.0),
        prect_anomaly=rng.uniform(3e-6, 8e-6))


def _random_ar(rng, *, across_meridian: bool) -> ARSpec:
    hemisphere = rng.choice([-1.0, 1.0])
    bearing = rng.uniform(30.0, 65.0) if hemisphere > 0 else rng.uniform(115.0, 150.0)
    speed = rng.uniform(4.0, 9.0)
    lat = hemisphere * rng.uniform(38.0, 52.0)
    if across_meridian:  # the middle of the spine crosses 0/360 half-way through the day
        _, drift = _moved(lat, 0.0, speed, 0.0, STEPS_PER_DAY / 2 * STEP_SECONDS)
        lon = (rng.uniform(-2.0, 2.0) - drift) % 360.0
    else:
        lon = rng.uniform(0.0, 360.0)
    return ARSpec(lat_deg=lat, lon_deg=lon, bearing_deg=bearing, length_km=rng.uniform(2500.0, 5000.0),
                  width_km=rng.uniform(400.0, 900.0), ivt_peak=rng.uniform(800.0, 1100.0),
                  wind_anomaly_ms=rng.uniform(12.0, 18.0), speed_ms=speed)


def _crosses_meridian(lon_deg) -> bool:
    return bool(np.any(lon_deg > 350.0) and np.any(lon_deg < 10.0))


def _min_distance_km(lat_a, lon_a, lat_b, lon_b) -> float:
    return float(great_circle_km(np.asarray(lat_a)[:, None], np.asarray(lon_a)[:, None],
                                 np.asarray(lat_b)[None, :], np.asarray(lon_b)[None, :]).min())


def plan_events(config: SynthConfig, date: dt.date, *, max_tries: int = 2000):
    """The TCs and ARs of one day (as at its first step): explicit ones, then random ones kept apart.

    Random events also keep apart from the tracked events of ``config`` (planted by :func:`synthesize_day`).

    Raises ValueError when the random events cannot be placed apart from each other.
    """
    rng = np.random.default_rng([config.seed, date.toordinal()])
    tcs, ars = list(config.tcs), list(config.ars)
    steps = range(STEPS_PER_DAY)
    ar_spines = [[spine_points(ar_at_step(ar, k)) for k in steps] for ar in ars]
    tc_tracks = [[(t.lat_deg, t.lon_deg) for t in (tc_at_step(tc, k) for k in steps)] for tc in tcs]
    start = dt.datetime(date.year, date.month, date.day)
    tracked = [tracked_positions_at(config, start + dt.timedelta(seconds=k * STEP_SECONDS)) for k in steps]
    for i in range(config.n_ars):
        for _ in range(max_tries):
            ar = _random_ar(rng, across_meridian=config.ar_across_meridian and i == 0)
            spines = [spine_points(ar_at_step(ar, k)) for k in steps]
            lats = np.concatenate([s[0] for s in spines])
            if not (AR_LAT_BAND_DEG[0] <= np.abs(lats).min() and np.abs(lats).max() <= AR_LAT_BAND_DEG[1]):
                continue
            if config.ar_across_meridian and i == 0 and not all(_crosses_meridian(s[1]) for s in spines):
                continue
            if all(_min_distance_km(*spines[k], *other[k]) >= AR_SEPARATION_KM for other in ar_spines for k in steps) \
                    and all(_min_distance_km(*spines[k], *other) >= AR_SEPARATION_KM
                            for k in steps for other in tracked[k][1]):
                ars.append(ar)
                ar_spines.append(spines)
                break
        else:
            raise ValueError(f"cannot place {config.n_ars} ARs {AR_SEPARATION_KM:.0f} km apart")
    for _ in range(config.n_tcs):
        for _ in range(max_tries):
            tc = _random_tc(rng)
            if not 150.0 <= gale_radius_km(tc, tc.lat_deg) <= 600.0:
                continue
            track = [(t.lat_deg, t.lon_deg) for t in (tc_at_step(tc, k) for k in steps)]
            far_from_tcs = all(great_circle_km(*track[k], *other[k]) >= TC_SEPARATION_KM
                               for other in tc_tracks for k in steps)
            far_from_ars = all(_min_distance_km([track[k][0]], [track[k][1]], *spines[k]) >= TC_SEPARATION_KM
                               for spines in ar_spines for k in steps)
            far_from_tracked = all(great_circle_km(*track[k], *other) >= TC_SEPARATION_KM
                                   for k in steps for other in tracked[k][0]) and \
                all(_min_distance_km([track[k][0]], [track[k][1]], *spines) >= TC_SEPARATION_KM
                    for k in steps for spines in tracked[k][1])
            if far_from_tcs and far_from_ars and far_from_tracked:
                tcs.append(tc)
                tc_tracks.append(track)
                break
        else:
            raise ValueError(f"cannot place {config.n_tcs} TCs {TC_SEPARATION_KM:.0f} km apart from each other "
                             "and from the ARs")
    return tcs, ars


def ar_box(lat_deg, lon_deg, ar: ARSpec) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the grid within two widths of an AR's spine (beyond, its shapes are < 2**-16)."""
    reach_deg = math.degrees(2 * ar.width_km / EARTH_RADIUS_KM)
    lats, lons = spine_points(ar)
    rows = np.nonzero((lat_deg >= lats.min() - reach_deg) & (lat_deg <= lats.max() + reach_deg))[0]
    widest = min(89.0, max(abs(lats.min()), abs(lats.max())) + reach_deg)
    lon_reach = reach_deg / math.cos(math.radians(widest))
    spine_lon = (lons - ar.lon_deg + 180.0) % 360.0 - 180.0  # relative to the middle, continuous across 0/360
    grid_lon = (lon_deg - ar.lon_deg + 180.0) % 360.0 - 180.0
    cols = np.nonzero((grid_lon >= spine_lon.min() - lon_reach) & (grid_lon <= spine_lon.max() + lon_reach))[0]
    return rows, cols


def plant_ar(fields, lat_deg, lon_deg, ar: ARSpec) -> np.ndarray:
    """Add an AR plume to U850, V850, TMQ and PRECT (in place); return its core mask (lat, lon)."""
    rows, cols = ar_box(lat_deg, lon_deg, ar)
    box = np.ix_(rows, cols)
    smooth, shape, east, north = plume_shape(lat_deg[rows], lon_deg[cols], ar)
    u = fields["U850"][box] + ar.wind_anomaly_ms * smooth * east
    v = fields["V850"][box] + ar.wind_anomaly_ms * smooth * north
    fields["U850"][box], fields["V850"][box] = u, v
    speed = np.maximum(np.hypot(u, v), 0.5)
    tmq = fields["TMQ"][box]
    fields["TMQ"][box] = tmq + np.maximum(np.minimum(ar.ivt_peak / speed, AR_TMQ_CAP) - tmq, 0.0) * shape
    fields["PRECT"][box] += 4e-7 * shape
    mask = np.zeros((lat_deg.size, lon_deg.size), dtype=bool)
    mask[box] = shape >= 0.5
    return mask


def plant_tc(fields, lat_deg, lon_deg, tc: TCSpec) -> tuple[np.ndarray, PlantedTC]:
    """Add a TC to PSL, the winds, TMQ, PRECT, T500 and T200 (in place).

    Returns its truth mask (lat, lon) and its truth record (step and id to be filled in).
    """
    radius_km = gale_radius_km(tc, tc.lat_deg)
    r_deg = TC_TAPER_KM[1] / (EARTH_RADIUS_KM * math.pi / 180)
    rows = np.nonzero(np.abs(lat_deg - tc.lat_deg) <= r_deg)[0]
    max_lat = min(89.0, abs(tc.lat_deg) + r_deg)
    lon_reach = min(180.0, r_deg / math.cos(math.radians(max_lat)))
    dlon_all = (lon_deg - tc.lon_deg + 180.0) % 360.0 - 180.0
    cols = np.nonzero(np.abs(dlon_all) <= lon_reach)[0]
    box = np.ix_(rows, cols)
    lat = lat_deg[rows][:, None]
    dlon = dlon_all[cols][None, :]
    r_km = great_circle_km(tc.lat_deg, tc.lon_deg, lat, tc.lon_deg + dlon)
    taper = _taper(r_km)
    wind = holland_gradient_wind(r_km, pressure_drop_pa=tc.pressure_drop_pa, holland_b=tc.holland_b,
                                 rmw_km=tc.rmw_km, lat_deg=tc.lat_deg) * taper
    # local east/north offsets (km) give the tangential and radial directions
    dx = EARTH_RADIUS_KM * np.cos(np.deg2rad(lat)) * np.deg2rad(dlon)
    dy = EARTH_RADIUS_KM * np.deg2rad(lat - tc.lat_deg) * np.ones_like(dlon)
    dist = np.maximum(np.hypot(dx, dy), 1e-6)
    spin = 1.0 if tc.lat_deg >= 0 else -1.0  # counter-clockwise in the north, clockwise in the south
    tan_e, tan_n = -spin * dy / dist, spin * dx / dist
    in_e, in_n = -dx / dist, -dy / dist
    fields["U850"][box] += wind * tan_e
    fields["V850"][box] += wind * tan_n
    alpha = math.radians(INFLOW_ANGLE_DEG)
    surface = SURFACE_WIND_FACTOR * wind
    fields["UBOT"][box] += surface * (math.cos(alpha) * tan_e + math.sin(alpha) * in_e)
    fields["VBOT"][box] += surface * (math.cos(alpha) * tan_n + math.sin(alpha) * in_n)
    fields["PSL"][box] -= holland_pressure_deficit(r_km, pressure_drop_pa=tc.pressure_drop_pa,
                                                   holland_b=tc.holland_b, rmw_km=tc.rmw_km) * taper
    core = 1.0 / (1.0 + (r_km / radius_km) ** 6) * taper
    fields["TMQ"][box] += tc.tmq_anomaly * core
    fields["PRECT"][box] += tc.prect_anomaly * core
    warm = np.exp(-((r_km / max(150.0, 0.6 * radius_km)) ** 2)) * taper
    fields["T200"][box] += tc.warm_core_k * warm
    fields["T500"][box] += 0.6 * tc.warm_core_k * warm
    mask = np.zeros((lat_deg.size, lon_deg.size), dtype=bool)
    mask[box] = r_km <= radius_km
    _, surface_profile = surface_wind_profile(tc, tc.lat_deg)
    record = PlantedTC(step=-1, id=-1, lat_deg=float(tc.lat_deg), lon_deg=float(tc.lon_deg % 360.0), radius_km=radius_km,
                       rmw_km=tc.rmw_km, max_wind_ms=float(surface_profile.max()),
                       pressure_drop_pa=tc.pressure_drop_pa)
    return mask, record
