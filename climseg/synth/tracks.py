"""Events that live over several days along known tracks: TCs in every basin and landfalling ARs.

:func:`plan_tracked_events` draws, for a run of days, ``per_basin`` TCs in each of the six TC basins (North
Atlantic, East Pacific, West Pacific, North Indian, South Indian, South Pacific) plus one that crosses the 0/360
meridian (South Atlantic, moving west), and ``per_region`` ARs in each of three landfall regions (US West Coast,
Western Europe: across 0/360, Chile). Each lives 2.5 to 4.5 days (a whole number of 3-hour steps), starts on a
time step, moves at a constant speed (TCs west and poleward; ARs east, onto the coast) and keeps its strength.
TCs stay ``TC_SEPARATION_KM`` from each other and from AR spines, ARs ``AR_SEPARATION_KM`` from each other,
at every common time step. Deterministic for (seed, first day, number of days). The land itself is not
simulated (an aquaplanet): landfall is where a real land-sea mask (``events.landmask``) says it is.

Truth beside the model output (written by ``climseg synth --tracks``, :func:`write_truth_tracks`):

- ``<case>.truth.tracks.csv``: every tracked TC at every time step in the StitchNodes CSV layout of
  ``events.tracks`` (``track_id, year, month, day, hour, i, j, lon, lat, psl, wind, area_km2``; ``i``, ``j`` the
  nearest grid cell, ``psl`` the central pressure ``101325 - pressure_drop`` (Pa, without the background),
  ``wind`` the vortex's maximum surface wind (m s-1), ``area_km2`` the area within the gale radius).
- ``<case>.truth.ars.csv``: every tracked AR at every time step: ``track_id, time, lat, lon, bearing_deg,
  length_km, width_km, ivt_peak, region`` (the middle of its spine).
- in each day's ``.truth.h5``: ``track_id`` in the ``tc`` and ``ar`` tables and the ``ar_track_id`` map.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np

from climseg.synth.config import (AR_SEPARATION_KM, EARTH_RADIUS_KM, STEP_SECONDS, TC_SEPARATION_KM, ARSpec,
                                  TCSpec, TrackedAR, TrackedTC)
from climseg.synth.geometry import great_circle_km, spine_points
from climseg.synth.vortex import gale_radius_km, surface_wind_profile

TC_BASINS = {
    # name: (latitude range, longitude range of genesis, eastward and northward speed ranges in m s-1)
    "north_atlantic": ((12.0, 18.0), (300.0, 330.0), (-6.0, -3.0), (1.0, 2.5)),
    "east_pacific": ((11.0, 16.0), (230.0, 258.0), (-6.0, -3.0), (0.5, 1.5)),
    "west_pacific": ((10.0, 18.0), (135.0, 160.0), (-6.0, -3.0), (1.0, 3.0)),
    "north_indian": ((8.0, 16.0), (62.0, 92.0), (-2.0, -1.0), (1.0, 2.5)),  # Arabian Sea and Bay of Bengal
    "south_indian": ((-18.0, -11.0), (60.0, 95.0), (-6.0, -3.0), (-2.5, -1.0)),
    "south_pacific": ((-18.0, -12.0), (160.0, 200.0), (-4.0, -1.0), (-2.5, -1.0)),
}
MERIDIAN_BASIN = ("south_atlantic", ((-18.0, -14.0), (4.0, 6.0), (-6.0, -5.0), (-1.0, -0.5)))
"""One TC that moves west across the 0/360 meridian (about 15 degrees of longitude in 3 days)."""
AR_REGIONS = {
    # name: (latitude and longitude ranges of the spine's middle at the start, bearing range, drift range m s-1)
    "us_west_coast": ((36.0, 44.0), (212.0, 222.0), (45.0, 60.0), (5.0, 8.0)),
    "western_europe": ((44.0, 50.0), (330.0, 340.0), (45.0, 60.0), (5.0, 8.0)),
    "chile": ((-44.0, -36.0), (265.0, 272.0), (120.0, 135.0), (5.0, 8.0)),
}
LIFETIME_HOURS = (60.0, 108.0)


def model_hours(start: dt.datetime, end: dt.datetime) -> float:
    """Hours from ``start`` to ``end`` on CAM5's noleap calendar (29 February does not exist)."""
    hours = (end - start).total_seconds() / 3600.0
    leap_days = sum(1 for year in range(start.year, end.year + 1)
                    if _is_leap(year) and start < dt.datetime(year, 2, 29) < end)
    return hours - 24.0 * leap_days


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _moved(lat_deg, lon_deg, east_ms, north_ms, seconds):
    lat = lat_deg + math.degrees(north_ms * seconds / (EARTH_RADIUS_KM * 1e3))
    lon = lon_deg + math.degrees(east_ms * seconds / (EARTH_RADIUS_KM * 1e3 * math.cos(math.radians(lat))))
    return lat, lon % 360.0


