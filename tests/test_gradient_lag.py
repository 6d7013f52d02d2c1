"""Tests of training.gradient_lag on one process (the two-rank checks are in test_distributed.py)."""

import numpy as np
import pytest

import training  # noqa: F401  (sets TF_USE_LEGACY_KERAS)
import tensorflow as tf

from training import distributed
from training.gradient_lag import GradientLag

CURVATURE = np.array([1.0, 0.5, 0.25], np.float32)   # loss 0.5 * sum(a * (w - c)^2), gradient a * (w - c)
MINIMUM = np.array([1.0, -2.0, 3.0], np.float32)


@pytest.fixture(autouse=True)
def one_process():
    distributed.init()


def quadratic_run(learning_rate: float, steps: int, *, lagged: bool) -> np.ndarray:
    """Weights after each of ``steps`` SGD steps on the quadratic, through GradientLag when ``lagged``."""
    w = tf.Variable(np.zeros(3, np.float32))
    lag = GradientLag([w]) if lagged else None
    optimizer = tf.keras.optimizers.SGD(learning_rate)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = 0.5 * tf.reduce_sum(CURVATURE * (w - MINIMUM) ** 2)
        gradients = tape.gradient(loss, [w])
        if lag is not None:
            gradients = lag.exchange(gradients)
        optimizer.apply_gradients(zip(gradients, [w]))

    trajectory = [w.numpy().copy()]
    for _ in range(steps):
        step()
        trajectory.append(w.numpy().copy())
    return np.array(trajectory)                                       # (steps + 1, 3)


