"""Tests of the Snakemake workflow: lint, configuration errors, rerun semantics, and the whole
pipeline run end to end with the local profile on a tiny grid (config/test.yaml)."""

import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from climseg.contract import CHANNELS, DATA_KEY, LABELS_KEY, STATS_KEYS, parse_sample_file_name
from climseg.mllog import read_mllog

REPO = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
STEPS = ("synth", "label", "stats", "split", "stage", "train", "evaluate", "infer")


def snakemake(*args, cwd, timeout=120):
    """Run snakemake with this repository's Snakefile; stderr is merged into stdout."""
    return subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), *args],
                          cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)


def planned_jobs(result):
    """{rule: count} from the 'Job stats' table of a (dry) run."""
    assert result.returncode == 0, result.stdout
    text = result.stdout
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:", 1)[1]
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M))
    jobs.pop("total", None)
    return {rule: int(count) for rule, count in jobs.items()}


def write_config(directory, name, settings):
    path = directory / name
    path.write_text(yaml.safe_dump(settings))
    return str(path)


def test_lint_has_no_findings():
    result = snakemake("--lint", cwd=REPO)
    assert result.returncode == 0, result.stdout
    assert "Congratulations, your workflow is in a good condition!" in result.stdout
    assert "Lints for" not in result.stdout


def test_dry_run_of_the_demo_plans_every_step(tmp_path):
    jobs = planned_jobs(snakemake("--profile", str(REPO / "profiles" / "local"), "-n", cwd=tmp_path))
    assert jobs == {"all": 1, "synth": 1, "label": 3, "stats": 1, "split": 1, "stage": 1, "train": 1,
                    "evaluate": 1, "infer": 3}


def test_until_stage_stops_after_staging(tmp_path):
    jobs = planned_jobs(snakemake("--profile", str(REPO / "profiles" / "local"), "-n", "--until", "stage",
                                  cwd=tmp_path))
    assert set(jobs) == {"synth", "label", "stats", "split", "stage"}


def test_raw_data_directory_gives_one_label_job_per_file_and_no_synth(tmp_path):
    raw = tmp_path / "cam5"
    raw.mkdir()
    for day in ("1981-01-01", "1981-01-02", "1981-01-03"):
        (raw / f"run1.cam.h2.{day}-00000.nc").write_bytes(b"")
    (raw / "notes.txt").write_text("not model output")
    result = snakemake("--profile", str(REPO / "profiles" / "local"), "-n", "--config", f"raw_data={raw}",
                       cwd=tmp_path)
    jobs = planned_jobs(result)
    assert "synth" not in jobs and jobs["label"] == 3
    assert f"{raw}/run1.cam.h2.1981-01-02-00000.nc" in result.stdout


def test_demo_days_follow_the_noleap_calendar_of_synth(tmp_path):
    from climseg.synth import model_days

    leap = write_config(tmp_path, "leap.yaml", {"synth": {"days": 3, "start_date": "2104-02-28"}})
    result = snakemake("--profile", str(REPO / "profiles" / "local"), "-n", "--configfile", leap, cwd=tmp_path)
    days = [str(d) for d in model_days(datetime.date(2104, 2, 28), 3)]
    assert days == ["2104-02-28", "2104-03-01", "2104-03-02"]
    for day in days:
        assert f"results/demo/raw/demo.cam.h2.{day}-00000.nc" in result.stdout
    assert "2104-02-29" not in result.stdout


@pytest.mark.parametrize("settings, key, message", [
    ({"stage": {"samples_per_rank": -4}}, "samples_per_rank", "-4 is less than the minimum of 1"),
    ({"train": {"model": "unet"}}, "model", "'unet' is not one of ['tiramisu', 'deeplabv3plus']"),
    ({"synth": {"days": 0}}, "days", "0 is less than the minimum of 1"),
    ({"split": {"fractions": [0.8, 0.2]}}, "fractions", "is too short"),
    ({"label": {"parameters": {"ar": {"percentile": 95}, "tropics": {}}}}, "parameters",
     "Additional properties are not allowed ('tropics' was unexpected)"),
])
def test_bad_configuration_fails_at_start_naming_the_key(settings, key, message, tmp_path):
    result = snakemake("-n", "--configfile", write_config(tmp_path, "bad.yaml", settings), cwd=tmp_path)
    assert result.returncode != 0
    assert "Error validating config file" in result.stdout
    assert message in result.stdout
    assert re.search(rf"On instance\[.*'{key}'\]", result.stdout)
    assert "rule synth" not in result.stdout  # nothing was planned


