"""Tests of training.metrics: confusion matrix and IoU against numpy on random labels."""

import numpy as np
import pytest

import training  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import tensorflow as tf

from training.metrics import confusion_matrix, iou_per_class, mean_iou


def numpy_confusion(labels, predictions, num_classes=3):
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (labels.ravel(), predictions.ravel()), 1)
    return matrix


def numpy_iou(matrix):
    ious = []
    for c in range(matrix.shape[0]):
        tp = matrix[c, c]
        fp = matrix[:, c].sum() - tp
        fn = matrix[c, :].sum() - tp
        ious.append(tp / (tp + fp + fn) if tp + fp + fn else np.nan)
    return np.array(ious)


@pytest.mark.parametrize("seed", range(3))
def test_confusion_matrix_equals_numpy_on_random_labels(seed):
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, size=(4, 20, 30), p=[0.9, 0.02, 0.08])
    predictions = np.where(rng.random(labels.shape) < 0.7, labels, rng.integers(0, 3, labels.shape))
    matrix = confusion_matrix(tf.constant(labels, tf.int32), tf.constant(predictions, tf.int64))
    assert matrix.dtype == tf.int64 and matrix.shape == (3, 3)
    np.testing.assert_array_equal(matrix.numpy(), numpy_confusion(labels, predictions))
    np.testing.assert_allclose(iou_per_class(matrix), numpy_iou(numpy_confusion(labels, predictions)))
    assert mean_iou(matrix) == pytest.approx(np.mean(numpy_iou(numpy_confusion(labels, predictions))))


def test_confusion_matrix_accumulates_in_tf_function():
    rng = np.random.default_rng(5)
    total = tf.Variable(tf.zeros((3, 3), tf.int64))
    step = tf.function(lambda labels, logits: total.assign_add(confusion_matrix(labels, tf.argmax(logits, -1))))
    expected = np.zeros((3, 3), np.int64)
    for _ in range(3):
        labels = rng.integers(0, 3, (2, 8, 12))
        logits = rng.normal(size=(2, 8, 12, 3)).astype(np.float32)
        step(tf.constant(labels), tf.constant(logits))
        expected += numpy_confusion(labels, logits.argmax(-1))
    np.testing.assert_array_equal(total.numpy(), expected)


def test_class_absent_from_truth_and_prediction_is_left_out():
    rng = np.random.default_rng(1)
    labels = rng.choice([0, 2], size=(3, 16, 16), p=[0.8, 0.2])  # no TC anywhere
    predictions = np.where(rng.random(labels.shape) < 0.8, labels, 2 - labels)
    matrix = confusion_matrix(tf.constant(labels), tf.constant(predictions))
    iou = iou_per_class(matrix)
    assert np.isnan(iou[1])
    np.testing.assert_allclose(iou[[0, 2]], numpy_iou(numpy_confusion(labels, predictions))[[0, 2]])
    assert mean_iou(matrix) == pytest.approx(iou[[0, 2]].mean())


def test_class_only_predicted_or_only_true_has_iou_zero():
    labels = np.zeros((1, 4, 4), int)
    predictions = labels.copy()
    predictions[0, 0, 0] = 1  # a TC predicted where there is none
    matrix = confusion_matrix(tf.constant(labels), tf.constant(predictions))
    np.testing.assert_allclose(iou_per_class(matrix), [15 / 16, 0.0, np.nan])
    assert mean_iou(matrix) == pytest.approx((15 / 16 + 0.0) / 2)


def test_all_background_baseline_iou():
    """Predicting background everywhere scores the background fraction on class 0 and 0 on the others."""
    labels = np.zeros((1, 10, 10), int)
    labels[0, :2] = 2  # 20 % AR
    labels[0, 2, :5] = 1  # 5 % TC
    matrix = confusion_matrix(tf.constant(labels), tf.zeros_like(tf.constant(labels)))
    np.testing.assert_allclose(iou_per_class(matrix), [0.75, 0.0, 0.0])
    assert mean_iou(matrix) == pytest.approx(0.25)


def test_empty_or_malformed_confusion_is_an_error():
    with pytest.raises(ValueError, match="counts no pixels"):
        mean_iou(np.zeros((3, 3), np.int64))
    with pytest.raises(ValueError, match=r"must be square, got shape \(3, 2\)"):
        iou_per_class(np.zeros((3, 2)))


def test_per_sample_mean_iou_on_hand_drawn_samples():
    from training.metrics import per_sample_mean_iou
    labels = np.array([[[0, 0], [1, 2]],      # sample 0: every class once
                       [[0, 0], [0, 0]]])     # sample 1: background only
    predictions = np.array([[[0, 1], [1, 0]],  # BG 1/3 (TP 1, FP 1, FN 1), TC 1/2, AR 0 (missed)
                            [[0, 0], [0, 0]]])  # all right; TC and AR absent from both: IoU 1 each
    scores = per_sample_mean_iou(tf.constant(labels), tf.constant(predictions)).numpy()
    np.testing.assert_allclose(scores, [(1 / 3 + 1 / 2 + 0) / 3, 1.0])
    # differs from the IoU of the summed confusion matrix (BG 5/7, TC 1/2, AR 0 there)
    assert mean_iou(numpy_confusion(labels, predictions)) == pytest.approx((5 / 7 + 1 / 2 + 0) / 3)


def test_per_sample_mean_iou_equals_numpy_per_sample_on_random_labels():
    from training.metrics import per_sample_mean_iou
    rng = np.random.default_rng(5)
    labels = rng.choice(3, size=(5, 12, 18), p=[0.9, 0.02, 0.08])
    predictions = np.where(rng.random(labels.shape) < 0.7, labels, rng.integers(0, 3, labels.shape))
    expected = [np.mean(np.nan_to_num(numpy_iou(numpy_confusion(l, p)), nan=1.0)) for l, p in zip(labels, predictions)]
    np.testing.assert_allclose(per_sample_mean_iou(tf.constant(labels), tf.constant(predictions)).numpy(), expected)


def test_confusion_matrix_and_per_sample_iou_compile_with_xla():
    from training.metrics import per_sample_mean_iou
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 3, size=(2, 10, 14))
    predictions = rng.integers(0, 3, size=(2, 10, 14))
    compiled = tf.function(lambda y, p: (confusion_matrix(y, p), per_sample_mean_iou(y, p)), jit_compile=True)
    matrix, scores = compiled(tf.constant(labels, tf.int32), tf.constant(predictions, tf.int32))
    np.testing.assert_array_equal(matrix.numpy(), numpy_confusion(labels, predictions))
    np.testing.assert_allclose(scores.numpy(), per_sample_mean_iou(tf.constant(labels), tf.constant(predictions)).numpy())
