"""Tests of labeling.pipeline and ``climseg label``: netCDF in, one sample per time step out, bad input."""

import dataclasses
import datetime as dt
import errno
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

from climseg import cli, synth
from climseg.contract import AR, CHANNELS, DATA_KEY, LABELS_KEY
from labeling import pipeline
from labeling.config import IVTConfig, LabelConfig
from labeling.labels import label_time_step
from labeling.reading import open_model_output
from labeling.sample import code_revision, grid_description, read_sample
from labeling.score import score_sample_files

CONFIG = synth.SynthConfig(n_lat=96, n_lon=144, seed=21, n_tcs=3, n_ars=3, case="pipe")
DAYS = (dt.date(2000, 8, 1), dt.date(2000, 8, 2))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Two generated days (96 x 144): list of netCDF paths."""
    out = tmp_path_factory.mktemp("pipeline_inputs")
    return [synth.write_day(CONFIG, day, out)[0] for day in DAYS]


@pytest.fixture(scope="module")
def labelled(inputs, tmp_path_factory):
    """The two days labelled with one worker: output directory."""
    out = tmp_path_factory.mktemp("pipeline_out")
    assert cli.main(["label", *map(str, inputs), "--out", str(out)]) == 0
    return out


def names(directory):
    return sorted(p.name for p in directory.iterdir())


def test_one_sample_per_time_step_with_the_input_channels(inputs, labelled):
    expected = [f"data-{day:%Y-%m-%d}-{step:02d}-1.h5" for day in DAYS for step in range(8)]
    assert names(labelled) == expected
    with xr.open_dataset(inputs[1]) as ds:
        with h5py.File(labelled / "data-2000-08-02-05-1.h5", "r") as f:
            data = f[DATA_KEY][()]
            labels = f[LABELS_KEY][()]
            attrs = dict(f.attrs)
        assert data.shape == (96, 144, 16) and data.dtype == np.float32
        for index, name in enumerate(CHANNELS):
            np.testing.assert_array_equal(data[..., index], ds[name].values[5])
    assert labels.dtype == np.uint8 and set(np.unique(labels)) <= {0, 1, 2}
    assert attrs["source_file"] == str(inputs[1].resolve()) and attrs["source_time_index"] == 5
    assert attrs["time"] == "2000-08-02T15:00:00" and attrs["calendar"] == "noleap"
    assert LabelConfig.from_dict(json.loads(attrs["labeling_config"])) == LabelConfig()
    assert attrs["ivt_source"] == "proxy"


def test_labels_find_the_planted_events(inputs, labelled):
    """End to end on generated data, scored from the written files (1.875 degree grid, so below the scores of
    tests/test_labels.py at 1 degree: measured hit rate 0.792 (19 of 24), TC IoU 0.726, AR IoU 0.827, no false
    alarm; the bounds allow one more missed storm and about 0.02 of IoU, no more)."""
    truth_path = inputs[0].with_name(inputs[0].name.replace(".nc", ".truth.h5"))
    truth = synth.read_truth(truth_path)
    score = score_sample_files(sorted(labelled.glob("data-2000-08-01-*.h5")), truth)
    assert score.tc_true == 8 * CONFIG.n_tcs
    assert score.tc_hit_rate >= 18 / 24 and score.tc_false_alarms == 0, str(score)
    assert score.tc_iou > 0.70 and score.ar_iou > 0.80, str(score)
    for step in range(8):
        labels = read_sample(labelled / f"data-2000-08-01-{step:02d}-1.h5", data=False).labels
        assert not ((labels == AR) & truth.tc_mask[step]).any()  # no TC pixel labelled AR


def test_descending_latitude_and_180_longitude_inputs_give_the_same_samples(inputs, labelled, tmp_path):
    with xr.open_dataset(inputs[0], decode_times=False) as ds:
        turned = ds.load().isel(lat=slice(None, None, -1))
    turned = turned.assign_coords(lon=((turned["lon"] + 180.0) % 360.0) - 180.0).sortby("lon")
    source = tmp_path / "turned.cam.h2.2000-08-01-00000.nc"
    turned.to_netcdf(source)
    out = tmp_path / "out"
    assert cli.main(["label", str(source), "--out", str(out), "--run", "3"]) == 0
    assert names(out) == [f"data-2000-08-01-{s:02d}-3.h5" for s in range(8)]
    mine, reference = read_sample(out / "data-2000-08-01-04-3.h5"), read_sample(labelled / "data-2000-08-01-04-1.h5")
    np.testing.assert_array_equal(mine.data, reference.data)
    np.testing.assert_array_equal(mine.labels, reference.labels)
    orientation = json.loads(mine.attrs["grid_orientation"])
    assert orientation["source_lat"] == "descending" and orientation["lon_rolled_by"] == 72


def _variant(inputs, tmp_path, name, change):
    with xr.open_dataset(inputs[0], decode_times=False) as ds:
        changed = change(ds.load())
    path = tmp_path / "in" / name
    path.parent.mkdir(exist_ok=True)
    changed.to_netcdf(path)
    return path


def _all_nan_at_step_5(ds):
    tmq = ds["TMQ"].values.copy()
    tmq[5] = np.nan
    return ds.assign(TMQ=(ds["TMQ"].dims, tmq, ds["TMQ"].attrs))


def test_bad_inputs_fail_alone_and_leave_nothing_half_written(inputs, labelled, tmp_path, capsys):
    missing = _variant(inputs, tmp_path, "missing.nc", lambda ds: ds.drop_vars("PSL"))
    wrong_dims = _variant(inputs, tmp_path, "dims.nc", lambda ds: ds.assign(TS=ds["TS"].transpose("time", "lon", "lat")))
    all_nan = _variant(inputs, tmp_path, "nan.nc", _all_nan_at_step_5)
    truncated = tmp_path / "in" / "truncated.nc"
    truncated.write_bytes(inputs[0].read_bytes()[:50_000])
    good = tmp_path / "in" / inputs[1].name
    shutil.copy(inputs[1], good)
    out = tmp_path / "out"
    code = cli.main(["label", str(missing), str(wrong_dims), str(all_nan), str(truncated), str(good),
                     "--out", str(out), "--workers", "2"])
    assert code == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("climseg label: error:")]
    assert err[:3] == [  # one line per bad file, in input order
        f"climseg label: error: {missing}: missing variable PSL (needs the 16 CAM5 channels {' '.join(CHANNELS)})",
        f"climseg label: error: {wrong_dims}: variable TS has dimensions (time, lon, lat), expected (time, lat, lon)",
        f"climseg label: error: {all_nan}: variable TMQ is all missing (NaN/_FillValue) at time step 5 "
        "(2000-08-01T15:00:00)",
    ]
    assert len(err) == 4 and err[3].startswith(f"climseg label: error: {truncated}: cannot read")
    # the good file's samples are all there, the all-NaN file's first 5 steps were rolled back, no temporaries
    assert names(out) == [f"data-2000-08-02-{s:02d}-1.h5" for s in range(8)]
    for name in names(out)[::3]:  # labelled in a worker process: the same as with one process
        with h5py.File(out / name) as a, h5py.File(labelled / name) as b:
            np.testing.assert_array_equal(a[LABELS_KEY][()], b[LABELS_KEY][()])
            np.testing.assert_array_equal(a[DATA_KEY][()], b[DATA_KEY][()])


def test_all_nan_file_alone_rolls_back_its_samples(inputs, tmp_path, capsys):
    all_nan = _variant(inputs, tmp_path, "nan.nc", _all_nan_at_step_5)
    out = tmp_path / "out"
    assert cli.main(["label", str(all_nan), "--out", str(out)]) == 1
    assert "TMQ is all missing" in capsys.readouterr().err
    assert names(out) == []


def test_empty_input_list_and_bad_options_are_errors(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["label", "--out", str(out)]) == 2
    assert "no input files given" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli.main(["label", str(tmp_path / "empty"), "--out", str(out)]) == 2
    assert "empty: directory holds no .nc files" in capsys.readouterr().err
    assert cli.main(["label", "x.nc", "--out", str(out), "--workers", "0"]) == 2
    assert "--workers 0: must be at least 1" in capsys.readouterr().err
    config = tmp_path / "label.yaml"
    config.write_text("ar:\n  percentile: 97\n  wiggle: 3\n")
    assert cli.main(["label", "x.nc", "--out", str(out), "--config", str(config)]) == 2
    assert f"{config}: ARConfig: unknown key 'wiggle'" in capsys.readouterr().err
    assert not out.exists()
    taken = tmp_path / "taken"
    taken.write_text("a file where the output directory should go\n")
    assert cli.main(["label", "x.nc", "--out", str(taken)]) == 2
    assert f"{taken}: cannot create the output directory" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no input files to label"):
        pipeline.label_files([], out, config=LabelConfig())


def test_config_file_is_used_and_recorded(inputs, tmp_path):
    config = tmp_path / "label.yaml"
    config.write_text("ar:\n  percentile: 98.0\n")
    out = tmp_path / "out"
    assert cli.main(["label", str(inputs[0]), "--out", str(out), "--config", str(config)]) == 0
    recorded = json.loads(read_sample(out / "data-2000-08-01-00-1.h5", data=False).attrs["labeling_config"])
    assert recorded["ar"]["percentile"] == 98.0


def test_a_directory_of_inputs_and_true_ivt_from_levels(tmp_path):
    config = synth.SynthConfig(n_lat=48, n_lon=72, seed=5, n_tcs=1, n_ars=1, with_plev=True)
    synth.write_day(config, DAYS[0], tmp_path / "in")
    out = tmp_path / "out"
    assert cli.main(["label", str(tmp_path / "in"), "--out", str(out)]) == 0
    assert len(names(out)) == 8
    assert read_sample(out / "data-2000-08-01-07-1.h5", data=False).attrs["ivt_source"] == "levels"


def relabel_from_provenance(path):
    """Label a sample's time step again from nothing but the sample's own attributes: (sample, LabelResult)."""
    sample = read_sample(path, data=False)
    attrs = sample.attrs
    config = LabelConfig.from_dict(json.loads(attrs["labeling_config"]))
    config = dataclasses.replace(config, ivt=IVTConfig(source=attrs["ivt_source"]))
    with open_model_output(attrs["source_file"]) as model:
        step = attrs["source_time_index"]
        assert model.time_label(step) == attrs["time"]
        assert json.loads(attrs["grid"]) == grid_description(model.lat_deg, model.lon_deg)
        fields, levels = model.read_step(step)
        result = label_time_step(fields, model.lat_deg, model.lon_deg, config=config, levels=levels)
    return sample, result


def test_provenance_reproduces_the_labels_exactly(inputs, labelled, tmp_path):
    """Levels input, a non-default configuration, and the default run: the attributes alone give the same labels."""
    day = synth.SynthConfig(n_lat=48, n_lon=72, seed=9, n_tcs=2, n_ars=2, with_plev=True, case="prov")
    source, _ = synth.write_day(day, DAYS[0], tmp_path / "in")
    config = tmp_path / "label.yaml"
    config.write_text("ar:\n  percentile: 97.0\ntc:\n  vorticity_threshold_per_s: 1.2e-4\n  psl_rise_pa: 300.0\n")
    out = tmp_path / "out"
    assert cli.main(["label", str(source), "--out", str(out), "--config", str(config)]) == 0
    paths = sorted(out.glob("data-*.h5")) + [labelled / "data-2000-08-02-03-1.h5", labelled / "data-2000-08-01-06-1.h5"]
    for path in paths:
        sample, again = relabel_from_provenance(path)
        np.testing.assert_array_equal(sample.labels, again.labels, err_msg=str(path))
        assert json.loads(sample.attrs["thresholds"]) == again.thresholds
        assert sample.attrs["code_revision"] == code_revision()
    levels_sample = read_sample(paths[0], data=False)
    assert levels_sample.attrs["ivt_source"] == "levels"  # what "auto" resolved to
    thresholds = json.loads(levels_sample.attrs["thresholds"])
    # 48 x 72 rows are 3.8 degrees (426 km) apart, wider than the 100 km scale: the threshold is lowered,
    # and the sample says so beside the configured value
    tc = thresholds["tc_vorticity_per_s"]
    assert tc["configured"] == 1.2e-4 and tc["difference_half_width_km"] == pytest.approx(180 / 47 * 111.195)
    assert tc["applied"] == pytest.approx(1.2e-4 * (100.0 / tc["difference_half_width_km"]) ** 1.5)
    assert thresholds["ar_ivt_kg_m_s"]["percentile"] == 97.0 and thresholds["ar_ivt_kg_m_s"]["applied"] >= 250.0
    grid = json.loads(levels_sample.attrs["grid"])
    assert grid["shape"] == [48, 72] and grid["lon_spacing_deg"] == 5.0 and grid["periodic"]


@pytest.fixture
def two_mib_disk(tmp_path, monkeypatch):
    """An output directory on a 2 MiB tmpfs (mounted: we run as root); where mounting is not allowed, HDF5
    writes raise OSError(ENOSPC) once 2 MiB of arrays have been written. Yields (directory, how)."""
    directory = tmp_path / "small"
    directory.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(directory)],
                             capture_output=True).returncode == 0
    if not mounted:
        create, written = h5py.Group.create_dataset, [0]

        def filling_disk(self, name, *args, data=None, **kwargs):
            written[0] += np.asarray(data).nbytes if data is not None else 0
            if written[0] > 2 << 20:
                raise OSError(errno.ENOSPC, "Can't synchronously write data (No space left on device)")
            return create(self, name, *args, data=data, **kwargs)

        monkeypatch.setattr(h5py.Group, "create_dataset", filling_disk)
    yield directory, "tmpfs" if mounted else "injected"
    if mounted:
        subprocess.run(["umount", str(directory)], check=True)


def test_disk_full_while_labelling_is_one_line_and_exit_status_1(inputs, two_mib_disk, capsys):
    out, how = two_mib_disk  # samples of 96 x 144 are 0.9 MB: the third does not fit
    assert cli.main(["label", str(inputs[0]), "--out", str(out)]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("climseg label: error:")]
    assert len(err) == 1, (how, err)
    assert re.match(rf"climseg label: error: {re.escape(str(inputs[0]))}: {re.escape(str(out))}/data-2000-08-01-02-1.h5: "
                    r"disk full or quota exceeded: needs 9\d\d\.\d\d kB, ", err[0]), (how, err)
    assert os.listdir(out) == []  # the file's samples rolled back, no temporary left


REPO = Path(__file__).resolve().parents[1]


def label_workflow(workdir, raw, *args):
    """Snakemake's label jobs (--until label) on the netCDF files of ``raw``, local profile."""
    return subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--profile",
                           str(REPO / "profiles" / "local"), "--cores", "2", "--config", f"raw_data={raw}",
                           "results=results", "--until", "label", *args], cwd=workdir, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300)