def test_missing_data_directory_fails_at_start_naming_the_key(tmp_path):
    result = snakemake("-n", "--config", f"raw_data={tmp_path / 'nowhere'}", cwd=tmp_path)
    assert result.returncode != 0
    assert f"config key raw_data: {tmp_path / 'nowhere'} is not a directory" in result.stdout


def test_data_directory_without_model_output_fails_naming_the_key(tmp_path):
    (tmp_path / "empty").mkdir()
    result = snakemake("-n", "--config", f"raw_data={tmp_path / 'empty'}", cwd=tmp_path)
    assert result.returncode != 0
    assert "config key raw_data: no CAM5 h2 files" in result.stdout


def test_unknown_machine_fails_naming_the_key(tmp_path):
    result = snakemake("-n", "--config", "machine=jupiter", cwd=tmp_path)
    assert result.returncode != 0
    assert "config key machine: no machine file" in result.stdout
    assert "summit" in result.stdout


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The whole workflow with the local profile on config/test.yaml (48 x 72, one day, 2 steps)."""
    workdir = tmp_path_factory.mktemp("workflow")
    result = snakemake("--profile", str(REPO / "profiles" / "local"), "--cores", "2",
                       "--configfile", str(REPO / "config" / "test.yaml"), cwd=workdir, timeout=900)
    assert result.returncode == 0, result.stdout[-5000:]
    return workdir, workdir / "results" / "test", result


@pytest.mark.slow
@pytest.mark.mpi
def test_end_to_end_every_output_exists_and_is_valid(demo_run):
    workdir, results, result = demo_run
    import xarray

    netcdf = sorted((results / "raw").glob("*.nc"))
    assert [p.name for p in netcdf] == ["demo.cam.h2.2106-01-01-00000.nc"]
    with xarray.open_dataset(netcdf[0]) as raw:
        assert raw.sizes["time"] == 8 and raw.sizes["lat"] == 48 and raw.sizes["lon"] == 72

    samples = sorted((results / "samples" / netcdf[0].stem).glob("data-*.h5"))
    assert [parse_sample_file_name(p.name).step for p in samples] == list(range(8))
    with h5py.File(samples[0]) as f:
        assert f[DATA_KEY].shape == (48, 72, len(CHANNELS)) and f[DATA_KEY].dtype == np.float32
        labels = f[LABELS_KEY][...]
        assert labels.shape == (48, 72) and set(np.unique(labels)) <= {0, 1, 2}
    label_config = yaml.safe_load((results / "samples" / f"{netcdf[0].stem}.label.yaml").read_text())
    assert label_config["ar"]["percentile"] == 95.0

    with h5py.File(results / "stats.h5") as f:
        for key in STATS_KEYS:
            assert f[key].shape == (len(CHANNELS),)
        assert np.all(f["climate/count"][...] == 8 * 48 * 72)

    split = {name: (results / "split" / f"{name}.txt").read_text().split() for name in ("train", "validation", "test")}
    assert all(split.values())
    assert sorted(sum(split.values(), [])) == sorted(str(p.resolve()) for p in samples)
    blocks = {name: {parse_sample_file_name(p).step // 2 for p in paths} for name, paths in split.items()}
    assert not (blocks["train"] & blocks["test"]) and not (blocks["train"] & blocks["validation"])

    record = json.loads((results / "staging" / "stage.json").read_text())
    assert record["ranks"] == 2 and record["machine"] == "local"
    staged = workdir / record["node_local_dir"]
    manifest = json.loads((staged / "manifest.json").read_text())
    assert set(manifest["ranks"]) == {"0", "1"}
    for rank in manifest["ranks"].values():
        assert len(rank["train"]) == 2
        assert all((staged / name).is_file() for name in rank["train"] + rank["validation"])

    run = results / "train" / "run"
    run_config = yaml.safe_load((run / "config.yaml").read_text())
    assert run_config["model"] == "tiramisu" and run_config["model_preset"] == "small"
    assert run_config["steps_per_epoch"] == 2 and run_config["batch_size"] == 1
    assert any((run / "checkpoints").iterdir())

    report = json.loads((results / "report" / "evaluation.json").read_text())
    text = json.dumps(report)
    for name in ("background", "TC", "AR"):
        assert name in text
    markdown = (results / "report" / "evaluation.md").read_text()
    assert "IoU" in markdown or "iou" in markdown.lower()

    for step in STEPS:  # every rule left a log and a benchmark
        assert list((results / "logs").rglob(f"{step}*")), step
        assert list((results / "benchmarks").rglob(f"{step}*.tsv")) or step in ("label", "infer")
    assert list((results / "benchmarks" / "label").glob("*.tsv")) and list((results / "benchmarks" / "infer").glob("*.tsv"))
    assert f"the evaluation report is {(results / 'report' / 'evaluation.md').resolve()}" in result.stdout

    (masks,) = (results / "masks").glob("*.climseg.nc")  # the network's masks of the raw file, CF netCDF
    assert masks.name == "demo.cam.h2.2106-01-01-00000.climseg.nc"
    with xarray.open_dataset(masks) as ds:
        assert ds["class"].shape == (8, 48, 72) and ds.attrs["climseg_mask_source"] == "network"
        assert str(run.resolve()) in ds.attrs["source"]


@pytest.mark.slow
@pytest.mark.mpi
def test_a_finished_run_has_nothing_to_do(demo_run):
    workdir, _, _ = demo_run
    jobs = planned_jobs(snakemake("--profile", str(REPO / "profiles" / "local"), "-n",
                                  "--configfile", str(REPO / "config" / "test.yaml"), cwd=workdir))
    assert jobs == {}


@pytest.mark.slow
@pytest.mark.mpi
def test_editing_a_labelling_parameter_reruns_label_and_everything_after(demo_run, tmp_path):
    workdir, results, _ = demo_run
    edited = write_config(tmp_path, "edit.yaml", {"label": {"parameters": {"ar": {"percentile": 90.0}}}})
    args = ["--profile", str(REPO / "profiles" / "local"), "--configfile", str(REPO / "config" / "test.yaml"),
            edited]
    jobs = planned_jobs(snakemake(*args, "-n", cwd=workdir))
    assert set(jobs) == {"label", "stats", "split", "stage", "train", "evaluate", "infer", "all"}
    changed = snakemake(*args, "--list-changes", "params", cwd=workdir)
    assert changed.returncode == 0
    listed = {line for line in changed.stdout.splitlines() if line.startswith("results/")}
    assert listed == {"results/test/samples/demo.cam.h2.2106-01-01-00000",
                      "results/test/samples/demo.cam.h2.2106-01-01-00000.label.yaml"}


@pytest.mark.slow
@pytest.mark.mpi
def test_editing_a_training_parameter_reruns_only_train_evaluate_and_infer(demo_run, tmp_path):
    workdir, _, _ = demo_run
    edited = write_config(tmp_path, "edit.yaml", {"train": {"parameters": {"learning_rate": 0.01}}})
    jobs = planned_jobs(snakemake("--profile", str(REPO / "profiles" / "local"), "-n",
                                  "--configfile", str(REPO / "config" / "test.yaml"), edited, cwd=workdir))
    assert set(jobs) == {"train", "evaluate", "infer", "all"}
    changed = snakemake("--profile", str(REPO / "profiles" / "local"), "--list-changes", "params",
                        "--configfile", str(REPO / "config" / "test.yaml"), edited, cwd=workdir)
    listed = {line for line in changed.stdout.splitlines() if line.startswith("results/")}
    assert listed == {"results/test/train/run", "results/test/train/train.yaml"}
    flags = write_config(tmp_path, "flags.yaml", {"train": {"seed": 3}})
    jobs = planned_jobs(snakemake("--profile", str(REPO / "profiles" / "local"), "-n",
                                  "--configfile", str(REPO / "config" / "test.yaml"), flags, cwd=workdir))
    assert set(jobs) == {"train", "evaluate", "infer", "all"}


@pytest.mark.slow
@pytest.mark.mpi
def test_changing_the_number_of_ranks_restages_and_retrains(demo_run, tmp_path):
    """The plan, the manifest and the global batch are per rank: train.nodes (ranks = nodes x
    ranks_per_node) reruns stage, train and evaluate, not what comes before."""
    workdir, _, _ = demo_run
    nodes = write_config(tmp_path, "nodes.yaml", {"train": {"nodes": 2}})
    args = ["--profile", str(REPO / "profiles" / "local"), "--configfile", str(REPO / "config" / "test.yaml"), nodes]
    jobs = planned_jobs(snakemake(*args, "-n", cwd=workdir))
    assert set(jobs) == {"stage", "train", "evaluate", "infer", "all"}
    changed = snakemake(*args, "--list-changes", "params", cwd=workdir)
    listed = {line for line in changed.stdout.splitlines() if line.startswith("results/")}
    assert listed == {"results/test/staging/stage.json", "results/test/train/run", "results/test/train/train.yaml"}


@pytest.mark.slow
@pytest.mark.mpi
def test_forcerun_label_reruns_what_follows(demo_run):
    workdir, _, _ = demo_run
    jobs = planned_jobs(snakemake("--profile", str(REPO / "profiles" / "local"), "-n", "--forcerun", "label",
                                  "--configfile", str(REPO / "config" / "test.yaml"), cwd=workdir))
    assert set(jobs) == {"label", "stats", "split", "stage", "train", "evaluate", "infer", "all"}


@pytest.mark.slow
@pytest.mark.mpi
def test_training_stopped_by_the_batch_system_resumes_when_the_workflow_is_rerun(demo_run, tmp_path):
    """SIGTERM (a batch system's warning before the wall time) makes climseg train checkpoint and exit 75;
    Snakemake deletes the failed job's outputs, but the run's work directory survives, and rerunning the
    workflow continues the run from its checkpoint instead of starting over. The workflow had finished
    before (its report exists): the rerun must not take that old report as up to date."""
    workdir = tmp_path / "workflow"
    shutil.copytree(demo_run[0], workdir, symlinks=True)
    longer = write_config(tmp_path, "longer.yaml",
                          {"train": {"steps_per_epoch": 300, "parameters": {"checkpoint_every": 5}}})
    args = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
            "--profile", str(REPO / "profiles" / "local"), "--cores", "2",
            "--configfile", str(REPO / "config" / "test.yaml"), longer]
    results = workdir / "results" / "test"
    first = subprocess.Popen(args, cwd=workdir, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while not list((results / "train" / "work").glob("*/checkpoints/index.json")):
        assert first.poll() is None, first.stdout.read()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.2)
    ranks = [pid for pid in subprocess.run(["pgrep", "-f", "bin/climseg train .*results/test/train/work"],
                                           capture_output=True, text=True).stdout.split()
             if Path(f"/proc/{pid}/cwd").resolve() == workdir.resolve()]  # this workflow's ranks, not another's
    assert len(ranks) == 2, ranks
    for pid in ranks:
        os.kill(int(pid), signal.SIGTERM)
    output = first.communicate(timeout=300)[0]
    assert first.returncode != 0, output[-3000:]
    assert not (results / "train" / "run").exists()
    (work,) = (results / "train" / "work").iterdir()
    stopped_at = int(json.loads((work / "checkpoints" / "index.json").read_text())["latest"].split("-")[1])
    assert 0 < stopped_at < 300

    second = subprocess.run(args, cwd=workdir, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=600)
    assert second.returncode == 0, second.stdout[-3000:]
    train_log = (results / "logs" / "train.log").read_text()
    assert f"train: run directory {work.relative_to(workdir)} --resume" in train_log, second.stdout[-4000:]
    assert f"steps {stopped_at}..300" in train_log  # continued at the checkpoint, not from step 0
    assert not (results / "train" / "work").exists()
    records = [json.loads(line) for line in (results / "train" / "run" / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 300


def test_with_job_scoped_staging_rerunning_train_restages_in_the_same_job(tmp_path):
    """Summit-like machines: once train is done the staged data are gone (the node-local record is
    temporary), nothing is left to do; when train must run again, stage runs again with it."""
    results = tmp_path / "results"
    finished = ["raw/demo.cam.h2.2106-01-01-00000.nc", "raw/demo.cam.h2.2106-01-01-00000.truth.h5",
                "samples/demo.cam.h2.2106-01-01-00000/", "samples/demo.cam.h2.2106-01-01-00000.label.yaml",
                "stats.h5", "split/train.txt", "split/validation.txt", "split/test.txt",
                "train/run/", "train/train.yaml", "report/evaluation.json", "report/evaluation.md",
                "masks/demo.cam.h2.2106-01-01-00000.climseg.nc"]
    for i, rel in enumerate(finished):  # oldest first, as a finished run leaves them
        path = results / rel
        if rel.endswith("/"):
            path.mkdir(parents=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")
        os.utime(path, (1_700_000_000 + i,) * 2)
    args = ["-n", "--configfile", str(REPO / "config" / "test.yaml"), "--config", "machine=summit",
            f"results={results}"]
    assert planned_jobs(snakemake(*args, cwd=tmp_path)) == {}
    result = snakemake(*args, "--forcerun", "train", cwd=tmp_path)
    assert set(planned_jobs(result)) == {"stage", "train", "evaluate", "infer", "all"}
    assert "staging/stage.json (nodelocal)" in result.stdout


def test_conda_environments_pin_the_versions_of_requirements_txt():
    pins = dict(line.split("==") for line in (REPO / "requirements.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    pins = {name.lower().replace("_", "-"): version.strip() for name, version in pins.items()}
    used = set()
    for env_file in sorted((REPO / "envs").glob("*.yaml")):
        env = yaml.safe_load(env_file.read_text())
        used.add(env_file.name)
        for dep in env["dependencies"]:
            specs = dep["pip"] if isinstance(dep, dict) else [dep]
            for spec in specs:
                match = re.match(r"^([A-Za-z0-9_.\-\[\]]+?)(?:\[\w+\])?={1,2}([\w.]+)", spec)
                if not match:
                    continue
                name = match.group(1).lower().replace("_", "-").split("[")[0]
                if name in pins:
                    assert match.group(2) == pins[name], f"{env_file.name}: {spec} but requirements.txt pins {pins[name]}"
        assert any("CLIMSEG_ROOT" in str(dep) for dep in env["dependencies"]), env_file.name
    for rule_file in (REPO / "workflow" / "rules").glob("*.smk"):
        for env_name in re.findall(r'"\.\./\.\./envs/([\w.]+)"', rule_file.read_text()):
            assert env_name in used, f"{rule_file.name} uses a missing envs/{env_name}"


@pytest.mark.slow
@pytest.mark.mpi
def test_two_training_instances_run_in_one_allocation_with_their_logs_beside_the_run(demo_run, tmp_path):
    """train: instances: 2 (MLPerf weak scaling): two trainings of 1 rank each, seeds 0 and 1, at once. Runs
    last: it leaves the demo's run retrained with this setting."""
    workdir, results, _ = demo_run
    settings = write_config(tmp_path, "instances.yaml", {"train": {"instances": 2}})
    args = ["--profile", str(REPO / "profiles" / "local"), "--cores", "2", "--configfile",
            str(REPO / "config" / "test.yaml"), settings]
    result = snakemake("results/test/train/run", *args, cwd=workdir, timeout=600)
    assert result.returncode == 0, result.stdout[-5000:]
    run = results / "train" / "run"
    other = run / "instances" / "seed-1"
    for directory, seed in ((run, 0), (other, 1)):
        summary = json.loads((directory / "summary.json").read_text())
        assert summary["status"] == "success" and summary["step"] == 2, summary
        events = read_mllog(directory / "mllog.txt")
        assert events[-1]["key"] == "run_stop"
        values = {event["key"]: event["value"] for event in events}
        assert values["seed"] == seed and values["number_of_ranks"] == 1
    assert "train: run directory" in (results / "logs" / "train.log.seed-1").read_text()
    assert not (results / "train" / "work").exists()
