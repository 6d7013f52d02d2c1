"""Tests of labeling.reading: validation and normalisation of CAM5-style netCDF files."""

import datetime as dt

import numpy as np
import pytest
import xarray as xr

from climseg import synth
from climseg.contract import CHANNELS
from labeling import reading

DATE = dt.date(2001, 3, 5)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A generated 48 x 72 day with pressure levels: (path, dataset loaded in memory)."""
    config = synth.SynthConfig(n_lat=48, n_lon=72, seed=11, n_tcs=1, n_ars=1, with_plev=True)
    nc_path, _ = synth.write_day(config, DATE, tmp_path_factory.mktemp("reading"))
    with xr.open_dataset(nc_path, decode_times=False) as ds:
        return nc_path, ds.load()


def write_variant(ds, path, encoding=None):
    ds.to_netcdf(path, engine="netcdf4", encoding=encoding or {})
    return path


def read_all(path):
    with reading.open_model_output(path) as model:
        return model, [model.read_step(k) for k in range(len(model))]


def test_reads_generated_file_on_its_own_grid(source):
    path, ds = source
    model, steps = read_all(path)
    assert len(model) == 8 and model.step_hours == 3.0
    assert [model.sample_time(k) for k in range(8)] == [(DATE, k) for k in range(8)]
    assert model.time_label(5) == "2001-03-05T15:00:00" and model.calendar == "noleap"
    np.testing.assert_array_equal(model.lat_deg, ds["lat"].values)
    np.testing.assert_array_equal(model.lon_deg, ds["lon"].values)
    fields, levels = steps[5]
    assert list(fields) == list(CHANNELS)
    for name in CHANNELS:
        assert fields[name].dtype == np.float32 and fields[name].shape == (48, 72)
        np.testing.assert_array_equal(fields[name], ds[name].values[5])
    np.testing.assert_array_equal(levels["plev"], ds["plev"].values)
    assert levels["Q"].shape == (8, 48, 72) and levels["Q"].dtype == np.float32
    np.testing.assert_array_equal(levels["U"], ds["U"].values[5])
    assert model.orientation["source_lat"] == "ascending" and model.orientation["lon_rolled_by"] == 0


@pytest.mark.parametrize("flip_lat, lon_180", [(True, False), (False, True), (True, True)])
def test_descending_latitude_and_180_longitude_give_the_canonical_grid(source, tmp_path, flip_lat, lon_180):
    path, ds = source
    variant = ds
    if flip_lat:
        variant = variant.isel(lat=slice(None, None, -1))
    if lon_180:
        variant = variant.assign_coords(lon=((variant["lon"] + 180.0) % 360.0) - 180.0).sortby("lon")
    assert variant["lon"].values[0] == (-180.0 if lon_180 else 0.0)
    model, steps = read_all(write_variant(variant, tmp_path / "variant.nc"))
    np.testing.assert_allclose(model.lat_deg, ds["lat"].values)
    np.testing.assert_allclose(model.lon_deg, ds["lon"].values)
    for name in ("PSL", "U850", "TMQ"):
        np.testing.assert_array_equal(steps[2][0][name], ds[name].values[2])
    np.testing.assert_array_equal(steps[2][1]["Q"], ds["Q"].values[2])
    assert model.orientation["source_lat"] == ("descending" if flip_lat else "ascending")
    assert model.orientation["lon_rolled_by"] == (36 if lon_180 else 0)


def test_float64_and_fill_values_become_float32_and_nan(source, tmp_path):
    path, ds = source
    variant = ds.copy()
    psl = ds["PSL"].values.astype(np.float64)
    psl[1, 10:12, 20:25] = np.nan
    variant["PSL"] = (ds["PSL"].dims, psl, ds["PSL"].attrs)
    tmq = ds["TMQ"].values.copy()
    tmq[3, 0, :] = -999.0
    variant["TMQ"] = (ds["TMQ"].dims, tmq, {**ds["TMQ"].attrs, "missing_value": np.float32(-999.0)})
    encoding = {"PSL": {"dtype": "float64", "_FillValue": 1e20}, "TMQ": {"_FillValue": None}}
    model, steps = read_all(write_variant(variant, tmp_path / "filled.nc", encoding))
    psl_read = steps[1][0]["PSL"]
    assert psl_read.dtype == np.float32
    assert np.isnan(psl_read[10:12, 20:25]).all() and np.isfinite(psl_read[:10]).all()
    np.testing.assert_allclose(psl_read[:10], ds["PSL"].values[1, :10])
    assert np.isnan(steps[3][0]["TMQ"][0]).all() and np.isfinite(steps[3][0]["TMQ"][1:]).all()


def test_packed_integers_are_unpacked_and_their_fill_value_is_missing(source, tmp_path):
    """int16 with scale_factor / add_offset / _FillValue: read as CF (and xarray's own decoding) says."""
    path, ds = source
    variant = ds.copy()
    ts = ds["TS"].values.copy()
    ts[2, 5:7, :] = np.nan
    variant["TS"] = (ds["TS"].dims, ts, ds["TS"].attrs)
    encoding = {"TS": {"dtype": "int16", "scale_factor": 0.01, "add_offset": 280.0, "_FillValue": -32767}}
    packed = write_variant(variant, tmp_path / "packed.nc", encoding)
    model, steps = read_all(packed)
    with xr.open_dataset(packed, decode_times=False) as decoded:
        expected = decoded["TS"].values[2].astype(np.float32)
    got = steps[2][0]["TS"]
    assert got.dtype == np.float32 and np.isnan(got[5:7]).all() and np.isfinite(got[7:]).all()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_allclose(got[7:], ts[2, 7:], atol=0.0051)  # packed to 0.01 K


def test_units_spelled_differently_are_accepted(source, tmp_path):
    _, ds = source
    variant = ds.copy()
    variant["TMQ"].attrs["units"] = "kg/m2"
    variant["U850"].attrs["units"] = "m/s"
    del variant["PSL"].attrs["units"]
    model, steps = read_all(write_variant(variant, tmp_path / "units.nc"))
    assert len(steps) == 8


def test_pressure_levels_in_hpa_are_converted(source, tmp_path):
    _, ds = source
    with_units = ds.assign_coords(plev=("plev", ds["plev"].values / 100.0, {"units": "hPa"}))
    model, _ = read_all(write_variant(with_units, tmp_path / "hpa.nc"))
    np.testing.assert_allclose(model.plev_pa, ds["plev"].values)
    no_units = ds.assign_coords(plev=("plev", ds["plev"].values / 100.0, {}))
    model, _ = read_all(write_variant(no_units, tmp_path / "bare.nc"))
    np.testing.assert_allclose(model.plev_pa, ds["plev"].values)
    wrong = ds.assign_coords(plev=("plev", ds["plev"].values / 100.0, {"units": "Pa"}))
    with pytest.raises(ValueError, match=r"wrong.nc: pressure levels plev say Pa but range 300\.\.1000 \(hPa\?\)"):
        reading.open_model_output(write_variant(wrong, tmp_path / "wrong.nc"))


def test_file_without_levels_has_none(source, tmp_path):
    _, ds = source
    model, steps = read_all(write_variant(ds.drop_vars(["Q", "U", "V", "plev"]), tmp_path / "flat.nc"))
    assert not model.has_levels and steps[0][1] is None


def _bad(ds, tmp_path, name="bad.nc"):
    return write_variant(ds, tmp_path / name)


@pytest.mark.parametrize("make, message", [
    (lambda ds: ds.drop_vars("PSL"), r"bad.nc: missing variable PSL \(needs the 16 CAM5 channels"),
    (lambda ds: ds.drop_vars(["PSL", "TMQ"]), r"bad.nc: missing variables TMQ, PSL"),
    (lambda ds: ds.assign(TMQ=ds["TMQ"].transpose("time", "lon", "lat")),
     r"bad.nc: variable TMQ has dimensions \(time, lon, lat\), expected \(time, lat, lon\)"),
    (lambda ds: ds.assign(TS=ds["TS"].isel(time=0)), r"bad.nc: variable TS has dimensions \(lat, lon\)"),
    (lambda ds: ds.assign(PSL=ds["PSL"].assign_attrs(units="hPa")), r"bad.nc: variable PSL has units 'hPa', expected 'Pa'"),
    (lambda ds: ds.assign_coords(lat=ds["lat"].assign_attrs(units="radians")), r"bad.nc: lat has units 'radians'"),
    (lambda ds: ds.assign_coords(lat=ds["lat"] * 2), r"bad.nc: lat out of -90..90"),
    (lambda ds: ds.assign_coords(lon=np.r_[ds["lon"].values[:-1], 0.0]), r"bad.nc: lon is not strictly monotonic"),
    (lambda ds: ds.drop_vars("U"), r"bad.nc: has Q, V but not U on pressure levels"),
    (lambda ds: ds.assign(time=ds["time"].assign_attrs(units="")), r"bad.nc: time has no CF units"),
    (lambda ds: ds.assign(time=ds["time"].assign_attrs(units="fortnights after lunch")),
     r"bad.nc: time units 'fortnights after lunch'"),
])
def test_bad_files_fail_at_open_naming_file_and_problem(source, tmp_path, make, message):
    _, ds = source
    path = _bad(make(ds), tmp_path)
    with pytest.raises(ValueError, match=message) as error:
        reading.open_model_output(path)
    assert "\n" not in str(error.value) and str(error.value).startswith(str(path))


def test_all_missing_field_fails_when_its_time_step_is_read(source, tmp_path):
    _, ds = source
    variant = ds.copy()
    tmq = ds["TMQ"].values.copy()
    tmq[4] = np.nan
    variant["TMQ"] = (ds["TMQ"].dims, tmq, ds["TMQ"].attrs)
    path = write_variant(variant, tmp_path / "hole.nc")
    with reading.open_model_output(path) as model:
        model.read_step(3)
        with pytest.raises(ValueError, match=r"hole.nc: variable TMQ is all missing .* at time step 4 "
                                             r"\(2001-03-05T12:00:00\)"):
            model.read_step(4)
        with pytest.raises(IndexError, match="out of 0..7"):
            model.read_step(8)


def test_truncated_missing_and_non_netcdf_files_are_os_errors(source, tmp_path):
    path, _ = source
    truncated = tmp_path / "truncated.nc"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(OSError, match="truncated.nc: cannot read"):
        read_all(truncated)
    text = tmp_path / "notes.nc"
    text.write_text("not netCDF\n")
    with pytest.raises(OSError, match=r"notes.nc: cannot read as netCDF"):
        reading.open_model_output(text)
    with pytest.raises(OSError, match="absent.nc: no such file"):
        reading.open_model_output(tmp_path / "absent.nc")


def test_canonical_grid_orders():
    lat, lon, lat_order, lon_order = reading.canonical_grid([60.0, 0.0, -60.0], [-90.0, 0.0, 90.0, 180.0 - 1e-9 - 0.5])
    np.testing.assert_array_equal(lat, [-60.0, 0.0, 60.0])
    np.testing.assert_array_equal(lat_order, [2, 1, 0])
    assert list(lon_order) == [1, 2, 3, 0] and lon[-1] == 270.0
    with pytest.raises(ValueError, match="lon repeats"):
        reading.canonical_grid([0.0, 1.0], [-180.0, 0.0, 180.0])
    with pytest.raises(ValueError, match="lat is not strictly monotonic"):
        reading.canonical_grid([0.0, 1.0, 0.5], [0.0, 1.0])


def test_units_match_spellings():
    assert reading.units_match("kg/kg", "kg kg-1") and reading.units_match("K", "K")
    assert reading.units_match(" m  s-1 ", "m s-1") and not reading.units_match("km", "m")
