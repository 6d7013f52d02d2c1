"""Climatology of TCs and ARs, streamed over time as partial sums that merge exactly.

One pass over the time steps of some mask files (:class:`Accumulator`, one step in memory) gives a
:class:`Partial`: per grid cell the number of time steps with an AR and with a TC, the TC objects of every step
(the track candidates: a few numbers each), the per-step records of the AR objects followed within these files,
and the AR object ids of the first and the last step. Partials of different files or years (independent jobs)
:func:`merge` into exactly what one pass over all of them gives: counts add up; the TC tracker runs over all
candidates in time order, so tracks crossing a file boundary are one track; AR objects of adjacent files are
joined by the same overlap rule at the boundary (:mod:`events.ar_tracks`) and renumbered in order of first
appearance. The per-file partial is what a decade on a cluster needs: no grid of more than one step is ever held.

Definitions
-----------
- AR (TC) frequency of a cell: time steps with an AR (TC) over the cell / all time steps.
- TC track density of a box (``box_deg`` squares, default 5 degrees): tracks with at least one point in the box
  over the whole period; genesis density: first points of tracks in the box. ``years`` is a global attribute.
- Per year and per month (of a TC track's genesis, of an AR object's first step): tracks by Saffir-Simpson
  category, ACE, AR objects, AR days (days with an AR covering land of the region at one or more steps, counted in
  the day's month), landfalls (AR objects / TC tracks that cover land of the region at some step).
- Land: the input's ``LANDFRAC`` when present, else ``global-land-mask`` (:mod:`events.landmask`).

Climatology file ``climatology.nc`` (CF-1.8, :func:`write_climatology`)
-----------------------------------------------------------------------
Coordinates ``lat``, ``lon`` (data grid, canonical: latitude ascending, longitude 0..360) and ``box_lat``,
``box_lon`` (box centres, degrees); variables ``ar_frequency``, ``tc_frequency`` (lat, lon) float32 units 1,
``ar_steps``, ``tc_steps`` (lat, lon) int32 (counts), ``land`` (lat, lon) int8 (1 land, 0 sea: the mask used),
``tc_track_density``, ``tc_genesis_density`` (box_lat, box_lon) int32; global attributes ``time_steps``,
``first_time``, ``last_time``, ``years`` (time steps x step / 365 days), ``regions`` (``NAME:LAT0:LAT1:LON0:LON1``
...), ``land_source``, ``tracking`` (JSON of the tracker settings).

Tables (CSV, ``,``): ``climatology_yearly.csv`` (``year``) and ``climatology_monthly.csv`` (``year, month``), then
``time_steps``, ``tc_tracks``, ``tc_TD``, ``tc_TS``, ``tc_cat1`` .. ``tc_cat5``, ``tc_unknown`` (wind unknown),
``ace``, ``ar_objects``, then per region R (``global`` first): ``ar_days_R``, ``ar_landfalls_R``,
``tc_landfalls_R``. Beside them ``tracks.csv`` (StitchNodes layout, :mod:`events.tracks`), ``track_table.csv``
and ``ar_objects.csv`` (:mod:`events.ar_tracks`).

Partial sums file (``climseg climatology --partial``, :func:`write_partial` / :func:`read_partial`)
---------------------------------------------------------------------------------------------------
netCDF-4: dims ``lat``, ``lon`` (canonical), ``step``, ``candidate``, ``ar_record``; ``ar_steps``, ``tc_steps``,
``first_ids``, ``last_ids`` (lat, lon) int32; ``land`` (lat, lon) int8; ``step_time`` (step) ISO strings;
``candidate_<column>`` (candidate) for the TC objects (``time`` ISO string, ``lat``, ``lon``, ``i``, ``j``,
``psl``, ``wind``, ``area_km2``, ``land_<region>``); ``ar_<column>`` (ar_record) for the AR records
(``object_id`` file-local, ``time``, ``area_km2``, ``lat``, ``lon``, ``length_km``, ``width_km``,
``ivt_mean_kg_m_s``, ``ivt_max_kg_m_s``, ``transport_kg_s``, ``water_kg``, ``land_<region>``); global
attributes ``climseg_partial_version = 1``, ``settings`` (JSON), ``land_source``, ``sources`` (the mask files), ``calendar`` (of the time stamps).
"""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pandas as pd

