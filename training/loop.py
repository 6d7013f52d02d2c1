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
label counts and of the stop flag; ``allreduce_mean`` of the logged training loss; ``barrier`` after the
last checkpoint (no rank leaves while rank 0 still writes); only rank 0 writes checkpoints, logs,
TensorBoard and the progress bar. The learning rate is scaled with the number of ranks by ``lr_scaling``.

A run directory holds ``config.yaml`` (the resolved configuration), ``stats.h5`` (a copy, so the run
can predict on its own), ``checkpoints/`` (see :mod:`training.checkpoint`), ``metrics.jsonl`` (one JSON
record per validation and per epoch) and ``tensorboard/``.

SIGTERM and SIGUSR1 (sent by batch systems before the wall-time kill) set a flag; at the next step
boundary the run saves a checkpoint, every rank waits until rank 0 has written it (an early exit with a
non-zero code would make the MPI launcher kill rank 0 mid-save), and all exit with
:data:`INTERRUPTED_EXIT_CODE` (75, ``EX_TEMPFAIL``: "not finished, try again"), so that a workflow manager
does not mistake it for a finished run. Further signals during a checkpoint write are ignored.
``--resume`` then continues at the same step, with the same optimizer state, data position and dropout
random state; in deterministic mode the weights end bit-identical to an uninterrupted run's.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from pathlib import Path

import numpy as np

import training  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)

import h5py
import tensorflow as tf
from tqdm import tqdm

from climseg.atomic import atomic_output
from climseg.contract import LABELS_KEY, NUM_CLASSES
from climseg.mllog import MLLogger
from climseg.samples import rank_samples
from training import data, distributed, losses, metrics
from training.checkpoint import TrainingState, find_checkpoint, load_checkpoint, save_checkpoint
from training.config import TrainConfig, check_config, lr_scale
from training.metrics import iou_summary
from training.run import build_run_model, model_config  # noqa: F401  (model_config: used by tests and benches)
from training.schedule import WarmupDecay
from training.stop import INTERRUPTED_EXIT_CODE, StopFlag


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
    With ``config.jit_compile`` the forward and backward pass (up to the gradients) is one XLA cluster;
    the allreduce (Horovod has no XLA kernels here) and the update stay in the plain graph.
    """
    loss_scaling = config.precision == "mixed_float16"
    if config.larc:
        from training.larc import larc_scale_gradients

    def loss_and_gradients(x, y):                               # x (batch, lat, lon, 16), y (batch, lat, lon)
        with tf.GradientTape() as tape:
            logits = model(x, training=True)                    # (batch, lat, lon, classes) float32
            loss = losses.weighted_cross_entropy(y, logits, class_weights)
            total_loss = loss + tf.add_n(model.losses) if model.losses else loss  # + L2 of the kernels
            scaled_loss = optimizer.get_scaled_loss(total_loss) if loss_scaling else total_loss
        return loss, tape.gradient(scaled_loss, model.trainable_variables)

    if config.jit_compile:
        loss_and_gradients = tf.function(loss_and_gradients, jit_compile=True)

    @tf.function
    def train_step(x, y):
        loss, gradients = loss_and_gradients(x, y)
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


def make_confusion_step(model, *, jit_compile: bool = False):
    """A ``tf.function`` (x, y) -> (confusion matrix (3, 3) int64, sum over the batch of MLPerf's per-sample
    mean IoU, float64) of the model's predictions; compiled with XLA when ``jit_compile``."""
    @tf.function(reduce_retracing=True, jit_compile=jit_compile)
    def confusion_step(x, y):
        logits = model(x, training=False)                       # (batch, lat, lon, classes)
        predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)  # (batch, lat, lon)
        return (metrics.confusion_matrix(y, predictions, num_classes=NUM_CLASSES),
                tf.reduce_sum(metrics.per_sample_mean_iou(y, predictions, num_classes=NUM_CLASSES)))
    return confusion_step


