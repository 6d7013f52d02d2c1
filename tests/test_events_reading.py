"""events.reading: mask files and their raw inputs read one step at a time onto the canonical grid."""

import numpy as np
import pytest

from events.reading import mask_grid, raw_file_of, read_steps
from inference.masks import HEURISTIC, Coordinate, mask_file


def _write(path, lat, lon, classes, input_file):
    coords = {"time": Coordinate(np.arange(classes.shape[0], dtype="f8") / 8,
                                 {"units": "days since 2001-01-01 00:00:00", "calendar": "noleap"}),
              "lat": Coordinate(lat, {"units": "degrees_north"}), "lon": Coordinate(lon, {"units": "degrees_east"})}
    with mask_file(path, coords, mask_source=HEURISTIC, source="test", history="", title="t",
                   input_file=input_file) as f:
        f.write(0, classes)


def test_flipped_file_comes_out_canonical_with_indices_back_to_the_file(tmp_path):
    lat = np.array([45.0, 15.0, -15.0, -45.0])  # descending
    lon = np.array([-135.0, -45.0, 45.0, 135.0])  # -180..180
    classes = np.zeros((2, 4, 4), np.int8)
    classes[1, 0, 1] = 1  # lat 45, lon -45 = 315
    _write(tmp_path / "m.labels.nc", lat, lon, classes, tmp_path / "raw.nc")
    steps = list(read_steps(tmp_path / "m.labels.nc"))
    grid, first = steps[0]
    assert list(grid.lat_deg) == [-45.0, -15.0, 15.0, 45.0] and list(grid.lon_deg) == [45.0, 135.0, 225.0, 315.0]
    assert grid.periodic and [s.time.hour for _, s in steps] == [0, 3] and steps[0][1].fields == {}
    canonical = steps[1][1].classes
    row, col = np.argwhere(canonical == 1)[0]
    assert (grid.lat_deg[row], grid.lon_deg[col]) == (45.0, 315.0)
    assert (grid.lat_order[row], grid.lon_order[col]) == (0, 1)  # j, i in the file
    assert mask_grid(tmp_path / "m.labels.nc").same_as(grid)
    assert raw_file_of(tmp_path / "m.labels.nc") is None  # its raw input does not exist
    (tmp_path / "raw.nc").write_bytes(b"")
    assert raw_file_of(tmp_path / "m.labels.nc") == tmp_path / "raw.nc"
    (tmp_path / "elsewhere").mkdir()
    assert raw_file_of(tmp_path / "m.labels.nc", tmp_path / "elsewhere") is None


def test_raw_file_of_another_grid_is_refused(tmp_path):
    import xarray as xr

    lat, lon = np.array([-45.0, 45.0]), np.array([0.0, 90.0, 180.0, 270.0])
    _write(tmp_path / "m.labels.nc", lat, lon, np.zeros((1, 2, 4), np.int8), tmp_path / "raw.nc")
    xr.Dataset({"PSL": (("time", "lat", "lon"), np.ones((1, 3, 4)))},
               coords={"lat": [-45.0, 0.0, 45.0], "lon": lon}).to_netcdf(tmp_path / "raw.nc")
    with pytest.raises(ValueError, match="raw.nc: grid or time axis differs"):
        list(read_steps(tmp_path / "m.labels.nc", raw_path=tmp_path / "raw.nc"))
    with pytest.raises(ValueError, match="not a mask file"):
        list(read_steps(tmp_path / "raw.nc"))
