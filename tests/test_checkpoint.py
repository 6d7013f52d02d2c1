"""Checkpoints: a round trip restores every piece of the training state; keep-last-k, best, errors."""

import json

import numpy as np
import pytest

import training  # noqa: F401
import tensorflow as tf

from training.checkpoint import TrainingState, find_checkpoint, load_checkpoint, save_checkpoint
from training.models import TiramisuConfig, build_model

CONFIG = {"model": "tiramisu", "seed": 3}


def make_state(seed, *, dropout=0.2, blocks=(1, 2)):
    tf.keras.backend.experimental.enable_tf_random_generator()
    tf.keras.utils.set_random_seed(seed)
    config = TiramisuConfig(blocks=blocks, growth_rate=4, kernel_size=3, first_filters=8, dropout=dropout)
    model = build_model("tiramisu", (None, None, 16), config=config)
    optimizer = tf.keras.optimizers.Adam(1e-2)
    optimizer.build(model.trainable_variables)
    return TrainingState(model, optimizer)


def train_one_step(state, seed=0):
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.normal(size=(2, 8, 8, 16)), tf.float32)
    y = tf.constant(rng.integers(0, 3, size=(2, 8, 8)), tf.int32)
    with tf.GradientTape() as tape:
        logits = state.model(x, training=True)
        loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))
    grads = tape.gradient(loss, state.model.trainable_variables)
    state.optimizer.apply_gradients(zip(grads, state.model.trainable_variables))
    state.step.assign_add(1)
    state.batches_in_epoch.assign_add(1)


def all_values(state):
    values = [v.numpy() for v in state.model.variables + state.optimizer.variables]
    values += [g.state.numpy() for g in state.rng]
    return values + [state.step.numpy(), state.epoch.numpy(), state.batches_in_epoch.numpy()]


def test_round_trip_restores_weights_optimizer_rng_and_position(tmp_path):
    saved = make_state(1)
    for _ in range(2):
        train_one_step(saved)
    saved.epoch.assign(4)
    assert saved.rng, "the dropout layers' random generators are part of the state"
    path = save_checkpoint(tmp_path, saved, config=CONFIG, mean_iou=0.5, metrics={"mean_iou": 0.5})

    restored = make_state(2)  # different initial weights and random state
    assert not all(np.array_equal(a, b) for a, b in zip(all_values(saved), all_values(restored)))
    meta = load_checkpoint(find_checkpoint(tmp_path), restored)
    assert find_checkpoint(tmp_path) == path
    for a, b in zip(all_values(saved), all_values(restored), strict=True):
        np.testing.assert_array_equal(a, b)
    assert meta["step"] == 2 and meta["epoch"] == 4 and meta["batches_in_epoch"] == 2
    assert meta["config"] == CONFIG and meta["mean_iou"] == 0.5

    # The restored state continues exactly as the saved one: same dropout masks, same Adam update.
    train_one_step(saved, seed=5)
    train_one_step(restored, seed=5)
    for a, b in zip(all_values(saved), all_values(restored), strict=True):
        np.testing.assert_array_equal(a, b)


def test_keeps_last_k_and_the_best(tmp_path):
    state = make_state(0, dropout=0.0)
    ious = {1: 0.3, 2: 0.9, 3: None, 4: 0.4, 5: None}
    for step, iou in ious.items():
        state.step.assign(step)
        save_checkpoint(tmp_path, state, config=CONFIG, keep_last=2, mean_iou=iou)
    kept = sorted(p.name for p in (tmp_path / "checkpoints").glob("step-*"))
    assert kept == ["step-00000002", "step-00000004", "step-00000005"]
    index = json.loads((tmp_path / "checkpoints" / "index.json").read_text())
    assert index["latest"] == "step-00000005" and index["best"] == "step-00000002"
    assert index["best_mean_iou"] == 0.9
    assert find_checkpoint(tmp_path, "best").name == "step-00000002"
    assert not list((tmp_path / "checkpoints").glob(".*")), "no temporary files left behind"


def test_a_save_interrupted_before_the_index_update_leaves_the_previous_checkpoint(tmp_path):
    state = make_state(0, dropout=0.0)
    state.step.assign(1)
    save_checkpoint(tmp_path, state, config=CONFIG)
    # What a kill during the next save leaves: a half-written hidden directory, index untouched.
    (tmp_path / "checkpoints" / ".step-00000002.abc").mkdir()
    (tmp_path / "checkpoints" / ".step-00000002.abc" / "ckpt.index").write_bytes(b"\0garbage")
    assert find_checkpoint(tmp_path).name == "step-00000001"
    load_checkpoint(find_checkpoint(tmp_path), make_state(1, dropout=0.0))


def test_no_checkpoint_yet(tmp_path):
    assert find_checkpoint(tmp_path) is None


def test_errors_name_the_file(tmp_path):
    state = make_state(0, dropout=0.0)
    with pytest.raises(ValueError, match="not a checkpoint directory"):
        load_checkpoint(tmp_path, state)
    with pytest.raises(ValueError, match="latest or best"):
        find_checkpoint(tmp_path, "newest")

    path = save_checkpoint(tmp_path / "run", state, config=CONFIG)
    other = make_state(0, dropout=0.0, blocks=(1, 1, 1))  # another architecture
    with pytest.raises(ValueError, match=str(path)):
        load_checkpoint(path, other)

    index = tmp_path / "run" / "checkpoints" / "index.json"
    index.write_text(json.dumps({"latest": "step-00000099", "kept": []}))
    with pytest.raises(ValueError, match="step-00000099, which is missing"):
        find_checkpoint(tmp_path / "run")
    index.write_text("{not json")
    with pytest.raises(ValueError, match="corrupt checkpoint index"):
        find_checkpoint(tmp_path / "run")