def validation_counts(dataset, confusion_step, *, max_batches: int = 0) -> tuple[np.ndarray, float, int]:
    """Over ``dataset`` on all ranks (collective): the confusion matrix (3, 3) int64, the sum of MLPerf's
    per-sample mean IoU and the number of samples."""
    confusion = tf.zeros((NUM_CLASSES, NUM_CLASSES), tf.int64)
    sums = tf.zeros(2, tf.float64)                              # (per-sample IoU sum, samples)
    for i, (x, y) in enumerate(dataset):
        if max_batches and i >= max_batches:
            break
        batch_confusion, batch_iou_sum = confusion_step(x, y)
        confusion += tf.cast(batch_confusion, tf.int64)
        sums += tf.stack([tf.cast(batch_iou_sum, tf.float64), tf.cast(tf.shape(y)[0], tf.float64)])
    confusion, sums = distributed.allreduce_sum(confusion), distributed.allreduce_sum(sums)
    return np.asarray(confusion).astype(np.int64), float(sums[0]), int(sums[1])


def _write_metrics(path: Path, records: list) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text("".join(json.dumps(record) + "\n" for record in records))


def _read_metrics(path: Path, *, up_to_step: int) -> list:
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [record for record in records if record["step"] <= up_to_step]


# ---- set-up: each a function of its inputs, called once by `_train` in the order below ----------------------

def check_run_dir(run_dir: Path, *, resume: bool) -> None:
    """Refuse ``--resume`` without a checkpoint, and a new run into a directory holding one."""
    if resume and find_checkpoint(run_dir, "latest") is None:
        raise ValueError(f"{run_dir}: --resume, but the run has no checkpoint")
    if not resume and find_checkpoint(run_dir, "latest") is not None:
        raise ValueError(f"{run_dir}: holds a run already; pass --resume to continue it or choose another --out")


def agreed_steps_per_epoch(config: TrainConfig, train_files: list, *, rank: int, ranks: int) -> int:
    """Steps per epoch, the same on every rank (collective): ``--steps-per-epoch`` or full batches of a rank."""
    steps_per_epoch = config.steps_per_epoch or len(train_files) // config.batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"{config.data}: {len(train_files)} training files on rank {rank} give no full batch "
                         f"of {config.batch_size}")
    agreed = int(distributed.allreduce_sum(tf.constant(steps_per_epoch, tf.int64)))
    if agreed != steps_per_epoch * ranks:  # ranks must take the same number of steps, or allreduce hangs
        raise ValueError(f"{config.data}: ranks have different numbers of training files; "
                         f"set steps_per_epoch (--steps-per-epoch)")
    return steps_per_epoch


def loss_class_weights(config: TrainConfig, stats, train_files: list) -> tf.Tensor:
    """Class weights (3,) float32 of the loss from the configured, stored or counted (collective) frequencies."""
    if config.class_frequencies is not None:
        frequencies = np.asarray(config.class_frequencies, np.float64)
    elif stats.class_frequencies is not None:
        frequencies = stats.class_frequencies
    else:
        counts = np.asarray(distributed.allreduce_sum(tf.constant(count_labels(train_files))))
        frequencies = np.maximum(counts, 1) / max(counts.sum(), 1)
    return tf.constant(losses.class_weights_from_frequencies(frequencies), tf.float32)  # (classes,)


def seed_everything(config: TrainConfig) -> None:
    """Determinism, seeds and the precision policy, before the model is built.

    The same seed on every rank: the dropout generators then hold the same state on all ranks, so the one
    rank 0 checkpoints is right for all of them on --resume (masks are alike across ranks, samples are not).
    """
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()  # process-wide and irreversible
    tf.keras.utils.set_random_seed(config.seed)  # Python, NumPy and TensorFlow seeds
    tf.keras.backend.experimental.enable_tf_random_generator()  # dropout state becomes checkpointable
    set_precision(config.precision)


