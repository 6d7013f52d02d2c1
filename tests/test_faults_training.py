"""Faults a 2-rank training job meets on a batch system, injected for real (issue 11, points 1 and 2).

- A stop signal (SIGTERM or SIGUSR1) sent to EVERY process of the job (launcher, ``mpirun``, ranks, reader
  processes, forkserver), as Slurm does at the time limit, at a random moment: the job ends with a complete
  checkpoint and exit status 75 within a bounded time, and ``--resume`` ends bit-identical to an
  uninterrupted run (batch-norm moving statistics: to float32 rounding). A short version runs by default; the
  loop of 20 trials is marked ``soak`` (``pytest -m soak``: 12 min on the idle 2-core machine, 28 min with a
  second loop running beside it).
- A stop signal during set-up (while the ranks load TensorFlow): the run stops at its first step with a checkpoint.
- One rank SIGKILLed mid-training: the job ends within seconds naming the rank, and ``--resume`` continues
  from the last complete checkpoint, again ending bit-identical to the uninterrupted run.

The job runs as the workflow runs it on a laptop: ``python -m training.launch mpirun ... climseg train``,
started in a session of its own, so that "every process of the job" is every process of that session.
"""

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from training.demo import write_demo_samples
from training.stop import INTERRUPTED_EXIT_CODE

CLIMSEG = str(Path(sys.executable).parent / "climseg")
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "2"]
EPOCHS, STEPS_PER_EPOCH = 5, 4
TOTAL_STEPS = EPOCHS * STEPS_PER_EPOCH
STOP_BOUND_S = 120
"""Longest accepted time from the signal to the job's exit, s. Measured on the shared 2-core development machine
at a load average of 12-17 (every figure in the report): the bound only says "seconds, not the wall time"."""


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """Demo samples, the job's training arguments and the final state of an uninterrupted 2-rank run."""
    root = tmp_path_factory.mktemp("faults")
    _, stats = write_demo_samples(root / "train", count=16, grid=(32, 48), seed=0)
    write_demo_samples(root / "validation", count=4, grid=(32, 48), seed=1)
    (root / "train.yaml").write_text("checkpoint_every: 2\nmodel_overrides: {dropout: 0.2}\n")
    arguments = ["train", "--no-progress", "--data", str(root / "train"), "--validation-data", str(root / "validation"),
                 "--stats", str(stats), "--model-preset", "small", "--config", str(root / "train.yaml"),
                 "--batch-size", "2", "--epochs", str(EPOCHS), "--steps-per-epoch", str(STEPS_PER_EPOCH),
                 "--read-workers", "2", "--seed", "7"]
    straight = root / "straight"
    result = run_job(arguments + ["--out", str(straight)])
    assert result.returncode == 0, result.stdout[-3000:]
    return {"arguments": arguments, "root": root, "final": checkpoint_state(straight)}


def job_command(arguments):
    return [sys.executable, "-m", "training.launch", *MPIRUN, "-x", "CLIMSEG_TEST_JOB", CLIMSEG, *arguments]


def start_job(arguments, marker=0):
    return subprocess.Popen(job_command(arguments), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace", start_new_session=True, env={**os.environ, "CLIMSEG_TEST_JOB": str(marker)})


def run_job(arguments, timeout=600):
    process = start_job(arguments)
    try:
        out, _ = process.communicate(timeout=timeout)
    finally:
        kill_session(process.pid)
    return subprocess.CompletedProcess(process.args, process.returncode, out)


def session_pids(session: int) -> list[int]:
    """Every process whose session id is ``session`` (all process groups: mpirun puts each rank in its own)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[3]) == session:
                    pids.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return pids


def signal_session(session: int, sig) -> int:
    """Send ``sig`` to every process of ``session``; returns how many were signalled."""
    sent = 0
    for pid in session_pids(session):
        try:
            os.kill(pid, sig)
            sent += 1
        except ProcessLookupError:
            pass
    return sent


def assert_session_ends(session: int, timeout_s: float = 15.0) -> None:
    """No process of the job (reader processes, forkservers included) outlives it by more than ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while session_pids(session):
        assert time.monotonic() < deadline, f"processes outlived the job: {session_pids(session)}"
        time.sleep(0.1)


def kill_session(session: int) -> None:
    signal_session(session, signal.SIGKILL)


def checkpoint_state(run_dir: Path):
    """(name, every variable by name) of the run's latest checkpoint, read through the checkpoint module."""
    import tensorflow as tf

    index = json.loads((run_dir / "checkpoints" / "index.json").read_text())
    reader = tf.train.load_checkpoint(str(run_dir / "checkpoints" / index["latest"] / "ckpt"))
    names = [name for name in reader.get_variable_to_shape_map() if name != "_CHECKPOINTABLE_OBJECT_GRAPH"]
    return index["latest"], {name: reader.get_tensor(name) for name in names}


def assert_same_state(a, b):
    (name_a, state_a), (name_b, state_b) = a, b
    assert name_a == name_b == f"step-{TOTAL_STEPS:08d}"
    assert state_a.keys() == state_b.keys()
    for name in state_a:
        if "moving_mean" in name or "moving_variance" in name:
            # Averaged over the ranks at every checkpoint (issue 11.7), so also at the stop checkpoint, which the
            # uninterrupted run does not have: equal to float32 rounding (measured: 3e-6 relative at most).
            np.testing.assert_allclose(state_a[name], state_b[name], rtol=1e-4, atol=1e-7, err_msg=name)
        else:
            np.testing.assert_array_equal(state_a[name], state_b[name], err_msg=name)


def wait_for(path: Path, process, timeout=600):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"the job ended before {path} appeared:\n{process.communicate()[0][-3000:]}"
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.02)


