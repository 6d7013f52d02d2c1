"""The training loop: it learns, it resumes bit for bit after SIGTERM, and its errors name the file.

Training runs go through the ``climseg`` entry point in a subprocess (deterministic ops are a
process-wide, irreversible TensorFlow setting, and SIGTERM must reach a real process); errors raised
before training starts are tested in-process.
"""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from climseg.cli import main
from climseg.contract import LABELS_KEY
from training.config import TrainConfig
from training.demo import write_demo_samples
from training.loop import count_labels, evaluation_batch_size, model_config
from training.stop import INTERRUPTED_EXIT_CODE, StopFlag

GRID = (32, 48)


def train_command(*args):
    return [str(Path(sys.executable).parent / "climseg"), "train", "--no-progress", *map(str, args)]


def run_train(*args, timeout=300):
    return subprocess.run(train_command(*args), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    _, stats = write_demo_samples(root / "train", count=32, grid=GRID, seed=0)
    validation, _ = write_demo_samples(root / "validation", count=8, grid=GRID, seed=1)
    return {"train": root / "train", "validation": root / "validation", "stats": stats, "validation_files": validation}


def final_weights(run_dir):
    """Every variable of the latest checkpoint (model, optimizer, rng, position) by name."""
    import tensorflow as tf
    index = json.loads((run_dir / "checkpoints" / "index.json").read_text())
    reader = tf.train.load_checkpoint(str(run_dir / "checkpoints" / index["latest"] / "ckpt"))
    names = [name for name in reader.get_variable_to_shape_map() if name != "_CHECKPOINTABLE_OBJECT_GRAPH"]
    return index["latest"], {name: reader.get_tensor(name) for name in names}


def test_small_tiramisu_learns_far_above_the_all_background_baseline(samples, tmp_path):
    run = tmp_path / "run"
    result = run_train("--data", samples["train"], "--validation-data", samples["validation"],
                       "--stats", samples["stats"], "--model", "tiramisu", "--model-preset", "small",
                       "--out", run, "--batch-size", 4, "--epochs", 3, "--learning-rate", 0.01,
                       "--read-workers", 2)
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3] and records[-1]["step"] == 24
    final = records[-1]

    # Baseline: predicting background everywhere gives IoU = background fraction for background and 0
    # for TC and AR (present in every validation sample), so a mean IoU of background fraction / 3.
    counts = count_labels(samples["validation_files"])
    assert counts[1] > 0 and counts[2] > 0
    baseline = counts[0] / counts.sum() / 3  # about 0.3 on these samples
    # Bound: 3 epochs (24 steps of 4 samples) of the 6k-parameter Tiramisu reach about 0.7 on these
    # samples (TC and AR about 0.6 each). Require the network to find both classes (IoU > 0.3 each, where
    # the baseline has 0) and a mean IoU at least 0.2 above the baseline: far beyond chance, with margin
    # for slower convergence on another machine's arithmetic.
    assert final["iou"]["TC"] > 0.3 and final["iou"]["AR"] > 0.3, final
    assert final["mean_iou"] > baseline + 0.2, (final, baseline)
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    assert (run / "config.yaml").exists() and (run / "stats.h5").exists()
    assert list((run / "tensorboard").iterdir())
    meta = json.loads((run / "checkpoints" / "step-00000024" / "meta.json").read_text())
    assert meta["config"]["model_preset"] == "small" and meta["mean_iou"] == pytest.approx(final["mean_iou"])

    again = main(["train", "--data", str(samples["train"]), "--stats", str(samples["stats"]), "--out", str(run)])
    assert again == 2, "a second run into the same directory needs --resume"


