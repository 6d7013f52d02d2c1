"""climseg evaluate (training/evaluate.py) under MPI: a failing rank ends the whole job with its message."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLIMSEG = str(Path(sys.executable).parent / "climseg")
MPIRUN = [str(Path(sys.executable).parent / "mpirun"), "--allow-run-as-root", "--oversubscribe"]


@pytest.mark.mpi
def test_a_rank_that_fails_ends_the_job_instead_of_leaving_the_other_in_the_allreduce(tiny_trained_run, tmp_path):
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
    assert f"rank 1: CommandError: {bad}: cannot read sample" in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "report.json").exists()
