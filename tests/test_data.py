"""Tests of training.data on small sample files written with h5py (32 x 48 x 16)."""

import json

import h5py
import numpy as np
import pytest

import training  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import tensorflow as tf

from climseg.contract import CHANNELS, DATA_KEY, LABELS_KEY
from training import data
from training.data import (ChannelStats, epoch_plan, make_dataset, normalization_coefficients,
                           pipeline_error_message, read_sample, read_stats)

GRID = (32, 48)
V_CHANNELS = [CHANNELS.index("V850"), CHANNELS.index("VBOT")]


def write_sample(path, fields, labels, *, deepcam=False):
    with h5py.File(path, "w") as f:
        f[DATA_KEY] = fields
        f[LABELS_KEY] = labels.astype(np.float32 if deepcam else np.uint8)
        if not deepcam:
            f.attrs["source_file"] = "test.cam.h2.2000-01-01-00000.nc"
    return path


def sample_arrays(index, grid=GRID):
    """Fields whose channel 0 holds the sample index (to trace order), the rest random; labels 0..2."""
    rng = np.random.default_rng(index)
    fields = rng.normal(10.0, 3.0, (*grid, len(CHANNELS))).astype(np.float32)
    fields[..., 0] = index
    labels = rng.integers(0, 3, grid)
    return fields, labels


@pytest.fixture
def samples(tmp_path):
    """Ten sample files data-2000-01-01-TT-1.h5 in tmp_path/samples (TT = 0..9), the odd ones DeepCAM-style."""
    folder = tmp_path / "samples"
    folder.mkdir()
    paths = []
    for i in range(10):
        fields, labels = sample_arrays(i)
        paths.append(str(write_sample(folder / f"data-2000-01-01-{i:02d}-1.h5", fields, labels, deepcam=i % 2 == 1)))
    return paths


def stats_of(values=None):
    """ChannelStats with mean 1 (and std 2, range -3..5) on every channel, unless given."""
    values = values or {}
    n = len(CHANNELS)
    mean, std = values.get("mean", np.ones(n)), values.get("std", np.full(n, 2.0))
    return ChannelStats(mean=mean, std=std, minval=values.get("minval", np.full(n, -3.0)),
                        maxval=values.get("maxval", np.full(n, 5.0)), count=np.full(n, 100.0))


def write_stats(path, *, frequencies=None, **overrides):
    n = len(CHANNELS)
    values = dict(mean=np.linspace(1, 2, n), sqmean=np.linspace(1, 2, n) ** 2 + np.arange(n),
                  minval=np.full(n, -1.0), maxval=np.full(n, 4.0), count=np.full(n, 1e6))
    values.update(overrides)
    with h5py.File(path, "w") as f:
        for name, value in values.items():
            f[f"climate/{name}"] = value
        if frequencies is not None:
            f["climate/class_frequencies"] = frequencies
    return path


def collect(dataset, batches=None):
    xs, ys = [], []
    for x, y in dataset.take(batches) if batches else dataset:
        xs.append(x.numpy())
        ys.append(y.numpy())
    return np.concatenate(xs), np.concatenate(ys)


# ---------------------------------------------------------------------------------------------- stats


def test_read_stats_std_from_sqmean_and_frequencies(tmp_path):
    path = write_stats(tmp_path / "stats.h5", frequencies=[982, 0.7, 17])
    stats = read_stats(path)
    n = len(CHANNELS)
    np.testing.assert_allclose(stats.std, np.sqrt(np.arange(n)), atol=1e-6)
    np.testing.assert_allclose(stats.mean, np.linspace(1, 2, n))
    np.testing.assert_allclose(stats.class_frequencies, np.array([982, 0.7, 17]) / 999.7)
    assert read_stats(write_stats(tmp_path / "plain.h5")).class_frequencies is None


