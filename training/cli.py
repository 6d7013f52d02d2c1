"""``climseg train``, ``climseg predict`` and ``climseg evaluate``.

TensorFlow is imported inside the command functions only, so ``climseg train --help`` is instant.
A training option comes from, in order of precedence: its flag, the ``--config`` YAML file, the run's
own ``config.yaml`` (with ``--resume``), the defaults of :class:`training.config.TrainConfig`. Options
without a flag (``model_overrides``, ``horovod``) are set in the YAML file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from climseg.cli import CommandError
from climseg.contract import CLASS_NAMES, NUM_CLASSES
from climseg.samples import RANK_SOURCES_HELP, SOURCES_HELP
from training.config import (COMPRESSIONS, DECAYS, LR_SCALINGS, MODEL_PRESETS, MODELS, NORMALIZATIONS, OPTIMIZERS,
                             PRECISIONS, TrainConfig, read_yaml_mapping)
from training.stop import StopFlag

DEFAULTS = TrainConfig()

# destinations of train flags that are not TrainConfig fields (every other flag carries its field's name)
_NOT_CONFIG = ("out", "config", "resume", "progress", "verbose", "quiet")  # the last three: common options


def _option(group, flag, *, help, **kwargs):
    """A training option: absent from the namespace unless given, its TrainConfig default in the help."""
    dest = flag.lstrip("-").replace("-", "_")
    default = getattr(DEFAULTS, dest)
    shown = "none" if default in (None, "") else (" ".join(map(str, default)) if isinstance(default, tuple) else default)
    group.add_argument(flag, dest=dest, default=argparse.SUPPRESS, help=f"{help} (default: {shown})", **kwargs)


def train_parser(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Launch on many ranks with the same command under mpirun/srun/jsrun. A run stopped by "
                     "SIGTERM or SIGUSR1 saves a checkpoint and exits with code 75; continue it with --resume. "
                     "Exit code 2: bad input (the message names the file).")
    run = parser.add_argument_group("run")
    run.add_argument("--out", required=True, metavar="RUN_DIR",
                     help="run directory: config.yaml, stats.h5, checkpoints/, metrics.jsonl, summary.json, "
                          "mllog.txt, tensorboard/")
    run.add_argument("--config", metavar="TRAIN.yaml", help="YAML file of training options (flags override it)")
    run.add_argument("--resume", action="store_true",
                     help="continue the run in RUN_DIR from its last checkpoint (its config.yaml is the base "
                          "configuration)")

    d = parser.add_argument_group("data")
    _option(d, "--data", metavar="SAMPLES", help=f"training samples: {RANK_SOURCES_HELP}")
    _option(d, "--validation-data", metavar="SAMPLES", help="validation samples (same forms); none: no validation")
    _option(d, "--stats", metavar="stats.h5", help="per-channel statistics for the normalization")
    _option(d, "--normalization", choices=NORMALIZATIONS, help="per-channel input normalization")
    _option(d, "--crop", type=int, nargs=2, metavar=("LAT", "LON"), help="random crop of training samples")
    _option(d, "--flips", action=argparse.BooleanOptionalAction,
            help="random north-south mirroring of training samples")
    _option(d, "--read-workers", type=int, metavar="N", help="HDF5 reader processes per rank")
    _option(d, "--prefetch", type=int, metavar="N", help="batches prepared ahead")
    _option(d, "--class-frequencies", type=float, nargs=NUM_CLASSES, metavar=tuple(n.upper() for n in CLASS_NAMES),
            help="pixel frequencies for the loss weights; none: from stats.h5, else counted on the samples")

    m = parser.add_argument_group("model")
    _option(m, "--model", choices=MODELS, help="network")
    _option(m, "--model-preset", choices=MODEL_PRESETS, help="paper configuration or a small one for CPUs")
    _option(m, "--weight-decay", type=float, metavar="L2", help="L2 coefficient of the kernels; none: the preset's")

    length = parser.add_argument_group("length and validation")
    _option(length, "--batch-size", type=int, metavar="B", help="samples per step and rank")
    _option(length, "--epochs", type=int, metavar="N", help="epochs")
    _option(length, "--steps-per-epoch", type=int, metavar="N", help="steps per epoch; 0: files of a rank / B")
    _option(length, "--validate-every", type=int, metavar="STEPS", help="validate every STEPS steps; 0: each epoch")
    _option(length, "--validation-batches", type=int, metavar="N", help="validation batches; 0: all")
    _option(length, "--target-iou", type=float, metavar="IOU",
            help="stop with success at the first validation whose mean IoU reaches IOU (time to train; "
                 "the step, samples and wall time go to metrics.jsonl and RUN_DIR/summary.json); 0: all epochs")

    o = parser.add_argument_group("optimization")
    _option(o, "--optimizer", choices=OPTIMIZERS, help="optimizer (sgd with momentum)")
    _option(o, "--momentum", type=float, help="SGD momentum")
    _option(o, "--learning-rate", type=float, metavar="LR", help="peak learning rate of one rank")
    _option(o, "--lr-scaling", choices=LR_SCALINGS, help="learning rate growth with the number of ranks")
    _option(o, "--warmup-steps", type=int, metavar="N", help="linear warm-up steps")
    _option(o, "--decay", choices=DECAYS, help="decay after the warm-up")
    _option(o, "--poly-power", type=float, help="exponent of the poly decay")
    _option(o, "--end-learning-rate-factor", type=float, metavar="F", help="final rate of the poly decay / peak")
    _option(o, "--piecewise-boundaries", type=int, nargs="+", metavar="STEP", help="steps of the piecewise decay")
    _option(o, "--piecewise-factors", type=float, nargs="+", metavar="F", help="factors from those steps on")
    _option(o, "--larc", action=argparse.BooleanOptionalAction, help="layer-wise adaptive rate clipping")
    _option(o, "--larc-eta", type=float, metavar="ETA", help="LARC trust coefficient")
    _option(o, "--precision", choices=PRECISIONS, help="arithmetic (mixed_float16 with dynamic loss scaling)")
    _option(o, "--jit-compile", action=argparse.BooleanOptionalAction,
            help="compile the forward/backward pass and the evaluation step with XLA")

    dist = parser.add_argument_group("distribution")
    _option(dist, "--gradient-lag", type=int, choices=(0, 1), help="apply the previous step's gradients")
    _option(dist, "--allreduce-compression", choices=COMPRESSIONS, help="gradient compression in the allreduce")

    book = parser.add_argument_group("reproducibility and bookkeeping")
    _option(book, "--seed", type=int, help="seed of weights, data order, crops and dropout")
    _option(book, "--deterministic", action=argparse.BooleanOptionalAction,
            help="deterministic TensorFlow ops: bit-reproducible runs and resumes (slower on GPUs)")
    _option(book, "--keep-checkpoints", type=int, metavar="K", help="checkpoints kept besides the best")
    _option(book, "--checkpoint-every", type=int, metavar="STEPS", help="extra checkpoints; 0: at validations/epochs")
    _option(book, "--log-every", type=int, metavar="STEPS", help="TensorBoard and progress-bar interval")
    _option(book, "--mllog", metavar="PATH",
            help="MLPerf-style :::MLLOG event log of rank 0 (appended on --resume); none: RUN_DIR/mllog.txt")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run's configuration: defaults < the run's config.yaml (--resume) < --config < flags."""
    values, source = {}, "command line"
    stored = Path(args.out) / "config.yaml"
    try:
        if args.resume and stored.exists():
            values.update(read_yaml_mapping(stored))
            source = str(stored)
        if args.config:
            values.update(read_yaml_mapping(args.config))
            source = args.config
        values.update({k: v for k, v in vars(args).items() if k not in _NOT_CONFIG})
        return TrainConfig.from_dict(values, source=source)
    except (OSError, ValueError) as error:
        raise CommandError(str(error)) from None


