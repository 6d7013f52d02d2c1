"""Tests of training.distributed: one process in this interpreter, two ranks under mpirun.

The MPI tests launch the scripts in tests/mpi_scripts/ (each launch costs a TensorFlow import per rank,
so the assertions share two launches of the training script and one of the failure script).
"""

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import training  # noqa: F401  (sets TF_USE_LEGACY_KERAS)
import tensorflow as tf

from training import distributed

SCRIPTS = Path(__file__).parent / "mpi_scripts"
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe"]


@pytest.fixture(autouse=True)
def one_process():
    distributed.init()


# ---------------------------------------------------------------- one process: everything is the identity

def test_one_process_is_rank_zero_of_one():
    distributed.init()  # idempotent
    assert (distributed.rank(), distributed.size(), distributed.local_rank(), distributed.local_size()) == (0, 1, 0, 1)
    assert distributed.is_root()


def test_functions_before_init_raise(monkeypatch):
    monkeypatch.setattr(distributed, "_initialized", False)
    for call in (distributed.rank, distributed.size, distributed.barrier):
        with pytest.raises(RuntimeError, match="init"):
            call()


def test_allreduce_gradients_with_one_process_keeps_values_none_and_densifies_slices():
    slices = tf.IndexedSlices(tf.constant([[2.0, 3.0]]), tf.constant([1]), tf.constant([3, 2]))
    averaged = distributed.allreduce_gradients([tf.constant([1.0, -1.0]), None, slices])
    np.testing.assert_array_equal(averaged[0], [1.0, -1.0])
    assert averaged[1] is None
    np.testing.assert_array_equal(averaged[2], [[0, 0], [2, 3], [0, 0]])

    @tf.function
    def in_graph(x):
        return distributed.allreduce_gradients([x, None], compression="fp16")

    result = in_graph(tf.constant([0.5]))
    np.testing.assert_array_equal(result[0], [0.5])
    assert result[1] is None


def test_allreduce_gradients_rejects_unknown_compression():
    with pytest.raises(ValueError, match="'bf8'"):
        distributed.allreduce_gradients([tf.constant(1.0)], compression="bf8")


def test_allreduce_sum_and_mean_with_one_process():
    confusion = np.arange(9, dtype=np.int64).reshape(3, 3)
    summed = distributed.allreduce_sum(confusion)
    assert isinstance(summed, np.ndarray)
    np.testing.assert_array_equal(summed, confusion)
    np.testing.assert_array_equal(distributed.allreduce_sum(tf.constant([1, 2])), [1, 2])
    mean = distributed.allreduce_mean(np.float32(0.25))
    assert isinstance(mean, float) and mean == 0.25
    distributed.barrier()
    variable = tf.Variable([1.0, 2.0])
    distributed.broadcast_variables([variable])
    np.testing.assert_array_equal(variable, [1.0, 2.0])


def test_fail_fast_with_one_process_lets_the_exception_through():
    with pytest.raises(KeyError, match="boom"):
        with distributed.fail_fast():
            raise KeyError("boom")
    with pytest.raises(SystemExit):
        with distributed.fail_fast():
            sys.exit(0)


# ---------------------------------------------------------------- Horovod settings

def test_horovod_environment_maps_config_keys_to_variables():
    environment = distributed.horovod_environment({
        "hierarchical_allreduce": True, "hierarchical_allgather": False, "fusion_threshold_mb": 64,
        "cycle_time_ms": 2.5, "cache_capacity": 0, "timeline": Path("run/timeline.json"), "log_level": "debug",
        "autotune": None})
    assert environment == {
        "HOROVOD_HIERARCHICAL_ALLREDUCE": "1", "HOROVOD_HIERARCHICAL_ALLGATHER": "0",
        "HOROVOD_FUSION_THRESHOLD": str(64 * 1024 * 1024), "HOROVOD_CYCLE_TIME": "2.5",
        "HOROVOD_CACHE_CAPACITY": "0", "HOROVOD_TIMELINE": "run/timeline.json", "HOROVOD_LOG_LEVEL": "DEBUG"}
    assert set(distributed.HOROVOD_DEFAULTS) == {variable for variable, _ in distributed.HOROVOD_CONFIG_KEYS.values()}