from events.ar_tracks import RECORD_COLUMNS, ARTracker, ar_object_table, land_flags, match_by_overlap
from events.landmask import DEFAULT_REGIONS, Region, land_from_landfrac, land_mask, region_land_masks
from events.objects import find_objects
from events.tracks import CATEGORIES, TrackConfig, Tracker, candidate_columns, track_table

TC, AR = 1, 2
PARTIAL_VERSION = 1
CANDIDATE_COLUMNS = ("time", "lat", "lon", "i", "j", "psl", "wind", "area_km2")


@dataclasses.dataclass(frozen=True)
class ClimatologySettings:
    """What the statistics are made of (every setting in physical units)."""

    tracking: TrackConfig = TrackConfig()
    regions: tuple[Region, ...] = DEFAULT_REGIONS
    box_deg: float = 5.0
    """Side of the boxes of the TC track and genesis densities, degrees."""
    tc_min_area_km2: float = 0.0
    """TC regions smaller than this are not candidates."""
    ar_min_area_km2: float = 0.0
    """AR regions smaller than this are not AR objects (their cells still count in the AR frequency)."""

    def to_json(self) -> str:
        return json.dumps({"tracking": dataclasses.asdict(self.tracking),
                           "regions": [r.spec() for r in self.regions], "box_deg": self.box_deg,
                           "tc_min_area_km2": self.tc_min_area_km2, "ar_min_area_km2": self.ar_min_area_km2})

    @classmethod
    def from_json(cls, text: str) -> "ClimatologySettings":
        d = json.loads(text)
        return cls(tracking=TrackConfig(**d["tracking"]), regions=tuple(Region.parse(s) for s in d["regions"]),
                   box_deg=d["box_deg"], tc_min_area_km2=d["tc_min_area_km2"], ar_min_area_km2=d["ar_min_area_km2"])

    @property
    def region_names(self) -> list[str]:
        return ["global"] + [r.name for r in self.regions]


@dataclasses.dataclass(eq=False)
class Partial:
    """Partial sums of some consecutive time steps (module notes)."""

    lat_deg: np.ndarray
    lon_deg: np.ndarray
    times: list
    ar_steps: np.ndarray
    tc_steps: np.ndarray
    land: np.ndarray
    candidates: pd.DataFrame
    ar_records: pd.DataFrame
    first_ids: np.ndarray
    last_ids: np.ndarray
    settings: ClimatologySettings
    land_source: str
    sources: list


class Accumulator:
    """Stream time steps (``add``) into a :class:`Partial` (``partial()``); one step is in memory at a time."""

    def __init__(self, settings: ClimatologySettings = ClimatologySettings()):
        self.settings = settings
        self.grid = None
        self.times = []
        self.ar_steps = self.tc_steps = self.land = self.regions = None
        self.land_source = ""
        self.candidates, self.records = [], []
        self.tracker = ARTracker()
        self.first_ids = self.last_ids = None
        self.sources = []
        self._step_hours = None

    def _start(self, grid, step, source) -> None:
        self.grid = grid
        shape = grid.area_km2.shape
        self.ar_steps = np.zeros(shape, np.int32)
        self.tc_steps = np.zeros(shape, np.int32)
        if "LANDFRAC" in step.fields:
            self.land, self.land_source = land_from_landfrac(step.fields["LANDFRAC"]), f"LANDFRAC of {source}"
        else:
            self.land, self.land_source = land_mask(grid.lat_deg, grid.lon_deg), "global-land-mask 1.0.0"
        self.regions = region_land_masks(self.land, grid.lat_deg, grid.lon_deg, self.settings.regions)

    def add(self, grid, step, *, source: str = "") -> np.ndarray:
        """Add one time step (``events.reading.Step`` on ``grid``); return its AR object ids (lat, lon) int32."""
        if self.grid is None:
            self._start(grid, step, source)
        elif not grid.same_as(self.grid):
            raise ValueError(f"{source}: grid {grid.lat_deg.size} x {grid.lon_deg.size} differs from the first file's")
        if source and (not self.sources or self.sources[-1] != source):
            self.sources.append(source)
        if self.times:
            hours = (step.time - self.times[-1]).total_seconds() / 3600.0
            if hours <= 0:
                raise ValueError(f"{source}: time {step.time} does not follow {self.times[-1]} (sort the files "
                                 "by time; files may not overlap)")
            self._step_hours = hours if self._step_hours is None else min(self._step_hours, hours)
            if hours > 1.01 * self._step_hours:
                self.tracker.previous = None  # a gap in time: ARs do not continue across it
        self.times.append(step.time)
        classes = step.classes
        ar, tc = classes == AR, classes == TC
        self.ar_steps += ar
        self.tc_steps += tc
        area, lat, lon = self.grid.area_km2, self.grid.lat_deg, self.grid.lon_deg
        labels, table, cells = find_objects(tc, lat, lon, area, periodic=self.grid.periodic, fields=step.fields,
                                            min_area_km2=self.settings.tc_min_area_km2, as_frame=False)
        candidates = {"time": np.full(len(table["lat"]), step.time, dtype=object),
                      **candidate_columns(table, self.grid)}
        for name, flags in land_flags(cells, self.regions).items():
            candidates[f"land_{name}"] = flags.astype(np.int8)
        self.candidates.append(candidates)
        labels, table, cells = find_objects(ar, lat, lon, area, periodic=self.grid.periodic, fields=step.fields,
                                            min_area_km2=self.settings.ar_min_area_km2, as_frame=False)
        ids, region_ids = self.tracker.add(labels, len(table["lat"]), area)
        records = {"object_id": region_ids, "time": np.full(len(region_ids), step.time, dtype=object),
                   **{name: table[name] for name in RECORD_COLUMNS[2:]}}
        for name, flags in land_flags(cells, self.regions).items():
            records[f"land_{name}"] = flags.astype(np.int8)
        self.records.append(records)
        if self.first_ids is None:
            self.first_ids = ids
        self.last_ids = ids
        return ids

    def partial(self) -> Partial:
        if self.grid is None:
            raise ValueError("no time steps were added")
        names = self.settings.region_names
        candidates = _concat(self.candidates, list(CANDIDATE_COLUMNS) + [f"land_{n}" for n in names])
        records = _concat(self.records, list(RECORD_COLUMNS) + [f"land_{n}" for n in names])
        return Partial(self.grid.lat_deg, self.grid.lon_deg, list(self.times), self.ar_steps, self.tc_steps,
                       self.land, candidates, records, self.first_ids, self.last_ids, self.settings,
                       self.land_source, list(self.sources))