def active(start: dt.datetime, hours: float, time: dt.datetime) -> bool:
    """Whether an event from ``start`` lasting ``hours`` exists at ``time`` (both ends included)."""
    elapsed = model_hours(start, time) if time >= start else -1.0
    return -1e-6 <= elapsed <= hours + 1e-6


def tracked_tc_at(tc: TrackedTC, time: dt.datetime) -> TCSpec:
    """The tracked TC's spec at ``time`` (moved from its genesis position)."""
    seconds = model_hours(tc.genesis, time) * 3600.0
    lat, lon = _moved(tc.spec.lat_deg, tc.spec.lon_deg, tc.spec.east_ms, tc.spec.north_ms, seconds)
    return dataclasses.replace(tc.spec, lat_deg=lat, lon_deg=lon)


def tracked_ar_at(ar: TrackedAR, time: dt.datetime) -> ARSpec:
    """The tracked AR's spec at ``time`` (drifted east from its start)."""
    seconds = model_hours(ar.start, time) * 3600.0
    _, lon = _moved(ar.spec.lat_deg, ar.spec.lon_deg, ar.spec.speed_ms, 0.0, seconds)
    return dataclasses.replace(ar.spec, lon_deg=lon)


def run_times(start: dt.date, days: int) -> list[dt.datetime]:
    """Every 3-hour time step of ``days`` consecutive model days from ``start`` (29 February skipped)."""
    from climseg.synth.cli import model_days
    from climseg.synth.day import day_times

    return [t for day in model_days(start, days) for t in day_times(day)]


def _draw_tc(rng, basin, times) -> tuple[dt.datetime, float, TCSpec] | None:
    (lat0, lat1), (lon0, lon1), (e0, e1), (n0, n1) = basin
    steps = len(times)
    step_hours = STEP_SECONDS / 3600.0
    longest = (steps - 1) * step_hours
    low, high = LIFETIME_HOURS
    if longest < low:
        hours = longest
    else:
        hours = step_hours * round(rng.uniform(low, min(high, longest)) / step_hours)
    first = int(rng.integers(0, steps - int(round(hours / step_hours))))
    spec = TCSpec(lat_deg=rng.uniform(lat0, lat1), lon_deg=rng.uniform(lon0, lon1) % 360.0,
                  pressure_drop_pa=rng.uniform(4000.0, 7000.0), holland_b=rng.uniform(1.4, 1.8),
                  rmw_km=rng.uniform(40.0, 80.0), east_ms=rng.uniform(e0, e1), north_ms=rng.uniform(n0, n1),
                  warm_core_k=rng.uniform(5.0, 8.0), tmq_anomaly=rng.uniform(14.0, 20.0),
                  prect_anomaly=rng.uniform(4e-6, 8e-6))
    if not 200.0 <= gale_radius_km(spec, spec.lat_deg) <= 500.0:
        return None
    return times[first], hours, spec


def _draw_ar(rng, region, times) -> tuple[dt.datetime, float, ARSpec]:
    (lat0, lat1), (lon0, lon1), (b0, b1), (s0, s1) = region
    steps = len(times)
    step_hours = STEP_SECONDS / 3600.0
    longest = (steps - 1) * step_hours
    hours = longest if longest < LIFETIME_HOURS[0] else \
        step_hours * round(rng.uniform(LIFETIME_HOURS[0], min(LIFETIME_HOURS[1], longest)) / step_hours)
    first = int(rng.integers(0, steps - int(round(hours / step_hours))))
    spec = ARSpec(lat_deg=rng.uniform(lat0, lat1), lon_deg=rng.uniform(lon0, lon1) % 360.0,
                  bearing_deg=rng.uniform(b0, b1), length_km=rng.uniform(2500.0, 3500.0),
                  width_km=rng.uniform(500.0, 700.0), ivt_peak=rng.uniform(850.0, 1100.0),
                  wind_anomaly_ms=rng.uniform(13.0, 18.0), speed_ms=rng.uniform(s0, s1))
    return times[first], hours, spec


def _positions(times, start, hours, where):
    return {k: where(t) for k, t in enumerate(times) if active(start, hours, t)}