def test_horovod_environment_accepts_a_dataclass():
    @dataclasses.dataclass
    class Horovod:
        hierarchical_allreduce: bool = True
        fusion_threshold_mb: float | None = None

    assert distributed.horovod_environment(Horovod()) == {"HOROVOD_HIERARCHICAL_ALLREDUCE": "1"}


@pytest.mark.parametrize("config, message", [
    ({"hierarchical": True}, "unknown horovod setting 'hierarchical'"),
    ({"fusion_threshold_mb": -1}, "fusion_threshold_mb: expected a number >= 0"),
    ({"fusion_threshold_mb": "64"}, "fusion_threshold_mb: expected a number >= 0"),
    ({"cache_capacity": 2.5}, "cache_capacity: expected a whole number"),
    ({"hierarchical_allreduce": "yes"}, "hierarchical_allreduce: expected true or false"),
    ({"timeline": ""}, "timeline: expected a file path"),
    ({"log_level": "loud"}, "log_level: expected one of TRACE"),
    (["hierarchical_allreduce"], "must be a mapping"),
])
def test_horovod_environment_rejects_bad_settings(config, message):
    with pytest.raises(ValueError, match=message):
        distributed.horovod_environment(config)


def test_horovod_settings_show_defaults_and_the_environment(monkeypatch):
    monkeypatch.delenv("HOROVOD_CYCLE_TIME", raising=False)
    monkeypatch.setenv("HOROVOD_HIERARCHICAL_ALLREDUCE", "1")
    monkeypatch.setenv("HOROVOD_SOMETHING_NEW", "x")
    settings = distributed.horovod_settings()
    assert settings["HOROVOD_CYCLE_TIME"] == "1"
    assert settings["HOROVOD_HIERARCHICAL_ALLREDUCE"] == "1"
    assert settings["HOROVOD_SOMETHING_NEW"] == "x"


def test_init_sets_configured_variables_but_the_environment_wins(monkeypatch, caplog):
    monkeypatch.setattr(distributed, "_initialized", False)
    monkeypatch.delenv("HOROVOD_CYCLE_TIME", raising=False)
    monkeypatch.delenv("HOROVOD_HIERARCHICAL_ALLREDUCE", raising=False)
    monkeypatch.setenv("HOROVOD_FUSION_THRESHOLD", "1048576")
    with caplog.at_level("INFO", logger="training.distributed"):
        distributed.init(settings={"cycle_time_ms": 3, "fusion_threshold_mb": 64})
    assert os.environ["HOROVOD_CYCLE_TIME"] == "3"
    assert os.environ["HOROVOD_FUSION_THRESHOLD"] == "1048576"
    assert "HOROVOD_FUSION_THRESHOLD=1048576," in caplog.text
    assert "HOROVOD_CYCLE_TIME=3," in caplog.text
    assert "HOROVOD_HIERARCHICAL_ALLREDUCE=0 (default)" in caplog.text


def test_without_horovod_one_process_falls_back_and_a_parallel_launch_fails(monkeypatch):
    monkeypatch.setattr(distributed, "_initialized", False)
    monkeypatch.setattr(distributed, "_hvd", None)
    monkeypatch.setitem(sys.modules, "horovod.tensorflow", None)  # import raises ImportError
    for name in distributed._LAUNCHER_SIZE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    distributed.init()
    assert (distributed.rank(), distributed.size()) == (0, 1)
    np.testing.assert_array_equal(distributed.allreduce_gradients([tf.constant([2.0])])[0], [2.0])

    monkeypatch.setattr(distributed, "_initialized", False)
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match="launched as 2 ranks, but Horovod cannot be imported"):
        distributed.init()


