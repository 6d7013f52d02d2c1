"""climseg infer (inference/infer.py, inference/cli.py) end to end on generated data and a tiny trained run."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

from climseg.cli import main
from climseg.contract import CHANNELS
from inference.infer import source_order, spacing_warning
from inference.masks import PROBABILITY_SCALE
from training.data import read_stats

CLIMSEG = str(Path(sys.executable).parent / "climseg")
MPIRUN = [str(Path(sys.executable).parent / "mpirun"), "--allow-run-as-root", "--oversubscribe"]


def open_raw(path):
    return xr.open_dataset(path, decode_times=False, mask_and_scale=False)


def write_variant(source, target, change):
    """Write ``change(dataset)`` of a raw file to ``target``, times and attributes kept as stored."""
    with open_raw(source) as ds:
        changed = change(ds.load())
        changed.to_netcdf(target, encoding={name: {"_FillValue": None} for name in ("time", "lat", "lon")})
    return target


def descending_pm180(ds):
    """Latitude descending, longitude -180..180 (rolled), as ERA5-like files come."""
    ds = ds.isel(lat=slice(None, None, -1))
    return ds.assign_coords(lon=xr.where(ds.lon >= 180, ds.lon - 360, ds.lon).assign_attrs(ds.lon.attrs)).sortby("lon")


def canonical(masks):
    """A mask data set back on the canonical grid (latitude ascending, longitude 0..360)."""
    return masks.assign_coords(lon=(masks.lon % 360)).sortby("lat").sortby("lon")


def infer(*args):
    return main(["infer", *map(str, args), "--no-progress"])


@pytest.fixture(scope="module")
def predictions(tiny_trained_run, tmp_path_factory):
    """``climseg predict`` on the labelled samples of the raw file: (time, lat, lon) uint8, canonical grid."""
    out = tmp_path_factory.mktemp("predict")
    samples = sorted(tiny_trained_run["samples"].glob("data-*.h5"))
    assert main(["predict", "--run", str(tiny_trained_run["run"]), *map(str, samples), "--out", str(out),
                 "--no-progress"]) == 0
    return np.stack([h5py.File(out / s.name, "r")["prediction"][()] for s in samples])


@pytest.mark.parametrize("orientation", ["ascending_0_360", "descending_pm180"])
def test_masks_match_predict_on_the_samples_in_both_orientations(orientation, tiny_trained_run, predictions, tmp_path):
    raw = tiny_trained_run["raw"]
    if orientation == "descending_pm180":
        raw = write_variant(raw, tmp_path / raw.name, descending_pm180)
    assert infer(raw, "--run", tiny_trained_run["run"], "--out", tmp_path / "masks", "--batch-size", 3) == 0
    out = tmp_path / "masks" / raw.name.replace(".nc", ".climseg.nc")
    with xr.open_dataset(out) as masks, xr.open_dataset(raw) as source:   # decode_cf on both
        np.testing.assert_array_equal(masks.lat.values, source.lat.values)   # the input's own order
        np.testing.assert_array_equal(masks.lon.values, source.lon.values)
        assert masks.time.values.tolist() == source.time.values.tolist()  # cftime dates, the input's calendar
        assert masks["class"].dtype == np.int8
        assert masks["class"].attrs["flag_meanings"] == "background tropical_cyclone atmospheric_river"
        np.testing.assert_array_equal(canonical(masks)["class"].values, predictions)
        assert len(np.unique(predictions)) > 1  # the comparison is not between two blank maps
    with open_raw(out) as stored, open_raw(raw) as source:
        for name in ("time", "lat", "lon"):
            assert stored[name].attrs == source[name].attrs and stored[name].dtype == source[name].dtype
        np.testing.assert_array_equal(stored.time.values, source.time.values)
        assert stored.time.attrs["calendar"] == source.time.attrs["calendar"]


def test_source_order_undoes_the_reader_orientation():
    lat, lon = np.linspace(90, -90, 5), np.arange(-180, 180, 60.0)
    canonical_field = np.add.outer(np.sort(lat), np.sort(np.mod(lon, 360)))      # value = lat + lon(0..360)
    lat_back, lon_back = source_order(lat, lon)
    np.testing.assert_array_equal(canonical_field[lat_back][:, lon_back], np.add.outer(lat, np.mod(lon, 360)))


def test_a_coarser_grid_and_a_regional_crop_give_masks_on_their_own_grid(tiny_trained_run, tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "coarse"), "--days", "1", "--lat", "19", "--lon", "30",
                 "--case", "coarse"]) == 0
    coarse = next((tmp_path / "coarse").glob("*.nc"))
    crop = write_variant(tiny_trained_run["raw"], tmp_path / "crop.nc",
                         lambda ds: ds.isel(lat=slice(25, 40), lon=slice(40, 61)))   # 15 x 21: not a divisor's multiple
    assert infer(coarse, crop, "--run", tiny_trained_run["run"], "--out", tmp_path / "masks") == 0
    err = capsys.readouterr().err
    assert f"{coarse}: grid spacing" in err and "more than 2x away" in err and f"{crop}: grid" not in err
    for path, shape in ((coarse, (8, 19, 30)), (crop, (8, 15, 21))):
        with xr.open_dataset(tmp_path / "masks" / path.name.replace(".nc", ".climseg.nc")) as masks:
            assert masks["class"].shape == shape and set(np.unique(masks["class"])) <= {0, 1, 2}
            np.testing.assert_allclose(masks.attrs["climseg_training_grid_spacing_deg"], [180 / 45, 360 / 70])
            with xr.open_dataset(path) as source:
                np.testing.assert_array_equal(masks.lon.values, source.lon.values)
                spacing = [abs(float(np.diff(source.lat)[0])), float(np.diff(source.lon)[0])]
            np.testing.assert_allclose(masks.attrs["climseg_input_grid_spacing_deg"], spacing)


def test_spacing_warning_only_beyond_a_factor_of_two():
    assert spacing_warning("f.nc", (0.5, 0.5), (0.25, 0.25)) is None
    assert "more than 2x" in spacing_warning("f.nc", (1.0, 0.25), (0.25, 0.25))
    assert "f.nc: grid spacing" in spacing_warning("f.nc", (0.1, 0.25), (0.25, 0.25))
    assert spacing_warning("f.nc", (1.0, 1.0), None) is None


def _drop_tmq(ds):
    return ds.drop_vars("TMQ")


def _psl_in_hpa(ds):
    ds["PSL"].attrs["units"] = "hPa"
    return ds


@pytest.mark.parametrize("fault, message", [("missing variable", "missing variable TMQ"),
                                            ("wrong unit", "variable PSL has units 'hPa', expected 'Pa'"),
                                            ("truncated", "")])
def test_bad_input_is_one_line_naming_the_file_and_leaves_no_output(fault, message, tiny_trained_run, tmp_path, capsys):
    raw = tiny_trained_run["raw"]
    bad = tmp_path / "bad.nc"
    if fault == "truncated":
        bad.write_bytes(raw.read_bytes()[: raw.stat().st_size * 2 // 3])
    else:
        write_variant(raw, bad, _drop_tmq if fault == "missing variable" else _psl_in_hpa)
    out = tmp_path / "masks"
    assert infer(bad, "--run", tiny_trained_run["run"], "--out", out) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"climseg infer: error: {bad}: ") and message in err and "\n" not in err
    assert not out.exists() or list(out.iterdir()) == []


def test_a_nan_patch_is_reported_filled_with_the_training_mean(tiny_trained_run, predictions, tmp_path, capsys):
    def nan_patch(ds):
        ds["TMQ"][2, 10:15, 20:30] = np.nan   # 50 values at time step 2 (the file has a _FillValue too)
        return ds

    raw = write_variant(tiny_trained_run["raw"], tmp_path / tiny_trained_run["raw"].name, nan_patch)
    assert infer(raw, "--run", tiny_trained_run["run"], "--out", tmp_path / "masks") == 0
    err = capsys.readouterr().err
    assert f"{raw}: 50 missing input value(s) (NaN/_FillValue) in TMQ filled with the channel's training mean" in err
    with xr.open_dataset(tmp_path / "masks" / raw.name.replace(".nc", ".climseg.nc")) as masks:
        assert int(masks.attrs["climseg_missing_values_filled"]) == 50
        classes = masks["class"].values
    np.testing.assert_array_equal(classes[[0, 1, 3, 4, 5, 6, 7]], predictions[[0, 1, 3, 4, 5, 6, 7]])
    # time step 2 equals predict on the sample whose patch holds the training mean of TMQ
    sample = sorted(tiny_trained_run["samples"].glob("data-*.h5"))[2]
    patched = tmp_path / sample.name
    shutil.copy(sample, patched)
    with h5py.File(patched, "r+") as f:
        f["climate/data"][10:15, 20:30, CHANNELS.index("TMQ")] = read_stats(tiny_trained_run["stats"]).mean[0]
    assert main(["predict", "--run", str(tiny_trained_run["run"]), str(patched), "--out", str(tmp_path / "p"),
                 "--no-progress"]) == 0
    with h5py.File(tmp_path / "p" / sample.name, "r") as f:
        np.testing.assert_array_equal(classes[2], f["prediction"][()])


def test_a_rerun_skips_current_outputs_and_overwrite_redoes_them(tiny_trained_run, tmp_path, capsys):
    out = tmp_path / "masks"
    raw = tiny_trained_run["raw"]
    assert infer(raw, "--run", tiny_trained_run["run"], "--out", out) == 0
    mask = out / raw.name.replace(".nc", ".climseg.nc")
    before = mask.stat().st_mtime_ns
    assert infer(raw, "--run", tiny_trained_run["run"], "--out", out) == 0
    assert "0 mask file(s) written" in capsys.readouterr().out and mask.stat().st_mtime_ns == before
    assert infer(raw, "--run", tiny_trained_run["run"], "--out", out, "--overwrite", "--probabilities") == 0
    assert mask.stat().st_mtime_ns != before
    with xr.open_dataset(mask) as masks:   # the class has the highest probability, up to the packing step
        probability, classes = masks["probability"].values, masks["class"].values.astype(int)
    chosen = np.take_along_axis(probability, classes[np.newaxis], axis=0)[0]
    assert (chosen >= probability.max(axis=0) - PROBABILITY_SCALE - 1e-6).all()


# ---------------------------------------------------------------------------------------------- MPI
def _environment():
    return {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "TF_CPP_MIN_LOG_LEVEL": "2"}


@pytest.fixture(scope="module")
def days(tiny_trained_run, tmp_path_factory):
    """Six one-day raw files on the tiny run's grid."""
    out = tmp_path_factory.mktemp("days")
    assert main(["synth", "--out", str(out), "--days", "6", "--lat", "46", "--lon", "70", "--case", "days"]) == 0
    return sorted(out.glob("*.nc"))