def plan_tracked_events(seed: int, start: dt.date, days: int, *, per_basin: int = 2, per_region: int = 1,
                        max_tries: int = 2000) -> tuple[tuple[TrackedTC, ...], tuple[TrackedAR, ...]]:
    """TCs along tracks in every basin (+ one across 0/360) and landfalling ARs for a run of days.

    Raises ValueError when the events cannot be placed apart (too many per basin for the run).
    """
    if days < 1 or per_basin < 0 or per_region < 0:
        raise ValueError("days must be >= 1 and the numbers of events >= 0")
    times = run_times(start, days)
    rng = np.random.default_rng([seed, start.toordinal(), days, 13])
    ars, ar_spines = [], []
    for region_name, region in AR_REGIONS.items():
        for _ in range(per_region):
            for _ in range(max_tries):
                first, hours, spec = _draw_ar(rng, region, times)
                candidate = TrackedAR(len(ars), first, hours, spec, region_name)
                spines = _positions(times, first, hours, lambda t: spine_points(tracked_ar_at(candidate, t)))
                if all(_apart(spines, other, AR_SEPARATION_KM) for other in ar_spines):
                    ars.append(candidate)
                    ar_spines.append(spines)
                    break
            else:
                raise ValueError(f"cannot place {per_region} tracked ARs {AR_SEPARATION_KM:.0f} km apart in "
                                 f"{region_name} in {days} day(s)")
    tcs, tc_points = [], []
    basins = [(name, basin, per_basin) for name, basin in TC_BASINS.items()] + [(*MERIDIAN_BASIN, 1)]
    for basin_name, basin, count in basins:
        for _ in range(count):
            for _ in range(max_tries):
                drawn = _draw_tc(rng, basin, times)
                if drawn is None:
                    continue
                first, hours, spec = drawn
                candidate = TrackedTC(len(tcs), first, hours, spec, basin_name)
                points = _positions(times, first, hours, lambda t: _as_points(tracked_tc_at(candidate, t)))
                if all(_apart(points, other, TC_SEPARATION_KM) for other in tc_points) and \
                        all(_apart(points, spines, TC_SEPARATION_KM) for spines in ar_spines):
                    tcs.append(candidate)
                    tc_points.append(points)
                    break
            else:
                raise ValueError(f"cannot place {count} tracked TCs {TC_SEPARATION_KM:.0f} km apart in "
                                 f"{basin_name} in {days} day(s)")
    return tuple(tcs), tuple(ars)


def _as_points(tc: TCSpec):
    return np.array([tc.lat_deg]), np.array([tc.lon_deg])


def _apart(a: dict, b: dict, distance_km: float) -> bool:
    """Whether two events (step -> (lats, lons)) stay ``distance_km`` apart at every common step."""
    for k in a.keys() & b.keys():
        (lat_a, lon_a), (lat_b, lon_b) = a[k], b[k]
        if great_circle_km(lat_a[:, None], lon_a[:, None], lat_b[None, :], lon_b[None, :]).min() < distance_km:
            return False
    return True


def tracked_positions_at(config, time: dt.datetime):
    """Positions of the tracked events at ``time``: TC centres (lat, lon) and AR spines, for keeping others apart."""
    tcs = [(t.lat_deg, t.lon_deg) for t in (tracked_tc_at(tc, time) for tc in config.tracked_tcs
                                             if active(tc.genesis, tc.hours, time))]
    spines = [spine_points(tracked_ar_at(ar, time)) for ar in config.tracked_ars if active(ar.start, ar.hours, time)]
    return tcs, spines


def write_truth_tracks(out_dir, case: str, tcs, ars, times, lat_deg, lon_deg) -> tuple:
    """Write ``<case>.truth.tracks.csv`` and ``<case>.truth.ars.csv`` (module notes) into ``out_dir``."""
    from pathlib import Path

    from climseg.atomic import atomic_output

    out_dir = Path(out_dir)
    tracks_path = out_dir / f"{case}.truth.tracks.csv"
    ars_path = out_dir / f"{case}.truth.ars.csv"
    with atomic_output(tracks_path) as tmp, open(tmp, "w") as out:
        out.write("track_id, year, month, day, hour, i, j, lon, lat, psl, wind, area_km2\n")
        for tc in tcs:
            for t in times:
                if not active(tc.genesis, tc.hours, t):
                    continue
                spec = tracked_tc_at(tc, t)
                j = int(np.argmin(np.abs(lat_deg - spec.lat_deg)))
                i = int(np.argmin(np.abs((lon_deg - spec.lon_deg + 180.0) % 360.0 - 180.0)))
                radius = gale_radius_km(spec, spec.lat_deg)
                _, wind = surface_wind_profile(spec, spec.lat_deg)
                area = 2 * math.pi * EARTH_RADIUS_KM**2 * (1 - math.cos(radius / EARTH_RADIUS_KM))
                out.write(f"{tc.track_id}, {t.year}, {t.month}, {t.day}, {t.hour}, {i}, {j}, {spec.lon_deg:.6f}, "
                          f"{spec.lat_deg:.6f}, {101325.0 - spec.pressure_drop_pa:.2f}, {wind.max():.3f}, "
                          f"{area:.1f}\n")
    with atomic_output(ars_path) as tmp, open(tmp, "w") as out:
        out.write("track_id,time,lat,lon,bearing_deg,length_km,width_km,ivt_peak,region\n")
        for ar in ars:
            for t in times:
                if active(ar.start, ar.hours, t):
                    spec = tracked_ar_at(ar, t)
                    out.write(f"{ar.track_id},{t.isoformat()},{spec.lat_deg:.6f},{spec.lon_deg:.6f},"
                              f"{spec.bearing_deg:.4f},{spec.length_km:.1f},{spec.width_km:.1f},{spec.ivt_peak:.1f},"
                              f"{ar.region}\n")
    return tracks_path, ars_path
