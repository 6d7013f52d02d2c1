"""climseg export (inference/export.py): heuristic labels in the mask file format, equal to climseg label's."""

import h5py
import numpy as np
import xarray as xr

from climseg.cli import main


def test_exported_labels_equal_the_samples_of_climseg_label_in_the_input_orientation(tiny_trained_run, tmp_path):
    raw = tiny_trained_run["raw"]
    with xr.open_dataset(raw, decode_times=False) as ds:   # latitude descending, longitude -180..180
        flipped = ds.load().isel(lat=slice(None, None, -1))
        flipped = flipped.assign_coords(lon=xr.where(flipped.lon >= 180, flipped.lon - 360, flipped.lon)
                                        .assign_attrs(flipped.lon.attrs)).sortby("lon")
    flipped.to_netcdf(tmp_path / raw.name)
    assert main(["export", str(tmp_path / raw.name), "--out", str(tmp_path / "labels"), "--no-progress"]) == 0
    with xr.open_dataset(tmp_path / "labels" / raw.name.replace(".nc", ".labels.nc")) as labels:
        assert labels.attrs["climseg_mask_source"] == "heuristic" and labels.attrs["Conventions"] == "CF-1.8"
        assert labels["class"].attrs["flag_meanings"] == "background tropical_cyclone atmospheric_river"
        np.testing.assert_array_equal(labels.lat.values, flipped.lat.values)
        canonical = labels.assign_coords(lon=labels.lon % 360).sortby("lat").sortby("lon")
        classes = canonical["class"].values
        np.testing.assert_array_equal(canonical["ar_binary_tag"].values, classes == 2)
    samples = sorted(tiny_trained_run["samples"].glob("data-*.h5"))
    expected = np.stack([h5py.File(s, "r")["climate/labels_0"][()] for s in samples])
    np.testing.assert_array_equal(classes, expected)
    assert (expected == 2).any()


def test_export_error_names_the_file_and_leaves_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.nc"
    bad.write_text("not netCDF")
    assert main(["export", str(bad), "--out", str(tmp_path / "labels"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"climseg export: error: {bad}: cannot read as netCDF") and "\n" not in err
    assert not (tmp_path / "labels").exists() or list((tmp_path / "labels").iterdir()) == []
