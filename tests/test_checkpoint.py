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
