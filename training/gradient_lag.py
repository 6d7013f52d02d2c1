"""Gradient lag: apply at step t the gradients averaged over ranks from step t-1.

Kurth et al. (SC18, section V) overlap the gradient allreduce of one step with the computation of the
next: "gradient lag" applies at step t the gradients computed at step t-1, so no step waits for its own
allreduce. `GradientLag` does this inside an ordinary TensorFlow training step::

    lag = GradientLag(model.trainable_variables)          # part of the checkpoint, like the optimizer
    @tf.function
    def train_step(images, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True))
        local = tape.gradient(loss, model.trainable_variables)      # this rank, step t
        previous = lag.exchange(local)                              # averaged over ranks, step t-1
        optimizer.apply_gradients(zip(previous, model.trainable_variables))

What overlaps with what
-----------------------
The lag buffer holds this rank's *local* gradients of step t-1. ``exchange`` allreduces that buffer
and stores the new local gradients in it. Nothing the allreduce reads depends on step t's forward and
backward pass, so within one ``tf.function`` call TensorFlow's executor starts the allreduce of step
t-1's gradients at the start of the step, and Horovod's background thread communicates while the
forward and backward pass of step t compute: the communication of a step is hidden behind a whole
forward + backward pass, which is the paper's claim ("the allreduce of step t runs while step t+1
computes"). Only the optimizer update waits for it. Without lag, Horovod can only overlap the
allreduce of the gradients finished early in the backward pass with the rest of that backward pass,
and a grouped allreduce (one fused operation for all gradients, as `training.distributed` uses) cannot
start before the last gradient exists, so the update then waits for the whole allreduce.

On one GPU per rank the forward/backward kernels and the allreduce (NCCL or MPI) use different
resources and the overlap is real; on a CPU both compete for the same cores, so the gain is small
there (``bench/scaling.py`` measures it). With one rank nothing is communicated and lag only delays
the gradients.

First step
----------
At step 0 there are no gradients from step -1: the buffer starts at zero and ``exchange`` returns
zeros (the "apply zeros" convention), so step 0 leaves the weights unchanged under SGD, momentum and
Adam (zero first and second moments give a zero step). ``primed`` is False until the first exchange;
a loop whose update does not vanish for zero gradients (decoupled weight decay, a LARC trust ratio
that divides by the gradient norm) should skip the update while ``primed`` is False.

Mixed precision: pass the *unscaled* gradients (``optimizer.get_unscaled_gradients``) and apply the
returned ones through the ``LossScaleOptimizer``: a step whose gradients overflowed is then skipped,
and the loss scale lowered, one step later, identically on all ranks (inf/NaN survive the average).

Checkpoints
-----------
`GradientLag` is a `tf.Module`: ``tf.train.Checkpoint(..., gradient_lag=lag)`` saves the buffer and the
flags, and a restored run continues bit for bit. With several ranks the buffer differs from rank to
rank (each holds its own local gradients), while only rank 0 writes the checkpoint; so before saving,
every rank calls ``lag.synchronize()`` (a collective): the buffer becomes the average over ranks, and
the next ``exchange`` uses it as it is, without averaging it again. The result is identical to a run
that never stopped, and the checkpoint holds the same buffer as every rank.

Effect on convergence
---------------------
With lag 1 the update ``w_{t+1} = w_t - lr * g(w_{t-1})`` uses a gradient one step stale: it is SGD
with bounded staleness tau = 1 (as in asynchronous / stale-synchronous SGD: Ho et al. 2013, "More
effective distributed ML via a stale synchronous parallel parameter server"; Lian et al. 2015,
"Asynchronous parallel stochastic gradient for nonconvex optimization"), which converges at the rate
of synchronous SGD when the learning rate is small compared with 1/(L * tau) for an L-smooth loss. For
a quadratic the lagged recursion stays stable for lr * curvature < 1 instead of < 2, so lag halves the
largest stable step size in the stiffest direction. The staleness adds a momentum-like delay: with
momentum or Adam the effective delay is small relative to the averaging window of the moments. The
paper presents lag 1 as harmless to convergence at its learning rates (Adam / LARC with warm-up); we
have not reproduced that at scale (``tests/test_gradient_lag.py`` checks the recursion and the halved
stability limit on a quadratic). Near the edge of stability (large learning rates without warm-up)
lag can diverge where lag 0 does not. Lag also shifts the schedule by one step: the last computed gradient is
never applied.
"""