@pytest.mark.slow
def test_sigterm_then_resume_ends_with_the_same_weights_as_an_uninterrupted_run(samples, tmp_path):
    # Dropout on, random crops, Adam with warm-up: every piece of state must come back.
    (tmp_path / "train.yaml").write_text("model_overrides: {dropout: 0.2}\n")
    common = ["--data", samples["train"], "--stats", samples["stats"], "--model-preset", "small",
              "--config", tmp_path / "train.yaml", "--batch-size", 2, "--epochs", 6, "--steps-per-epoch", 8,
              "--crop", 16, 24, "--warmup-steps", 4, "--read-workers", 1, "--seed", 7]
    total_steps = 6 * 8

    straight = run_train(*common, "--out", tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr[-3000:]

    interrupted = tmp_path / "interrupted"
    process = subprocess.Popen(train_command(*common, "--out", interrupted), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (interrupted / "checkpoints" / "index.json").exists():  # the end of the first epoch
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=240)
    assert process.returncode == INTERRUPTED_EXIT_CODE, err[-3000:]
    assert "checkpoint saved at step" in out
    stopped_at, _ = final_weights(interrupted)
    assert 8 <= int(stopped_at.split("-")[1]) < total_steps

    resumed = run_train(*common, "--out", interrupted, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    name_a, weights_a = final_weights(tmp_path / "straight")
    name_b, weights_b = final_weights(interrupted)
    assert name_a == name_b == f"step-{total_steps:08d}"
    assert weights_a.keys() == weights_b.keys()
    assert any("rng" in name for name in weights_a), "dropout generator state is checkpointed"
    assert any("optimizer" in name for name in weights_a)
    for name in weights_a:
        np.testing.assert_array_equal(weights_a[name], weights_b[name], err_msg=name)


def test_errors_before_training_are_one_line_naming_the_file(samples, tmp_path, capsys):
    common = ["train", "--stats", str(samples["stats"]), "--model-preset", "small", "--read-workers", "1"]

    assert main([*common, "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "a")]) == 2
    assert f"{tmp_path / 'nowhere'}: no such directory, sample file or file list" in capsys.readouterr().err

    assert main([*common, "--data", str(samples["train"]), "--out", str(tmp_path / "b"), "--resume"]) == 2
    assert f"{tmp_path / 'b'}: --resume, but the run has no checkpoint" in capsys.readouterr().err

    (tmp_path / "bad.yaml").write_text("learning_rat: 0.1\n")
    assert main([*common, "--data", str(samples["train"]), "--out", str(tmp_path / "c"),
                 "--config", str(tmp_path / "bad.yaml")]) == 2
    assert "bad.yaml: unknown training option(s) learning_rat" in capsys.readouterr().err

    assert main([*common, "--data", str(samples["train"]), "--out", str(tmp_path / "d"), "--batch-size", "64"]) == 2
    assert "32 training files on rank 0 give no full batch of 64" in capsys.readouterr().err


def test_corrupt_sample_met_while_training_is_one_line_naming_it(samples, tmp_path, capsys):
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for path in sorted(samples["train"].glob("data-*.h5"))[:4]:
        (corrupt / path.name).write_bytes(path.read_bytes())
    (corrupt / "data-2000-01-01-01-1.h5").write_bytes(b"not hdf5 at all")  # the second file, read in the loop
    code = main(["train", "--data", str(corrupt), "--stats", str(samples["stats"]), "--model-preset", "small",
                 "--read-workers", "1", "--out", str(tmp_path / "run"), "--batch-size", "2", "--no-deterministic",
                 "--no-progress"])
    assert code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("climseg train: error:") and "data-2000-01-01-01-1.h5" in last, last


@pytest.mark.parametrize("options, saved", [
    (["--precision", "mixed_float16", "--gradient-lag", "1", "--larc"], ["loss_scale", "lag"]),
    (["--jit-compile", "--precision", "mixed_bfloat16", "--gradient-lag", "1"], ["lag"]),  # XLA loss and gradients
    (["--precision", "mixed_bfloat16", "--optimizer", "sgd", "--decay", "piecewise", "--piecewise-boundaries", "3",
      "--piecewise-factors", "0.1"], ["optimizer/_variables/1/"]),  # 0: iterations, then momentum slots
])
def test_precisions_lag_larc_and_sgd_run_and_checkpoint_their_state(options, saved, samples, tmp_path):
    import tensorflow as tf
    run = tmp_path / "run"
    code = main(["train", "--data", str(samples["train"]), "--stats", str(samples["stats"]), "--model-preset", "small",
                 "--out", str(run), "--batch-size", "2", "--steps-per-epoch", "4", "--crop", "16", "24",
                 "--read-workers", "1", "--no-deterministic", "--no-progress", *options])
    assert code == 0
    assert tf.keras.mixed_precision.global_policy().name == "float32", "the run's policy is restored"
    record = json.loads((run / "metrics.jsonl").read_text())
    assert record["step"] == 4 and np.isfinite(record["train_loss"])
    _, weights = final_weights(run)
    for word in saved:
        assert any(word in name for name in weights), (word, sorted(weights)[:20])
    assert all(np.all(np.isfinite(value)) for value in weights.values() if np.issubdtype(value.dtype, np.floating))


def test_model_config_applies_preset_overrides_and_weight_decay():
    config = model_config(TrainConfig(model_preset="small", model_overrides={"dropout": 0.1}, weight_decay=0.0))
    assert config.dropout == 0.1 and config.weight_decay == 0.0 and config.growth_rate == 4
    assert model_config(TrainConfig()).growth_rate == 32
    with pytest.raises(ValueError, match="model_overrides: unknown tiramisu option\\(s\\) depth"):
        model_config(TrainConfig(model_overrides={"depth": 3}))


def test_count_labels_and_its_error(tmp_path):
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f[LABELS_KEY] = np.array([[0, 1], [2, 2]], np.float32)  # DeepCAM stores labels as float32
    np.testing.assert_array_equal(count_labels([tmp_path / "a.h5", tmp_path / "a.h5"]), [2, 2, 4])
    (tmp_path / "b.h5").write_bytes(b"junk")
    with pytest.raises(OSError, match="b.h5"):
        count_labels([tmp_path / "b.h5"])


def test_evaluation_batch_size_divides_the_number_of_files():
    assert evaluation_batch_size(8, 4) == 4
    assert evaluation_batch_size(9, 4) == 3
    assert evaluation_batch_size(7, 4) == 1
    assert evaluation_batch_size(2, 16) == 2


def test_stop_flag_catches_sigterm_and_sigusr1_and_restores_handlers():
    import os
    before = signal.getsignal(signal.SIGTERM)
    with StopFlag() as stop:
        assert stop.raised is None
    assert signal.getsignal(signal.SIGTERM) is before  # no stop: handlers restored
    for sig in (signal.SIGTERM, signal.SIGUSR1):  # (the conftest restores the handlers after the test)
        with StopFlag() as stop:
            assert stop.raised is None
            os.kill(os.getpid(), sig)
            assert stop.raised == sig.name
        assert signal.getsignal(sig) is signal.SIG_IGN  # stopped: late copies of the signal are ignored


def test_a_stop_flag_that_does_not_restore_leaves_the_signals_ignored_after_a_complete_run():
    """``climseg train``'s: a signal while the finished process tears down must not kill it."""
    with StopFlag(restore=False) as stop:
        pass
    assert stop.raised is None
    assert {signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGUSR1)} == {signal.SIG_IGN}


MLLOG_SETTINGS = ["global_batch_size", "opt_name", "opt_base_learning_rate", "opt_learning_rate_warmup_steps",
                  "train_samples", "eval_samples", "number_of_ranks", "seed"]


@pytest.mark.slow
def test_target_iou_stops_at_the_first_validation_reaching_it_and_not_before(samples, tmp_path):
    from climseg.mllog import read_mllog
    common = ["--data", samples["train"], "--validation-data", samples["validation"], "--stats", samples["stats"],
              "--model-preset", "small", "--batch-size", 4, "--epochs", 1, "--steps-per-epoch", 8,
              "--validate-every", 2, "--learning-rate", 0.01, "--read-workers", 2]
    reference = run_train(*common, "--out", tmp_path / "reference")
    assert reference.returncode == 0, reference.stderr[-3000:]
    measured = [json.loads(line) for line in (tmp_path / "reference" / "metrics.jsonl").read_text().splitlines()]
    ious = [record["mean_iou"] for record in measured]
    assert [record["step"] for record in measured] == [2, 4, 6, 8], "--validate-every 2 steps"
    # the first validation that beats every earlier one (the small Tiramisu improves from the first to the second)
    k = next(i for i in range(1, len(ious)) if ious[i] > max(ious[:i]))
    target = (max(ious[:k]) + ious[k]) / 2                     # above every earlier validation, below this one

    run = tmp_path / "target"
    result = run_train(*common, "--out", run, "--target-iou", target, "--mllog", tmp_path / "log" / "mllog.txt")
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [r["step"] for r in measured[:k + 1]], "stopped at the k-th validation"
    assert [r["mean_iou"] for r in records] == ious[:k + 1], "deterministic: the same validations as the reference"
    assert [r["target_reached"] for r in records] == [False] * k + [True]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "success" and summary["target_iou"] == target
    assert summary["step"] == records[-1]["step"] and summary["samples"] == 4 * summary["step"]
    assert summary["wall_time_s"] > 0 and 0 < summary["mlperf_mean_iou"] <= 1
    assert "target mean IoU" in result.stdout and "reached at step" in result.stdout

    events = read_mllog(tmp_path / "log" / "mllog.txt")
    assert not (run / "mllog.txt").exists(), "--mllog moves the log"
    keys = [event["key"] for event in events]
    assert keys == ["init_start", *MLLOG_SETTINGS, "init_stop", "run_start", "epoch_start",
                    *["eval_start", "eval_stop", "eval_accuracy"] * (k + 1), "run_stop"]
    values = {event["key"]: event["value"] for event in events}
    assert values["global_batch_size"] == 4 and values["train_samples"] == 32 and values["eval_samples"] == 8
    assert values["number_of_ranks"] == 1 and values["opt_name"] == "adam" and values["opt_base_learning_rate"] == 0.01
    assert [e["value"] for e in events if e["key"] == "eval_accuracy"] == ious[:k + 1]
    assert events[-1]["metadata"]["status"] == "success"
    assert [e["time_ms"] for e in events] == sorted(e["time_ms"] for e in events)

    beyond = tmp_path / "beyond"
    result = run_train(*common, "--out", beyond, "--target-iou", min(1.0, max(ious) + 1e-6))
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((beyond / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 8, "all steps run"
    assert json.loads((beyond / "summary.json").read_text())["status"] == "aborted"
    events = read_mllog(beyond / "mllog.txt")
    assert [e["key"] for e in events][-3:] == ["eval_accuracy", "epoch_stop", "run_stop"]
    assert events[-1]["metadata"]["status"] == "aborted"


def test_target_iou_needs_validation_data_and_a_fraction(samples, tmp_path, capsys):
    common = ["train", "--data", str(samples["train"]), "--stats", str(samples["stats"]), "--model-preset", "small"]
    assert main([*common, "--out", str(tmp_path / "a"), "--target-iou", "0.5"]) == 2
    assert "target_iou: needs validation samples (--validation-data)" in capsys.readouterr().err
    assert main([*common, "--out", str(tmp_path / "b"), "--validation-data", str(samples["validation"]),
                 "--target-iou", "82"]) == 2
    assert "target_iou: must be between 0 and 1, got 82" in capsys.readouterr().err


def test_jit_compile_needs_nondeterministic_ops(samples, tmp_path, capsys):
    assert main(["train", "--data", str(samples["train"]), "--stats", str(samples["stats"]), "--model-preset", "small",
                 "--out", str(tmp_path / "run"), "--jit-compile"]) == 2
    assert "pass --no-deterministic with --jit-compile" in capsys.readouterr().err
