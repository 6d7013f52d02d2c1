"""Confusion matrix and intersection over union (IoU) of segmentations.

The confusion matrix is accumulated over the whole validation set (and summed over ranks, it is a
matrix of int64 counts) before any ratio is taken: the IoU of a class is then
``TP / (TP + FP + FN)`` over all validation pixels, not a mean of per-batch ratios.
"""

from __future__ import annotations

import numpy as np

from climseg.contract import CLASS_NAMES, NUM_CLASSES


def confusion_matrix(labels, predictions, num_classes: int = NUM_CLASSES):
    """Count pixels by (true class, predicted class).

    Parameters
    ----------
    labels : tf.Tensor (...), integer class ids 0..num_classes-1
    predictions : tf.Tensor, same shape as ``labels``, integer class ids (e.g. ``tf.argmax(logits, -1)``)
    num_classes : int

    Returns
    -------
    tf.Tensor (num_classes, num_classes), int64
        ``[i, j]`` = pixels of true class ``i`` predicted as ``j``. Sum these over batches and ranks.
        Ids outside 0..num_classes-1 are not checked (the input pipeline checks labels).

    Works eagerly, inside ``tf.function`` and under XLA (a segment sum with a fixed number of segments,
    where ``tf.math.bincount`` has no XLA kernel for a computed length).
    """
    import tensorflow as tf

    labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
    predictions = tf.reshape(tf.cast(predictions, tf.int32), [-1])
    pairs = labels * num_classes + predictions
    counts = tf.math.unsorted_segment_sum(tf.ones_like(pairs, tf.int64), pairs, num_classes * num_classes)
    return tf.reshape(counts, (num_classes, num_classes))


def iou_per_class(confusion) -> np.ndarray:
    """``TP / (TP + FP + FN)`` of each class from a confusion matrix (rows truth, columns prediction).

    Returns
    -------
    ndarray (classes,), float64
        NaN for a class absent from both truth and prediction (0 / 0: there is nothing to get right or
        wrong); such classes are left out of :func:`mean_iou`. A class present in only one of the two has
        IoU 0.
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"confusion matrix must be square, got shape {confusion.shape}")
    true_positive = np.diag(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - true_positive
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, true_positive / union, np.nan)


def mean_iou(confusion) -> float:
    """Mean IoU over the classes present in truth or prediction (see :func:`iou_per_class`).

    Raises ValueError for a confusion matrix that counts no pixels.
    """
    iou = iou_per_class(confusion)
    if np.all(np.isnan(iou)):
        raise ValueError("confusion matrix counts no pixels: no mean IoU")
    return float(np.nanmean(iou))


def iou_summary(confusion: np.ndarray) -> dict:
    """IoU per class (NaN -> None for a class absent from truth and prediction) and the mean."""
    per_class = np.asarray(iou_per_class(confusion), dtype=np.float64)
    return {"mean_iou": float(mean_iou(confusion)),
            "iou": {name: (None if np.isnan(v) else float(v)) for name, v in zip(CLASS_NAMES, per_class)}}


def per_sample_mean_iou(labels, predictions, num_classes: int = NUM_CLASSES):
    """MLPerf DeepCAM's score of each sample: the mean over classes of ``TP / (TP + FP + FN)`` in that sample.

    Parameters
    ----------
    labels, predictions : tf.Tensor (batch, ...), integer class ids 0..num_classes-1

    Returns
    -------
    tf.Tensor (batch,), float64
        A class absent from both the sample's truth and prediction counts as IoU 1 (MLPerf's convention:
        nothing to get wrong), so a sample has a score even without TC or AR. The validation figure is the
        mean of these over all samples of all ranks; unlike :func:`iou_per_class` over the summed confusion
        matrix, small events weigh as much as large ones.

    Works eagerly, inside ``tf.function`` and under XLA (no data-dependent shapes).
    """
    import tensorflow as tf

    batch = tf.shape(labels)[0]
    labels = tf.reshape(tf.cast(labels, tf.int32), (batch, -1))             # (batch, pixels)
    predictions = tf.reshape(tf.cast(predictions, tf.int32), (batch, -1))   # (batch, pixels)
    classes = tf.range(num_classes)[:, None, None]                          # (classes, 1, 1)
    truth, predicted = labels[None] == classes, predictions[None] == classes  # (classes, batch, pixels)

    def count(mask):
        return tf.reduce_sum(tf.cast(mask, tf.float64), axis=-1)           # (classes, batch)

    true_positive = count(truth & predicted)
    union = count(truth | predicted)
    iou = tf.where(union > 0, true_positive / tf.maximum(union, 1.0), tf.ones_like(union))
    return tf.reduce_mean(iou, axis=0)                                      # (batch,)
