"""The training loop of ``climseg train``, readable top to bottom.

One process::

    climseg train --data samples/train.txt --validation-data samples/validation.txt --stats stats.h5 \\
        --model tiramisu --out runs/tiramisu --epochs 16 --batch-size 2

Many ranks (the same command under an MPI launcher; each rank reads its own files)::

    mpirun -np 8 climseg train --data staged/manifest.json --validation-data staged/manifest.json ...
    srun -n 64 climseg train ...           jsrun -n 6 -a 1 -g 1 climseg train ...

Distributed touch points, all calls into :mod:`training.distributed` (identities on one process):
``init`` at the start; ``broadcast_variables`` of the weights, optimizer state and lag buffer after
the optimizer is built and a checkpoint possibly restored, so every rank starts from rank 0's state;
``allreduce_gradients`` in the step; ``allreduce_sum`` of the validation confusion matrix, of the
label counts and of the stop flag; ``allreduce_mean`` of the logged training loss; only rank 0 writes checkpoints, logs, TensorBoard and the progress
bar. The learning rate is scaled with the number of ranks by ``lr_scaling``.

A run directory holds ``config.yaml`` (the resolved configuration), ``stats.h5`` (a copy, so the run
can predict on its own), ``checkpoints/`` (see :mod:`training.checkpoint`), ``metrics.jsonl`` (one JSON
record per validation and per epoch) and ``tensorboard/``.

SIGTERM and SIGUSR1 (sent by batch systems before the wall-time kill) set a flag; at the next step
boundary the run saves a checkpoint and exits with :data:`INTERRUPTED_EXIT_CODE` (75, ``EX_TEMPFAIL``:
"not finished, try again"), so that a workflow manager does not mistake it for a finished run.
``--resume`` then continues at the same step, with the same optimizer state, data position and dropout
random state; in deterministic mode the weights end bit-identical to an uninterrupted run's.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path

import numpy as np

import training  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)

import h5py
import tensorflow as tf
from tqdm import tqdm

from climseg.atomic import atomic_output
from climseg.contract import LABELS_KEY, NUM_CLASSES
from training import data, distributed, losses, metrics
from training.checkpoint import TrainingState, find_checkpoint, load_checkpoint, save_checkpoint
from training.config import TrainConfig, check_config, lr_scale
from training.metrics import iou_summary
from training.run import build_run_model, model_config  # noqa: F401  (model_config: used by tests and benches)
from training.schedule import WarmupDecay

INTERRUPTED_EXIT_CODE = 75
"""Exit code of a run stopped by SIGTERM/SIGUSR1 after saving its checkpoint (sysexits EX_TEMPFAIL)."""

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


def make_optimizer(config: TrainConfig, learning_rate):
    """Adam or SGD with momentum; wrapped for dynamic loss scaling under ``mixed_float16`` (bfloat16 has
    float32's exponent range and needs no scaling)."""
    if config.optimizer == "adam":
        optimizer = tf.keras.optimizers.Adam(learning_rate)
    else:
        optimizer = tf.keras.optimizers.SGD(learning_rate, momentum=config.momentum)
    if config.precision == "mixed_float16":
        optimizer = tf.keras.mixed_precision.LossScaleOptimizer(optimizer)  # dynamic loss scale
    return optimizer


def make_train_step(model, optimizer, class_weights, *, config: TrainConfig, learning_rate, lag=None):
    """The training step as a ``tf.function`` (x, y) -> weighted cross-entropy of the batch.

    Forward, weighted loss + L2 penalties, gradients (loss-scaled under ``mixed_float16``), average over
    ranks (or, with gradient lag, keep this step's and take the previous step's average), LARC, update.
    """
    loss_scaling = config.precision == "mixed_float16"
    if config.larc:
        from training.larc import larc_scale_gradients

    @tf.function
    def train_step(x, y):                                       # x (batch, lat, lon, 16), y (batch, lat, lon)
        with tf.GradientTape() as tape:
            logits = model(x, training=True)                    # (batch, lat, lon, classes) float32
            loss = losses.weighted_cross_entropy(y, logits, class_weights)
            total_loss = loss + tf.add_n(model.losses) if model.losses else loss  # + L2 of the kernels
            scaled_loss = optimizer.get_scaled_loss(total_loss) if loss_scaling else total_loss
        gradients = tape.gradient(scaled_loss, model.trainable_variables)
        if loss_scaling:
            gradients = optimizer.get_unscaled_gradients(gradients)
        if lag is None:
            gradients = distributed.allreduce_gradients(gradients, compression=config.allreduce_compression)
        else:  # keep this step's local gradients; apply the previous step's, averaged over ranks
            gradients = lag.exchange(gradients)
        grads_and_vars = list(zip(gradients, model.trainable_variables))
        if config.larc:
            grads_and_vars = larc_scale_gradients(grads_and_vars, learning_rate=learning_rate(optimizer.iterations),
                                                  eta=config.larc_eta, clip=True)
        optimizer.apply_gradients(grads_and_vars)
        return loss

    return train_step


def set_precision(precision: str) -> None:
    """Set the global Keras dtype policy: ``fp32`` -> float32, else the mixed policy of that name."""
    tf.keras.mixed_precision.set_global_policy("float32" if precision == "fp32" else precision)


def count_labels(files) -> np.ndarray:
    """Pixels per class (3,) int64 over the label maps of ``files`` (errors name the file)."""
    counts = np.zeros(NUM_CLASSES, np.int64)
    for path in files:
        try:
            with h5py.File(path, "r") as f:
                labels = np.asarray(f[LABELS_KEY][()]).astype(np.int64).ravel()
        except (OSError, KeyError) as error:
            raise OSError(f"{path}: cannot read {LABELS_KEY} ({error})") from None
        counts += np.bincount(np.clip(labels, 0, NUM_CLASSES - 1), minlength=NUM_CLASSES)
    return counts


def evaluation_batch_size(num_files: int, batch_size: int) -> int:
    """The largest batch size <= ``batch_size`` dividing ``num_files``: every sample counted, full batches."""
    return max(b for b in range(1, min(batch_size, num_files) + 1) if num_files % b == 0)


def make_confusion_step(model):
    """A ``tf.function`` (x, y) -> confusion matrix (3, 3) int64 of the model's predictions on a batch."""
    @tf.function(reduce_retracing=True)
    def confusion_step(x, y):
        logits = model(x, training=False)                       # (batch, lat, lon, classes)
        predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)  # (batch, lat, lon)
        return metrics.confusion_matrix(y, predictions, num_classes=NUM_CLASSES)
    return confusion_step


