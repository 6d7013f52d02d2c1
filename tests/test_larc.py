"""Tests of training.larc: LARC-scaled updates against a numpy hand computation."""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np
import pytest
import tensorflow as tf

from training.larc import larc_scale_gradients

RNG = np.random.default_rng(7)
X = RNG.normal(size=(8, 5)).astype(np.float32)       # (samples, features)
TARGET = RNG.normal(size=(8, 3)).astype(np.float32)  # (samples, outputs)
KERNEL0 = RNG.normal(scale=0.3, size=(5, 3)).astype(np.float32)


def linear_model():
    """y = x W + b with W = KERNEL0 and b = 0 (a zero-norm bias, as freshly initialized)."""
    model = tf.keras.Sequential([tf.keras.Input((5,)), tf.keras.layers.Dense(3)])
    model.layers[0].set_weights([KERNEL0, np.zeros(3, np.float32)])
    return model


def numpy_gradients(kernel, bias):
    """Gradients of the mean squared error of x W + b against TARGET."""
    residual = X @ kernel + bias - TARGET  # (samples, outputs)
    scale = 2.0 / residual.size
    return scale * X.T @ residual, scale * residual.sum(axis=0)


def numpy_larc(grad, weight, *, lr, eta, clip, eps=1e-8, weight_decay=0.0):
    w_norm, g_norm = np.linalg.norm(weight), np.linalg.norm(grad)
    grad = grad + weight_decay * weight
    if w_norm == 0 or g_norm == 0:
        return grad
    local_lr = eta * w_norm / (g_norm + weight_decay * w_norm + eps)
    return grad * (min(local_lr / lr, 1.0) if clip else local_lr)


def train(model, optimizer, steps, **larc):
    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(X) - TARGET))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(larc_scale_gradients(zip(grads, model.trainable_variables),
                                                       learning_rate=optimizer.learning_rate, **larc))
    for _ in range(steps):
        step()
    return [v.numpy() for v in model.trainable_variables]


@pytest.mark.parametrize("clip", [True, False])
def test_sgd_momentum_updates_equal_hand_computation(clip):
    lr, momentum, eta = 0.5, 0.9, 0.02
    kernel, bias = train(linear_model(), tf.keras.optimizers.SGD(lr, momentum=momentum), 3, eta=eta, clip=clip)

    w, b = KERNEL0.astype(np.float64), np.zeros(3)
    velocity = [np.zeros_like(w), np.zeros_like(b)]
    for _ in range(3):
        grads = numpy_gradients(w, b)
        params = [w, b]
        for i in range(2):
            g = numpy_larc(grads[i], params[i], lr=lr, eta=eta, clip=clip)
            velocity[i] = momentum * velocity[i] - lr * g
            params[i] = params[i] + velocity[i]
        w, b = params
    np.testing.assert_allclose(kernel, w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bias, b, rtol=1e-5, atol=1e-6)
    # LARC changed the step: plain SGD ends elsewhere
    plain_kernel, _ = train(linear_model(), tf.keras.optimizers.SGD(lr, momentum=momentum), 3, eta=1e6)
    assert not np.allclose(plain_kernel, kernel, atol=1e-3)


def test_adam_updates_equal_hand_computation():
    lr, eta, beta1, beta2, eps = 0.1, 0.01, 0.9, 0.999, 1e-3
    optimizer = tf.keras.optimizers.Adam(lr, beta_1=beta1, beta_2=beta2, epsilon=eps)
    kernel, bias = train(linear_model(), optimizer, 3, eta=eta)

    params = [KERNEL0.astype(np.float64), np.zeros(3)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t in range(1, 4):
        grads = numpy_gradients(*params)
        for i in range(2):
            g = numpy_larc(grads[i], params[i], lr=lr, eta=eta, clip=True)
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            alpha = lr * np.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
            params[i] = params[i] - alpha * m[i] / (np.sqrt(v[i]) + eps)
    np.testing.assert_allclose(kernel, params[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bias, params[1], rtol=1e-5, atol=1e-6)


def test_clip_never_raises_the_rate_and_no_clip_scales_by_the_trust_ratio():
    w = tf.Variable([[3.0, 4.0]])  # ||w|| = 5
    g = tf.constant([[0.6, 0.8]])  # ||g|| = 1
    trust = 0.002 * 5.0 / (1.0 + 1e-8)

    def scaled(**kwargs):
        return larc_scale_gradients([(g, w)], **kwargs)[0][0].numpy()

    np.testing.assert_allclose(scaled(learning_rate=0.1), g.numpy() * trust / 0.1, rtol=1e-6)  # clipped
    np.testing.assert_allclose(scaled(learning_rate=1e-4), g.numpy(), rtol=1e-6)  # trust / lr > 1 -> 1
    np.testing.assert_allclose(scaled(learning_rate=0.1, clip=False), g.numpy() * trust, rtol=1e-6)
    np.testing.assert_allclose(scaled(learning_rate=1e-4, clip=False), g.numpy() * trust, rtol=1e-6)


def test_weight_decay_enters_gradient_and_denominator():
    w = tf.Variable([[3.0, 4.0]])
    g = tf.constant([[0.6, 0.8]])
    (out, _), = larc_scale_gradients([(g, w)], learning_rate=1.0, eta=0.01, weight_decay=0.1)
    expected = (g.numpy() + 0.1 * w.numpy()) * 0.01 * 5.0 / (1.0 + 0.1 * 5.0 + 1e-8)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)


def test_zero_weights_zero_and_missing_gradients_pass_unscaled():
    zero_w, w = tf.Variable(tf.zeros((4,))), tf.Variable(tf.ones((4,)))
    g = tf.constant([1.0, -2.0, 0.5, 3.0])
    out = larc_scale_gradients([(g, zero_w), (tf.zeros(4), w), (None, w)], learning_rate=0.1, clip=False)
    np.testing.assert_array_equal(out[0][0].numpy(), g.numpy())
    np.testing.assert_array_equal(out[1][0].numpy(), np.zeros(4))
    assert out[2][0] is None and out[2][1] is w


def test_dtype_and_sparse_gradients():
    w = tf.Variable(tf.ones((3, 2)))
    sparse = tf.IndexedSlices(tf.constant([[1.0, 1.0]]), tf.constant([1]), tf.constant([3, 2]))
    (out, _), = larc_scale_gradients([(sparse, w)], learning_rate=1.0)
    assert out.shape == (3, 2) and out[0, 0] == 0.0
    half = tf.constant([[1.0, 2.0]], tf.float16)
    (out, _), = larc_scale_gradients([(half, tf.Variable([[1.0, 1.0]]))], learning_rate=1.0)
    assert out.dtype == tf.float16


@pytest.mark.parametrize("kwargs, message", [({"eta": 0.0}, "eta must be positive, got 0.0"),
                                             ({"epsilon": -1.0}, "epsilon and weight_decay must be >= 0"),
                                             ({"weight_decay": -0.1}, "epsilon and weight_decay must be >= 0")])
def test_bad_parameters_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        larc_scale_gradients([], learning_rate=0.1, **kwargs)