def test_workflow_labels_every_other_file_and_a_rerun_redoes_only_the_corrupt_one(tmp_path):
    small = synth.SynthConfig(n_lat=48, n_lon=72, seed=3, n_tcs=1, n_ars=1, case="wf")
    raw = tmp_path / "raw"
    days = [dt.date(2000, 8, d) for d in (1, 2, 3)]
    files = [synth.write_day(small, day, raw)[0] for day in days]
    for truth in raw.glob("*.truth.h5"):
        truth.unlink()
    good_bytes = files[1].read_bytes()
    files[1].write_bytes(good_bytes[: len(good_bytes) // 3])  # truncated, as by a killed copy
    first = label_workflow(tmp_path, raw, "--keep-going")
    assert first.returncode != 0, first.stdout[-3000:]
    samples = tmp_path / "results" / "samples"
    for path in (files[0], files[2]):  # the other files' jobs completed
        assert len(list((samples / path.stem).glob("data-*.h5"))) == 8, first.stdout[-3000:]
    assert not (samples / files[1].stem).exists()
    log = (tmp_path / "results" / "logs" / "label" / f"{files[1].stem}.log").read_text()
    errors = [line for line in log.splitlines() if line.startswith("climseg label: error:")]
    assert len(errors) == 1 and errors[0].startswith(f"climseg label: error: {files[1]}: cannot read"), log
    kept = {p: p.stat().st_mtime_ns for p in samples.rglob("data-*.h5")}

    files[1].write_bytes(good_bytes)  # the file copied again, complete
    planned = label_workflow(tmp_path, raw, "-n")
    assert planned.returncode == 0, planned.stdout[-3000:]
    table = planned.stdout.split("Job stats:", 1)[1]
    assert re.search(r"^label\s+1$", table, flags=re.M), planned.stdout[-3000:]
    second = label_workflow(tmp_path, raw)
    assert second.returncode == 0, second.stdout[-3000:]
    assert len(list((samples / files[1].stem).glob("data-*.h5"))) == 8
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # the other files' samples were not redone


def test_rerun_with_skip_done_labels_only_the_failed_file(inputs, tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    good, bad = shutil.copy(inputs[0], raw), raw / inputs[1].name
    bad.write_bytes(inputs[1].read_bytes()[:40_000])  # truncated
    out = tmp_path / "out"
    assert cli.main(["label", str(good), str(bad), "--out", str(out)]) == 1
    first = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert len(first) == 8
    capsys.readouterr()

    shutil.copy(inputs[1], bad)  # copied again, complete
    assert cli.main(["label", str(good), str(bad), "--out", str(out), "--skip-done"]) == 0
    assert "wrote 8 sample(s) from 1 of 2 file(s)" in capsys.readouterr().out
    assert {name: (out / name).stat().st_mtime_ns for name in first} == first  # the good file was not redone
    assert len(list(out.iterdir())) == 16

    config = tmp_path / "label.yaml"  # another configuration: nothing is done yet
    config.write_text("ar:\n  percentile: 98.0\n")
    assert cli.main(["label", str(good), str(bad), "--out", str(out), "--skip-done", "--config", str(config)]) == 0
    assert "wrote 16 sample(s) from 2 of 2 file(s)" in capsys.readouterr().out
    assert all((out / name).stat().st_mtime_ns != mtime for name, mtime in first.items())