def wait_for_latest(index: Path, name: str, process, timeout=600):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if json.loads(index.read_text())["latest"] >= name:
                return
        except (OSError, ValueError):
            pass
        assert process.poll() is None, f"the job ended before {name}:\n{process.communicate()[0][-3000:]}"
        assert time.monotonic() < deadline, f"no {name} after {timeout} s"
        time.sleep(0.01)


def stop_trial(job, out: Path, sig, delay_s: float) -> float:
    """Start the job, signal every process of it at a moment after step 6 (``delay_s`` times the estimated time
    of the steps left: among reading, steps, validation and checkpoint writes), check the checkpoint, resume,
    compare; returns the seconds from the signal to the job's exit, or None when the run had already begun
    its last step (it then ends complete with status 0, its final state checked likewise)."""
    process = start_job(job["arguments"] + ["--out", str(out)])
    try:
        # The moment: a fraction of the steps left, timed by steps 5 and 6 (two steps and a checkpoint write;
        # steps 1-4 hold the tracing of the step and of validation), so the signal comes before the last step
        # however fast the machine is: the validations at steps 8, 12, 16 and 20 come on top.
        index = out / "checkpoints" / "index.json"
        wait_for_latest(index, "step-00000004", process)
        after_step_4 = time.monotonic()
        wait_for_latest(index, "step-00000006", process)
        step_seconds = (time.monotonic() - after_step_4) / 2
        time.sleep(delay_s * step_seconds * (TOTAL_STEPS - 6))
        if process.poll() is not None:
            pytest.fail(f"the job ended before the signal: raise EPOCHS\n{process.communicate()[0][-2000:]}")
        signalled_at = time.monotonic()
        assert signal_session(process.pid, sig) >= 4  # launcher, mpirun, 2 ranks (and readers, forkservers)
        output, _ = process.communicate(timeout=STOP_BOUND_S)
        stop_seconds = time.monotonic() - signalled_at
        assert_session_ends(process.pid)
    finally:
        kill_session(process.pid)
    if process.returncode == 0:  # the signal came after the last step began: the run is complete, not stopped
        assert "checkpoint saved at step" not in output
        assert_same_state(job["final"], checkpoint_state(out))
        return None
    assert process.returncode == INTERRUPTED_EXIT_CODE, output[-3000:]
    saved = [line for line in output.splitlines() if "checkpoint saved at step" in line]
    assert len(saved) == 1, output[-3000:]
    step = int(saved[0].split("checkpoint saved at step ")[1].split(";")[0])
    name, state = checkpoint_state(out)  # complete: every tensor reads back
    assert name == f"step-{step:08d}" and int(state["state/step/.ATTRIBUTES/VARIABLE_VALUE"]) == step
    assert not list((out / "checkpoints").glob(".step-*")), "a temporary checkpoint was left behind"

    resumed = run_job(job["arguments"] + ["--out", str(out), "--resume"])
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert_same_state(job["final"], checkpoint_state(out))
    return stop_seconds


def run_trials(job, tmp_path, delays):
    """One trial per delay (a fraction of the steps left after step 6), SIGTERM and SIGUSR1 in turn; returns
    (signal, seconds from signal to exit) of the trials that stopped the run (None: it had completed)."""
    times = []
    for trial, delay in enumerate(delays):
        sig = (signal.SIGTERM, signal.SIGUSR1)[trial % 2]
        seconds = stop_trial(job, tmp_path / f"trial{trial}", sig, delay_s=delay)
        times.append((sig.name, None if seconds is None else round(seconds, 1)))
        outcome = "completed before the signal" if seconds is None else f"signal to exit {seconds:.1f} s, resumed"
        print(f"trial {trial + 1}/{len(delays)}: {sig.name} at {delay:.2f} of the steps left: {outcome}; "
              "bit-identical", flush=True)
    print(f"signal-to-exit times, s: {times}")
    return times


@pytest.mark.mpi
@pytest.mark.timeout(3000)  # five 2-rank jobs; minutes each on a busy 2-core machine
def test_stop_signal_to_every_process_of_the_job_ends_in_a_checkpoint_then_resumes_bit_identical(job, tmp_path):
    times = run_trials(job, tmp_path, delays=[0.05, 0.0])  # early in the steps left: both stop the run
    assert all(seconds is not None and seconds < STOP_BOUND_S for _, seconds in times), times


