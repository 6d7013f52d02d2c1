"""Tests of training.losses: class weights and the weighted cross-entropy against numpy."""

import numpy as np
import pytest

import training  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import tensorflow as tf

from training.losses import class_weights_from_frequencies, weighted_cross_entropy


def test_paper_frequencies_give_the_paper_weights():
    weights = class_weights_from_frequencies([0.982, 0.0007, 0.017])
    np.testing.assert_allclose(weights, [0.022, 0.812, 0.166], atol=0.0015)
    assert weights.sum() == pytest.approx(1.0)


def test_weights_depend_on_ratios_only_and_follow_inverse_sqrt():
    counts = np.array([9_000_000, 4_000, 250_000])
    weights = class_weights_from_frequencies(counts)
    np.testing.assert_allclose(weights, class_weights_from_frequencies(counts / counts.sum()))
    np.testing.assert_allclose(weights[1] / weights[2], np.sqrt(counts[2] / counts[1]))


def test_unseen_class_gets_the_weight_of_the_rarest_seen_class():
    weights = class_weights_from_frequencies([0.9, 0.0, 0.1])
    assert np.all(np.isfinite(weights)) and weights[1] == weights[2] > weights[0]
    np.testing.assert_allclose(weights, np.array([1 / np.sqrt(0.9), 1 / np.sqrt(0.1), 1 / np.sqrt(0.1)])
                               / (1 / np.sqrt(0.9) + 2 / np.sqrt(0.1)))


@pytest.mark.parametrize("frequencies", [[0, 0, 0], [0.5, -0.1, 0.6], [0.5, np.nan, 0.5], [], [[0.5, 0.5]]])
def test_bad_frequencies_are_an_error(frequencies):
    with pytest.raises(ValueError, match="class frequencies must be"):
        class_weights_from_frequencies(frequencies)


def numpy_weighted_cross_entropy(labels, logits, weights):
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    cross_entropy = -np.take_along_axis(log_probabilities, labels[..., None], axis=-1)[..., 0]
    return (weights[labels] * cross_entropy).sum() / labels.size


@pytest.mark.parametrize("dtype", [tf.float32, tf.float16, tf.bfloat16])
def test_weighted_cross_entropy_equals_numpy(dtype):
    rng = np.random.default_rng(0)
    labels = rng.choice(3, size=(2, 16, 24), p=[0.9, 0.03, 0.07])
    logits = rng.normal(0, 4, (2, 16, 24, 3)).astype(np.float32)
    weights = class_weights_from_frequencies([0.9, 0.03, 0.07])
    cast = tf.cast(logits, dtype)
    loss = weighted_cross_entropy(tf.constant(labels), cast, weights)
    assert loss.dtype == tf.float32 and loss.shape == ()
    expected = numpy_weighted_cross_entropy(labels, tf.cast(cast, tf.float32).numpy(), weights)
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_weighted_cross_entropy_in_tf_function_and_gradient_flows():
    labels = tf.constant([[[0, 1], [2, 0]]])
    logits = tf.Variable(tf.zeros((1, 2, 2, 3)))
    weights = tf.constant([0.2, 0.5, 0.3])

    @tf.function
    def loss_and_gradient():
        with tf.GradientTape() as tape:
            loss = weighted_cross_entropy(labels, logits, weights)
        return loss, tape.gradient(loss, logits)

    loss, gradient = loss_and_gradient()
    # uniform logits: every pixel's cross-entropy is log 3; weights of the four pixels 0.2, 0.5, 0.3, 0.2
    assert float(loss) == pytest.approx(np.log(3) * (0.2 + 0.5 + 0.3 + 0.2) / 4, rel=1e-6)
    # d/dlogit of w * ce = w * (softmax - onehot) / N: the true class of pixel (0, 1) gets 0.5 * (1/3 - 1) / 4
    assert float(gradient[0, 0, 1, 1]) == pytest.approx(0.5 * (1 / 3 - 1) / 4, rel=1e-5)
