"""The configuration of a training run, as plain data.

All defaults sit together in :class:`TrainConfig`. A run's configuration comes from, in order of
precedence: command-line flags, a YAML file (``--config TRAIN.yaml``), these defaults. The resolved
configuration is written to ``RUN_DIR/config.yaml`` and stored in every checkpoint, so a run can be
resumed, evaluated and reproduced from its directory alone.

Example ``TRAIN.yaml`` (any subset of the fields below)::

    model: tiramisu
    model_preset: paper          # or small
    model_overrides: {dropout: 0.0}
    batch_size: 2                # per rank
    epochs: 16
    optimizer: adam
    learning_rate: 1.0e-3        # for one rank; scaled with the number of ranks by lr_scaling
    lr_scaling: sqrt
    warmup_steps: 200
    decay: poly
    precision: mixed_float16
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from climseg.contract import NORMALIZATIONS, NUM_CLASSES

MODELS = ("tiramisu", "deeplabv3plus")
MODEL_PRESETS = ("paper", "small")
OPTIMIZERS = ("adam", "sgd")
DECAYS = ("poly", "piecewise", "none")
PRECISIONS = ("fp32", "mixed_float16", "mixed_bfloat16")
LR_SCALINGS = ("none", "linear", "sqrt")
COMPRESSIONS = ("none", "fp16")


@dataclass
class TrainConfig:
    """Everything that defines a training run. Plain data: no methods with side effects."""

    # --- data ---
    data: str = ""
    """Training samples: a directory, a text file with one path per line, or a staging manifest.json."""
    validation_data: str = ""
    """Validation samples (same forms as ``data``); empty: no validation."""
    stats: str = ""
    """``stats.h5`` with the per-channel statistics used for normalization."""
    normalization: str = "zscore"
    """Per-channel input normalization: ``zscore`` or ``minmax`` (to [0, 1], as MLPerf DeepCAM)."""
    crop: tuple[int, int] | None = None
    """Random crop (lat, lon) points of training samples; None: the full grid."""
    flips: bool = False
    """Random north-south mirroring of training samples (meridional winds negated; see training.data)."""
    read_workers: int = 4
    """Processes reading HDF5 files in parallel, per rank."""
    prefetch: int = 2
    """Batches prepared ahead of the training step."""
    class_frequencies: tuple[float, ...] | None = None
    """Pixel frequencies of background, TC, AR for the loss weights; None: from ``stats.h5``
    (``climate/class_frequencies``), else counted on the training samples of all ranks."""

    # --- model ---
    model: str = "tiramisu"
    """``tiramisu`` (FC-DenseNet) or ``deeplabv3plus``."""
    model_preset: str = "paper"
    """``paper`` (the configuration of Kurth et al. 2018) or ``small`` (for tests and CPU demos)."""
    model_overrides: dict = field(default_factory=dict)
    """Fields of ``TiramisuConfig`` / ``DeepLabV3PlusConfig`` replacing those of the preset."""

    # --- length of the run ---
    batch_size: int = 2
    """Samples per step on each rank (the global batch is ``batch_size * ranks``)."""
    epochs: int = 1
    steps_per_epoch: int = 0
    """Steps per epoch; 0: as many full batches as this rank's training files give."""
    validate_every: int = 0
    """Validate every this many steps; 0: at the end of every epoch."""
    validation_batches: int = 0
    """Batches of the validation set per validation; 0: all of it."""
    target_iou: float = 0.0
    """Stop with success at the first validation whose mean IoU reaches this (time to train, as MLPerf HPC
    DeepCAM with 0.82); 0: train all epochs."""

    # --- optimization ---
    optimizer: str = "adam"
    """``adam`` or ``sgd`` (with ``momentum``)."""
    momentum: float = 0.9
    learning_rate: float = 1e-3
    """Peak learning rate for ONE rank; the run uses ``learning_rate * lr_scale(ranks)``."""
    lr_scaling: str = "none"
    """How the learning rate grows with the number of ranks: ``none``, ``linear`` or ``sqrt``."""
    warmup_steps: int = 0
    """Steps of linear warm-up from ``learning_rate / warmup_steps`` to the peak."""
    decay: str = "poly"
    """After warm-up: ``poly`` (to ``end_learning_rate_factor`` at the last step), ``piecewise``, or ``none``."""
    poly_power: float = 1.0
    end_learning_rate_factor: float = 0.0
    """Final learning rate of the poly decay as a fraction of the peak."""
    piecewise_boundaries: tuple[int, ...] = ()
    """Steps at which the piecewise decay multiplies the peak rate by the matching factor."""
    piecewise_factors: tuple[float, ...] = ()
    weight_decay: float | None = None
    """L2 coefficient lambda of every kernel (``lambda / 2 * ||w||**2`` joins the loss through the model's
    regularizers); None: the model preset's value (1e-4, as the paper)."""
    larc: bool = False
    """Wrap the optimizer in LARC (layer-wise adaptive rate clipping)."""
    larc_eta: float = 0.002
    precision: str = "fp32"
    """``fp32``, ``mixed_float16`` (dynamic loss scaling) or ``mixed_bfloat16`` (no loss scaling)."""
    jit_compile: bool = False
    """Compile the forward and backward pass and the evaluation step with XLA (off: on this CPU machine XLA
    was slower in bench/train.py; measure on yours). Needs ``deterministic: false``."""

    # --- distribution ---
    gradient_lag: int = 0
    """0: apply this step's averaged gradients; 1: apply those of the previous step (overlaps the
    allreduce with the next step's computation)."""
    allreduce_compression: str = "none"
    """Compression of gradients in the allreduce: ``none`` or ``fp16``."""
    horovod: dict = field(default_factory=dict)
    """Horovod settings (``hierarchical_allreduce``, ``fusion_threshold_mb``, ``cycle_time_ms``, ``timeline``,
    ...; see ``training.distributed.HOROVOD_CONFIG_KEYS``); variables already in the environment win."""

    # --- reproducibility and bookkeeping ---
    seed: int = 0
    deterministic: bool = True
    """Deterministic TensorFlow ops (``enable_op_determinism``): bit-reproducible runs and resumes,
    at some cost in speed on GPUs."""
    keep_checkpoints: int = 3
    """Keep the last this many checkpoints (the best by validation mean IoU is kept too)."""
    checkpoint_every: int = 0
    """Save a checkpoint every this many steps; 0: at every validation and the end of every epoch."""
    log_every: int = 10
    """Write training loss and throughput to TensorBoard every this many steps."""
    mllog: str = ""
    """MLPerf-style event log (``:::MLLOG`` JSON lines, see ``climseg.mllog``) written by rank 0; empty:
    ``RUN_DIR/mllog.txt``."""

    # --- conversion ---------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """The configuration as YAML-friendly builtins (tuples become lists)."""
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out

    @classmethod
    def from_dict(cls, values: dict, *, source: str = "configuration") -> "TrainConfig":
        """Build a configuration from a mapping; an unknown key raises ValueError naming it and ``source``."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"{source}: unknown training option(s) {', '.join(unknown)}; "
                             f"known: {', '.join(known)}")
        converted = {}
        for key, value in values.items():
            if key in ("crop", "class_frequencies", "piecewise_boundaries", "piecewise_factors") and value is not None:
                value = tuple(value)
            converted[key] = value
        return cls(**converted)

    @classmethod
    def from_yaml(cls, path) -> "TrainConfig":
        """Read a configuration from a YAML file; errors name the file."""
        return cls.from_dict(read_yaml_mapping(path), source=str(path))

    def write_yaml(self, path) -> None:
        """Write the configuration as YAML (callers wrap this in ``atomic_output``)."""
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


def read_yaml_mapping(path) -> dict:
    """Read a YAML file holding a mapping; OSError/ValueError name the file."""
    try:
        values = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping of training options, got {type(values).__name__}")
    return values


def lr_scale(rule: str, ranks: int) -> float:
    """Factor by which the learning rate of one rank grows on ``ranks`` ranks (global batch grows alike)."""
    if rule == "none":
        return 1.0
    if rule == "linear":
        return float(ranks)
    if rule == "sqrt":
        return math.sqrt(ranks)
    raise ValueError(f"unknown learning-rate scaling rule {rule!r}; choose one of {', '.join(LR_SCALINGS)}")


def check_config(config: TrainConfig, *, ranks: int = 1) -> None:
    """Assert once that the configuration is consistent; ValueError names the offending option.

    ``ranks`` is the number of processes of the run: the global batch is ``batch_size * ranks``.
    """
    def choice(name, allowed):
        value = getattr(config, name)
        if value not in allowed:
            raise ValueError(f"{name}: {value!r} is not one of {', '.join(allowed)}")

    choice("model", MODELS)
    choice("model_preset", MODEL_PRESETS)
    choice("optimizer", OPTIMIZERS)
    choice("decay", DECAYS)
    choice("precision", PRECISIONS)
    choice("lr_scaling", LR_SCALINGS)
    choice("normalization", NORMALIZATIONS)
    choice("allreduce_compression", COMPRESSIONS)
    if not config.data:
        raise ValueError("data: no training samples given (--data)")
    if not config.stats:
        raise ValueError("stats: no stats.h5 given (--stats)")
    positive = ("batch_size", "epochs", "keep_checkpoints", "log_every", "read_workers")
    for name in positive:
        if getattr(config, name) < 1:
            raise ValueError(f"{name}: must be at least 1, got {getattr(config, name)}")
    for name in ("steps_per_epoch", "validate_every", "validation_batches", "warmup_steps", "checkpoint_every",
                 "prefetch"):
        if getattr(config, name) < 0:
            raise ValueError(f"{name}: must be 0 or more, got {getattr(config, name)}")
    if not 0 <= config.target_iou <= 1:
        raise ValueError(f"target_iou: must be between 0 and 1, got {config.target_iou}")
    if config.target_iou and not config.validation_data:
        raise ValueError("target_iou: needs validation samples (--validation-data)")
    if config.jit_compile and config.deterministic:
        raise ValueError("jit_compile: XLA has no deterministic max-pooling gradient (TensorFlow 2.x); "
                         "pass --no-deterministic with --jit-compile")
    if config.gradient_lag not in (0, 1):
        raise ValueError(f"gradient_lag: must be 0 or 1, got {config.gradient_lag}")
    if not config.learning_rate > 0:
        raise ValueError(f"learning_rate: must be positive, got {config.learning_rate}")
    if config.weight_decay is not None and config.weight_decay < 0:
        raise ValueError(f"weight_decay: must be 0 or more, got {config.weight_decay}")
    if config.crop is not None and (len(config.crop) != 2 or min(config.crop) < 1):
        raise ValueError(f"crop: expected two positive sizes (lat, lon), got {config.crop}")
    if config.class_frequencies is not None:
        if len(config.class_frequencies) != NUM_CLASSES or min(config.class_frequencies) <= 0:
            raise ValueError(f"class_frequencies: expected {NUM_CLASSES} positive frequencies, "
                             f"got {config.class_frequencies}")
    if config.decay == "piecewise":
        if len(config.piecewise_boundaries) != len(config.piecewise_factors) or not config.piecewise_boundaries:
            raise ValueError("piecewise_boundaries and piecewise_factors: need the same, non-zero number of entries")
        if list(config.piecewise_boundaries) != sorted(set(config.piecewise_boundaries)):
            raise ValueError(f"piecewise_boundaries: must increase, got {config.piecewise_boundaries}")
    if ranks < 1:
        raise ValueError(f"ranks: must be at least 1, got {ranks}")
