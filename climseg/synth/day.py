"""One day of model output: the fields of 8 time steps as an xarray Dataset, written as CAM5-like netCDF."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np

from climseg.atomic import atomic_output
from climseg.contract import CHANNEL_UNITS, CHANNELS
from climseg.synth.background import _background_waves, background_fields, derived_fields, pressure_level_fields
from climseg.synth.config import CALENDAR, FILL_VALUE, LONG_NAMES, PLEV_PA, STEP_SECONDS, STEPS_PER_DAY, TIME_UNITS, \
    SynthConfig
from climseg.synth.geometry import cam5_grid
from climseg.synth.placement import ar_at_step, plan_events, plant_ar, plant_tc, tc_at_step
from climseg.synth.tracks import active, tracked_ar_at, tracked_tc_at
from climseg.synth.truth import _AR_COLUMNS, PlantedAR, Truth, write_truth

def day_times(date: dt.date) -> list[dt.datetime]:
    """The 8 time stamps (00, 03, ..., 21 h) of ``date``."""
    return [dt.datetime(date.year, date.month, date.day) + dt.timedelta(seconds=k * STEP_SECONDS)
            for k in range(STEPS_PER_DAY)]


def _check_date(date: dt.date) -> None:
    if date.month == 2 and date.day == 29:
        raise ValueError(f"{date}: the noleap calendar of CAM5 has no 29 February")


def synthesize_day(config: SynthConfig, date: dt.date, *, on_step=None):
    """Generate one day (8 time steps) of CAM5-like output and the truth of what was planted.

    Parameters
    ----------
    config : SynthConfig
    date : datetime.date
        Not 29 February (CAM5's calendar is ``noleap``).
    on_step : callable, optional
        Called with no argument after each time step (progress bars).

    Returns
    -------
    dataset : xarray.Dataset
        The 16 channels (time, lat, lon) float32, plus ``Q, U, V`` (time, plev, lat, lon) with ``with_plev``.
    truth : Truth
    """
    import cftime
    import xarray as xr

    _check_date(date)
    lat, lon = cam5_grid(config.n_lat, config.n_lon)
    waves = _background_waves(config.seed)
    tcs, ars = plan_events(config, date)
    times = day_times(date)
    shape = (STEPS_PER_DAY, config.n_lat, config.n_lon)
    channels = {name: np.empty(shape, np.float32) for name in CHANNELS}
    levels = {name: np.empty((STEPS_PER_DAY, len(PLEV_PA)) + shape[1:], np.float32) for name in ("Q", "U", "V")} \
        if config.with_plev else {}
    tc_mask = np.zeros(shape, bool)
    ar_mask = np.zeros(shape, bool)
    ar_track_id = np.full(shape, -1, np.int16)
    planted_tcs, planted_ars = [], []
    epoch = dt.datetime(2000, 1, 1)
    for step, time in enumerate(times):
        seconds = (time - epoch).total_seconds()
        fields = background_fields(lat, lon, seconds, waves)
        day_ars = [(ar_at_step(ar, step), -1) for ar in ars]
        day_ars += [(tracked_ar_at(ar, time), ar.track_id) for ar in config.tracked_ars
                    if active(ar.start, ar.hours, time)]
        for ident, (moved, track_id) in enumerate(day_ars):
            core = plant_ar(fields, lat, lon, moved)
            ar_mask[step] |= core
            if track_id >= 0:
                ar_track_id[step][core] = track_id
            planted_ars.append(PlantedAR(step, ident, *(float(getattr(moved, c)) for c in _AR_COLUMNS[2:-1]),
                                         track_id=track_id))
        fields["UBOT"] = 0.75 * fields["U850"]
        fields["VBOT"] = 0.75 * fields["V850"]
        day_tcs = [(tc_at_step(tc, step), -1) for tc in tcs]
        day_tcs += [(tracked_tc_at(tc, time), tc.track_id) for tc in config.tracked_tcs
                    if active(tc.genesis, tc.hours, time)]
        for ident, (moved, track_id) in enumerate(day_tcs):
            mask, record = plant_tc(fields, lat, lon, moved)
            tc_mask[step] |= mask
            planted_tcs.append(dataclasses.replace(record, step=step, id=ident, track_id=track_id))
        fields["PRECT"] = np.maximum(fields["PRECT"], 0.0)
        derived_fields(fields)
        for name in CHANNELS:
            channels[name][step] = fields[name]
        for name, values in (pressure_level_fields(fields).items() if config.with_plev else ()):
            levels[name][step] = values
        if on_step is not None:
            on_step()

    cf_times = [cftime.DatetimeNoLeap(t.year, t.month, t.day, t.hour) for t in times]
    coords = {
        "time": ("time", cf_times, {"long_name": "time"}),
        "lat": ("lat", lat, {"units": "degrees_north", "long_name": "latitude", "standard_name": "latitude"}),
        "lon": ("lon", lon, {"units": "degrees_east", "long_name": "longitude", "standard_name": "longitude"}),
    }
    data_vars = {name: (("time", "lat", "lon"), channels[name],
                        {"units": CHANNEL_UNITS[name], "long_name": LONG_NAMES[name]}) for name in CHANNELS}
    data_vars["date"] = ("time", np.array([int(t.strftime("%Y%m%d")) for t in times], np.int32),
                         {"long_name": "current date (YYYYMMDD)"})
    data_vars["datesec"] = ("time", np.array([t.hour * 3600 for t in times], np.int32),
                            {"long_name": "current seconds of current date"})
    if config.with_plev:
        coords["plev"] = ("plev", np.array(PLEV_PA), {"units": "Pa", "long_name": "pressure",
                                                       "standard_name": "air_pressure", "positive": "down"})
        for name, units, long_name in (("Q", "kg kg-1", "Specific humidity"), ("U", "m s-1", "Zonal wind"),
                                       ("V", "m s-1", "Meridional wind")):
            data_vars[name] = (("time", "plev", "lat", "lon"), levels[name], {"units": units, "long_name": long_name})
    dataset = xr.Dataset(data_vars, coords=coords, attrs={
        "Conventions": "CF-1.6",
        "title": "CAM5-like synthetic model output with planted tropical cyclones and atmospheric rivers",
        "source": "climseg synth",
        "case": config.case,
        "seed": config.seed,
        "note": "aquaplanet background; truth of the planted events is in the .truth.h5 file beside this one",
    })
    dataset["time"].encoding.update(units=TIME_UNITS, calendar=CALENDAR, dtype="float64")  # for any writer
    truth = Truth(times=times, lat_deg=lat, lon_deg=lon, tcs=planted_tcs, ars=planted_ars,
                  tc_mask=tc_mask, ar_mask=ar_mask, ar_track_id=ar_track_id if config.tracked_ars else None)
    return dataset, truth


def file_stem(case: str, date: dt.date) -> str:
    """``<case>.cam.h2.YYYY-MM-DD-00000`` (CAM5 h2 history file name without extension)."""
    return f"{case}.cam.h2.{date:%Y-%m-%d}-00000"


def write_day(config: SynthConfig, date: dt.date, out_dir, *, on_step=None) -> tuple[Path, Path]:
    """Generate one day and write ``<case>.cam.h2.YYYY-MM-DD-00000.nc`` and ``.truth.h5`` into ``out_dir``.

    Both files are written to temporary names and renamed when complete.
    """
    dataset, truth = synthesize_day(config, date, on_step=on_step)
    out_dir = Path(out_dir)
    nc_path = out_dir / f"{file_stem(config.case, date)}.nc"
    truth_path = out_dir / f"{file_stem(config.case, date)}.truth.h5"
    encoding = {name: {"dtype": "float32", "_FillValue": FILL_VALUE} for name in dataset.data_vars
                if dataset[name].dtype == np.float32}
    encoding.update({name: {"_FillValue": None} for name in ("lat", "lon", "plev") if name in dataset.coords})
    encoding["time"] = {"_FillValue": None, "units": TIME_UNITS, "calendar": CALENDAR, "dtype": "float64"}
    with atomic_output(nc_path) as tmp:
        dataset.to_netcdf(tmp, engine="netcdf4", format="NETCDF4", encoding=encoding)
    with atomic_output(truth_path) as tmp:
        write_truth(tmp, truth, source=nc_path.name, config=config)
    return nc_path, truth_path
