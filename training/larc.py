"""Layer-wise Adaptive Rate Control (LARC) around Adam or SGD with momentum.

Each variable (layer weight tensor) gets its own learning rate from the ratio of its weight norm to its
gradient norm (You, Gitman, Ginsburg 2017), so that no layer moves by more than a fraction ``eta`` of its
own size per step. The paper (Kurth et al. 2018) used it in *clip* mode, as NVIDIA's apex LARC::

    local_lr = eta * ||w|| / (||g|| + weight_decay * ||w|| + epsilon)
    clip:      g <- (g + weight_decay * w) * min(local_lr / lr, 1)   # never above the global rate
    no clip:   g <- (g + weight_decay * w) * local_lr                # scales the global rate

The wrapped optimizer then applies the scaled gradients with its own learning rate ``lr``, so in clip
mode a plain SGD step is ``lr * min(local_lr / lr, 1) * g = min(local_lr, lr) * g``.

Weight decay: the models in :mod:`training.models` put their L2 penalty into ``model.losses``, so the
gradient of the total loss already holds ``lambda * w`` and LARC sees it in ``||g||``; call with
``weight_decay=0`` (the default) then. Pass ``weight_decay > 0`` only for models without L2 in the loss:
the decay is added to the gradient here and enters the trust ratio's denominator, as in apex.

A variable whose weights are all zero (a freshly initialized bias) or whose gradient is zero has no
meaningful ratio; its gradient is passed on unscaled (scale 1), as in apex.

References
----------
You, Gitman, Ginsburg (2017), Large Batch Training of Convolutional Networks, arXiv:1708.03888.
Kurth et al. (2018), Exascale Deep Learning for Climate Analytics, SC18, arXiv:1810.01993.

Examples
--------
Inside the training step (a ``tf.function``)::

    grads = tape.gradient(loss, model.trainable_variables)
    grads_and_vars = larc_scale_gradients(zip(grads, model.trainable_variables),
                                          learning_rate=optimizer.learning_rate)
    optimizer.apply_gradients(grads_and_vars)
"""

from __future__ import annotations

import tensorflow as tf  # the package init has set TF_USE_LEGACY_KERAS=1 (tf.keras is Keras 2)


def larc_scale_gradients(grads_and_vars, *, learning_rate, eta: float = 0.002, clip: bool = True,
                         epsilon: float = 1e-8, weight_decay: float = 0.0) -> list:
    """Scale each gradient by its variable's LARC factor; usable inside a ``tf.function``.

    Parameters
    ----------
    grads_and_vars : iterable of (gradient or None, tf.Variable)
        As given to ``optimizer.apply_gradients``. ``None`` gradients are passed on as they are;
        ``tf.IndexedSlices`` are made dense.
    learning_rate : float or scalar tensor
        The wrapped optimizer's current (global) learning rate; only used in clip mode.
    eta : float
        Trust coefficient: the largest step of a layer relative to its weight norm.
    clip : bool
        True: scale ``min(local_lr / learning_rate, 1)``; False: scale ``local_lr``.
    epsilon : float
        Added to the denominator of the trust ratio.
    weight_decay : float
        Decoupled weight decay added to the gradient here (see the module notes); 0 when the loss
        already holds the L2 penalty.

    Returns
    -------
    list of (tf.Tensor, tf.Variable)
        Scaled gradients in the dtype of the given gradients, with their variables.
    """
    if eta <= 0:
        raise ValueError(f"LARC eta must be positive, got {eta}")
    if epsilon < 0 or weight_decay < 0:
        raise ValueError(f"LARC epsilon and weight_decay must be >= 0, got {epsilon} and {weight_decay}")
    scaled = []
    for grad, var in grads_and_vars:
        if grad is None:
            scaled.append((grad, var))
            continue
        with tf.name_scope("larc"):
            g = tf.cast(tf.convert_to_tensor(grad), tf.float32)
            w = tf.cast(tf.convert_to_tensor(var), tf.float32)
            w_norm = tf.norm(w)
            g_norm = tf.norm(g)
            if weight_decay:
                g = g + weight_decay * w
            local_lr = eta * w_norm / (g_norm + weight_decay * w_norm + epsilon)
            if clip:
                scale = tf.minimum(local_lr / tf.cast(learning_rate, tf.float32), 1.0)
            else:
                scale = local_lr
            scale = tf.where((w_norm > 0.0) & (g_norm > 0.0), scale, 1.0)
            scaled.append((tf.cast(g * scale, grad.dtype), var))
    return scaled