def confusion_over(dataset, confusion_step, *, max_batches: int = 0) -> np.ndarray:
    """Confusion matrix (3, 3) int64 of this rank over ``dataset``, summed over all ranks."""
    total = tf.zeros((NUM_CLASSES, NUM_CLASSES), tf.int64)
    for i, (x, y) in enumerate(dataset):
        if max_batches and i >= max_batches:
            break
        total += tf.cast(confusion_step(x, y), tf.int64)
    return np.asarray(distributed.allreduce_sum(total)).astype(np.int64)


class StopFlag:
    """Set by SIGTERM/SIGUSR1; the loop checks it at step boundaries."""

    def __init__(self):
        self.raised = None
        self._previous = {}

    def __enter__(self):
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        # A second signal is ignored: a launcher may forward the one a batch system already sent to every
        # process (mpirun forwards SIGUSR1), and the checkpoint being written must not be cut short.
        if self.raised is None:
            self.raised = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            # After a stop, copies of the signal may still arrive (mpirun forwards SIGUSR1 late): the run is
            # saved and exiting with 75, so they are ignored rather than left to kill it.
            signal.signal(sig, signal.SIG_IGN if self.raised is not None else handler)


def _write_metrics(path: Path, records: list) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text("".join(json.dumps(record) + "\n" for record in records))


def _read_metrics(path: Path, *, up_to_step: int) -> list:
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [record for record in records if record["step"] <= up_to_step]


def train(config: TrainConfig, run_dir, *, resume: bool = False, progress: bool = True) -> int:
    """Train a network as ``config`` says, writing the run to ``run_dir``; returns the exit code.

    0: all epochs done; :data:`INTERRUPTED_EXIT_CODE`: stopped by a signal after saving a checkpoint.
    Bad input raises ValueError/OSError naming the file; under several ranks any exception aborts the
    whole job with its message (``distributed.fail_fast``) instead of leaving the other ranks waiting.
    """
    policy = tf.keras.mixed_precision.global_policy()
    try:
        with distributed.fail_fast():
            return _train(config, Path(run_dir), resume=resume, progress=progress)
    finally:
        tf.keras.mixed_precision.set_global_policy(policy)  # the run's precision does not leak to the caller