def train_command(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    # From here a stop signal stops the run at its first step (TensorFlow loads for seconds); after the run
    # the signals stay ignored while the process exits.
    with StopFlag(restore=False) as stop:
        import tensorflow as tf

        from training.data import pipeline_error_message
        from training.loop import train
        try:
            return train(config, args.out, resume=args.resume, progress=args.progress, stop=stop)
        except (OSError, ValueError) as error:
            raise CommandError(str(error)) from None
        except tf.errors.OpError as error:  # a bad sample met while iterating the input pipeline
            raise CommandError(pipeline_error_message(error)) from None


def predict_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, metavar="RUN_DIR", help="directory of a training run")
    parser.add_argument("samples", nargs="+", metavar="SAMPLES",
                        help=f"samples to predict (labels optional): {SOURCES_HELP}")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="output directory: one HDF5 per sample with prediction, truth and probabilities")
    parser.add_argument("--checkpoint", choices=("best", "latest"), default="best",
                        help="which checkpoint: best by validation mean IoU, or the latest")
    parser.add_argument("--png", action="store_true", help="also a PNG map of truth and prediction per sample")


def predict_command(args: argparse.Namespace) -> None:
    from climseg.samples import resolve_samples
    from training.predict import predict_files
    from training.run import TrainedRun
    try:
        samples = resolve_samples(args.samples)
        run = TrainedRun(args.run, which=args.checkpoint)
        written = predict_files(run, samples, args.out, png=args.png, progress=args.progress)
    except (OSError, ValueError) as error:
        raise CommandError(str(error)) from None
    print(f"climseg predict: {len(written)} prediction(s) in {args.out}")


def evaluate_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, metavar="RUN_DIR", help="directory of a training run")
    parser.add_argument("--data", required=True, metavar="SAMPLES", help=f"labelled test samples: {RANK_SOURCES_HELP}")
    parser.add_argument("--out", required=True, metavar="REPORT.json", help="report (REPORT.md is written beside it)")
    parser.add_argument("--checkpoint", choices=("best", "latest"), default="best",
                        help="which checkpoint: best by validation mean IoU, or the latest")


def evaluate_command(args: argparse.Namespace) -> None:
    from training import distributed
    from training.evaluate import evaluate_run
    with distributed.fail_fast():  # under MPI a failing rank ends the whole job with its message
        try:
            report = evaluate_run(args.run, args.data, args.out, which=args.checkpoint, progress=args.progress)
        except (OSError, ValueError) as error:
            raise CommandError(str(error)) from None
    if not distributed.is_root():
        return
    ious = ", ".join(f"{name} {'n/a' if v is None else f'{v:.3f}'}" for name, v in report["iou"].items())
    print(f"climseg evaluate: {report['samples']} samples, mean IoU {report['mean_iou']:.3f} ({ious}); "
          f"report in {args.out}")
