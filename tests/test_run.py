"""Loading a trained run (training/run.py): padding to the divisor, missing values, grid spacing, checkpoints."""

import numpy as np
import pytest

from training.data import read_stats
from training.run import (TrainedRun, grid_spacing_deg, is_global_longitude, pad_to_divisor,
                          training_grid_spacing_deg)


def test_padding_wraps_a_global_longitude_and_mirrors_latitude():
    fields = np.arange(3 * 5, dtype=np.float32).reshape(1, 3, 5, 1)    # (batch, lat, lon, channels)
    padded = pad_to_divisor(fields, 4, periodic_lon=True)
    assert padded.shape == (1, 4, 8, 1)
    np.testing.assert_array_equal(padded[0, :3, 5:, 0], fields[0, :, :3, 0])   # east of the last column: the first
    np.testing.assert_array_equal(padded[0, 3, :5, 0], fields[0, 2, :, 0])     # the edge row repeated (symmetric)
    np.testing.assert_array_equal(padded[:, :3, :5], fields)


def test_padding_mirrors_a_regional_longitude():
    fields = np.arange(4 * 6, dtype=np.float32).reshape(1, 4, 6, 1)
    padded = pad_to_divisor(fields, 4, periodic_lon=False)
    assert padded.shape == (1, 4, 8, 1)
    np.testing.assert_array_equal(padded[0, :, 6:, 0], fields[0, :, [5, 4], 0].T)
    assert pad_to_divisor(fields[:, :, :4], 4) is not None and pad_to_divisor(fields[:, :, :4], 4).shape == (1, 4, 4, 1)


def test_global_longitude_and_spacing():
    assert is_global_longitude(np.arange(0, 360, 2.5)) and is_global_longitude(np.arange(-180, 180, 0.3125))
    assert not is_global_longitude(np.arange(200, 260, 2.5))
    assert grid_spacing_deg(np.linspace(90, -90, 73), np.arange(-180, 180, 2.5)) == pytest.approx((2.5, 2.5))


def test_run_loads_normalizes_and_fills_missing_values_with_the_training_mean(tiny_trained_run):
    run = TrainedRun(tiny_trained_run["run"], which="latest")
    assert run.divisor == 4 and run.step == 3 and "step 3" in run.describe()
    rng = np.random.default_rng(0)
    fields = rng.normal(size=(2, 4, 5, 16)).astype(np.float32) * 10 + 100
    fields[1, 2, 3, 0] = np.nan
    fields[0, 0, 0, 7] = np.nan
    normalized, filled = run.normalize(fields)
    assert filled.tolist() == [1] + [0] * 6 + [1] + [0] * 8 and np.isfinite(normalized).all()
    assert normalized[1, 2, 3, 0] == pytest.approx(run.fill[0]) and normalized[0, 0, 0, 7] == pytest.approx(run.fill[7])
    expected = (fields[0, 1, 1] - run.offset) * run.scale
    np.testing.assert_allclose(normalized[0, 1, 1], expected, rtol=1e-6)
    same, _ = run.normalize(fields, in_place=True)
    assert same is fields and np.array_equal(same, normalized)
    mean = read_stats(tiny_trained_run["run"] / "stats.h5").mean.astype(np.float32)
    np.testing.assert_allclose(run.normalize(mean[np.newaxis])[0][0], run.fill, atol=1e-5)  # the mean -> fill


def test_probabilities_on_a_grid_not_divisible_by_the_network(tiny_trained_run):
    run = TrainedRun(tiny_trained_run["run"])
    fields = np.random.default_rng(1).normal(size=(3, 20, 30, 16)).astype(np.float32)
    probabilities = run.class_probabilities(fields)
    assert probabilities.shape == (3, 20, 30, 3)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)
    single = run.class_probabilities(fields[1:2])       # batches do not mix
    np.testing.assert_allclose(single[0], probabilities[1], atol=1e-5)


def test_training_grid_spacing_from_the_samples(tiny_trained_run):
    run = TrainedRun(tiny_trained_run["run"])
    assert training_grid_spacing_deg(run.config) == pytest.approx((180 / 45, 360 / 70))


def test_not_a_run_directory(tmp_path):
    with pytest.raises(ValueError, match=f"{tmp_path}: not a training run directory"):
        TrainedRun(tmp_path)


def test_training_grid_spacing_from_a_staging_manifest(tiny_trained_run, tmp_path):
    import dataclasses
    import json

    sample = sorted(tiny_trained_run["samples"].glob("data-*.h5"))[0]
    (tmp_path / sample.name).symlink_to(sample)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"ranks": {"1": {"train": ["nothing.h5"]}, "0": {"train": [sample.name]}}}))
    config = dataclasses.replace(TrainedRun(tiny_trained_run["run"]).config, data=str(manifest), validation_data="")
    assert training_grid_spacing_deg(config) == pytest.approx((180 / 45, 360 / 70))
    config = dataclasses.replace(config, data=str(tmp_path / "gone" / "manifest.json"))
    assert training_grid_spacing_deg(config) is None