def make_learning_rate(config: TrainConfig, *, ranks: int, total_steps: int) -> WarmupDecay:
    """The schedule step -> learning rate, its peak scaled with the number of ranks by ``lr_scaling``."""
    return WarmupDecay(
        config.learning_rate * lr_scale(config.lr_scaling, ranks), total_steps, warmup_steps=config.warmup_steps,
        decay=config.decay, power=config.poly_power, end_factor=config.end_learning_rate_factor,
        boundaries=config.piecewise_boundaries, factors=config.piecewise_factors)


def make_state(config: TrainConfig, learning_rate) -> TrainingState:
    """Model, built optimizer (slots exist, so a restore fills them at once) and gradient-lag buffer."""
    model = build_run_model(config)
    optimizer = make_optimizer(config, learning_rate)
    optimizer.build(model.trainable_variables)
    lag = None
    if config.gradient_lag:
        from training.gradient_lag import GradientLag
        lag = GradientLag(model.trainable_variables, compression=config.allreduce_compression)
    return TrainingState(model, optimizer, lag=lag)


def restore_or_start(state: TrainingState, run_dir: Path, *, resume: bool, root: bool) -> list:
    """Load the latest checkpoint (``resume``), then give every rank rank 0's state (collective).

    Returns the metrics records of the run so far (rank 0; empty elsewhere and for a new run).
    """
    records = []
    if resume:
        load_checkpoint(find_checkpoint(run_dir, "latest"), state)
        records = _read_metrics(run_dir / "metrics.jsonl", up_to_step=state.position()["step"]) if root else []
    lag_variables = list(state.lag.variables) if state.lag is not None else []
    distributed.broadcast_variables(state.model.variables + state.optimizer.variables + lag_variables, root_rank=0)
    return records


