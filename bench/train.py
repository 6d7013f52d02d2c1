"""Training throughput: samples/s and achieved FLOP/s of both networks, against a large matrix product.

    .venv/bin/python bench/train.py                              # CPU: paper networks at 96 x 144, fp32 + bf16
    .venv/bin/python bench/train.py --size 768 1152 --batch 2    # a GPU: the paper's grid
    .venv/bin/python bench/train.py --preset small --size 64 96  # quick look

For each network (paper configuration unless ``--preset small``) and precision, the training step of
``climseg train`` (``training.loop.make_train_step``: forward, weighted cross-entropy + L2, gradients,
Adam update; dynamic loss scaling under mixed_float16) runs on random in-memory batches, so the input
pipeline (``bench/pipeline.py``) is not part of the figure. Its FLOPs per sample are counted by
TensorFlow's profiler on the step's graph (``bench/flops.py``'s ``profile_flops``, with exact conv
backprop counts), the definition of ``bench/flops.py``'s "training step" column.

Baseline, measured in the same run: the FLOP/s of an N x N x N ``tf.matmul`` (2 N^3 FLOPs) in float32,
float16 and bfloat16. Each precision's achieved FLOP/s is divided by the matmul of its compute type
(fp32 -> float32, mixed_float16 -> float16, mixed_bfloat16 -> bfloat16): the fraction of what this
machine's dense linear algebra delivers. The last line is the ratio for the Tiramisu in fp32.

XLA (``--jit-compile`` of ``climseg train``): every network and precision is also timed with the forward and
backward pass compiled by XLA (``TrainConfig.jit_compile``), and the evaluation step (forward, argmax,
confusion matrix, per-sample IoU) with and without XLA, in the same run. The columns ``xla/plain`` give
plain seconds per step / XLA seconds per step (above 1: XLA is faster); the first XLA call (compilation)
is reported apart and not timed. ``--no-xla`` skips this.

Measured on the 2-core CPU of the development machine (2026-12-02, load about 20 from other jobs, so
+-50 %), ``--preset small --size 96 144 --batch 2 --steps 5 --no-flops``: training step plain/XLA 0.19
(Tiramisu fp32), 0.15 (Tiramisu bf16), 0.10 (DeepLabv3+ fp32), 0.37 (DeepLabv3+ bf16); evaluation step 0.12,
0.64, 0.07, 0.38; XLA compilation 34-112 s. XLA loses everywhere on this CPU, so ``jit_compile`` stays off by
default; measure on a GPU before turning it on there (XLA also needs ``--no-deterministic``).
"""

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from climseg.contract import CHANNELS, NUM_CLASSES  # noqa: E402
from flops import conv_backprop_correction, profile_flops  # noqa: E402  (bench/flops.py)
from training import distributed, losses  # noqa: E402
from training.config import TrainConfig  # noqa: E402
from training.loop import (build_run_model, make_confusion_step, make_optimizer, make_train_step,  # noqa: E402
                           set_precision)
from training.schedule import WarmupDecay  # noqa: E402

MATMUL_DTYPES = {"fp32": tf.float32, "mixed_float16": tf.float16, "mixed_bfloat16": tf.bfloat16}


def matmul_flops_per_second(n: int, dtype, *, repeats: int = 3) -> float:
    """FLOP/s of an n x n x n matrix product in ``dtype`` (best of ``repeats`` after a warm-up)."""
    a = tf.random.normal((n, n), dtype=tf.float32)
    a, b = tf.cast(a, dtype), tf.cast(tf.transpose(a), dtype)
    product = tf.function(lambda: tf.reduce_sum(tf.cast(tf.matmul(a, b)[0, :1], tf.float32)))
    product()
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        float(product())
        best = min(best, time.perf_counter() - start)
    return 2.0 * n ** 3 / best


def _time_calls(function, args: tuple, steps: int) -> tuple[float, float]:
    """(seconds of the first call, seconds per call of the next ``steps``) of a ``tf.function``."""
    start = time.perf_counter()
    _ = [np.asarray(value) for value in tf.nest.flatten(function(*args))]  # first call: tracing, compilation
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        result = function(*args)
    _ = [np.asarray(value) for value in tf.nest.flatten(result)]  # wait for the last call
    return first, (time.perf_counter() - start) / steps


