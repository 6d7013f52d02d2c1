"""Train a small convolutional segmenter with training.distributed; write each rank's weights to OUT/rank{R}.npz.

Run by tests/test_distributed.py both as one process (global batch on one rank) and under
``mpirun -np 2`` (half of it per rank). Every step draws the same global batch of ``2 * b`` samples on
every rank from a seed, and each rank trains on its strided share ``[rank::size]`` of it, so one rank with batch
``2b`` and two ranks with batch ``b`` see the same samples.

Phases, each from the same initial weights (rank 0's after the broadcast):
  ``lag0``     STEPS steps of synchronous SGD with momentum, gradients averaged over ranks;
  ``lag1``     the same with gradient lag 1;
  ``resumed``  lag 1 for STEPS // 2 steps, ``lag.synchronize()``, checkpoint written by rank 0 only,
               then fresh model/optimizer/lag objects, rank 0 restores, broadcast to all ranks, and the
               remaining steps; must equal ``lag1``.
Also saved: ``initial_*`` (after the broadcast) and ``seeded_*`` (before it; ranks use different seeds).
"""

import argparse
import os
import sys

import numpy as np

import training  # noqa: F401  (sets TF_USE_LEGACY_KERAS)
import tensorflow as tf

from training import distributed
from training.gradient_lag import GradientLag

STEPS = 6
GLOBAL_BATCH = 4            # 2 ranks x 2 samples
SHAPE = (16, 24, 4)         # (lat, lon, channels)
CLASSES = 3


def build_model(seed: int) -> tf.keras.Model:
    tf.keras.utils.set_random_seed(seed)                            # python, numpy and TensorFlow
    inputs = tf.keras.Input(SHAPE)
    x = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    logits = tf.keras.layers.Conv2D(CLASSES, 1)(x)                  # (batch, lat, lon, classes)
    return tf.keras.Model(inputs, logits)


def global_batch(step: int):
    rng = np.random.default_rng(1000 + step)
    images = rng.normal(size=(GLOBAL_BATCH, *SHAPE)).astype(np.float32)
    labels = rng.integers(0, CLASSES, size=(GLOBAL_BATCH, *SHAPE[:2])).astype(np.int32)
    mine = list(range(GLOBAL_BATCH))[distributed.rank()::distributed.size()]  # this rank's samples
    return images[mine], labels[mine]


def make_step(model, optimizer, lag):
    @tf.function
    def step(images, labels):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
        gradients = tape.gradient(loss, model.trainable_variables)
        if lag is None:
            gradients = distributed.allreduce_gradients(gradients)
        else:
            gradients = lag.exchange(gradients)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss
    return step


def fresh(initial, *, lagged: bool):
    model = build_model(seed=7)
    model.set_weights(initial)
    optimizer = tf.keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)
    optimizer.build(model.trainable_variables)
    lag = GradientLag(model.trainable_variables) if lagged else None
    return model, optimizer, lag


def train(model, optimizer, lag, steps: range):
    step = make_step(model, optimizer, lag)
    for s in steps:
        step(*global_batch(s))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    tf.config.experimental.enable_op_determinism()
    distributed.init()
    with distributed.fail_fast():
        weights = {}
        model = build_model(seed=100 + distributed.rank())           # different on every rank
        weights.update({f"seeded_{i}": w for i, w in enumerate(model.get_weights())})
        distributed.broadcast_variables(model.variables)
        initial = model.get_weights()
        weights.update({f"initial_{i}": w for i, w in enumerate(initial)})

        for phase, lagged in (("lag0", False), ("lag1", True)):
            model, optimizer, lag = fresh(initial, lagged=lagged)
            train(model, optimizer, lag, range(STEPS))
            weights.update({f"{phase}_{i}": w for i, w in enumerate(model.get_weights())})

        model, optimizer, lag = fresh(initial, lagged=True)
        train(model, optimizer, lag, range(STEPS // 2))
        lag.synchronize()                                            # collective, before rank 0 saves
        checkpoint_dir = os.path.join(args.out, "checkpoint")
        if distributed.is_root():
            tf.train.Checkpoint(model=model, optimizer=optimizer, gradient_lag=lag).write(checkpoint_dir + "/ckpt")
        distributed.barrier()
        model, optimizer, lag = fresh([np.zeros_like(w) for w in initial], lagged=True)
        if distributed.is_root():
            tf.train.Checkpoint(model=model, optimizer=optimizer, gradient_lag=lag).read(
                checkpoint_dir + "/ckpt").assert_consumed()
        distributed.broadcast_variables(model.variables + optimizer.variables() + list(lag.variables))
        train(model, optimizer, lag, range(STEPS // 2, STEPS))
        weights.update({f"resumed_{i}": w for i, w in enumerate(model.get_weights())})

        np.savez(os.path.join(args.out, f"rank{distributed.rank()}.npz"), size=distributed.size(), **weights)
    return 0


if __name__ == "__main__":
    sys.exit(main())