def test_lag_one_reproduces_the_hand_computed_trajectory():
    learning_rate, steps = 0.3, 12
    # w_{t+1} = w_t - lr * g(w_{t-1}), with g(w_{-1}) = 0 (step 0 applies zeros)
    expected = [np.zeros(3)]
    previous_gradient = np.zeros(3)
    for _ in range(steps):
        gradient = CURVATURE * (expected[-1] - MINIMUM)
        expected.append(expected[-1] - learning_rate * previous_gradient)
        previous_gradient = gradient
    trajectory = quadratic_run(learning_rate, steps, lagged=True)
    np.testing.assert_allclose(trajectory, np.array(expected), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(trajectory[1], trajectory[0])       # the first step changes nothing
    assert not np.allclose(trajectory, quadratic_run(learning_rate, steps, lagged=False))


def test_lag_halves_the_largest_stable_learning_rate():
    # lag 0 converges for lr * a < 2; lag 1 (z^2 - z + lr * a = 0, |z|^2 = lr * a) only for lr * a < 1
    distance = lambda run: np.abs(run[-1] - MINIMUM)[0]              # the stiffest direction, a = 1
    assert distance(quadratic_run(1.5, 40, lagged=False)) < 1e-6
    assert distance(quadratic_run(1.5, 40, lagged=True)) > 10
    assert distance(quadratic_run(0.8, 80, lagged=True)) < 1e-2


def test_exchange_returns_zeros_first_then_the_previous_gradients():
    variables = [tf.Variable(tf.zeros([2, 3])), tf.Variable(tf.zeros([4], tf.float64)), tf.Variable(1.0)]
    lag = GradientLag(variables)
    assert [(b.shape, b.dtype) for b in lag.pending] == [(v.shape, v.dtype) for v in variables]
    assert not lag.primed.numpy()
    first = [tf.fill([2, 3], 1.0), tf.ones([4], tf.float64), None]
    second = [tf.fill([2, 3], 2.0), 3 * tf.ones([4], tf.float64), None]
    applied = lag.exchange(first)
    np.testing.assert_array_equal(applied[0], np.zeros((2, 3)))
    np.testing.assert_array_equal(applied[1], np.zeros(4))
    assert applied[2] is None
    assert lag.primed.numpy()
    applied = lag.exchange(second)
    np.testing.assert_array_equal(applied[0], np.ones((2, 3)))
    np.testing.assert_array_equal(applied[1], np.ones(4))
    assert applied[2] is None
    np.testing.assert_array_equal(lag.pending[0], np.full((2, 3), 2.0))
    np.testing.assert_array_equal(lag.pending[2], 0.0)               # never received a gradient


def test_indexed_slices_are_buffered_dense():
    lag = GradientLag([tf.Variable(tf.zeros([3, 2]))])
    lag.exchange([tf.IndexedSlices(tf.constant([[1.0, 2.0]]), tf.constant([2]), tf.constant([3, 2]))])
    np.testing.assert_array_equal(lag.exchange([tf.zeros([3, 2])])[0], [[0, 0], [0, 0], [1, 2]])


def test_synchronize_with_one_process_keeps_the_buffer():
    lag = GradientLag([tf.Variable([0.0, 0.0])])
    lag.exchange([tf.constant([1.0, 2.0])])
    lag.synchronize()
    assert lag.averaged.numpy()
    np.testing.assert_array_equal(lag.exchange([tf.constant([5.0, 5.0])])[0], [1.0, 2.0])
    assert not lag.averaged.numpy()


def test_bad_arguments_raise():
    lag = GradientLag([tf.Variable(1.0), tf.Variable(2.0)])
    with pytest.raises(ValueError, match="holds 2 buffers, got 1 gradients"):
        lag.exchange([tf.constant(1.0)])
    with pytest.raises(ValueError, match="'int8'"):
        GradientLag([tf.Variable(1.0)], compression="int8")


def small_segmenter() -> tf.keras.Model:
    tf.keras.utils.set_random_seed(3)
    inputs = tf.keras.Input((8, 12, 4))
    x = tf.keras.layers.Conv2D(6, 3, padding="same", activation="relu")(inputs)
    return tf.keras.Model(inputs, tf.keras.layers.Conv2D(3, 1)(x))   # (batch, lat, lon, classes)


def lagged_training(checkpoint_path=None, *, steps: range, initial=None):
    """Adam with gradient lag on fixed random batches; restores from / saves to ``checkpoint_path``."""
    model = small_segmenter()
    if initial is not None:
        model.set_weights(initial)
    optimizer = tf.keras.optimizers.Adam(0.01)
    optimizer.build(model.trainable_variables)
    lag = GradientLag(model.trainable_variables)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, gradient_lag=lag)
    if checkpoint_path is not None and steps.start > 0:
        checkpoint.read(checkpoint_path).assert_consumed()

    @tf.function
    def step(images, labels):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
        optimizer.apply_gradients(zip(lag.exchange(tape.gradient(loss, model.trainable_variables)),
                                      model.trainable_variables))

    for s in steps:
        rng = np.random.default_rng(s)
        step(rng.normal(size=(2, 8, 12, 4)).astype(np.float32), rng.integers(0, 3, size=(2, 8, 12)))
    if checkpoint_path is not None and steps.start == 0:
        lag.synchronize()
        checkpoint.write(checkpoint_path)
    return model.get_weights(), lag


def test_lagged_run_resumes_from_a_checkpoint_identically(tmp_path):
    initial = small_segmenter().get_weights()
    uninterrupted, _ = lagged_training(steps=range(8), initial=initial)
    _, first_half = lagged_training(tmp_path / "ckpt", steps=range(4), initial=initial)
    resumed, second_half = lagged_training(tmp_path / "ckpt", steps=range(4, 8),
                                           initial=[np.zeros_like(w) for w in initial])
    for a, b in zip(resumed, uninterrupted, strict=True):
        assert np.array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(uninterrupted, initial))

    # the restored buffer is what was saved: a fresh lag would apply zeros at the resumed step instead
    restored = GradientLag(small_segmenter().trainable_variables)
    tf.train.Checkpoint(gradient_lag=restored).read(tmp_path / "ckpt").expect_partial()
    assert restored.primed.numpy() and restored.averaged.numpy()
    for saved, buffer in zip(first_half.pending, restored.pending):
        np.testing.assert_array_equal(saved, buffer)
        assert np.abs(buffer.numpy()).max() > 0