def _classes(directory):
    result = {}
    for path in sorted(Path(directory).glob("*.climseg.nc")):
        with xr.open_dataset(path) as masks:
            result[path.name] = masks["class"].values
    return result


@pytest.mark.mpi
@pytest.mark.slow
def test_two_ranks_write_the_same_files_as_one(tiny_trained_run, days, tmp_path):
    assert infer(*days, "--run", tiny_trained_run["run"], "--out", tmp_path / "one") == 0
    result = subprocess.run([*MPIRUN, "-np", "2", CLIMSEG, "infer", *map(str, days), "--run",
                             str(tiny_trained_run["run"]), "--out", str(tmp_path / "two"), "--no-progress"],
                            capture_output=True, text=True, env=_environment(), timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"{len(days)} mask file(s) written" in result.stdout
    one, two = _classes(tmp_path / "one"), _classes(tmp_path / "two")
    assert sorted(one) == sorted(two) and len(one) == len(days)
    for name in one:
        np.testing.assert_array_equal(one[name], two[name])


@pytest.mark.mpi
def test_a_failing_rank_ends_the_whole_job_with_its_message(tiny_trained_run, days, tmp_path, mpi_output):
    bad = tmp_path / "bad.nc"
    bad.write_bytes(b"not netCDF")
    started = time.monotonic()
    result = subprocess.run([*MPIRUN, "-np", "2", CLIMSEG, "infer", str(days[0]), str(bad), "--run",
                             str(tiny_trained_run["run"]), "--out", str(tmp_path / "masks"), "--no-progress"],
                            capture_output=True, text=True, env=_environment(), timeout=300)
    assert result.returncode != 0 and time.monotonic() - started < 120
    assert f"rank 1: CommandError: {bad}: cannot read as netCDF" in mpi_output(result)


@pytest.mark.mpi
@pytest.mark.slow
def test_a_killed_rank_ends_the_job_naming_it_and_a_rerun_redoes_only_the_missing_files(tiny_trained_run, days,
                                                                                         tmp_path, mpi_rank_pid):
    out = tmp_path / "masks"
    marker = os.getpid()
    command = [*MPIRUN, "-x", "CLIMSEG_TEST_JOB", "-np", "2", CLIMSEG, "infer", *map(str, days), "--run",
               str(tiny_trained_run["run"]), "--out", str(out), "--no-progress"]
    job = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**_environment(), "CLIMSEG_TEST_JOB": str(marker)})
    try:
        deadline = time.monotonic() + 240
        while not list(out.glob("*.climseg.nc")) and time.monotonic() < deadline and job.poll() is None:
            time.sleep(0.05)      # kill when the first mask file appears: the job is mid-way
        victim = mpi_rank_pid(marker, 1)
        assert victim is not None and job.poll() is None, "the job ended before a rank could be killed"
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        _, stderr = job.communicate(timeout=60)
        assert time.monotonic() - killed < 30
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode != 0
    assert "rank 1" in stderr and ("signal 9" in stderr or "Killed" in stderr), stderr[-2000:]
    kept = {p.name: p.stat().st_mtime_ns for p in out.glob("*.climseg.nc")}
    for name in kept:  # a killed rank leaves at most a hidden temporary file: every named file is complete
        with xr.open_dataset(out / name) as masks:
            assert masks["class"].shape == (8, 46, 70)
    assert len(kept) < len(days)
    assert infer(*days, "--run", tiny_trained_run["run"], "--out", out) == 0
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("*.climseg.nc")}
    assert len(after) == len(days) and all(after[name] == mtime for name, mtime in kept.items())