def write_run_files(run_dir: Path, config: TrainConfig) -> None:
    """``config.yaml`` and a copy of ``stats.h5`` in the run directory (rank 0)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_output(run_dir / "config.yaml") as tmp:
        config.write_yaml(tmp)
    if Path(config.stats).resolve() != (run_dir / "stats.h5").resolve():
        with atomic_output(run_dir / "stats.h5") as tmp:
            shutil.copyfile(config.stats, tmp)


def training_dataset(config: TrainConfig, train_files: list, stats, *, start_step: int, total_steps: int):
    """Shuffled, augmented, repeated batches from step ``start_step`` on (a resumed run skips those done)."""
    return data.make_dataset(train_files, stats, batch_size=config.batch_size, shuffle=True, seed=config.seed,
                             skip_batches=start_step, normalization=config.normalization, crop=config.crop,
                             flips=config.flips, read_workers=config.read_workers, prefetch=config.prefetch,
                             repeat=True).take(total_steps - start_step)


# ---- what the loop does at a step boundary -----------------------------------------------------------------

def validate(confusion_step, validation_files: list, stats, config: TrainConfig) -> dict:
    """Validation figures over the files of all ranks (collective): ``mean_iou`` and ``iou`` per class of the
    summed confusion matrix, ``mlperf_mean_iou`` (mean over samples of the per-sample mean over classes,
    MLPerf DeepCAM's score) and ``validation_samples``."""
    batch = evaluation_batch_size(len(validation_files), config.batch_size)
    dataset = data.make_dataset(validation_files, stats, batch_size=batch, shuffle=False,
                                normalization=config.normalization, read_workers=config.read_workers,
                                prefetch=config.prefetch, repeat=False)
    confusion, iou_sum, samples = validation_counts(dataset, confusion_step, max_batches=config.validation_batches)
    return {**iou_summary(confusion), "mlperf_mean_iou": iou_sum / samples, "validation_samples": samples}


def batch_norm_statistics(model) -> list:
    """The moving mean and variance of every batch normalization layer of ``model`` (each (channels,) float32)."""
    return [variable for layer in model.submodules if isinstance(layer, tf.keras.layers.BatchNormalization)
            for variable in (layer.moving_mean, layer.moving_variance)]


def save(run_dir: Path, state: TrainingState, config: TrainConfig, *, root: bool, validation: dict | None = None):
    """Checkpoint the run (collective: every rank calls it; rank 0 writes).

    Batch normalization's moving statistics follow each rank's own batches; they are averaged over the
    ranks first (on every rank), so the saved model is the job's, not rank 0's.
    """
    distributed.allreduce_average(batch_norm_statistics(state.model))
    if state.lag is not None:
        state.lag.synchronize()  # the buffer becomes the average over ranks, as rank 0 saves it
    if root:
        save_checkpoint(run_dir, state, config=config.to_dict(), keep_last=config.keep_checkpoints,
                        mean_iou=validation["mean_iou"] if validation else None, metrics=validation or {})


def metrics_record(kind: str, position: dict, *, global_batch: int, wall_time_s: float, learning_rate: float,
                   train_loss: float | None, validation: dict) -> dict:
    """One line of ``metrics.jsonl``: where the run is, how long it took, its loss and validation figures."""
    return {"kind": kind, **position, "samples": position["step"] * global_batch, "wall_time_s": wall_time_s,
            "learning_rate": learning_rate, "train_loss": train_loss, **validation}


def log_training(writer, step: int, *, loss: float, learning_rate: float, samples_per_second: float,
                 loss_scale: float | None) -> None:
    """Training loss, learning rate, throughput (and the loss scale under mixed_float16) to TensorBoard."""
    with writer.as_default(step=step):
        tf.summary.scalar("train/loss", loss)
        tf.summary.scalar("train/learning_rate", learning_rate)
        tf.summary.scalar("train/samples_per_second", samples_per_second)
        if loss_scale is not None:
            tf.summary.scalar("train/loss_scale", loss_scale)


def log_run_settings(mllog: MLLogger, config: TrainConfig, *, global_batch: int, learning_rate: WarmupDecay,
                     train_samples: int, eval_samples: int, ranks: int) -> None:
    """The settings MLPerf HPC logs before ``init_stop`` (the optimizer's base rate is the scaled peak)."""
    mllog.event("global_batch_size", global_batch)
    mllog.event("opt_name", config.optimizer + ("+larc" if config.larc else ""))
    mllog.event("opt_base_learning_rate", float(learning_rate.peak))
    mllog.event("opt_learning_rate_warmup_steps", config.warmup_steps)
    mllog.event("train_samples", train_samples)
    mllog.event("eval_samples", eval_samples)
    mllog.event("number_of_ranks", ranks)
    mllog.event("seed", config.seed)


def run_summary(status: str, record: dict, *, target_iou: float) -> dict:
    """``summary.json``: how the run ended (``success``: target reached, or all epochs without a target;
    ``aborted``: a target not reached) and where: the last metrics record (step, samples, wall time, IoUs)."""
    return {"status": status, "target_iou": target_iou or None, **record}


def log_validation(writer, step: int, validation: dict) -> None:
    """Validation mean IoU and IoU per class to TensorBoard."""
    with writer.as_default(step=step):
        for name, value in validation.get("iou", {}).items():
            if value is not None:
                tf.summary.scalar(f"validation/iou_{name}", value)
        if "mean_iou" in validation:
            tf.summary.scalar("validation/mean_iou", validation["mean_iou"])


# ---- the run ---------------------------------------------------------------------------------------------------

def train(config: TrainConfig, run_dir, *, resume: bool = False, progress: bool = True,
          stop: StopFlag | None = None) -> int:
    """Train a network as ``config`` says, writing the run to ``run_dir``; returns the exit code.

    0: all epochs done or ``target_iou`` reached; :data:`INTERRUPTED_EXIT_CODE`: stopped by a signal after
    saving a checkpoint. Bad input raises ValueError/OSError naming the file; under several ranks any
    exception aborts the whole job with its message (``distributed.fail_fast``) instead of leaving the
    other ranks waiting. ``stop``: an entered :class:`~training.stop.StopFlag` of the caller (``climseg train``
    enters one before loading TensorFlow); none: one from here on. A stop signal during set-up stops the run
    at its first step.
    """
    policy = tf.keras.mixed_precision.global_policy()
    try:
        with distributed.fail_fast(), (StopFlag() if stop is None else contextlib.nullcontext(stop)) as stop:
            return _train(config, Path(run_dir), stop, resume=resume, progress=progress)
    finally:
        tf.keras.mixed_precision.set_global_policy(policy)  # the run's precision does not leak to the caller


def _train(config: TrainConfig, run_dir: Path, stop: StopFlag, *, resume: bool, progress: bool) -> int:
    # ---- processes and checks
    distributed.init(settings=config.horovod)
    rank, ranks, root = distributed.rank(), distributed.size(), distributed.is_root()
    mllog = MLLogger(config.mllog or run_dir / "mllog.txt", enabled=root)
    mllog.start("init_start")
    check_config(config, ranks=ranks)
    check_run_dir(run_dir, resume=resume)

    # ---- data: each rank its own files
    train_files = [str(f) for f in rank_samples(config.data, rank=rank, size=ranks, split="train")]
    validation_files = ([str(f) for f in rank_samples(config.validation_data, rank=rank, size=ranks,
                                                      split="validation")]
                        if config.validation_data else [])
    stats = data.read_stats(config.stats)
    steps_per_epoch = agreed_steps_per_epoch(config, train_files, rank=rank, ranks=ranks)
    total_steps = steps_per_epoch * config.epochs
    global_batch = config.batch_size * ranks
    class_weights = loss_class_weights(config, stats, train_files)

    # ---- model, optimizer, state: rank 0's (restored or fresh) on every rank
    seed_everything(config)
    learning_rate = make_learning_rate(config, ranks=ranks, total_steps=total_steps)
    state = make_state(config, learning_rate)
    model, optimizer = state.model, state.optimizer
    records = restore_or_start(state, run_dir, resume=resume, root=root)
    start = state.position()
    file_counts = distributed.allreduce_sum(np.array([len(train_files), len(validation_files)], np.int64))
    log_run_settings(mllog, config, global_batch=global_batch, learning_rate=learning_rate, ranks=ranks,
                     train_samples=int(file_counts[0]), eval_samples=int(file_counts[1]))
    if root:
        write_run_files(run_dir, config)
        settings = ", ".join(f"{k}={v}" for k, v in distributed.horovod_settings().items()) if ranks > 1 else "-"
        print(f"climseg train: {config.model} ({model.count_params():,} parameters, {config.precision}), {ranks} rank(s) "
              f"x {config.batch_size} = {global_batch} samples/step, {steps_per_epoch} steps/epoch, steps "
              f"{start['step']}..{total_steps}, peak learning rate {learning_rate.peak:g}; horovod: {settings}",
              flush=True)
    writer = tf.summary.create_file_writer(str(run_dir / "tensorboard")) if root else tf.summary.create_noop_writer()

    # ---- steps and data
    train_step = make_train_step(model, optimizer, class_weights, config=config, learning_rate=learning_rate,
                                 lag=state.lag)
    confusion_step = make_confusion_step(model, jit_compile=config.jit_compile)
    dataset = training_dataset(config, train_files, stats, start_step=start["step"], total_steps=total_steps)
    mllog.end("init_stop")

    # ---- the loop
    mllog.start("run_start")
    elapsed_before = records[-1]["wall_time_s"] if records else 0.0
    t_start = t_log = time.perf_counter()
    steps_logged, losses_of_epoch, last_validation, in_epoch = 0, [], {}, False
    status = "aborted" if config.target_iou else "success"  # until the target is reached
    bar = tqdm(total=total_steps, initial=start["step"], unit="step", disable=not (root and progress),
               dynamic_ncols=True, desc=f"{config.model} {global_batch} samples/step")
    for x, y in dataset:                                    # x (batch, lat, lon, 16), y (batch, lat, lon)
        if not in_epoch:
            mllog.start("epoch_start", epoch_num=int(state.epoch.numpy()) + 1)
            in_epoch = True
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
            log_training(writer, step, loss=loss_value, learning_rate=float(learning_rate(step)),
                         samples_per_second=samples_per_second,
                         loss_scale=float(optimizer.loss_scale) if config.precision == "mixed_float16" else None)

        end_of_epoch = step % steps_per_epoch == 0
        if end_of_epoch:
            state.epoch.assign_add(1)
            state.batches_in_epoch.assign(0)
        validation = {}
        if validation_files and (step % config.validate_every == 0 if config.validate_every else end_of_epoch):
            epoch_num = int(state.epoch.numpy()) + (0 if end_of_epoch else 1)
            mllog.start("eval_start", epoch_num=epoch_num)
            validation = last_validation = validate(confusion_step, validation_files, stats, config)
            mllog.end("eval_stop", epoch_num=epoch_num)
            mllog.event("eval_accuracy", validation["mean_iou"], epoch_num=epoch_num, step_num=step,
                        mlperf_mean_iou=validation["mlperf_mean_iou"])
            if config.target_iou and validation["mean_iou"] >= config.target_iou:
                status = "success"
        if end_of_epoch or validation:
            train_loss = distributed.allreduce_mean(np.mean(losses_of_epoch)) if losses_of_epoch else None
            records.append(metrics_record(
                "epoch" if end_of_epoch else "validation", state.position(), global_batch=global_batch,
                wall_time_s=elapsed_before + time.perf_counter() - t_start,
                learning_rate=float(learning_rate(step)), train_loss=train_loss,
                validation=last_validation if end_of_epoch else validation))
            if config.target_iou:
                records[-1]["target_reached"] = status == "success"
            if root:
                _write_metrics(run_dir / "metrics.jsonl", records)
                log_validation(writer, step, records[-1])
        if end_of_epoch:
            mllog.end("epoch_stop", epoch_num=int(state.epoch.numpy()))
            losses_of_epoch, in_epoch = [], False
        if validation or end_of_epoch or (config.checkpoint_every and step % config.checkpoint_every == 0):
            save(run_dir, state, config, root=root, validation=validation)
        if config.target_iou and status == "success":
            break

        stop_now = int(distributed.allreduce_sum(tf.constant(int(stop.raised is not None), tf.int32)))
        if stop_now and step < total_steps:
            save(run_dir, state, config, root=root)
            distributed.barrier()  # no rank exits (and makes the launcher kill the others) mid-save
            bar.close()
            mllog.end("run_stop", status="aborted", reason=stop.raised or "stop signal on another rank")
            if root:
                print(f"climseg train: {stop.raised or 'stop signal on another rank'}: checkpoint saved at "
                      f"step {step}; continue with --resume", flush=True)
            writer.flush()
            return INTERRUPTED_EXIT_CODE
    distributed.barrier()  # rank 0 may still write the last checkpoint
    bar.close()
    mllog.end("run_stop", status=status)
    if root:
        with atomic_output(run_dir / "summary.json") as tmp:
            tmp.write_text(json.dumps(run_summary(status, records[-1] if records else state.position(),
                                                  target_iou=config.target_iou), indent=1))
        if config.target_iou:
            print(f"climseg train: target mean IoU {config.target_iou:g} "
                  f"{'reached' if status == 'success' else 'not reached'} at step {records[-1]['step']}, "
                  f"{records[-1]['samples']} samples, {records[-1]['wall_time_s']:.1f} s", flush=True)
    writer.flush()
    return 0
