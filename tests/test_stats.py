"""Tests of labeling.stats and ``climseg stats``: streaming statistics equal numpy over all samples."""

import json

import h5py
import numpy as np
import pytest

from climseg import cli
from climseg.contract import CHANNELS, DATA_KEY, LABELS_KEY, STATS_KEYS
from labeling import stats as stats_module
from labeling.sample import write_sample

N_LAT, N_LON = 16, 24


def make_samples(directory, count, *, seed=0, with_nan=False):
    """Write ``count`` samples with channel-specific offsets and scales; return (paths, data, labels)."""
    rng = np.random.default_rng(seed)
    offsets = np.array([10.0 ** (i % 6) for i in range(16)])  # magnitudes from 1 to 1e5, like Pa and kg kg-1
    paths, data, labels = [], [], []
    for k in range(count):
        values = (offsets * (1 + 0.1 * rng.standard_normal((N_LAT, N_LON, 16)))).astype(np.float32)
        if with_nan and k == 1:
            values[3:5, :, 2] = np.nan
        classes = rng.choice(3, size=(N_LAT, N_LON), p=[0.9, 0.03, 0.07]).astype(np.uint8)
        path = directory / f"data-2000-01-{1 + k // 8:02d}-{k % 8:02d}-1.h5"
        write_sample(path, values, classes, np.linspace(-90, 90, N_LAT), np.arange(N_LON) * 15.0, attrs={})
        paths.append(path)
        data.append(values)
        labels.append(classes)
    return paths, np.stack(data), np.stack(labels)


def expected_stats(data, labels):
    values = data.astype(np.float64).reshape(-1, 16)
    counts = np.bincount(labels.ravel(), minlength=3).astype(np.float64)
    return {
        "climate/count": np.isfinite(values).sum(axis=0).astype(np.float64),
        "climate/mean": np.nanmean(values, axis=0),
        "climate/sqmean": np.nanmean(values**2, axis=0),
        "climate/variance": np.nanvar(values, axis=0),
        "climate/minval": np.nanmin(values, axis=0),
        "climate/maxval": np.nanmax(values, axis=0),
        "climate/class_counts": counts,
        "climate/class_frequencies": counts / counts.sum(),
    }


@pytest.mark.parametrize("with_nan", [False, True])
def test_stats_file_equals_numpy_over_all_samples(tmp_path, with_nan):
    paths, data, labels = make_samples(tmp_path / "samples", 11, with_nan=with_nan)
    out = tmp_path / "stats.h5"
    assert cli.main(["stats", str(tmp_path / "samples"), "--out", str(out)]) == 0
    expected = expected_stats(data, labels)
    with h5py.File(out, "r") as f:
        for key in STATS_KEYS:
            assert f[key].shape == (16,) and f[key].dtype == np.float64
        for key, value in expected.items():
            np.testing.assert_allclose(f[key][()], value, rtol=1e-12, err_msg=key)
        assert f.attrs["files"] == 11 and json.loads(f.attrs["channels"]) == list(CHANNELS)
    if with_nan:
        assert expected["climate/count"][2] == 11 * N_LAT * N_LON - 2 * N_LON


def test_sources_may_be_files_directories_and_lists(tmp_path):
    paths, data, labels = make_samples(tmp_path / "a", 6, seed=1)
    listing = tmp_path / "train.txt"
    listing.write_text("".join(f"{p}\n" for p in paths[2:4]))
    out = tmp_path / "stats.h5"
    assert cli.main(["stats", str(paths[0]), str(listing), str(paths[5]), "--out", str(out)]) == 0
    chosen = [0, 2, 3, 5]
    expected = expected_stats(data[chosen], labels[chosen])
    with h5py.File(out, "r") as f:
        np.testing.assert_allclose(f["climate/mean"][()], expected["climate/mean"], rtol=1e-12)
        assert f.attrs["files"] == 4


