"""Tests of labeling.sample: the sample files of the data contract, written and read back."""

import errno
import json
import os
import re
import subprocess
import types

import h5py
import numpy as np
import pytest

from climseg import __version__
from climseg.contract import AR, CHANNELS, DATA_KEY, LABELS_KEY, TC
from labeling import sample
from labeling.config import LabelConfig

N_LAT, N_LON = 12, 20


def fields_of(seed=0):
    rng = np.random.default_rng(seed)
    return {name: rng.normal(index * 10.0, 1.0, (N_LAT, N_LON)).astype(np.float32)
            for index, name in enumerate(CHANNELS)}


def grid():
    return np.linspace(-90, 90, N_LAT), np.arange(N_LON) * 360.0 / N_LON


def masks():
    tc = np.zeros((N_LAT, N_LON), bool)
    tc[5:7, 3:6] = True
    ar = np.zeros((N_LAT, N_LON), bool)
    ar[6:9, 5:15] = True  # overlaps the TC at (6, 5)
    return tc, ar


def attrs_of(config=None):
    centre = types.SimpleNamespace(lat_deg=12.3456789, lon_deg=45.0, radius_km=250.04)
    return sample.provenance(source_file="/data/run.cam.h2.2000-01-01-00000.nc", time_index=3,
                             time="2000-01-01T09:00:00", calendar="noleap", config=config or LabelConfig(),
                             orientation={"lat": "ascending", "source_lat": "descending"}, ivt_source="proxy",
                             lat_deg=grid()[0], lon_deg=grid()[1], thresholds=THRESHOLDS, tc_centres=[centre])


THRESHOLDS = {"tc_vorticity_per_s": {"configured": 1.6e-4, "applied": 3.5e-5, "difference_half_width_km": 1820.0},
              "ar_ivt_kg_m_s": {"percentile": 95.0, "floor": 250.0, "applied": 412.25}}


def test_class_map_tc_wins_where_both():
    tc, ar = masks()
    labels = sample.class_map(tc, ar)
    assert labels.dtype == np.uint8
    assert labels[6, 5] == TC and labels[8, 10] == AR and labels[0, 0] == 0
    assert set(np.unique(labels)) == {0, TC, AR}
    assert (labels == TC).sum() == tc.sum() and (labels == AR).sum() == (ar & ~tc).sum()


def test_round_trip_with_plain_h5py(tmp_path):
    fields = fields_of()
    tc, ar = masks()
    lat, lon = grid()
    config = LabelConfig.from_dict({"ar": {"percentile": 97.0}})
    path = sample.write_sample(tmp_path / "data-2000-01-01-03-1.h5", sample.stack_channels(fields),
                               sample.class_map(tc, ar), lat, lon, attrs=attrs_of(config))
    assert [p.name for p in tmp_path.iterdir()] == ["data-2000-01-01-03-1.h5"]  # no temporary left
    with h5py.File(path, "r") as f:
        data, labels = f[DATA_KEY], f[LABELS_KEY]
        assert data.shape == (N_LAT, N_LON, 16) and data.dtype == np.float32
        assert labels.shape == (N_LAT, N_LON) and labels.dtype.kind in "iu"
        for index, name in enumerate(CHANNELS):
            np.testing.assert_array_equal(data[..., index], fields[name])
        np.testing.assert_array_equal(labels[()], sample.class_map(tc, ar))
        np.testing.assert_array_equal(f["lat"][()], lat)
        attrs = dict(f.attrs)
    assert attrs["source_file"] == "/data/run.cam.h2.2000-01-01-00000.nc"
    assert attrs["time"] == "2000-01-01T09:00:00" and attrs["source_time_index"] == 3
    assert attrs["climseg_version"] == __version__
    assert LabelConfig.from_dict(json.loads(attrs["labeling_config"])) == config
    assert json.loads(attrs["channels"]) == list(CHANNELS)
    assert json.loads(attrs["grid_orientation"])["source_lat"] == "descending"
    assert json.loads(attrs["tc_centres"]) == [{"lat_deg": 12.3457, "lon_deg": 45.0, "radius_km": 250.0}]
    assert json.loads(attrs["thresholds"]) == THRESHOLDS
    assert json.loads(attrs["grid"]) == {"shape": [N_LAT, N_LON], "lat_spacing_deg": pytest.approx(180 / 11),
                                         "lon_spacing_deg": 18.0, "lat_range_deg": [-90.0, 90.0],
                                         "lon_range_deg": [0.0, 342.0], "periodic": True}
    assert attrs["code_revision"] == sample.code_revision()

    back = sample.read_sample(path)
    np.testing.assert_array_equal(back.data, sample.stack_channels(fields))
    np.testing.assert_array_equal(back.labels, sample.class_map(tc, ar))
    assert back.attrs["ivt_source"] == "proxy" and back.labels.dtype == np.uint8
    assert sample.read_sample(path, data=False).data is None


def test_reads_public_deepcam_files(tmp_path):
    """The public data set: float32 labels, no attributes, no grid (the CAM5 grid is assumed)."""
    path = tmp_path / "data-2106-01-01-00-1.h5"
    data = sample.stack_channels(fields_of(1))
    labels = sample.class_map(*masks()).astype(np.float32)
    with h5py.File(path, "w") as f:
        f[DATA_KEY] = data
        f[LABELS_KEY] = labels
    back = sample.read_sample(path)
    assert back.labels.dtype == np.uint8 and back.attrs == {}
    np.testing.assert_array_equal(back.labels, labels.astype(np.uint8))
    np.testing.assert_array_equal(back.lat_deg, np.linspace(-90, 90, N_LAT))
    np.testing.assert_array_equal(back.lon_deg, np.arange(N_LON) * 18.0)