def test_read_stats_of_a_file_written_by_climseg_stats(samples, tmp_path):
    from labeling.stats import compute_stats, write_stats as write_stats_file

    write_stats_file(tmp_path / "stats.h5", compute_stats(samples))
    stats = read_stats(tmp_path / "stats.h5")
    fields = np.stack([sample_arrays(i)[0] for i in range(10)]).reshape(-1, len(CHANNELS)).astype(np.float64)
    labels = np.stack([sample_arrays(i)[1] for i in range(10)])
    np.testing.assert_allclose(stats.mean, fields.mean(axis=0), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(stats.std, fields.std(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(stats.minval, fields.min(axis=0))
    np.testing.assert_allclose(stats.class_frequencies, np.bincount(labels.ravel()) / labels.size)


def test_read_stats_clamps_negative_variance_from_rounding(tmp_path):
    n = len(CHANNELS)
    stats = read_stats(write_stats(tmp_path / "s.h5", mean=np.full(n, 3.0), sqmean=np.full(n, 9.0 - 1e-9)))
    np.testing.assert_array_equal(stats.std, np.zeros(n))


def test_read_stats_errors_name_the_file(tmp_path):
    with h5py.File(tmp_path / "partial.h5", "w") as f:
        f["climate/mean"] = np.zeros(len(CHANNELS))
    with pytest.raises(ValueError, match="partial.h5: not a stats file: missing climate/count, climate/sqmean"):
        read_stats(tmp_path / "partial.h5")
    with pytest.raises(ValueError, match=r"short.h5: climate/minval has shape \(15,\)"):
        read_stats(write_stats(tmp_path / "short.h5", minval=np.zeros(15)))
    with pytest.raises(ValueError, match="freq.h5: climate/class_frequencies must be 3"):
        read_stats(write_stats(tmp_path / "freq.h5", frequencies=[1.0, -1.0, 0.5]))
    assert read_stats(write_stats(tmp_path / "unlabelled.h5", frequencies=[0.0, 0.0, 0.0])).class_frequencies is None
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(OSError, match="text.h5: cannot read stats file"):
        read_stats(tmp_path / "text.h5")


def test_normalization_coefficients_match_numpy_and_zero_range_is_zero():
    n = len(CHANNELS)
    minval, maxval = np.arange(n, dtype=float), np.arange(n, dtype=float) * 3
    std = np.linspace(0, 3, n)
    stats = stats_of(dict(minval=minval, maxval=maxval, std=std))
    x = np.random.default_rng(0).normal(5, 4, (4, 5, n)).astype(np.float32)
    offset, scale = normalization_coefficients(stats, method="minmax")
    expected = (x[..., 1:] - minval[1:]) / (maxval[1:] - minval[1:])
    np.testing.assert_allclose(((x - offset) * scale)[..., 1:], expected, rtol=1e-5)
    assert np.all(((x - offset) * scale)[..., 0] == 0)  # channel 0: max == min
    offset, scale = normalization_coefficients(stats, method="zscore")
    np.testing.assert_allclose(((x - offset) * scale)[..., 1:], (x[..., 1:] - 1.0) / std[1:], rtol=1e-5)
    assert np.all(((x - offset) * scale)[..., 0] == 0)  # channel 0: std 0
    with pytest.raises(ValueError, match="normalization must be one of minmax, zscore, got 'unit'"):
        normalization_coefficients(stats, method="unit")


# ---------------------------------------------------------------------------------------------- one sample


def test_read_sample_normalizes_crops_and_flips(samples):
    fields, labels = sample_arrays(4)
    stats = stats_of()
    offset, scale = normalization_coefficients(stats, method="zscore")
    x, y = read_sample(samples[4], offset=offset, scale=scale)
    np.testing.assert_allclose(x, (fields - 1.0) / 2.0, rtol=1e-6)
    np.testing.assert_array_equal(y, labels)
    x, y = read_sample(samples[4], offset=offset, scale=scale, crop_origin=(3, 7), crop_shape=(16, 24),
                       flip_latitude=True)
    window = fields[3:19, 7:31].copy()
    window[..., V_CHANNELS] *= -1
    np.testing.assert_allclose(x, (window[::-1] - 1.0) / 2.0, rtol=1e-6)
    np.testing.assert_array_equal(y, labels[3:19, 7:31][::-1])
    assert x.dtype == np.float32 and y.dtype == np.int32


def test_deepcam_float_labels_read_like_ours(tmp_path):
    fields, labels = sample_arrays(0)
    ours = write_sample(tmp_path / "data-2000-01-01-00-1.h5", fields, labels)
    theirs = write_sample(tmp_path / "data-2000-01-01-00-2.h5", fields, labels, deepcam=True)
    offset, scale = normalization_coefficients(stats_of(), method="minmax")
    a, b = read_sample(ours, offset=offset, scale=scale), read_sample(theirs, offset=offset, scale=scale)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def bad_sample(path, problem):
    fields, labels = sample_arrays(0)
    if problem == "channels":
        fields = fields[..., :15]
    if problem == "label_shape":
        labels = labels[:, :40]
    if problem == "label_values":
        labels = labels + 1
    if problem == "label_dtype":
        labels = labels > 0
    with h5py.File(path, "w") as f:
        if problem != "no_data":
            f[DATA_KEY] = fields
        if problem != "no_labels":
            fractional = 0.5 if problem == "fractional" else 0.0
            f[LABELS_KEY] = labels if problem == "label_dtype" else labels.astype(np.float32) + fractional
    if problem == "truncated":
        size = path.stat().st_size
        with open(path, "r+b") as f:
            f.truncate(size // 2)
    if problem == "not_hdf5":
        path.write_bytes(b"\x89HDF\r\n garbage")
    return path


@pytest.mark.parametrize("problem, error, message", [
    ("channels", ValueError, r"climate/data has shape \(32, 48, 15\), expected \(lat, lon, 16\)"),
    ("label_shape", ValueError, r"climate/labels_0 has shape \(32, 40\), expected \(32, 48\)"),
    ("label_values", ValueError, "climate/labels_0 holds values in 1..3, expected class ids 0..2"),
    ("fractional", ValueError, "climate/labels_0 holds values that are not class ids"),
    ("label_dtype", ValueError, "climate/labels_0 has dtype bool, expected integers"),
    ("no_data", ValueError, "no data set climate/data"),
    ("no_labels", ValueError, "no data set climate/labels_0"),
    ("truncated", OSError, "not a readable HDF5 sample file"),
    ("not_hdf5", OSError, "not a readable HDF5 sample file"),
])
def test_bad_sample_errors_name_the_file(tmp_path, problem, error, message):
    path = bad_sample(tmp_path / "data-2000-01-01-00-1.h5", problem)
    offset, scale = normalization_coefficients(stats_of(), method="zscore")
    with pytest.raises(error, match=f"data-2000-01-01-00-1.h5: {message}"):
        read_sample(path, offset=offset, scale=scale)


def test_truncated_data_after_intact_header_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "data-2000-01-01-00-1.h5"
    fields, labels = sample_arrays(0)
    with h5py.File(path, "w") as f:
        f[LABELS_KEY] = labels.astype(np.uint8)  # labels and metadata first, the big data set last
        f.create_dataset(DATA_KEY, data=fields)
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 4096)
    offset, scale = normalization_coefficients(stats_of(), method="zscore")
    with pytest.raises(OSError, match="data-2000-01-01-00-1.h5: .*(truncated|not a readable)"):
        read_sample(path, offset=offset, scale=scale)


def test_corrupt_compressed_data_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "data-2000-01-01-00-1.h5"
    fields, labels = sample_arrays(0)
    with h5py.File(path, "w") as f:
        f[LABELS_KEY] = labels.astype(np.uint8)
        f.create_dataset(DATA_KEY, data=fields, chunks=(8, 48, 16), compression="gzip")
        chunk = f[DATA_KEY].id.get_chunk_info(1)
    with open(path, "r+b") as f:  # the file keeps its size and header; one chunk no longer inflates
        f.seek(chunk.byte_offset + 16)
        f.write(b"\xff" * 64)
    offset, scale = normalization_coefficients(stats_of(), method="zscore")
    with pytest.raises(OSError, match="data-2000-01-01-00-1.h5: cannot read sample data, truncated or corrupt"):
        read_sample(path, offset=offset, scale=scale)


def test_grid_mismatch_and_crop_outside_grid(samples, tmp_path):
    offset, scale = normalization_coefficients(stats_of(), method="zscore")
    with pytest.raises(ValueError, match=r"data-2000-01-01-00-1.h5: grid 32 x 48 differs from 64 x 96"):
        read_sample(samples[0], offset=offset, scale=scale, expected_grid=(64, 96))
    with pytest.raises(ValueError, match=r"data-2000-01-01-00-1.h5: crop 16 x 16 at \(20, 0\) does not fit the grid"):
        read_sample(samples[0], offset=offset, scale=scale, crop_origin=(20, 0), crop_shape=(16, 16))
    with pytest.raises(ValueError, match="data-2000-01-01-00-1.h5: crop 40 x 8 does not fit the grid 32 x 48"):
        make_dataset(samples, stats_of(), batch_size=2, crop=(40, 8))


# ---------------------------------------------------------------------------------------------- datasets


def test_dataset_shapes_dtypes_and_values_in_file_order(samples):
    stats = stats_of()
    dataset = make_dataset(samples, stats, batch_size=4, shuffle=False, repeat=False, normalization="minmax",
                           read_workers=2)
    assert dataset.element_spec[0].shape == (4, *GRID, 16) and dataset.element_spec[0].dtype == tf.float32
    assert dataset.element_spec[1].shape == (4, *GRID) and dataset.element_spec[1].dtype == tf.int32
    x, y = collect(dataset)
    assert x.shape == (8, *GRID, 16) and y.shape == (8, *GRID)  # 10 files, batch 4: the last 2 are dropped
    for i in range(8):
        fields, labels = sample_arrays(i)
        np.testing.assert_allclose(x[i], (fields + 3.0) / 8.0, rtol=1e-6)
        np.testing.assert_array_equal(y[i], labels)


def test_every_file_once_per_epoch_and_order_fixed_by_seed(samples):
    stats = stats_of(dict(minval=np.zeros(16), maxval=np.ones(16)))  # channel 0 stays the sample index
    stream = collect(make_dataset(samples, stats, batch_size=5, seed=3, normalization="minmax", read_workers=2), 4)[0]
    indices = stream[:, 0, 0, 0].astype(int)
    assert sorted(indices[:10]) == list(range(10)) and sorted(indices[10:]) == list(range(10))
    assert list(indices[:10]) != list(range(10)) and list(indices[:10]) != list(indices[10:])
    again = collect(make_dataset(samples, stats, batch_size=5, seed=3, normalization="minmax", read_workers=3), 4)[0]
    np.testing.assert_array_equal(stream, again)  # same seed, other number of readers: same batches
    other = collect(make_dataset(samples, stats, batch_size=5, seed=4, normalization="minmax", read_workers=2), 2)[0]
    assert list(other[:, 0, 0, 0].astype(int)) != list(indices[:10])
    np.testing.assert_array_equal(indices[:10], epoch_plan(10, seed=3, epoch=0, shuffle=True, grid=GRID,
                                                           crop=None, flips=False).order)


def test_skip_batches_and_epoch_resume_the_same_stream(samples):
    kwargs = dict(batch_size=3, seed=7, crop=(16, 16), flips=True, read_workers=2)
    full = collect(make_dataset(samples, stats_of(), **kwargs), 6)  # 18 samples: crosses into epoch 1
    resumed = collect(make_dataset(samples, stats_of(), skip_batches=4, **kwargs), 2)
    np.testing.assert_array_equal(resumed[0], full[0][12:])
    np.testing.assert_array_equal(resumed[1], full[1][12:])
    epoch1 = collect(make_dataset(samples, stats_of(), epoch=1, **kwargs), 1)
    np.testing.assert_array_equal(epoch1[0], full[0][10:13])


def test_crops_and_flips_follow_the_epoch_plan(samples):
    stats = stats_of()
    x, y = collect(make_dataset(samples, stats, batch_size=2, seed=1, crop=(8, 12), flips=True, repeat=False,
                                read_workers=2))
    plan = epoch_plan(10, seed=1, epoch=0, shuffle=True, grid=GRID, crop=(8, 12), flips=True)
    assert x.shape == (10, 8, 12, 16) and y.shape == (10, 8, 12)
    assert 0 < plan.flips.sum() < 10
    for i in range(10):
        fields, labels = sample_arrays(int(plan.order[i]))
        r, c = plan.crop_origins[i]
        window, truth = fields[r:r + 8, c:c + 12].copy(), labels[r:r + 8, c:c + 12]
        if plan.flips[i]:
            window[..., V_CHANNELS] *= -1
            window, truth = window[::-1], truth[::-1]
        np.testing.assert_allclose(x[i], (window - 1.0) / 2.0, rtol=1e-6)
        np.testing.assert_array_equal(y[i], truth)


def test_bad_file_met_while_iterating_names_it(samples, tmp_path):
    bad = bad_sample(tmp_path / "samples" / "data-2000-01-01-05-1.h5", "channels")
    dataset = make_dataset(samples, stats_of(), batch_size=2, shuffle=False, repeat=False, read_workers=2)
    with pytest.raises(tf.errors.OpError) as caught:
        collect(dataset)
    assert pipeline_error_message(caught.value) == (f"{bad}: climate/data has shape (32, 48, 15), "
                                                    "expected (lat, lon, 16)")


def test_make_dataset_argument_errors(samples):
    with pytest.raises(ValueError, match="no sample files"):
        make_dataset([], stats_of(), batch_size=2)
    with pytest.raises(ValueError, match="10 files give no full batch of 11"):
        make_dataset(samples, stats_of(), batch_size=11, repeat=False)
    with pytest.raises(ValueError, match="drop_remainder=False is not supported"):
        make_dataset(samples, stats_of(), batch_size=2, drop_remainder=False)
    with pytest.raises(ValueError, match=r"batch_size \(0\)"):
        make_dataset(samples, stats_of(), batch_size=0)
    with pytest.raises(OSError, match="missing.h5: no such sample file"):
        make_dataset([samples[0][:-3] + "missing.h5"], stats_of(), batch_size=1)


def test_reader_processes_do_not_outlive_the_dataset(samples):
    import gc
    import multiprocessing

    before = {p.pid for p in multiprocessing.active_children()}
    for _ in make_dataset(samples, stats_of(), batch_size=2, repeat=False, read_workers=2):
        pass
    endless = iter(make_dataset(samples, stats_of(), batch_size=2, read_workers=2))
    next(endless)
    assert len({p.pid for p in multiprocessing.active_children()} - before) == 2
    del endless
    gc.collect()
    assert {p.pid for p in multiprocessing.active_children()} - before == set()


def test_batches_kept_by_the_consumer_stay_intact(samples):
    """Batches alias shared memory; keeping many of them alive must not let readers overwrite them."""
    stats = stats_of(dict(minval=np.zeros(16), maxval=np.ones(16)))
    kept = list(make_dataset(samples, stats, batch_size=1, shuffle=False, normalization="minmax", read_workers=2,
                             prefetch=1).take(25))
    indices = [int(x[0, 5, 5, 0]) for x, _ in kept]
    assert indices == [i % 10 for i in range(25)]
    for i, (x, y) in enumerate(kept):
        np.testing.assert_array_equal(y[0].numpy(), sample_arrays(i % 10)[1])


def test_reader_processes_do_not_import_the_main_script(samples, tmp_path, repo_root):
    """A script's top level (here: importing TensorFlow, writing a line) runs once, not in every reader."""
    import os
    import subprocess
    import sys

    marker = tmp_path / "imports.txt"
    script = tmp_path / "train_script.py"
    script.write_text(f"""
import training, tensorflow
with open({str(marker)!r}, "a") as f:
    f.write("imported\\n")
from training.data import make_dataset, ChannelStats
import numpy as np
if __name__ == "__main__":
    stats = ChannelStats(*(np.ones(16),) * 5)
    for x, y in make_dataset({samples!r}, stats, batch_size=2, repeat=False, read_workers=2):
        pass
""")
    subprocess.run([sys.executable, str(script)], check=True, cwd=repo_root, timeout=120,
                   env={**os.environ, "PYTHONPATH": str(repo_root)})
    assert marker.read_text() == "imported\n"