def _concat(parts, columns) -> pd.DataFrame:
    """One DataFrame of tables given as DataFrames or dicts of arrays (in order), with ``columns``."""
    parts = [p for p in parts if len(p[columns[0]])]
    if not parts:
        return pd.DataFrame({c: [] for c in columns})
    frame = pd.DataFrame({c: np.concatenate([np.asarray(p[c]) for p in parts]) for c in columns})
    if "time" in frame:
        frame["time"] = list(frame["time"])  # datetime objects, not numpy datetime64
    return frame


@dataclasses.dataclass(eq=False)
class Climatology:
    """The merged statistics: maps, tracks, AR objects, yearly and monthly tables."""

    partial: Partial
    """All time steps' sums (AR ids renumbered over the whole period)."""
    tracks: list
    ar_records: pd.DataFrame

    @property
    def settings(self) -> ClimatologySettings:
        return self.partial.settings

    def ar_frequency(self) -> np.ndarray:
        return self.partial.ar_steps / max(len(self.partial.times), 1)

    def tc_frequency(self) -> np.ndarray:
        return self.partial.tc_steps / max(len(self.partial.times), 1)

    def step_hours(self) -> float:
        times = self.partial.times
        return min((b - a).total_seconds() / 3600.0 for a, b in zip(times, times[1:])) if len(times) > 1 else 0.0

    def track_table(self) -> pd.DataFrame:
        return track_table(self.tracks)

    def ar_objects(self) -> pd.DataFrame:
        return ar_object_table(self.ar_records, self.settings.region_names)

    def densities(self):
        """Box centres (box_lat, box_lon), TC track density and genesis density (box_lat, box_lon) int32."""
        size = self.settings.box_deg
        box_lat = np.arange(-90.0 + size / 2, 90.0, size)
        box_lon = np.arange(size / 2, 360.0, size)
        density = np.zeros((box_lat.size, box_lon.size), np.int32)
        genesis = np.zeros_like(density)
        for track in self.tracks:
            rows = np.clip(((track["lat"].to_numpy(float) + 90.0) // size).astype(int), 0, box_lat.size - 1)
            cols = np.clip(((track["lon"].to_numpy(float) % 360.0) // size).astype(int), 0, box_lon.size - 1)
            boxes = set(zip(rows, cols))
            for r, c in boxes:
                density[r, c] += 1
            genesis[rows[0], cols[0]] += 1
        return box_lat, box_lon, density, genesis

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Yearly and monthly tables (module notes)."""
        names = self.settings.region_names
        rows = {}

        def row(key):
            if key not in rows:
                rows[key] = {"time_steps": 0, "tc_tracks": 0, **{f"tc_{c if c in ('TD', 'TS') else 'cat' + c}": 0
                                                                    for c in CATEGORIES},
                             "tc_unknown": 0, "ace": 0.0, "ar_objects": 0,
                             **{f"{k}_{n}": 0 for n in names for k in ("ar_days", "ar_landfalls", "tc_landfalls")}}
            return rows[key]

        for t in self.partial.times:
            row((t.year, t.month))["time_steps"] += 1
        table = self.track_table()
        for track, info in zip(self.tracks, table.itertuples()):
            genesis = track["time"].iloc[0]
            r = row((genesis.year, genesis.month))
            r["tc_tracks"] += 1
            category = info.category
            r["tc_unknown" if not category else f"tc_{category if category in ('TD', 'TS') else 'cat' + category}"] += 1
            r["ace"] += 0.0 if np.isnan(info.ace) else info.ace
            for n in names:
                r[f"tc_landfalls_{n}"] += int(track.get(f"land_{n}", pd.Series([0])).max() > 0)
        objects = self.ar_objects()
        for obj in objects.itertuples():
            year, month = _date_of(obj.start_time)[:2]
            r = row((year, month))
            r["ar_objects"] += 1
            for n in names:
                r[f"ar_landfalls_{n}"] += int(getattr(obj, f"landfall_{n}"))
        records = self.ar_records
        for n in names:
            if len(records):
                days = {(t.year, t.month, t.day) for t in records.loc[records[f"land_{n}"] > 0, "time"]}
                for year, month, _ in days:
                    row((year, month))[f"ar_days_{n}"] += 1
        monthly = pd.DataFrame([{"year": y, "month": m, **v} for (y, m), v in sorted(rows.items())])
        yearly = monthly.drop(columns="month").groupby("year", as_index=False).sum()
        return yearly, monthly


def merge(partials, *, sources=None) -> Climatology:
    """Merge partial sums (any order; none may overlap in time) into the statistics of the whole period.

    Raises ValueError naming the offending partial (``sources[k]`` when given) when grids or settings differ
    or time steps overlap.
    """
    partials = list(partials)
    if not partials:
        raise ValueError("nothing to merge")
    names = sources or [f"partial {k}" for k in range(len(partials))]
    order = sorted(range(len(partials)), key=lambda k: partials[k].times[0])
    partials = [partials[k] for k in order]
    names = [names[k] for k in order]
    first = partials[0]
    for p, name in zip(partials[1:], names[1:]):
        if p.lat_deg.shape != first.lat_deg.shape or p.lon_deg.shape != first.lon_deg.shape or \
                not np.allclose(p.lat_deg, first.lat_deg) or not np.allclose(p.lon_deg, first.lon_deg):
            raise ValueError(f"{name}: grid differs from {names[0]}'s")
        if p.settings.to_json() != first.settings.to_json():
            raise ValueError(f"{name}: settings differ from {names[0]}'s ({p.settings.to_json()})")
    for (a, name_a), (b, name_b) in zip(zip(partials, names), zip(partials[1:], names[1:])):
        if b.times[0] <= a.times[-1]:
            raise ValueError(f"{name_b}: time steps overlap those of {name_a} ({b.times[0]} <= {a.times[-1]})")
    times = [t for p in partials for t in p.times]
    step_hours = min(((b - a).total_seconds() / 3600.0 for a, b in zip(times, times[1:])), default=0.0)
    area = _areas(first.lat_deg, first.lon_deg)
    next_id, previous_last, previous_end, records = 1, None, None, []
    for p in partials:
        local = p.ar_records
        n_local = int(max(local["object_id"].max() if len(local) else 0, p.first_ids.max(), p.last_ids.max()))
        mapping = np.zeros(n_local + 1, np.int64)
        if previous_last is not None and \
                (p.times[0] - previous_end).total_seconds() / 3600.0 <= 1.01 * step_hours:
            n_first = int(p.first_ids.max())
            for local_id, global_id in match_by_overlap(p.first_ids, n_first, previous_last, area).items():
                mapping[local_id] = global_id
        for local_id in range(1, n_local + 1):  # new ids in order of first appearance, as one pass gives
            if mapping[local_id] == 0:
                mapping[local_id] = next_id
                next_id += 1
        if len(local):
            local = local.assign(object_id=mapping[local["object_id"].to_numpy(int)])
        records.append(local)
        previous_last, previous_end = mapping[p.last_ids], p.times[-1]
    tracker = Tracker(first.settings.tracking)
    candidates = _concat([p.candidates for p in partials], list(first.candidates.columns))
    by_time = {t: g.drop(columns="time") for t, g in candidates.groupby("time", sort=True)} if len(candidates) else {}
    empty = candidates.drop(columns="time").iloc[:0]
    for t in times:
        tracker.add(t, by_time.get(t, empty))
    merged = Partial(first.lat_deg, first.lon_deg, times, sum(p.ar_steps for p in partials),
                     sum(p.tc_steps for p in partials), first.land, candidates,
                     _concat(records, list(first.ar_records.columns)), None, previous_last, first.settings,
                     first.land_source, [s for p in partials for s in p.sources])
    return Climatology(merged, tracker.finish(), merged.ar_records)


def _areas(lat_deg, lon_deg):
    from labeling.grid import cell_area_km2

    return cell_area_km2(lat_deg, lon_deg)


def _calendar(times) -> str:
    """The calendar of cftime datetimes ("standard" for Python datetimes)."""
    return getattr(times[0], "calendar", "") or "standard" if len(times) else "standard"


def _iso(times) -> np.ndarray:
    return np.array([t.isoformat() for t in times], dtype=object)


def _date_of(text: str) -> tuple[int, ...]:
    """Year, month, day[, hour, minute, second] of an ISO time stamp of any calendar (30 February included)."""
    return tuple(int(v) for v in re.findall(r"-?\d+", str(text).replace("T", " ").replace("-", " ")))


def _from_iso(values, calendar: str) -> list:
    """cftime datetimes of ISO strings in ``calendar``."""
    import cftime

    return [cftime.datetime(*_date_of(v), calendar=calendar) for v in values]


def write_partial(path, partial: Partial) -> None:
    """Write partial sums (module notes), atomically."""
    import netCDF4

    from climseg.atomic import atomic_output

    with atomic_output(path, suffix=".nc.tmp") as tmp, netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
        ds.setncatts({"title": "climseg climatology partial sums", "climseg_partial_version": PARTIAL_VERSION,
                      "calendar": _calendar(partial.times),
                      "settings": partial.settings.to_json(), "land_source": partial.land_source,
                      "sources": json.dumps([str(s) for s in partial.sources])})
        for name, values in (("lat", partial.lat_deg), ("lon", partial.lon_deg)):
            ds.createDimension(name, values.size)
            ds.createVariable(name, "f8", (name,))[:] = values
        for name, size in (("step", len(partial.times)), ("candidate", len(partial.candidates)),
                           ("ar_record", len(partial.ar_records))):
            ds.createDimension(name, size)
        for name in ("ar_steps", "tc_steps", "first_ids", "last_ids"):
            ds.createVariable(name, "i4", ("lat", "lon"), zlib=True)[:] = getattr(partial, name)
        ds.createVariable("land", "i1", ("lat", "lon"), zlib=True)[:] = partial.land.astype(np.int8)
        _write_column(ds, "step_time", "step", _iso(partial.times))
        for prefix, dim, frame in (("candidate", "candidate", partial.candidates), ("ar", "ar_record",
                                                                                     partial.ar_records)):
            for column in frame.columns:
                values = _iso(frame[column]) if column == "time" else frame[column].to_numpy()
                _write_column(ds, f"{prefix}_{column}", dim, values)


def _write_column(ds, name, dim, values) -> None:
    if values.dtype == object:
        variable = ds.createVariable(name, str, (dim,))
        for k, v in enumerate(values):
            variable[k] = v
    else:
        dtype = "f8" if np.issubdtype(values.dtype, np.floating) else "i8"
        ds.createVariable(name, dtype, (dim,), zlib=True)[:] = values


def read_partial(path) -> Partial:
    """Read a partial sums file. Raises ValueError naming the file when it is not one."""
    import netCDF4

    try:
        ds = netCDF4.Dataset(path)
    except OSError as error:
        raise ValueError(f"{path}: cannot read partial sums ({error})") from None
    with ds:
        if getattr(ds, "climseg_partial_version", None) != PARTIAL_VERSION:
            raise ValueError(f"{path}: not a climseg climatology partial sums file (version "
                             f"{PARTIAL_VERSION})")
        settings = ClimatologySettings.from_json(ds.settings)
        calendar = ds.calendar
        frames = {}
        for prefix, dim in (("candidate", "candidate"), ("ar", "ar_record")):
            columns = {}
            for name, variable in ds.variables.items():
                if name.startswith(prefix + "_") and variable.dimensions == (dim,):
                    values = variable[:]
                    column = name[len(prefix) + 1:]
                    columns[column] = _from_iso(values, calendar) if column == "time" else np.asarray(values)
            frames[prefix] = pd.DataFrame(columns)
        return Partial(np.asarray(ds["lat"][:]), np.asarray(ds["lon"][:]), _from_iso(ds["step_time"][:], calendar),
                       np.asarray(ds["ar_steps"][:]), np.asarray(ds["tc_steps"][:]),
                       np.asarray(ds["land"][:]).astype(bool), frames["candidate"], frames["ar"],
                       np.asarray(ds["first_ids"][:]), np.asarray(ds["last_ids"][:]), settings, ds.land_source,
                       json.loads(ds.sources))


def write_climatology(out_dir, climatology: Climatology, *, history: str = "") -> dict:
    """Write ``climatology.nc``, the yearly and monthly CSV tables, tracks, track table and AR objects."""
    from pathlib import Path

    import xarray as xr

    from climseg.atomic import atomic_output
    from events.tracks import write_track_table, write_tracks

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    p = climatology.partial
    box_lat, box_lon, density, genesis = climatology.densities()
    steps = len(p.times)
    years = steps * climatology.step_hours() / (365.0 * 24.0)
    ds = xr.Dataset(
        {"ar_frequency": (("lat", "lon"), climatology.ar_frequency().astype(np.float32),
                          {"long_name": "fraction of time steps with an atmospheric river", "units": "1"}),
         "tc_frequency": (("lat", "lon"), climatology.tc_frequency().astype(np.float32),
                          {"long_name": "fraction of time steps with a tropical cyclone", "units": "1"}),
         "ar_steps": (("lat", "lon"), p.ar_steps.astype(np.int32), {"long_name": "time steps with an AR"}),
         "tc_steps": (("lat", "lon"), p.tc_steps.astype(np.int32), {"long_name": "time steps with a TC"}),
         "land": (("lat", "lon"), p.land.astype(np.int8), {"long_name": "land (1) or sea (0)",
                                                             "flag_values": np.array([0, 1], np.int8),
                                                             "flag_meanings": "sea land"}),
         "tc_track_density": (("box_lat", "box_lon"), density,
                              {"long_name": "tropical cyclone tracks passing through the box over the period"}),
         "tc_genesis_density": (("box_lat", "box_lon"), genesis,
                                {"long_name": "tropical cyclone tracks starting in the box over the period"})},
        coords={"lat": ("lat", p.lat_deg, {"units": "degrees_north", "standard_name": "latitude"}),
                "lon": ("lon", p.lon_deg, {"units": "degrees_east", "standard_name": "longitude"}),
                "box_lat": ("box_lat", box_lat, {"units": "degrees_north", "long_name": "box centre latitude"}),
                "box_lon": ("box_lon", box_lon, {"units": "degrees_east", "long_name": "box centre longitude"})},
        attrs={"Conventions": "CF-1.8", "title": "climseg climatology of tropical cyclones and atmospheric rivers",
               "history": history, "time_steps": steps,
               "first_time": p.times[0].isoformat() if p.times else "",
               "last_time": p.times[-1].isoformat() if p.times else "", "years": years,
               "regions": " ".join(r.spec() for r in climatology.settings.regions),
               "land_source": p.land_source, "tracking": json.dumps(dataclasses.asdict(climatology.settings.tracking)),
               "box_deg": climatology.settings.box_deg})
    paths = {"climatology": out / "climatology.nc", "yearly": out / "climatology_yearly.csv",
             "monthly": out / "climatology_monthly.csv", "tracks": out / "tracks.csv",
             "track_table": out / "track_table.csv", "ar_objects": out / "ar_objects.csv"}
    encoding = {name: {"zlib": True, "complevel": 4} for name in ds.data_vars}
    with atomic_output(paths["climatology"], suffix=".nc.tmp") as tmp:
        ds.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
    yearly, monthly = climatology.tables()
    for key, frame in (("yearly", yearly), ("monthly", monthly), ("ar_objects", climatology.ar_objects())):
        with atomic_output(paths[key]) as tmp:
            frame.to_csv(tmp, index=False)
    write_tracks(paths["tracks"], climatology.tracks)
    write_track_table(paths["track_table"], climatology.tracks)
    return paths