# ---------------------------------------------------------------- two ranks under mpirun

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Weights of the training script on one process (batch 2b) and on two ranks (batch b each)."""
    one, two = tmp_path_factory.mktemp("one_rank"), tmp_path_factory.mktemp("two_ranks")
    script = str(SCRIPTS / "dist_training.py")
    for command, out in (([sys.executable, script], one), ([*MPIRUN, "-np", "2", sys.executable, script], two)):
        result = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True, errors="replace",
                                timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
    return (dict(np.load(one / "rank0.npz")),
            [dict(np.load(two / f"rank{r}.npz")) for r in range(2)])


def _arrays(weights, phase):
    return [weights[key] for key in sorted(weights, key=lambda k: int(k.rsplit("_", 1)[1]) if "_" in k else -1)
            if key.startswith(phase + "_")]


@pytest.mark.mpi
@pytest.mark.slow
def test_broadcast_makes_ranks_start_equal_despite_different_seeds(trained):
    _, (rank0, rank1) = trained
    assert rank0["size"] == 2
    assert any(not np.array_equal(a, b) for a, b in zip(_arrays(rank0, "seeded"), _arrays(rank1, "seeded")))
    for a, b in zip(_arrays(rank0, "initial"), _arrays(rank1, "initial")):
        np.testing.assert_array_equal(a, b)


@pytest.mark.mpi
@pytest.mark.slow
@pytest.mark.parametrize("phase", ["lag0", "lag1", "resumed"])
def test_weights_are_bit_identical_on_all_ranks_after_training(trained, phase):
    _, (rank0, rank1) = trained
    for a, b in zip(_arrays(rank0, phase), _arrays(rank1, phase), strict=True):
        assert np.array_equal(a, b)


@pytest.mark.mpi
@pytest.mark.slow
@pytest.mark.parametrize("phase", ["lag0", "lag1"])
def test_two_ranks_with_batch_b_match_one_rank_with_batch_2b(trained, phase):
    single, (rank0, _) = trained
    for initial, one, two in zip(_arrays(single, "initial"), _arrays(single, phase), _arrays(rank0, phase)):
        # float32 sums in a different order: agreement to 1e-6, while training moved the weights by far more
        np.testing.assert_allclose(two, one, rtol=0, atol=1e-6)
        assert np.abs(one - initial).max() > 1e-3


@pytest.mark.mpi
@pytest.mark.slow
def test_lagged_run_resumed_on_two_ranks_equals_uninterrupted_run(trained):
    single, ranks = trained
    for weights in (single, *ranks):
        for resumed, uninterrupted in zip(_arrays(weights, "resumed"), _arrays(weights, "lag1"), strict=True):
            assert np.array_equal(resumed, uninterrupted)


@pytest.mark.mpi
def test_exception_on_one_rank_ends_the_job_with_its_message(mpi_output):
    started = time.monotonic()
    result = subprocess.run([*MPIRUN, "-np", "2", sys.executable, str(SCRIPTS / "dist_failure.py")],
                            capture_output=True, text=True, errors="replace", timeout=120)
    ended = time.monotonic()
    output = mpi_output(result)
    assert result.returncode != 0
    assert "rank 1: RuntimeError: sample file data-2000-01-01-00-1.h5 is corrupt (planted failure)" in output
    assert "MPI_ABORT was invoked on rank 1" in output
    raised_at = float(output.split("raising at monotonic ")[1].split()[0])
    assert ended - raised_at < 15, f"the job took {ended - raised_at:.1f} s to end after the exception"
    assert ended - started < 120


# ---------------------------------------------------------------- `climseg train` itself on two ranks

@pytest.fixture(scope="module")
def demo_samples(tmp_path_factory):
    from training.demo import write_demo_samples
    root = tmp_path_factory.mktemp("demo")
    files, stats = write_demo_samples(root / "train", count=8, grid=(32, 48), seed=0)
    write_demo_samples(root / "validation", count=4, grid=(32, 48), seed=1)
    return root, files, stats


def _climseg_train_arguments(data, stats, out):
    return ["train", "--no-progress", "--data", str(data), "--stats", str(stats), "--model-preset", "small",
            "--class-frequencies", "0.9", "0.04", "0.06", "--batch-size", "2", "--read-workers", "1",
            "--out", str(out)]


def _checkpoint_variables(run_dir):
    import json
    index = json.loads((run_dir / "checkpoints" / "index.json").read_text())
    reader = tf.train.load_checkpoint(str(run_dir / "checkpoints" / index["latest"] / "ckpt"))
    names = [name for name in reader.get_variable_to_shape_map() if name != "_CHECKPOINTABLE_OBJECT_GRAPH"]
    return index["latest"], {name: reader.get_tensor(name) for name in names}


@pytest.mark.mpi
@pytest.mark.slow
def test_climseg_train_on_two_ranks_ends_with_bit_identical_state_on_all_ranks(demo_samples, tmp_path):
    root, _, stats = demo_samples
    arguments = _climseg_train_arguments(root / "train", stats, tmp_path / "rank{rank}")
    arguments += ["--validation-data", str(root / "validation"), "--epochs", "2", "--steps-per-epoch", "2",
                  "--gradient-lag", "1", "--seed", "3"]
    result = subprocess.run([*MPIRUN, "-np", "2", sys.executable, str(SCRIPTS / "dist_climseg_train.py"), *arguments],
                            capture_output=True, text=True, errors="replace", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    name0, state0 = _checkpoint_variables(tmp_path / "rank0")
    name1, state1 = _checkpoint_variables(tmp_path / "rank1")
    assert name0 == name1 == "step-00000004"
    assert state0.keys() == state1.keys()
    assert any("/lag/pending/" in name for name in state0), "the lag buffer is in the checkpoint"
    # Batch normalization's moving statistics follow each rank's own batches, and are averaged over the
    # ranks at every checkpoint: the whole state, those included, is the same bits on both ranks.
    assert any("moving_mean" in name for name in state0), "the small Tiramisu has batch normalization"
    for name in state0:
        np.testing.assert_array_equal(state0[name], state1[name], err_msg=name)
    # The recorded training loss is the mean over ranks (each rank's own batches give another loss).
    losses = [[json.loads(line)["train_loss"] for line in (tmp_path / f"rank{r}" / "metrics.jsonl").open()]
              for r in (0, 1)]
    assert len(losses[0]) == 2 and losses[0] == losses[1]


@pytest.mark.mpi
@pytest.mark.slow
def test_climseg_train_aborts_when_one_rank_meets_a_corrupt_sample(demo_samples, tmp_path, mpi_output):
    root, files, stats = demo_samples
    data = tmp_path / "data"
    data.mkdir()
    for path in sorted(files)[:4]:
        (data / Path(path).name).write_bytes(Path(path).read_bytes())
    corrupt = sorted(data.glob("data-*.h5"))[1]                      # files[1::2] belong to rank 1
    corrupt.write_bytes(b"not hdf5 at all")
    result = subprocess.run([*MPIRUN, "-np", "2", str(Path(sys.executable).parent / "climseg"),
                             *_climseg_train_arguments(data, stats, tmp_path / "run"), "--epochs", "3"],
                            capture_output=True, text=True, errors="replace", timeout=180)
    output = mpi_output(result)
    assert result.returncode != 0
    assert f"rank 1: " in output and corrupt.name in output, output[-3000:]
    assert "MPI_ABORT was invoked on rank 1" in output


@pytest.mark.mpi
@pytest.mark.slow
def test_signals_during_a_slow_checkpoint_write_end_with_it_complete_and_exit_75(demo_samples, tmp_path, mpi_rank_pid):
    """SIGUSR1 to both ranks, then again while rank 0 writes the checkpoint.

    Rank 1 is done with its part of the checkpoint 1.5 s before rank 0: without the barrier after the
    write it would exit 75 at once and the launcher would kill rank 0 mid-save; without holding further
    signals during the write, the second signal would kill rank 0 there. (The signals go to the two rank
    processes only: signals to the whole job, reader processes included, are tests/test_faults*.py's.)
    """
    import signal

    from training.stop import INTERRUPTED_EXIT_CODE
    root, _, stats = demo_samples
    run = tmp_path / "run"
    marker = os.getpid() * 1000 + 7
    arguments = _climseg_train_arguments(root / "train", stats, run) + ["--steps-per-epoch", "2", "--epochs", "50"]
    job = subprocess.Popen([*MPIRUN, "-x", "CLIMSEG_TEST_JOB", "-np", "2", sys.executable,
                            str(SCRIPTS / "dist_slow_checkpoint.py"), *arguments],
                           env={**os.environ, "CLIMSEG_TEST_JOB": str(marker)},
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
    deadline = time.monotonic() + 180

    def wait_for(condition):
        while not condition():
            assert job.poll() is None and time.monotonic() < deadline, job.communicate()
            time.sleep(0.02)

    try:
        wait_for(lambda: (run / "checkpoints" / "index.json").exists())       # the first epoch's checkpoint
        first = json.loads((run / "checkpoints" / "index.json").read_text())["latest"]
        ranks = [mpi_rank_pid(marker, rank) for rank in (0, 1)]
        saving = set(run.glob("saving-*"))
        for pid in ranks:
            os.kill(pid, signal.SIGUSR1)
        wait_for(lambda: set(run.glob("saving-*")) - saving)                  # rank 0 writes the stop checkpoint
        for pid in ranks:
            os.kill(pid, signal.SIGUSR1)
        out, err = job.communicate(timeout=120)
    finally:
        job.kill()
    assert job.returncode == INTERRUPTED_EXIT_CODE, (job.returncode, err[-3000:])
    assert "SIGUSR1: checkpoint saved at step" in out, out[-2000:]
    stopped = int(out.split("checkpoint saved at step ")[1].split(";")[0])
    index = json.loads((run / "checkpoints" / "index.json").read_text())
    assert index["latest"] == f"step-{stopped:08d}" != first
    assert (run / "checkpoints" / index["latest"] / "meta.json").exists()


@pytest.mark.mpi
def test_checkpoint_holds_batch_norm_statistics_averaged_over_ranks(tmp_path):
    from training.checkpoint import TrainingState, find_checkpoint, load_checkpoint
    from training.config import TrainConfig
    from training.loop import batch_norm_statistics
    from training.run import build_run_model

    result = subprocess.run([*MPIRUN, "-np", "2", sys.executable, str(SCRIPTS / "dist_batch_norm.py"),
                             "--out", str(tmp_path)], capture_output=True, text=True, errors="replace", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = (np.load(tmp_path / f"rank{r}.npz") for r in (0, 1))
    count = len(rank0["names"])
    assert count >= 2 and all(("moving_mean" in n) or ("moving_variance" in n) for n in rank0["names"])

    model = build_run_model(TrainConfig(model_preset="small"))
    load_checkpoint(find_checkpoint(tmp_path / "run"), TrainingState(model), partial=True)
    saved = [variable.numpy() for variable in batch_norm_statistics(model)]
    assert len(saved) == count
    for i in range(count):
        local0, local1 = rank0[f"local_{i}"], rank1[f"local_{i}"]
        assert not np.allclose(local0, local1), "the ranks saw different data"
        np.testing.assert_allclose(saved[i], (local0 + local1) / 2, rtol=1e-6, err_msg=rank0["names"][i])
        np.testing.assert_array_equal(rank0[f"after_{i}"], saved[i])     # every rank now holds the average
        np.testing.assert_array_equal(rank1[f"after_{i}"], saved[i])
