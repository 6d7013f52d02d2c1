"""The mask file format (inference/masks.py): CF decoding, flags, packing, atomic writing, a full disk."""

import errno
import re
import subprocess
import sys
import textwrap

import netCDF4
import numpy as np
import pytest
import xarray as xr

from inference import masks
from inference.masks import Coordinate, mask_file, mask_file_name, read_source_coordinates


def coordinates(steps=4, rows=6, cols=8, *, descending=False):
    lat = np.linspace(-60.0, 60.0, rows)
    return {"time": Coordinate(np.arange(steps, dtype=np.float64) * 0.125,
                               {"units": "days since 2106-01-01 00:00:00", "calendar": "noleap", "long_name": "time"}),
            "lat": Coordinate(lat[::-1] if descending else lat, {"units": "degrees_north", "long_name": "latitude"}),
            "lon": Coordinate(np.linspace(-180.0, 180.0, cols, endpoint=False).astype(np.float32),
                              {"units": "degrees_east"})}


def write(path, coords, classes, probabilities=None, **kwargs):
    with mask_file(path, coords, mask_source=kwargs.pop("mask_source", masks.NETWORK), source="test", history="h",
                   title="t", input_file=path.with_name("in.nc"), probabilities=probabilities is not None,
                   **kwargs) as out:
        for start in range(len(classes)):
            out.write(start, classes[start:start + 1], None if probabilities is None else probabilities[start:start + 1])


def test_file_decodes_with_xarray_flags_coordinates_and_calendar(tmp_path):
    rng = np.random.default_rng(0)
    coords = coordinates(descending=True)
    classes = rng.integers(0, 3, (4, 6, 8))
    path = tmp_path / "x.climseg.nc"
    write(path, coords, classes)
    with xr.open_dataset(path) as ds:  # decode_cf
        assert ds["class"].dtype == np.int8 and ds["class"].dims == ("time", "lat", "lon")
        np.testing.assert_array_equal(ds["class"].values, classes)
        np.testing.assert_array_equal(ds["class"].attrs["flag_values"], [0, 1, 2])
        assert ds["class"].attrs["flag_meanings"] == "background tropical_cyclone atmospheric_river"
        np.testing.assert_array_equal(ds["ar_binary_tag"].values, classes == 2)
        np.testing.assert_array_equal(ds["tc_binary_tag"].values, classes == 1)
        assert ds["ar_binary_tag"].dtype == ds["tc_binary_tag"].dtype == np.int8
        assert ds.time.values[1].calendar == "noleap" and ds.time.values[1].hour == 3
        np.testing.assert_array_equal(ds.lat.values, coords["lat"].values)  # descending kept
        assert ds.lon.dtype == np.float32 and ds.lat.attrs["units"] == "degrees_north"
        assert ds.attrs["Conventions"] == "CF-1.8" and ds.attrs["climseg_mask_source"] == "network"
        for name in ("title", "history", "source", "references"):
            assert ds.attrs[name]
        for name in ("class", "ar_binary_tag", "tc_binary_tag"):
            assert ds[name].attrs["long_name"] and "_FillValue" not in ds[name].encoding
    with netCDF4.Dataset(path) as nc:
        variable = nc["class"]
        assert variable.chunking() == [1, 6, 8] and variable.filters()["zlib"] and variable.filters()["complevel"] == 4
        assert nc["time"].calendar == "noleap"


def test_probabilities_are_packed_and_unpack_within_half_a_step(tmp_path):
    rng = np.random.default_rng(1)
    probabilities = rng.dirichlet(np.ones(3), size=(4, 6, 8)).astype(np.float32)   # (time, lat, lon, class)
    path = tmp_path / "p.climseg.nc"
    write(path, coordinates(), probabilities.argmax(-1), probabilities)
    with xr.open_dataset(path) as ds:
        assert ds["probability"].dims == ("class_id", "time", "lat", "lon")
        assert ds["probability"].encoding["dtype"] == np.uint8 and ds["probability"].attrs["units"] == "1"
        np.testing.assert_allclose(ds["probability"].values, np.moveaxis(probabilities, -1, 0),
                                   atol=masks.PROBABILITY_SCALE / 2 + 1e-6)
        np.testing.assert_array_equal(ds["class_id"].values, [0, 1, 2])


def test_heuristic_file_name_and_source(tmp_path):
    assert mask_file_name("/d/demo.cam.h2.2106-01-01-00000.nc", masks.HEURISTIC) == \
        "demo.cam.h2.2106-01-01-00000.labels.nc"
    assert mask_file_name("x.nc", masks.NETWORK) == "x.climseg.nc"
    path = tmp_path / "x.labels.nc"
    write(path, coordinates(), np.zeros((4, 6, 8), int), mask_source=masks.HEURISTIC)
    with xr.open_dataset(path) as ds:
        assert ds.attrs["climseg_mask_source"] == "heuristic" and "probability" not in ds


def test_an_error_while_writing_leaves_no_file(tmp_path):
    path = tmp_path / "x.climseg.nc"
    with pytest.raises(ValueError, match="do not fit"):
        write(path, coordinates(), np.zeros((4, 5, 8), int))  # wrong grid
    assert list(tmp_path.iterdir()) == []


def test_read_source_coordinates_keeps_stored_values_and_attributes(tmp_path):
    path = tmp_path / "in.nc"
    write(path, coordinates(descending=True), np.zeros((4, 6, 8), int))
    coords = read_source_coordinates(path)
    assert coords["time"].attrs["calendar"] == "noleap" and coords["time"].values.dtype == np.float64
    assert coords["lat"].values[0] > coords["lat"].values[-1]
    with pytest.raises(OSError, match="nothing.nc"):
        read_source_coordinates(tmp_path / "nothing.nc")


def test_full_disk_is_one_line_naming_the_file_and_leaves_nothing(small_tmpfs, tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    coords = coordinates(steps=8, rows=96, cols=144)
    classes = rng.integers(0, 3, (8, 96, 144))        # random: compresses to far more than 64 KiB
    if small_tmpfs is None:  # no mount allowed: the write call fails as on a full disk
        def full(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(masks.MaskFile, "write", full)
    directory = small_tmpfs or tmp_path
    path = directory / "x.climseg.nc"
    with pytest.raises(OSError) as caught:
        write(path, coords, classes)
    message = str(caught.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert re.fullmatch(rf"{re.escape(str(path))}: disk full or quota exceeded: needs [\d.]+ (kB|MB), "
                        rf"[\d.]+ (B|kB|MB) free in {re.escape(str(directory))}; no file was left", message), message
    assert caught.value.errno == errno.ENOSPC
    assert list(directory.iterdir()) == []


def test_a_process_that_met_a_full_disk_exits_cleanly(small_tmpfs):
    """HDF5 left holding a half-flushed file crashed the interpreter at exit (signal 11); the writer must not."""
    if small_tmpfs is None:
        pytest.skip("needs a real full disk (mounting a tmpfs is not allowed here)")
    script = textwrap.dedent(f"""
        import numpy as np
        from pathlib import Path
        from tests.test_masks import coordinates, write
        try:
            write(Path({str(small_tmpfs / "x.climseg.nc")!r}), coordinates(steps=8, rows=96, cols=144),
                  np.random.default_rng(2).integers(0, 3, (8, 96, 144)))
        except OSError as error:
            print(error)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "disk full" in done.stdout