from collections.abc import Sequence

import tensorflow as tf

from training import distributed


class GradientLag(tf.Module):
    """One-step gradient lag for a list of variables (see the module docstring).

    Parameters
    ----------
    variables : sequence of tf.Variable
        The variables whose gradients ``exchange`` receives, in that order (``model.trainable_variables``).
    compression : {"none", "fp16"}
        Compression of the allreduce (see `training.distributed.allreduce_gradients`).

    Attributes
    ----------
    pending : list of tf.Variable
        One buffer per variable, same shape and dtype, zero at first: the local gradients of the last
        step on this rank (or their average over ranks after `synchronize`).
    primed : tf.Variable, bool
        True once a gradient has been stored (False at step 0, when ``exchange`` returns zeros).
    averaged : tf.Variable, bool
        True when ``pending`` already holds the average over ranks (after `synchronize`).
    """

    def __init__(self, variables: Sequence[tf.Variable], *, compression: str = "none", name: str = "gradient_lag"):
        super().__init__(name=name)
        if compression not in ("none", "fp16"):
            raise ValueError(f"gradient compression must be 'none' or 'fp16', got {compression!r}")
        self.compression = compression
        with self.name_scope:
            self.pending = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False, name=f"pending_{i}")
                            for i, v in enumerate(variables)]
            self.primed = tf.Variable(False, trainable=False, name="primed")
            self.averaged = tf.Variable(False, trainable=False, name="averaged")

    def exchange(self, gradients: Sequence) -> list:
        """Store this step's local gradients; return last step's, averaged over ranks.

        Parameters
        ----------
        gradients : sequence of tf.Tensor, tf.IndexedSlices or None
            This rank's gradients of step t, one per variable given at construction.

        Returns
        -------
        list of tf.Tensor or None
            Gradients of step t-1 averaged over all ranks (zeros at step 0); ``None`` where the input is
            ``None``. Works eagerly and inside ``tf.function``.
        """
        gradients = list(gradients)
        if len(gradients) != len(self.pending):
            raise ValueError(f"gradient lag holds {len(self.pending)} buffers, got {len(gradients)} gradients")
        slots = [i for i, gradient in enumerate(gradients) if gradient is not None]
        previous = [self.pending[i].read_value() for i in slots]
        if distributed.size() > 1 and previous:
            previous = tf.cond(self.averaged,
                               lambda: [tf.identity(p) for p in previous],
                               lambda: distributed.allreduce_gradients(previous, compression=self.compression))
        with tf.control_dependencies(previous):  # read the buffer before overwriting it
            for i in slots:
                self.pending[i].assign(tf.convert_to_tensor(gradients[i]))
            self.averaged.assign(False)
            self.primed.assign(True)
        applied = [None] * len(gradients)
        for i, gradient in zip(slots, previous):
            applied[i] = gradient
        return applied

    def synchronize(self) -> None:
        """Replace the buffer by its average over ranks, on every rank (call on all ranks before saving).

        Afterwards the buffer is the same on all ranks, so the checkpoint rank 0 writes holds what every
        rank needs, and the next ``exchange`` applies it as is. Calling it twice averages once. Call it
        eagerly (outside ``tf.function``), at the same point on every rank.
        """
        if distributed.size() > 1 and not bool(self.averaged.numpy()):
            averaged = distributed.allreduce_gradients(self.pending, compression=self.compression)
            for buffer, value in zip(self.pending, averaged):
                buffer.assign(value)
        self.averaged.assign(True)