# ------------------------------------------------------------------ damaged checkpoints, full disks (issue 11)

def saved_steps(run_dir, steps, *, keep_last=3):
    """A tiny state saved at each of ``steps``, its variables changed before each save; returns the values
    saved at each step."""
    state = make_state(0, dropout=0.0)
    values = {}
    for step in steps:
        train_one_step(state, seed=step)
        state.step.assign(step)
        save_checkpoint(run_dir, state, config=CONFIG, keep_last=keep_last)
        values[step] = all_values(state)
    return values


def damage(path, how):
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    else:  # flip the bits of a few bytes, same size
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 4]) + data[middle + 4:])


@pytest.mark.parametrize("how", ["truncate", "flip"])
@pytest.mark.parametrize("file", ["ckpt.data-00000-of-00001", "ckpt.index", "meta.json"])
def test_a_damaged_latest_checkpoint_is_reported_and_the_previous_one_used(tmp_path, file, how):
    values = saved_steps(tmp_path, [1, 2])
    latest = tmp_path / "checkpoints" / "step-00000002"
    damage(latest / file, how)
    reports = []
    found = find_checkpoint(tmp_path, "latest", report=reports.append)
    assert found.name == "step-00000001"
    assert len(reports) == 1 and reports[0].startswith(f"{latest}: {file} ")
    assert ("truncated" if how == "truncate" else "corrupt bytes") in reports[0]
    with pytest.raises(ValueError, match=f"{latest}: damaged checkpoint: {file}"):
        load_checkpoint(latest, make_state(5, dropout=0.0))
    restored = make_state(5, dropout=0.0)
    meta = load_checkpoint(found, restored)
    assert meta["step"] == 1
    for a, b in zip(values[1], all_values(restored), strict=True):
        np.testing.assert_array_equal(a, b)


def test_damage_is_reported_on_stderr_by_default_and_no_valid_checkpoint_is_an_error(tmp_path, capsys):
    saved_steps(tmp_path, [1, 2])
    (tmp_path / "checkpoints" / "step-00000002" / "manifest.json").unlink()  # a killed copy
    assert find_checkpoint(tmp_path).name == "step-00000001"
    assert "step-00000002: no manifest.json (an incomplete copy?); not used" in capsys.readouterr().err
    damage(tmp_path / "checkpoints" / "step-00000001" / "ckpt.index", "truncate")
    with pytest.raises(ValueError, match="no valid checkpoint .*step-00000002: no manifest.*step-00000001: ckpt.index"):
        find_checkpoint(tmp_path)


def test_best_falls_back_to_the_newest_valid_checkpoint(tmp_path):
    state = make_state(0, dropout=0.0)
    for step, iou in ((1, 0.2), (2, 0.9), (3, 0.4), (4, None)):
        state.step.assign(step)
        save_checkpoint(tmp_path, state, config=CONFIG, keep_last=2, mean_iou=iou)
    damage(tmp_path / "checkpoints" / "step-00000002" / "ckpt.data-00000-of-00001", "flip")
    assert find_checkpoint(tmp_path, "best", report=lambda line: None).name == "step-00000004"


def test_at_least_two_checkpoints_are_kept_to_fall_back_to(tmp_path):
    saved_steps(tmp_path, [1, 2, 3], keep_last=1)
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("step-*")) == ["step-00000002", "step-00000003"]


def test_a_full_disk_while_saving_is_one_line_and_the_previous_checkpoint_stays(tmp_path, small_tmpfs, monkeypatch):
    import errno

    import training.checkpoint as checkpoint

    run = small_tmpfs if small_tmpfs is not None else tmp_path
    inputs = tf.keras.Input((16,))
    state = TrainingState(tf.keras.Model(inputs, tf.keras.layers.Dense(3)(inputs)))  # 51 floats: fits in 64 KiB
    state.step.assign(1)
    first = save_checkpoint(run, state, config=CONFIG)
    index_before = (run / "checkpoints" / "index.json").read_text()
    if small_tmpfs is not None:  # a real full disk: fill what is left
        with open(run / "filler", "wb", buffering=0) as filler:
            with pytest.raises(OSError) as full:
                while True:
                    filler.write(b"\0" * 4096)
            assert full.value.errno == errno.ENOSPC
    else:  # no mount allowed: the disk fills at the last write of the save
        def full_disk(directory):
            raise OSError(errno.ENOSPC, "No space left on device", str(directory / "manifest.json"))
        monkeypatch.setattr(checkpoint, "_write_manifest", full_disk)
    state.step.assign(2)
    state.model.variables[0].assign_add(tf.ones_like(state.model.variables[0]))
    with pytest.raises(OSError) as error:
        save_checkpoint(run, state, config=CONFIG)
    message = str(error.value)
    assert "\n" not in message
    assert error.value.errno == errno.ENOSPC
    # needs: 51 float32 (204 B) + step, epoch, position int64 (24 B)
    assert message.startswith(f"{run / 'checkpoints' / 'step-00000002'}: disk full or quota exceeded: needs 228 B, ")
    assert message.endswith(f" free in {run / 'checkpoints'}; the previous checkpoints are intact")
    assert checkpoint.checkpoint_problem(first) is None
    assert (run / "checkpoints" / "index.json").read_text() == index_before
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["index.json", "step-00000001"]
    assert find_checkpoint(run) == first