def _raw(path, data, labels):
    with h5py.File(path, "w") as f:
        if data is not None:
            f[DATA_KEY] = data
        if labels is not None:
            f[LABELS_KEY] = labels
    return path


@pytest.mark.parametrize("data_shape, labels, message", [
    ((N_LAT, N_LON, 15), np.zeros((N_LAT, N_LON)), r"climate/data has shape \(12, 20, 15\), expected \(lat, lon, 16\)"),
    ((N_LAT, N_LON), np.zeros((N_LAT, N_LON)), r"climate/data has shape \(12, 20\)"),
    ((N_LAT, N_LON, 16), np.zeros((N_LON, N_LAT)), r"climate/labels_0 has shape \(20, 12\), expected \(12, 20\)"),
    ((N_LAT, N_LON, 16), np.full((N_LAT, N_LON), 3.0), r"climate/labels_0 holds values outside 0..2 \(3..3\)"),
    ((N_LAT, N_LON, 16), np.full((N_LAT, N_LON), np.nan), r"climate/labels_0 holds NaN or infinite"),
    ((N_LAT, N_LON, 16), None, r"not a sample file \(missing climate/labels_0\)"),
])
def test_read_sample_errors_name_the_file(tmp_path, data_shape, labels, message):
    path = _raw(tmp_path / "odd.h5", np.zeros(data_shape, np.float32), labels)
    with pytest.raises(ValueError, match=f"odd.h5: {message}"):
        sample.read_sample(path)


def test_read_sample_of_a_non_hdf5_file(tmp_path):
    path = tmp_path / "data-2000-01-01-00-1.h5"
    path.write_text("nothing here")
    with pytest.raises(OSError, match="data-2000-01-01-00-1.h5: cannot read sample file"):
        sample.read_sample(path)


def test_write_sample_rejects_mismatched_shapes_and_bad_labels(tmp_path):
    data = sample.stack_channels(fields_of())
    lat, lon = grid()
    with pytest.raises(ValueError, match=r"x.h5: labels \(20, 12\) do not match data \(12, 20\)"):
        sample.write_sample(tmp_path / "x.h5", data, np.zeros((N_LON, N_LAT)), lat, lon, attrs={})
    with pytest.raises(ValueError, match=r"x.h5: data must be \(lat, lon, 16\)"):
        sample.write_sample(tmp_path / "x.h5", data[..., :3], np.zeros((N_LAT, N_LON)), lat, lon, attrs={})
    with pytest.raises(ValueError, match=r"x.h5: grid \(12, 19\) does not match"):
        sample.write_sample(tmp_path / "x.h5", data, np.zeros((N_LAT, N_LON)), lat, lon[:-1], attrs={})
    for bad in (np.full((N_LAT, N_LON), 3, np.uint8), np.full((N_LAT, N_LON), -1.0), np.full((N_LAT, N_LON), np.nan)):
        with pytest.raises(ValueError, match=r"x.h5: labels hold values outside 0..2"):
            sample.write_sample(tmp_path / "x.h5", data, bad, lat, lon, attrs={})
    assert not list(tmp_path.iterdir())


def test_stack_channels_needs_all_16():
    fields = fields_of()
    del fields["ZBOT"]
    with pytest.raises(ValueError, match="missing ZBOT"):
        sample.stack_channels(fields)


@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    """A directory on a 1 MiB tmpfs, mounted for the test (we run as root); where mounting is not allowed,
    a plain directory whose HDF5 writes of more than 1 MiB raise OSError(ENOSPC). Yields (directory, how)."""
    directory = tmp_path / "small"
    directory.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(directory)],
                             capture_output=True).returncode == 0
    if not mounted:
        create = h5py.Group.create_dataset

        def full_disk(self, name, *args, data=None, **kwargs):
            if data is not None and np.asarray(data).nbytes > 1 << 20:
                raise OSError(errno.ENOSPC, "Can't synchronously write data (No space left on device)")
            return create(self, name, *args, data=data, **kwargs)

        monkeypatch.setattr(h5py.Group, "create_dataset", full_disk)
    yield directory, "tmpfs" if mounted else "injected"
    if mounted:
        subprocess.run(["umount", str(directory)], check=True)


def test_disk_full_is_one_line_naming_the_file_and_the_space_and_keeps_the_previous_file(small_disk):
    directory, how = small_disk
    lat, lon = grid()
    path = sample.write_sample(directory / "data-2000-01-01-03-1.h5", sample.stack_channels(fields_of()),
                               sample.class_map(*masks()), lat, lon, attrs=attrs_of())
    before = path.read_bytes()
    big = np.ones((200, 300, len(CHANNELS)), np.float32)  # 3.8 MB on a 1 MiB disk
    with pytest.raises(OSError) as caught:
        sample.write_sample(path, big, np.zeros((200, 300), np.uint8), np.linspace(-90, 90, 200),
                            np.arange(300) * 1.2, attrs=attrs_of())
    message = str(caught.value)
    assert caught.value.errno == errno.ENOSPC and "\n" not in message, (how, message)
    assert re.match(rf"{re.escape(str(path))}: disk full or quota exceeded: needs 3\.9\d MB, ", message), (how, message)
    assert message.endswith(f" free in {directory}; no partial file was left"), (how, message)
    assert path.read_bytes() == before  # the previous sample, as it was
    assert os.listdir(directory) == [path.name]  # no temporary file left
