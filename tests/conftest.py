"""Test-wide settings: quiet TensorFlow, legacy Keras, the venv's MPI first on PATH, stop signals reset."""

import os
import signal
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ["PATH"] = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"


STOP_SIGNAL_HANDLERS = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGUSR1)}


@pytest.fixture(autouse=True)
def stop_signals_as_at_start():
    """SIGTERM and SIGUSR1 as when the tests began, before and after every test.

    ``climseg train`` leaves them ignored when it returns (its process only exits then), and a test or a
    session fixture may run it in this process: children of later tests would inherit the ignored signals.
    """
    for sig, handler in STOP_SIGNAL_HANDLERS.items():
        signal.signal(sig, handler)
    yield
    for sig, handler in STOP_SIGNAL_HANDLERS.items():
        signal.signal(sig, handler)


@pytest.fixture
def repo_root() -> Path:
    """The repository root (where Snakefile and profiles/ are)."""
    return REPO_ROOT


# ---------------------------------------------------------------------------------------------- inference
INFER_GRID = (46, 70)
"""Grid of the tiny run's data: neither is a multiple of the small Tiramisu's divisor 4, so inference pads both."""


@pytest.fixture(scope="session")
def tiny_trained_run(tmp_path_factory):
    """One day of ``climseg synth`` data (46 x 70, latitude ascending, longitude 0..360), its labelled samples,
    their stats and a small Tiramisu trained 3 steps on 44 x 68 crops of them, all made once per session through the CLI.

    Returns a dict: ``raw`` (the netCDF file), ``samples`` (directory), ``stats``, ``run`` (run directory), ``root``.
    """
    from climseg.cli import main

    root = tmp_path_factory.mktemp("tiny_trained_run")
    rows, cols = INFER_GRID
    assert main(["synth", "--out", str(root / "raw"), "--days", "1", "--lat", str(rows), "--lon", str(cols),
                 "--case", "tiny", "--seed", "3"]) == 0
    raw = next((root / "raw").glob("*.nc"))
    assert main(["label", str(raw), "--out", str(root / "samples")]) == 0
    assert main(["stats", str(root / "samples"), "--out", str(root / "stats.h5")]) == 0
    assert main(["train", "--data", str(root / "samples"), "--stats", str(root / "stats.h5"), "--model-preset", "small",
                 "--crop", "44", "68", "--out", str(root / "run"), "--batch-size", "2", "--epochs", "1", "--steps-per-epoch", "3",
                 "--read-workers", "1", "--no-deterministic", "--no-progress"]) == 0
    return {"raw": raw, "samples": root / "samples", "stats": root / "stats.h5", "run": root / "run", "root": root}


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 64 KiB tmpfs mounted at a fresh directory (a real full disk), or None where mounting is not allowed
    (the test then injects ``OSError(ENOSPC)`` at the write call instead)."""
    import subprocess

    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
                             capture_output=True).returncode == 0
    yield mount_point if mounted else None
    if mounted:  # lazily: a library may still hold the failed file's descriptor
        subprocess.run(["umount", "--lazy", str(mount_point)], check=True)


@pytest.fixture
def mpi_output():
    """``output(result) -> str``: stdout and stderr of an ``mpirun`` job, together.

    A rank that fails prints its message on stderr and calls ``MPI_Abort``; Open MPI 5's launcher now and then
    delivers that last line on its own stdout instead, without the newline (seen in 1 of 12 to 20 runs of
    the same job). A test of the message looks in both.
    """
    return lambda result: f"{result.stdout}\n{result.stderr}"


@pytest.fixture
def mpi_rank_pid():
    """``find(marker, rank) -> pid or None``: the process of MPI rank ``rank`` of the job launched with
    ``CLIMSEG_TEST_JOB=<marker>`` in its environment (``mpirun -x CLIMSEG_TEST_JOB``), to kill one rank."""
    def find(marker: int, rank: int):
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"OMPI_COMM_WORLD_RANK={rank}".encode() in environ and f"CLIMSEG_TEST_JOB={marker}".encode() in environ:
                return int(entry.name)
        return None
    return find