def _train(config: TrainConfig, run_dir: Path, *, resume: bool, progress: bool) -> int:
    # ---- processes ----------------------------------------------------------------------------------------
    distributed.init(settings=config.horovod)
    rank, ranks, root = distributed.rank(), distributed.size(), distributed.is_root()
    check_config(config, ranks=ranks)
    if resume and find_checkpoint(run_dir, "latest") is None:
        raise ValueError(f"{run_dir}: --resume, but the run has no checkpoint")
    if not resume and find_checkpoint(run_dir, "latest") is not None:
        raise ValueError(f"{run_dir}: holds a run already; pass --resume to continue it or choose another --out")

    # ---- data: each rank its own files ------------------------------------------------------------------
    train_files = data.resolve_sample_files(config.data, rank=rank, size=ranks, split="train")
    validation_files = (data.resolve_sample_files(config.validation_data, rank=rank, size=ranks, split="validation")
                        if config.validation_data else [])
    stats = data.read_stats(config.stats)
    steps_per_epoch = config.steps_per_epoch or len(train_files) // config.batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"{config.data}: {len(train_files)} training files on rank {rank} give no full batch "
                         f"of {config.batch_size}")
    agreed = int(distributed.allreduce_sum(tf.constant(steps_per_epoch, tf.int64)))
    if agreed != steps_per_epoch * ranks:  # ranks must take the same number of steps, or allreduce hangs
        raise ValueError(f"{config.data}: ranks have different numbers of training files; "
                         f"set steps_per_epoch (--steps-per-epoch)")
    total_steps = steps_per_epoch * config.epochs
    global_batch = config.batch_size * ranks

    if config.class_frequencies is not None:
        frequencies = np.asarray(config.class_frequencies, np.float64)
    elif stats.class_frequencies is not None:
        frequencies = stats.class_frequencies
    else:
        counts = np.asarray(distributed.allreduce_sum(tf.constant(count_labels(train_files))))
        frequencies = np.maximum(counts, 1) / max(counts.sum(), 1)
    class_weights = tf.constant(losses.class_weights_from_frequencies(frequencies), tf.float32)  # (classes,)

    # ---- reproducibility, precision ----------------------------------------------------------------------
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()  # process-wide and irreversible
    # The same seed on every rank: the dropout generators then hold the same state on all ranks, so the one
    # rank 0 checkpoints is right for all of them on --resume (masks are alike across ranks, samples are not).
    tf.keras.utils.set_random_seed(config.seed)  # Python, NumPy and TensorFlow seeds
    tf.keras.backend.experimental.enable_tf_random_generator()  # dropout state becomes checkpointable
    set_precision(config.precision)

    # ---- model, optimizer, state ----------------------------------------------------------------------
    model = build_run_model(config)
    learning_rate = WarmupDecay(
        config.learning_rate * lr_scale(config.lr_scaling, ranks), total_steps, warmup_steps=config.warmup_steps,
        decay=config.decay, power=config.poly_power, end_factor=config.end_learning_rate_factor,
        boundaries=config.piecewise_boundaries, factors=config.piecewise_factors)
    optimizer = make_optimizer(config, learning_rate)
    optimizer.build(model.trainable_variables)  # slots exist now: restored and broadcast at once
    loss_scaling = config.precision == "mixed_float16"
    lag = None
    if config.gradient_lag:
        from training.gradient_lag import GradientLag
        lag = GradientLag(model.trainable_variables, compression=config.allreduce_compression)
    state = TrainingState(model, optimizer, lag=lag)

    metrics_path = run_dir / "metrics.jsonl"
    records = []
    if resume:
        load_checkpoint(find_checkpoint(run_dir, "latest"), state)
        records = _read_metrics(metrics_path, up_to_step=state.position()["step"]) if root else []
    distributed.broadcast_variables(model.variables + optimizer.variables + (list(lag.variables) if lag else []),
                                    root_rank=0)
    start = state.position()

    if root:
        run_dir.mkdir(parents=True, exist_ok=True)
        with atomic_output(run_dir / "config.yaml") as tmp:
            config.write_yaml(tmp)
        if Path(config.stats).resolve() != (run_dir / "stats.h5").resolve():
            with atomic_output(run_dir / "stats.h5") as tmp:
                shutil.copyfile(config.stats, tmp)
        writer = tf.summary.create_file_writer(str(run_dir / "tensorboard"))
    else:
        writer = tf.summary.create_noop_writer()

    if root:
        settings = ", ".join(f"{k}={v}" for k, v in distributed.horovod_settings().items()) if ranks > 1 else "-"
        print(f"climseg train: {config.model} ({model.count_params():,} parameters, {config.precision}), {ranks} rank(s) "
              f"x {config.batch_size} = {global_batch} samples/step, {steps_per_epoch} steps/epoch, steps "
              f"{start['step']}..{total_steps}, peak learning rate {learning_rate.peak:g}; horovod: {settings}",
              flush=True)

    # ---- the steps ---------------------------------------------------------------------------------------
    train_step = make_train_step(model, optimizer, class_weights, config=config, learning_rate=learning_rate, lag=lag)
    confusion_step = make_confusion_step(model)

    def validate():
        batch = evaluation_batch_size(len(validation_files), config.batch_size)
        dataset = data.make_dataset(validation_files, stats, batch_size=batch, shuffle=False,
                                    normalization=config.normalization, read_workers=config.read_workers,
                                    prefetch=config.prefetch, repeat=False)
        return iou_summary(confusion_over(dataset, confusion_step, max_batches=config.validation_batches))

    dataset = data.make_dataset(train_files, stats, batch_size=config.batch_size, shuffle=True, seed=config.seed,
                                skip_batches=start["step"], normalization=config.normalization, crop=config.crop,
                                flips=config.flips, read_workers=config.read_workers, prefetch=config.prefetch,
                                repeat=True).take(total_steps - start["step"])

    # ---- the loop ------------------------------------------------------------------------------------------
    elapsed_before = records[-1]["wall_time_s"] if records else 0.0
    t_start = t_log = time.perf_counter()
    steps_logged, losses_of_epoch, last_validation = 0, [], {}
    bar = tqdm(total=total_steps, initial=start["step"], unit="step", disable=not (root and progress),
               dynamic_ncols=True, desc=f"{config.model} {global_batch} samples/step")

    def checkpoint(validation=None):
        if lag is not None:
            lag.synchronize()  # collective: the buffer becomes the average over ranks, as rank 0 saves it
        if root:
            save_checkpoint(run_dir, state, config=config.to_dict(), keep_last=config.keep_checkpoints,
                            mean_iou=validation["mean_iou"] if validation else None, metrics=validation or {})

    def record(kind, validation):
        position = state.position()
        entry = {"kind": kind, **position, "samples": position["step"] * global_batch,
                 "wall_time_s": elapsed_before + time.perf_counter() - t_start,
                 "learning_rate": float(learning_rate(position["step"])),
                 "train_loss": distributed.allreduce_mean(np.mean(losses_of_epoch)) if losses_of_epoch else None,
                 **validation}
        records.append(entry)
        if root:
            _write_metrics(metrics_path, records)
            with writer.as_default(step=position["step"]):
                for name, value in validation.get("iou", {}).items():
                    if value is not None:
                        tf.summary.scalar(f"validation/iou_{name}", value)
                if "mean_iou" in validation:
                    tf.summary.scalar("validation/mean_iou", validation["mean_iou"])

    with StopFlag() as stop:
        for x, y in dataset:                                    # x (batch, lat, lon, 16), y (batch, lat, lon)
            loss = train_step(x, y)
            state.step.assign_add(1)
            state.batches_in_epoch.assign_add(1)
            step = int(state.step.numpy())
            steps_logged += 1
            losses_of_epoch.append(loss)
            bar.update(1)

            if step % config.log_every == 0 or step == total_steps:
                loss_value = distributed.allreduce_mean(float(loss))  # this step's loss, mean over ranks
                now = time.perf_counter()
                samples_per_second = steps_logged * global_batch / (now - t_log)
                t_log, steps_logged = now, 0
                bar.set_postfix(loss=f"{loss_value:.4f}", iou=f"{last_validation.get('mean_iou', float('nan')):.3f}",
                                samples_s=f"{samples_per_second:.1f}")
                with writer.as_default(step=step):
                    tf.summary.scalar("train/loss", loss_value)
                    tf.summary.scalar("train/learning_rate", float(learning_rate(step)))
                    tf.summary.scalar("train/samples_per_second", samples_per_second)
                    if loss_scaling:
                        tf.summary.scalar("train/loss_scale", float(optimizer.loss_scale))

            end_of_epoch = step % steps_per_epoch == 0
            if end_of_epoch:
                state.epoch.assign_add(1)
                state.batches_in_epoch.assign(0)
            validation = {}
            if validation_files and (step % config.validate_every == 0 if config.validate_every else end_of_epoch):
                validation = last_validation = validate()
            if end_of_epoch:
                record("epoch", last_validation)
                losses_of_epoch = []
            elif validation:
                record("validation", validation)
            if validation or end_of_epoch or (config.checkpoint_every and step % config.checkpoint_every == 0):
                checkpoint(validation)

            stop_now = int(distributed.allreduce_sum(tf.constant(int(stop.raised is not None), tf.int32)))
            if stop_now and step < total_steps:
                checkpoint()
                distributed.barrier()  # no rank exits before rank 0 has written: the launcher would kill it
                bar.close()
                if root:
                    print(f"climseg train: {stop.raised or 'stop signal on another rank'}: checkpoint saved at "
                          f"step {step}; continue with --resume", flush=True)
                writer.flush()
                return INTERRUPTED_EXIT_CODE
    bar.close()
    writer.flush()
    return 0