def caught_signals(pid: int) -> set:
    """The signals process ``pid`` has a handler for (``SigCgt`` of /proc/PID/status)."""
    status = Path(f"/proc/{pid}/status").read_text()
    mask = int(status.split("SigCgt:")[1].split()[0], 16)
    return {sig for sig in signal.Signals if mask >> (sig - 1) & 1}


def test_climseg_train_catches_the_stop_signals_before_it_imports_tensorflow(tmp_path):
    """Loading TensorFlow takes seconds on a busy node; a stop signal then must not kill the rank."""
    spy = f"""
import signal, sys
class Spy:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow":
            handlers = {{signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGUSR1)}}
            print("while importing tensorflow:", *sorted(getattr(h, "__qualname__", str(h)) for h in handlers))
            sys.exit(0)
sys.meta_path.insert(0, Spy())
from climseg.cli import main
main(["train", "--data", "{tmp_path}", "--stats", "{tmp_path / 'stats.h5'}", "--out", "{tmp_path / 'run'}"])
"""
    result = subprocess.run([sys.executable, "-c", spy], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "while importing tensorflow: StopFlag._handle", result.stdout


@pytest.mark.mpi
@pytest.mark.timeout(3000)
def test_a_stop_signal_during_set_up_stops_the_run_at_its_first_step(job, tmp_path, mpi_rank_pid):
    """A batch system may signal the job in its first seconds: signalled as soon as both ranks catch the stop
    signals (while they load TensorFlow, before Horovod starts), the run stops at step 1 with a checkpoint."""
    out = tmp_path / "early"
    process = start_job(job["arguments"] + ["--out", str(out)], marker=os.getpid())
    try:
        deadline = time.monotonic() + 300
        while True:
            assert process.poll() is None and time.monotonic() < deadline, "the ranks did not catch the signals"
            ranks = [mpi_rank_pid(os.getpid(), rank) for rank in (0, 1)]
            try:
                if None not in ranks and all({signal.SIGTERM, signal.SIGUSR1} <= caught_signals(pid) for pid in ranks):
                    in_set_up = not any("horovod" in Path(f"/proc/{pid}/maps").read_text() for pid in ranks)
                    break
            except (OSError, IndexError):  # a rank that has just started
                pass
            time.sleep(0.005)
        assert signal_session(process.pid, signal.SIGTERM) >= 4
        output, _ = process.communicate(timeout=STOP_BOUND_S * 2)
        assert_session_ends(process.pid)
    finally:
        kill_session(process.pid)
    assert in_set_up, "Horovod had started before the signal"
    assert process.returncode == INTERRUPTED_EXIT_CODE, output[-3000:]
    # SIGTERM, or the SIGUSR1 the launcher makes of its SIGTERM when mpirun's forwarded copy comes first
    assert re.search(r"SIG(TERM|USR1): checkpoint saved at step 1;", output), output[-3000:]
    name, state = checkpoint_state(out)
    assert name == "step-00000001" and int(state["state/step/.ATTRIBUTES/VARIABLE_VALUE"]) == 1


@pytest.mark.mpi
@pytest.mark.soak
@pytest.mark.timeout(0)
def test_twenty_stop_signals_at_random_moments_all_end_in_a_checkpoint(job, tmp_path):
    rng = random.Random(20)
    times = run_trials(job, tmp_path, delays=[rng.uniform(0.0, 1.0) for _ in range(20)])
    assert len(times) == 20
    assert sum(seconds is not None for _, seconds in times) >= 15, times  # most trials stop the run


@pytest.mark.mpi
@pytest.mark.timeout(3000)
def test_a_sigkilled_rank_ends_the_job_naming_it_and_resume_continues(job, tmp_path, mpi_rank_pid):
    out = tmp_path / "killed"
    process = start_job(job["arguments"] + ["--out", str(out)], marker=os.getpid())
    try:
        wait_for(out / "checkpoints" / "index.json", process)
        time.sleep(1.0)
        pid = mpi_rank_pid(os.getpid(), 1)
        assert pid is not None, "rank 1 not found"
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        output, _ = process.communicate(timeout=STOP_BOUND_S)
        seconds = time.monotonic() - killed_at
        assert_session_ends(process.pid)
    finally:
        kill_session(process.pid)
    print(f"rank SIGKILL to job exit: {seconds:.1f} s")
    assert process.returncode not in (0, INTERRUPTED_EXIT_CODE), output[-3000:]
    assert "rank 1" in output and ("signal 9" in output or "Killed" in output), output[-3000:]
    assert seconds < STOP_BOUND_S

    resumed = run_job(job["arguments"] + ["--out", str(out), "--resume"])
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert_same_state(job["final"], checkpoint_state(out))


def test_a_second_stop_signal_is_ignored_while_the_first_is_handled():
    """mpirun forwards SIGUSR1 to ranks that already got it from the batch system: the second must neither kill
    the rank nor cut the checkpoint short."""
    from training.stop import StopFlag

    with StopFlag() as stop:  # (the conftest restores the handlers a stopped StopFlag leaves ignored)
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.raised == "SIGTERM"
