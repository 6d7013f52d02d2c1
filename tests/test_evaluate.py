"""climseg evaluate (training/evaluate.py) under MPI: a failing or killed rank ends the whole job, naming it."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLIMSEG = str(Path(sys.executable).parent / "climseg")
MPIRUN = [str(Path(sys.executable).parent / "mpirun"), "--allow-run-as-root", "--oversubscribe"]


@pytest.mark.mpi
def test_a_rank_that_fails_ends_the_job_instead_of_leaving_the_other_in_the_allreduce(tiny_trained_run, tmp_path,
                                                                                      mpi_output):
    good = sorted(tiny_trained_run["samples"].glob("data-*.h5"))[0]
    bad = tmp_path / "data-2000-01-01-01-1.h5"
    bad.write_bytes(b"not HDF5")
    listing = tmp_path / "test.txt"
    listing.write_text(f"{good}\n{bad}\n")               # rank 0 gets the good sample, rank 1 the bad one
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    started = time.monotonic()
    result = subprocess.run([*MPIRUN, "-np", "2", CLIMSEG, "evaluate", "--run", str(tiny_trained_run["run"]),
                             "--data", str(listing), "--out", str(tmp_path / "report.json"), "--no-progress"],
                            capture_output=True, text=True, env=environment, timeout=180)
    assert result.returncode != 0 and time.monotonic() - started < 150
    assert f"rank 1: CommandError: {bad}: cannot read sample" in mpi_output(result), mpi_output(result)[-2000:]
    assert not (tmp_path / "report.json").exists()


@pytest.mark.mpi
@pytest.mark.slow
def test_a_killed_rank_ends_the_job_within_seconds_naming_it(tiny_trained_run, tmp_path, mpi_rank_pid):
    samples = sorted(tiny_trained_run["samples"].glob("data-*.h5"))
    listing = tmp_path / "copies"  # minutes of work for each rank: hard links (a sample named twice is an error)
    for copy in range(1000):
        (listing / str(copy)).mkdir(parents=True)
        for sample in samples:
            os.link(sample, listing / str(copy) / sample.name)
    marker = os.getpid()
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "CLIMSEG_TEST_JOB": str(marker)}
    job = subprocess.Popen([*MPIRUN, "-x", "CLIMSEG_TEST_JOB", "-np", "2", CLIMSEG, "evaluate", "--run",
                            str(tiny_trained_run["run"]), "--data", str(listing), "--out", str(tmp_path / "report.json"),
                            "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    try:
        deadline = time.monotonic() + 120
        victim = None
        while victim is None and time.monotonic() < deadline and job.poll() is None:
            time.sleep(0.2)
            victim = mpi_rank_pid(marker, 1)
        assert victim is not None and job.poll() is None
        time.sleep(8)                      # the rank has loaded the run and is scoring samples
        assert job.poll() is None
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        _, stderr = job.communicate(timeout=60)
        assert time.monotonic() - killed < 30
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode != 0 and "rank 1" in stderr and ("signal 9" in stderr or "Killed" in stderr), stderr[-2000:]
    assert not (tmp_path / "report.json").exists()
