import argparse
import shlex
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from climseg.cli import CommandError
from climseg.contract import STATS_KEYS
from staging.cli import expand_node_local_dir, plan_from_args, read_stats_file, stage_parser
from climseg.samples import SOURCES_HELP, resolve_samples
from staging.plan import make_plan

CLIMSEG = str(Path(sys.executable).parent / "climseg")
DOCUMENTED = ("--train LIST_OR_DIR --validation LIST_OR_DIR --samples-per-rank 250 --validation-samples-per-rank 4 "
              "--seed 3 --node-local-dir DIR --stats stats.h5")


def parse(command_line: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    stage_parser(parser)
    return parser.parse_args(shlex.split(command_line))


@pytest.fixture
def samples(tmp_path):
    folder = tmp_path / "samples"
    folder.mkdir()
    for k in range(5):
        (folder / f"data-2000-01-01-0{k}-1.h5").write_bytes(bytes([k]) * 100)
    return folder


def test_the_documented_command_line_parses():
    args = parse(DOCUMENTED)
    assert (args.samples_per_rank, args.validation_samples_per_rank, args.seed) == (250, 4, 3)
    assert (args.train, args.node_local_dir, args.stats, args.chunk_mib) == (["LIST_OR_DIR"], "DIR", "stats.h5", 16)


def test_plan_from_args_is_the_plan_of_the_files(samples, capsys):
    args = parse(f"--train {samples} --samples-per-rank 7 --seed 2 --node-local-dir /tmp/x")
    plan, stats = plan_from_args(args, [0, 0, 1])
    assert plan == make_plan([str(p) for p in resolve_samples(samples)], n_ranks=3, samples_per_rank=7, seed=2,
                             node_of_rank=[0, 0, 1]).for_rank(0)
    assert stats is None
    assert "3 ranks on 2 nodes, 7 training samples per rank from 5 files" in capsys.readouterr().out


@pytest.mark.parametrize("options, message", [
    ("--samples-per-rank 0", "--samples-per-rank must be at least 1, got 0"),
    ("--samples-per-rank 2 --chunk-mib 0.001", "--chunk-mib must be between 1/256"),
    ("--samples-per-rank 2 --validation {missing}", "missing: no such directory, sample file or file list"),
    ("--samples-per-rank 2 --validation {samples} --validation-samples-per-rank 9", "only 5 validation files"),
])
def test_bad_options_are_one_line_errors(samples, tmp_path, options, message):
    args = parse(f"--train {samples} --node-local-dir /tmp/x " + options.format(samples=samples,
                                                                                missing=tmp_path / "missing"))
    with pytest.raises(CommandError, match=message.replace("(", "\\(")):
        plan_from_args(args, [0])


def test_stats_file_is_checked_before_it_travels(tmp_path):
    good, partial, text = tmp_path / "stats.h5", tmp_path / "partial.h5", tmp_path / "text.h5"
    with h5py.File(good, "w") as f:
        for key in STATS_KEYS:
            f[key] = np.zeros(16)
    with h5py.File(partial, "w") as f:
        f["climate/mean"] = np.zeros(16)
    text.write_text("not hdf5")
    assert read_stats_file(good) == good.read_bytes()
    with pytest.raises(CommandError, match="partial.h5: not a statistics file, it lacks climate/count"):
        read_stats_file(partial)
    with pytest.raises(CommandError, match="text.h5: not a readable HDF5 statistics file"):
        read_stats_file(text)


def test_node_local_dir_expands_environment_variables(monkeypatch):
    monkeypatch.setenv("CLIMSEG_TEST_JOB", "1234")
    monkeypatch.delenv("CLIMSEG_TEST_UNSET", raising=False)
    assert expand_node_local_dir("/mnt/bb/$CLIMSEG_TEST_JOB/stage") == Path("/mnt/bb/1234/stage")
    with pytest.raises(CommandError, match="an environment variable is not set here"):
        expand_node_local_dir("/mnt/bb/$CLIMSEG_TEST_UNSET")


def test_node_variable_missing_is_an_error(samples, tmp_path):
    result = subprocess.run([CLIMSEG, "stage", "--train", str(samples), "--samples-per-rank", "2",
                             "--node-local-dir", str(tmp_path / "x"), "--node-id-from-env", "CLIMSEG_TEST_UNSET"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--node-id-from-env CLIMSEG_TEST_UNSET: no such environment variable" in result.stderr


@pytest.mark.mpi
def test_ranks_of_one_node_disagreeing_on_the_directory_abort_the_job(samples, tmp_path, mpi_output):
    result = subprocess.run(["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "2", CLIMSEG, "stage",
                             "--train", str(samples), "--samples-per-rank", "2",
                             "--node-local-dir", str(tmp_path / "rank$OMPI_COMM_WORLD_RANK")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "the ranks of one node disagree on the path" in mpi_output(result)


def test_help_documents_the_sample_sources_every_command_takes():
    parser = argparse.ArgumentParser()
    stage_parser(parser)
    text = " ".join(parser.format_help().split())
    assert " ".join(SOURCES_HELP.split()) in text
    assert "--train SOURCE [SOURCE ...]" in text and "--validation SOURCE [SOURCE ...]" in text


def test_several_sources_of_every_form_make_one_list(samples, tmp_path, capsys):
    nested = tmp_path / "more" / "day1"
    nested.mkdir(parents=True)
    (nested / "data-2000-01-02-00-1.h5").write_bytes(b"n")
    listing = tmp_path / "lists" / "extra.txt"
    listing.parent.mkdir()
    listing.write_text("# relative to the list's folder\n../samples2/data-2000-01-03-00-1.h5\n")
    (tmp_path / "samples2").mkdir()
    (tmp_path / "samples2" / "data-2000-01-03-00-1.h5").write_bytes(b"l")
    args = parse(f"--train {samples} {tmp_path / 'more'} {listing} --samples-per-rank 40 --node-local-dir /x")
    plan, _ = plan_from_args(args, [0])
    assert plan.n_sources == 7 and sorted(Path(p).name for p in plan.sources.values()) == sorted(
        [p.name for p in samples.iterdir()] + ["data-2000-01-02-00-1.h5", "data-2000-01-03-00-1.h5"])
    assert "from 7 files" in capsys.readouterr().out


@pytest.mark.parametrize("options, message", [
    ("--train {samples} {samples}", "names .*data-2000-01-01-00-1.h5 again"),
    ("--train {samples} --validation {notes}", "notes.txt line 1: .*stats.nc is not a sample file"),
])
def test_sources_naming_a_file_twice_or_a_non_sample_are_errors(samples, tmp_path, options, message):
    notes = tmp_path / "notes.txt"
    notes.write_text("stats.nc\n")
    args = parse(options.format(samples=samples, notes=notes) + " --samples-per-rank 2 --node-local-dir /x")
    with pytest.raises(CommandError, match=message):
        plan_from_args(args, [0])


@pytest.mark.mpi
def test_stage_takes_the_directory_the_workflow_writes_with_a_folder_per_input_file(tmp_path):
    """``climseg label`` in the workflow writes SAMPLES/<input file>/data-*.h5: staging finds them all."""
    samples = tmp_path / "samples"
    for day in (1, 2):
        folder = samples / f"demo.cam.h2.2000-01-0{day}-00000"
        folder.mkdir(parents=True)
        for step in range(3):
            (folder / f"data-2000-01-0{day}-0{step}-1.h5").write_bytes(bytes([day, step]) * 500)
    result = subprocess.run([CLIMSEG, "stage", "--train", str(samples), "--samples-per-rank", "30", "--seed", "1",
                             "--node-local-dir", str(tmp_path / "local"), "--no-progress"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    staged = sorted(p.name for p in (tmp_path / "local").glob("data-*.h5"))
    assert staged == sorted(p.name for p in samples.rglob("data-*.h5"))  # 30 draws of 6 files: all of them
    for path in samples.rglob("data-*.h5"):
        assert (tmp_path / "local" / path.name).read_bytes() == path.read_bytes()


@pytest.mark.mpi
def test_mllog_gets_staging_start_and_stop_from_rank_0_appended_to_what_is_there(samples, tmp_path):
    from climseg.mllog import MLLogger, read_mllog

    log = tmp_path / "run" / "mllog.txt"
    MLLogger(log).event("submission_benchmark", "climseg")  # an earlier line: kept, not overwritten
    before_ms = read_mllog(log)[0]["time_ms"]
    result = subprocess.run(["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "2", CLIMSEG, "stage",
                             "--train", str(samples), "--samples-per-rank", "3", "--node-local-dir",
                             str(tmp_path / "local"), "--mllog", str(log), "--no-progress"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    events = read_mllog(log)
    assert [(e["key"], e["event_type"]) for e in events] == [
        ("submission_benchmark", "POINT_IN_TIME"), ("staging_start", "INTERVAL_START"), ("staging_stop", "INTERVAL_END")]
    start, stop = events[1:]
    assert before_ms <= start["time_ms"] <= stop["time_ms"]
    assert start["metadata"]["number_of_ranks"] == 2 and start["metadata"]["file"].endswith("staging/cli.py")
    assert stop["metadata"]["status"] == "success"
    staged = list((tmp_path / "local").glob("data-*.h5"))
    assert stop["metadata"]["number_of_files"] == len(staged)
    assert stop["metadata"]["bytes_written"] == sum(p.stat().st_size for p in staged)


@pytest.mark.mpi
def test_a_failed_staging_logs_no_staging_stop(samples, tmp_path):
    from climseg.mllog import read_mllog

    log = tmp_path / "mllog.txt"
    result = subprocess.run([CLIMSEG, "stage", "--train", str(samples), "--samples-per-rank", "3", "--validation",
                             str(samples), "--validation-samples-per-rank", "9", "--node-local-dir",
                             str(tmp_path / "local"), "--mllog", str(log)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert [e["key"] for e in read_mllog(log)] == ["staging_start"]
