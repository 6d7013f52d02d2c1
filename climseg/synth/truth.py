"""Truth of generated data: what was planted (``PlantedTC``, ``PlantedAR``, ``Truth``) and its HDF5 file.

``<case>.cam.h2.YYYY-MM-DD-00000.truth.h5`` beside each model-output file holds ``time`` (ISO strings), ``lat``,
``lon`` (degrees), ``tc_mask`` and ``ar_mask`` (uint8 (time, lat, lon)), and the groups ``tc`` and ``ar`` with one
dataset per column of :class:`PlantedTC` / :class:`PlantedAR` (one row per event and time step; ``track_id`` -1
for the events of one day), and with tracked ARs ``ar_track_id`` (int16 (time, lat, lon): the tracked AR whose
core covers each cell, -1 elsewhere).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np

from climseg.synth.config import SynthConfig

@dataclasses.dataclass(frozen=True)
class PlantedTC:
    """A planted TC at one time step."""

    step: int
    id: int
    lat_deg: float
    lon_deg: float
    """In [0, 360)."""
    radius_km: float
    """Gale radius: the vortex's own surface wind is below 17.5 m s-1 beyond it."""
    rmw_km: float
    max_wind_ms: float
    """Maximum of the vortex's own surface wind."""
    pressure_drop_pa: float
    track_id: int = -1
    """The tracked TC (``SynthConfig.tracked_tcs``) this is a point of; -1 for a TC of one day."""


@dataclasses.dataclass(frozen=True)
class PlantedAR:
    """A planted AR at one time step (the middle of its spine)."""

    step: int
    id: int
    lat_deg: float
    lon_deg: float
    bearing_deg: float
    length_km: float
    width_km: float
    ivt_peak: float
    track_id: int = -1
    """The tracked AR (``SynthConfig.tracked_ars``) this is a step of; -1 for an AR of one day."""


@dataclasses.dataclass(eq=False)
class Truth:
    """What was planted in one day of generated data."""

    times: list[dt.datetime]
    lat_deg: np.ndarray
    """(lat,) ascending."""
    lon_deg: np.ndarray
    """(lon,) in [0, 360) ascending."""
    tcs: list[PlantedTC]
    ars: list[PlantedAR]
    tc_mask: np.ndarray
    """bool (time, lat, lon): within the gale radius of a planted TC."""
    ar_mask: np.ndarray
    """bool (time, lat, lon): inside a planted AR's core (plume shape >= 1/2)."""
    ar_track_id: np.ndarray | None = None
    """int16 (time, lat, lon): ``track_id`` of the tracked AR whose core covers the cell, else -1."""

    def tcs_at(self, step: int) -> list[PlantedTC]:
        """The TCs of time step ``step``."""
        return [tc for tc in self.tcs if tc.step == step]

    def ars_at(self, step: int) -> list[PlantedAR]:
        """The ARs of time step ``step``."""
        return [ar for ar in self.ars if ar.step == step]


_TC_COLUMNS = ("step", "id", "lat_deg", "lon_deg", "radius_km", "rmw_km", "max_wind_ms", "pressure_drop_pa",
               "track_id")
_AR_COLUMNS = ("step", "id", "lat_deg", "lon_deg", "bearing_deg", "length_km", "width_km", "ivt_peak", "track_id")
_INTEGER_COLUMNS = ("step", "id", "track_id")


def write_truth(path, truth: Truth, *, source: str = "", config: SynthConfig | None = None) -> None:
    """Write ``truth`` to an HDF5 file (``tc/<column>``, ``ar/<column>``, ``tc_mask``, ``ar_mask``, ...)."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["source"] = source
        f.attrs["definitions"] = ("tc_mask: within radius_km (gale radius: the vortex's own surface wind "
                                  "< 17.5 m s-1 beyond it) of a TC centre; ar_mask: plume shape >= 1/2 "
                                  "(see climseg.synth)")
        if config is not None:
            f.attrs["config"] = json.dumps(dataclasses.asdict(config), default=str)
        f["time"] = np.array([t.isoformat() for t in truth.times], dtype=h5py.string_dtype())
        f["lat"] = truth.lat_deg
        f["lat"].attrs["units"] = "degrees_north"
        f["lon"] = truth.lon_deg
        f["lon"].attrs["units"] = "degrees_east"
        for name in ("tc_mask", "ar_mask"):
            f.create_dataset(name, data=getattr(truth, name).astype(np.uint8), compression="gzip",
                             compression_opts=1, chunks=(1,) + truth.tc_mask.shape[1:])
        if truth.ar_track_id is not None:
            f.create_dataset("ar_track_id", data=truth.ar_track_id.astype(np.int16), compression="gzip",
                             compression_opts=1, chunks=(1,) + truth.tc_mask.shape[1:])
        for group, records, columns in (("tc", truth.tcs, _TC_COLUMNS), ("ar", truth.ars, _AR_COLUMNS)):
            g = f.create_group(group)
            for column in columns:
                dtype = np.int32 if column in _INTEGER_COLUMNS else np.float64
                g[column] = np.array([getattr(r, column) for r in records], dtype=dtype)


def read_truth(path) -> Truth:
    """Read a ``.truth.h5`` file written by :func:`write_day`.

    Raises ValueError naming the file when it is not one.
    """
    import h5py

    try:
        with h5py.File(path, "r") as f:
            times = [dt.datetime.fromisoformat(t.decode() if isinstance(t, bytes) else t) for t in f["time"][()]]
            tcs = [PlantedTC(**record) for record in _records(f["tc"], _TC_COLUMNS)]
            ars = [PlantedAR(**record) for record in _records(f["ar"], _AR_COLUMNS)]
            ar_track_id = f["ar_track_id"][()].astype(np.int16) if "ar_track_id" in f else None
            return Truth(times=times, lat_deg=f["lat"][()], lon_deg=f["lon"][()], tcs=tcs, ars=ars,
                         tc_mask=f["tc_mask"][()].astype(bool), ar_mask=f["ar_mask"][()].astype(bool),
                         ar_track_id=ar_track_id)
    except KeyError as error:
        raise ValueError(f"{path}: not a climseg truth file (missing {error.args[0]})") from None
    except OSError as error:
        raise OSError(f"{path}: cannot read truth file ({error})") from None


def _records(group, columns) -> list[dict]:
    """Rows of a truth table; ``track_id`` (absent from files of older versions) defaults to -1."""
    present = [c for c in columns if c in group or c != "track_id"]
    values = [group[c][()] for c in present]
    return [{c: int(v) if c in _INTEGER_COLUMNS else float(v) for c, v in zip(present, row)} for row in zip(*values)]
