"""The reader processes of training.data.readers under faults: stop signals sent to them, a reader killed, a
read that never ends, the training process killed. Real processes, real signals, real files."""

import multiprocessing.forkserver as forkserver
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import training  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import tensorflow as tf

from training.data import make_dataset, pipeline_error_message, read_stats
from training.data import dataset as dataset_module
from training.demo import write_demo_samples


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    files, stats = write_demo_samples(tmp_path_factory.mktemp("readers"), count=12, grid=(24, 32), seed=5)
    return [str(f) for f in files], read_stats(stats)


def reader_pids():
    return [reader.pid for stream in dataset_module._streams.values() for reader in stream.readers]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:  # reaped between the two looks
        return True
    return state == "Z"


def test_readers_ignore_stop_signals_sent_to_every_process(demo):
    """SIGTERM, SIGUSR1 and SIGINT sent to the readers and their forkserver (as Slurm sends them to every
    process of a job step) leave them reading: every batch arrives, equal to the batches of an undisturbed
    stream, and the forkserver lives on to start the readers of the next dataset."""
    files, stats = demo
    expected = [y.numpy() for _, y in make_dataset(files, stats, batch_size=2, shuffle=True, seed=3, repeat=False,
                                                   read_workers=2)]
    batches = []
    for i, (_, y) in enumerate(make_dataset(files, stats, batch_size=2, shuffle=True, seed=3, repeat=False,
                                            read_workers=2)):
        if i == 1:
            pids = reader_pids()
            assert len(pids) == 2
            pids.append(forkserver._forkserver._forkserver_pid)  # starts the readers of the next dataset
            for sig in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT):
                for pid in pids:
                    os.kill(pid, sig)
            time.sleep(0.2)
            assert not any(gone(pid) for pid in pids)
        batches.append(y.numpy())
    assert len(batches) == len(expected) == 6
    for got, want in zip(batches, expected):
        np.testing.assert_array_equal(got, want)


def test_a_killed_reader_ends_iteration_with_an_error_naming_the_file(demo):
    files, stats = demo
    iterator = iter(make_dataset(files, stats, batch_size=2, shuffle=False, read_workers=2, prefetch=0))
    next(iterator)
    for pid in reader_pids():
        os.kill(pid, signal.SIGKILL)
    started = time.monotonic()
    with pytest.raises(tf.errors.OpError) as error:
        for _ in range(20):
            next(iterator)
    message = pipeline_error_message(error.value)
    assert "reader process" in message and "killed by SIGKILL" in message, message
    assert any(message.startswith(f) for f in files), message
    assert time.monotonic() - started < 30  # seconds (one poll a second), not forever


def test_a_read_that_never_ends_times_out_naming_the_file(demo, tmp_path):
    """A FIFO no one writes to blocks the read for ever, like a hung file system."""
    files, stats = demo
    fifo = tmp_path / "data-2000-01-02-00-1.h5"
    os.mkfifo(fifo)
    dataset = make_dataset([files[0], str(fifo)], stats, batch_size=2, shuffle=False, read_workers=1,
                           repeat=False, read_timeout=2.0)
    with pytest.raises(tf.errors.OpError) as error:
        list(dataset)
    message = pipeline_error_message(error.value)
    assert message.startswith(f"{fifo}: not read after 2 s"), message


def test_readers_exit_when_the_training_process_is_killed(demo, tmp_path, repo_root):
    files, stats = demo
    pids_file = tmp_path / "pids"
    script = tmp_path / "reader_parent.py"
    script.write_text(f"""
import time
import training
from training.data import make_dataset, read_stats
from training.data import dataset
iterator = iter(make_dataset({files!r}, read_stats({str(Path(files[0]).parent / 'stats.h5')!r}), batch_size=2,
                             read_workers=2))
next(iterator)
open({str(pids_file)!r}, "w").write(" ".join(str(r.pid) for s in dataset._streams.values() for r in s.readers))
time.sleep(600)
""")
    process = subprocess.Popen([sys.executable, str(script)], cwd=repo_root, env={**os.environ, "PYTHONPATH": str(repo_root)})
    try:
        deadline = time.monotonic() + 120
        while not pids_file.exists() or not pids_file.read_text():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        readers = [int(pid) for pid in pids_file.read_text().split()]
        assert len(readers) == 2 and not any(gone(pid) for pid in readers)
    finally:
        process.kill()
        process.wait()
    deadline = time.monotonic() + 10
    while not all(gone(pid) for pid in readers):
        assert time.monotonic() < deadline, "readers outlived the killed training process"
        time.sleep(0.05)