def naive_running_sums(chunks):
    """Mean and variance from running float64 sums of the values and of their squares (the broken way)."""
    total = squares = count = 0.0
    for chunk in chunks:
        values = chunk.reshape(-1, 16)
        total, squares, count = total + values.sum(axis=0), squares + (values**2).sum(axis=0), count + len(values)
    mean = total / count
    return mean, squares / count - mean**2


def test_running_stats_merge_keeps_the_variance_where_running_sums_lose_it():
    """A spread of 1 around 1e8: the squares (1e16) hold no digit of the variance in float64."""
    rng = np.random.default_rng(2)
    chunks = [1e8 + rng.standard_normal((50, 1, 16)) for _ in range(40)]
    stats = stats_module.RunningStats()
    for chunk in chunks:
        stats.add(chunk)
    everything = np.concatenate(chunks).reshape(-1, 16)
    exact_variance = ((everything - everything.mean(axis=0)) ** 2).mean(axis=0)  # two passes over all values
    np.testing.assert_allclose(stats.mean, everything.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(stats.variance, exact_variance, rtol=1e-6)
    naive_mean, naive_variance = naive_running_sums(chunks)
    naive_error = np.abs(naive_variance / exact_variance - 1)
    assert naive_error.max() > 0.5  # measured: off by up to 9x, and -8 for some channels (the merge: 2e-9)
    assert np.abs(stats.variance / exact_variance - 1).max() < 1e-6 * naive_error.max()
    assert stats.files == 40 and (stats.class_frequencies == 0).all()


def test_running_stats_merge_of_uneven_chunks_with_missing_values_equals_two_passes():
    rng = np.random.default_rng(3)
    chunks = [rng.normal(5e3, 1 + k, (3 + 7 * k, 2, 16)) for k in range(6)]
    chunks[2][0, :, 4] = np.nan
    chunks[4][..., 9] = np.nan  # a channel missing from a whole sample
    stats = stats_module.RunningStats()
    for chunk in chunks:
        stats.add(chunk)
    everything = np.concatenate([c.reshape(-1, 16) for c in chunks])
    np.testing.assert_array_equal(stats.count, np.isfinite(everything).sum(axis=0))
    np.testing.assert_allclose(stats.mean, np.nanmean(everything, axis=0), rtol=1e-13)
    np.testing.assert_allclose(stats.variance, np.nanvar(everything, axis=0), rtol=1e-10)
    np.testing.assert_allclose(stats.sqmean, np.nanmean(everything**2, axis=0), rtol=1e-13)


def test_public_deepcam_files_with_float_labels(tmp_path):
    path = tmp_path / "data-2106-01-01-00-1.h5"
    with h5py.File(path, "w") as f:
        f[DATA_KEY] = np.ones((4, 6, 16), np.float32)
        f[LABELS_KEY] = np.array([[0, 1, 2, 2, 0, 0]] * 4, np.float32)
    out = tmp_path / "stats.h5"
    assert cli.main(["stats", str(path), "--out", str(out)]) == 0
    with h5py.File(out, "r") as f:
        np.testing.assert_allclose(f["climate/class_frequencies"][()], [0.5, 1 / 6, 1 / 3])


def test_errors_name_the_problem(tmp_path, capsys):
    out = tmp_path / "stats.h5"
    assert cli.main(["stats", "--out", str(out)]) == 2
    assert "no samples given" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli.main(["stats", str(tmp_path / "empty"), "--out", str(out)]) == 2
    assert "empty: no data-*.h5 sample files in this directory or below it" in capsys.readouterr().err
    assert cli.main(["stats", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "nowhere: no such directory" in capsys.readouterr().err
    paths, _, _ = make_samples(tmp_path / "s", 2)
    with h5py.File(paths[1], "r+") as f:
        del f[LABELS_KEY]
    assert cli.main(["stats", str(tmp_path / "s"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line]
    assert errors == [f"climseg stats: error: {paths[1]}: not a sample file (missing climate/labels_0)"]
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".stats.h5")]
    with pytest.raises(ValueError, match="no samples to compute statistics of"):
        stats_module.write_stats(out, stats_module.RunningStats())