def benchmark_model(config: TrainConfig):
    """``(model, optimizer, learning_rate, class_weights)`` of ``config``, seeded, in its precision (the
    caller sets fp32 back), with the paper's class frequencies."""
    set_precision(config.precision)
    tf.keras.utils.set_random_seed(0)
    model = build_run_model(config)
    learning_rate = WarmupDecay(1e-4, 1000, decay="none")
    optimizer = make_optimizer(config, learning_rate)
    optimizer.build(model.trainable_variables)
    class_weights = tf.constant(losses.class_weights_from_frequencies([0.982, 0.0007, 0.017]), tf.float32)
    return model, optimizer, learning_rate, class_weights


def xla_figures(config: TrainConfig, shape: tuple, batch: int, steps: int) -> dict:
    """Seconds per training step and per evaluation step, plain graph and XLA, of one network and precision.

    The same model, optimizer and batch for all four; plain first, then XLA.
    """
    model, optimizer, learning_rate, class_weights = benchmark_model(config)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(batch, *shape, len(CHANNELS))).astype(np.float32))  # (batch, lat, lon, 16)
    y = tf.constant(rng.integers(0, NUM_CLASSES, size=(batch, *shape)).astype(np.int32))  # (batch, lat, lon)
    figures = {}
    for jit in (False, True):
        variant = dataclasses.replace(config, jit_compile=jit)
        step = make_train_step(model, optimizer, class_weights, config=variant, learning_rate=learning_rate)
        figures[("train", jit)] = _time_calls(step, (x, y), steps)
        figures[("eval", jit)] = _time_calls(make_confusion_step(model, jit_compile=jit), (x, y), steps)
    set_precision("fp32")
    return figures


def training_step_figures(config: TrainConfig, shape: tuple, batch: int, steps: int) -> dict:
    """Seconds per step, samples/s and profiler FLOPs per sample of one network and precision."""
    model, optimizer, learning_rate, class_weights = benchmark_model(config)
    step = make_train_step(model, optimizer, class_weights, config=config, learning_rate=learning_rate)

    x_spec = tf.TensorSpec((batch, *shape, len(CHANNELS)), tf.float32)
    y_spec = tf.TensorSpec((batch, *shape), tf.int32)
    graph = step.get_concrete_function(x_spec, y_spec).graph
    flops = sum(profile_flops(graph).values()) + conv_backprop_correction(graph)

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=x_spec.shape).astype(np.float32))
    y = tf.constant(rng.integers(0, NUM_CLASSES, size=y_spec.shape).astype(np.int32))
    float(step(x, y))  # warm-up: first-call overheads (autotuning, allocation)
    start = time.perf_counter()
    for _ in range(steps):
        loss = step(x, y)
    float(loss)  # wait for the last step
    seconds = (time.perf_counter() - start) / steps
    set_precision("fp32")
    return {"seconds_per_step": seconds, "samples_per_second": batch / seconds, "flops_per_sample": flops / batch,
            "parameters": model.count_params()}


