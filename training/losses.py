"""Per-pixel weighted cross-entropy, with class weights from label frequencies.

Background covers over 95 % of the pixels, so an unweighted loss is minimized by predicting background
everywhere. Each pixel's cross-entropy is multiplied by the weight of its true class, ``1 / sqrt(f)`` of
the class's pixel frequency ``f``, normalized so the weights sum to 1 (Kurth et al. 2018): frequencies
0.982 / 0.0007 / 0.017 (background / TC / AR) give weights 0.022 / 0.812 / 0.166.
"""

from __future__ import annotations

import numpy as np


def class_weights_from_frequencies(frequencies) -> np.ndarray:
    """Loss weight of each class: ``1 / sqrt(frequency)``, normalized to sum 1.

    Parameters
    ----------
    frequencies : array_like (classes,)
        Pixel frequency (or pixel count) of each class; only ratios matter.

    Returns
    -------
    ndarray (classes,), float64
        Weights summing to 1. A class with frequency 0 (never seen when counting) gets the weight of the
        rarest class that was seen: rare, but not ignored should it turn up in training.

    Raises
    ------
    ValueError
        Not a 1-D array of finite, non-negative values with a positive sum.

    Examples
    --------
    >>> class_weights_from_frequencies([0.982, 0.0007, 0.017]).round(3)
    array([0.022, 0.812, 0.166])
    """
    f = np.asarray(frequencies, dtype=np.float64)
    if f.ndim != 1 or f.size == 0 or not np.all(np.isfinite(f)) or np.any(f < 0) or not f.sum() > 0:
        raise ValueError(f"class frequencies must be finite, non-negative, with a positive sum; got {f}")
    seen = f > 0
    weights = np.zeros_like(f)
    weights[seen] = 1.0 / np.sqrt(f[seen] / f.sum())
    weights[~seen] = weights[seen].max()
    return weights / weights.sum()


def weighted_cross_entropy(labels, logits, class_weights):
    """Mean over pixels of the cross-entropy of each pixel times the weight of its true class.

    Parameters
    ----------
    labels : tf.Tensor (batch, lat, lon), integer class ids
    logits : tf.Tensor (batch, lat, lon, classes), float16, bfloat16 or float32
        Unnormalized log-probabilities. Computed in float32 whatever their dtype (mixed precision).
    class_weights : array_like (classes,)
        From :func:`class_weights_from_frequencies`.

    Returns
    -------
    tf.Tensor (), float32
        ``sum_i w[y_i] * ce_i / N`` over the N pixels of the batch.

    Notes
    -----
    The sum is divided by the number of pixels, not by the sum of the pixel weights: each pixel keeps the
    same weight whatever else is in the batch, so the loss of a batch is an unbiased estimate of the
    per-pixel expected weighted loss and batches with many or few storm pixels are not rescaled against
    each other. This is what TensorFlow 1's ``sparse_softmax_cross_entropy(weights=...)`` computed in the
    paper's code (``SUM_BY_NONZERO_WEIGHTS``, all weights positive). PyTorch's ``CrossEntropyLoss(weight=)``
    (MLPerf DeepCAM) divides by the sum of the weights instead; the two differ by a batch-dependent factor.
    """
    import tensorflow as tf

    logits = tf.cast(logits, tf.float32)  # (batch, lat, lon, classes)
    labels = tf.cast(labels, tf.int32)  # (batch, lat, lon)
    weights = tf.cast(tf.convert_to_tensor(class_weights), tf.float32)  # (classes,)
    cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    pixel_weights = tf.gather(weights, labels)  # (batch, lat, lon)
    return tf.reduce_mean(pixel_weights * cross_entropy)