def main(argv=None) -> int:
    gpu = bool(tf.config.list_physical_devices("GPU"))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--size", type=int, nargs=2, metavar=("LAT", "LON"),
                        default=[768, 1152] if gpu else [96, 144], help="grid of the batches (full size on a GPU)")
    parser.add_argument("--batch", type=int, default=1, help="samples per step")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per network and precision")
    parser.add_argument("--models", nargs="+", default=["tiramisu", "deeplabv3plus"])
    parser.add_argument("--precisions", nargs="+", choices=list(MATMUL_DTYPES),
                        default=["fp32", "mixed_float16", "mixed_bfloat16"] if gpu else ["fp32", "mixed_bfloat16"],
                        help="on CPUs mixed_float16 is emulated (no fp16 batch-norm kernels): add it to see how slow")
    parser.add_argument("--preset", choices=["paper", "small"], default="paper", help="network configuration")
    parser.add_argument("--matmul", type=int, default=8192 if gpu else 2048, help="N of the N x N x N baseline")
    parser.add_argument("--no-xla", dest="xla", action="store_false", help="skip the XLA against plain graph table")
    parser.add_argument("--no-flops", dest="flops", action="store_false",
                        help="skip the FLOP/s table (and the matmul baseline): only the XLA table")
    args = parser.parse_args(argv)
    distributed.init()

    print(f"device: {'GPU ' + tf.config.experimental.get_device_details(tf.config.list_physical_devices('GPU')[0]).get('device_name', '') if gpu else 'CPU'}; "
          f"grid {args.size[0]} x {args.size[1]} x {len(CHANNELS)}, batch {args.batch}, {args.preset} networks")
    if args.xla:
        xla_table(args)
    if not args.flops:
        return 0
    baseline = {}
    for precision in args.precisions:
        baseline[precision] = matmul_flops_per_second(args.matmul, MATMUL_DTYPES[precision])
        print(f"baseline: {args.matmul}^3 matmul in {MATMUL_DTYPES[precision].name}: "
              f"{baseline[precision] / 1e9:.1f} GFLOP/s", flush=True)

    rows = []
    print(f"\n{'model':<14} {'precision':<15} {'params':>10} {'s/step':>9} {'samples/s':>10} "
          f"{'GFLOP/sample':>13} {'GFLOP/s':>9} {'of matmul':>10}")
    for name in args.models:
        for precision in args.precisions:
            config = TrainConfig(model=name, model_preset=args.preset, precision=precision)
            try:
                f = training_step_figures(config, tuple(args.size), args.batch, args.steps)
            except (tf.errors.OpError, ValueError) as error:  # e.g. a precision without kernels on this device
                print(f"{name:<14} {precision:<15} failed: {str(error).splitlines()[0][:80]}")
                continue
            achieved = f["flops_per_sample"] * f["samples_per_second"]
            fraction = achieved / baseline[precision]
            rows.append((name, precision, fraction))
            print(f"{name:<14} {precision:<15} {f['parameters']:>10,} {f['seconds_per_step']:>9.3f} "
                  f"{f['samples_per_second']:>10.2f} {f['flops_per_sample'] / 1e9:>13.1f} {achieved / 1e9:>9.1f} "
                  f"{fraction:>10.2f}", flush=True)

    reference = [fraction for name, precision, fraction in rows if (name, precision) == ("tiramisu", "fp32")]
    if reference:
        print(f"ratio: {reference[0]:.2f} (Tiramisu fp32 training FLOP/s / fp32 matmul FLOP/s, same run; "
              f"goal: as high as possible)")
    else:
        print("ratio: n/a (Tiramisu fp32 not measured)")
    return 0


def xla_table(args) -> None:
    """Training and evaluation step, plain graph against XLA, for every network and precision."""
    print(f"\n{'model':<14} {'precision':<15} {'train s/step':>12} {'XLA':>8} {'xla/plain':>9} "
          f"{'eval s/step':>11} {'XLA':>8} {'xla/plain':>9} {'XLA compile s':>14}")
    speedups = []
    for name in args.models:
        for precision in args.precisions:
            config = TrainConfig(model=name, model_preset=args.preset, precision=precision)
            try:
                f = xla_figures(config, tuple(args.size), args.batch, args.steps)
            except (tf.errors.OpError, ValueError) as error:
                print(f"{name:<14} {precision:<15} failed: {str(error).splitlines()[0][:80]}")
                continue
            train_plain, train_xla = f[("train", False)][1], f[("train", True)][1]
            eval_plain, eval_xla = f[("eval", False)][1], f[("eval", True)][1]
            speedups.append((train_plain / train_xla, name, precision))
            print(f"{name:<14} {precision:<15} {train_plain:>12.3f} {train_xla:>8.3f} {train_plain / train_xla:>9.2f} "
                  f"{eval_plain:>11.3f} {eval_xla:>8.3f} {eval_plain / eval_xla:>9.2f} "
                  f"{f[('train', True)][0] + f[('eval', True)][0]:>14.1f}", flush=True)
    if speedups:
        best = max(speedups)
        print(f"xla: training step plain/XLA {min(speedups)[0]:.2f} .. {best[0]:.2f} (best {best[1]} {best[2]}); "
              f"above 1 means XLA is faster: make --jit-compile the default where it is", flush=True)


if __name__ == "__main__":
    sys.exit(main())
