"""Data-parallel training over MPI ranks with Horovod: the only module of climseg that imports Horovod.

The paper trains with synchronous data-parallel SGD: every rank computes gradients on its own batch,
the gradients are averaged over all ranks with an allreduce after every step, and every rank applies
the same update, so the weights stay identical everywhere. This module wraps the few Horovod calls
that needs, so the training loop reads the same on a laptop and on a cluster::

    python -m climseg.cli train ...                                    # one process
    mpirun -np 8 climseg train ...                                     # 8 ranks (Open MPI)
    srun -n 8 climseg train ...   /   jsrun -n 8 -a 1 -g 1 climseg train ...

Usage in a training loop::

    from training import distributed
    distributed.init()                                   # once, before any TensorFlow device is used
    with distributed.fail_fast():                        # one failing rank ends the whole job
        files = all_files[distributed.rank()::distributed.size()]   # this rank's files
        distributed.broadcast_variables(model.variables + optimizer.variables())
        ...
        grads = tape.gradient(loss, model.trainable_variables)
        grads = distributed.allreduce_gradients(grads)   # average over ranks, inside tf.function too
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        iou = distributed.allreduce_sum(confusion)       # metrics summed over ranks
        if distributed.is_root(): checkpoint.save(...)

With one process (no launcher, or Horovod not installed) every function degrades to the identity:
``rank() == 0``, ``size() == 1``, no communication at all. Horovod 0.28 itself also initializes
without ``mpirun`` (a singleton MPI job); at size 1 this module still skips its collectives, so a
one-rank run pays no communication cost and is the honest baseline for scaling figures.

Horovod settings (hybrid allreduce, tensor fusion, timeline)
------------------------------------------------------------
Horovod reads its knobs from environment variables when ``hvd.init()`` runs. The cluster profiles of
the workflow set them (``HOROVOD_HIERARCHICAL_ALLREDUCE=1`` etc.); a run configuration may set them
too, as a ``horovod:`` mapping whose keys are those of `HOROVOD_CONFIG_KEYS` (converted by
`horovod_environment`). A variable already present in the environment wins over the configuration
(the cluster knows its network better than an experiment file). `init` logs every setting in force.

- ``hierarchical_allreduce`` -> ``HOROVOD_HIERARCHICAL_ALLREDUCE``: the paper's hybrid allreduce.
  In a GPU build with NCCL, Horovod then reduces inside each node with NCCL (reduce-scatter), across
  nodes with MPI (allreduce of each local shard between the ranks of equal local rank), and gathers
  inside the node with NCCL again, so only 1/local_size of the data crosses the network per GPU.
  It applies to NCCL (GPU) allreduces; CPU tensors in an MPI-only build (this machine) use a plain
  MPI_Allreduce either way.
- ``hierarchical_allgather`` -> ``HOROVOD_HIERARCHICAL_ALLGATHER``: the same for allgather.
- ``fusion_threshold_mb`` -> ``HOROVOD_FUSION_THRESHOLD`` (bytes): tensor fusion packs the tensors
  ready in one cycle into a buffer of at most this size and reduces it in one call (Horovod default
  128 MiB; 0 disables fusion).
- ``cycle_time_ms`` -> ``HOROVOD_CYCLE_TIME`` (ms): how long the background thread waits to collect
  tensors for one fused operation (default 1 ms).
- ``cache_capacity`` -> ``HOROVOD_CACHE_CAPACITY``: response cache entries (default 1024).
- ``timeline`` -> ``HOROVOD_TIMELINE``: path of a Chrome-trace timeline of all collectives, written by
  rank 0 (open in chrome://tracing or https://ui.perfetto.dev).
- ``timeline_mark_cycles`` -> ``HOROVOD_TIMELINE_MARK_CYCLES``; ``autotune`` -> ``HOROVOD_AUTOTUNE``;
  ``autotune_log`` -> ``HOROVOD_AUTOTUNE_LOG``; ``stall_check_seconds`` ->
  ``HOROVOD_STALL_CHECK_TIME_SECONDS``; ``num_nccl_streams`` -> ``HOROVOD_NUM_NCCL_STREAMS``;
  ``log_level`` -> ``HOROVOD_LOG_LEVEL``.

Gradients are averaged with one *grouped* allreduce per step: Horovod negotiates and fuses the whole
list as one operation, in the same order on every rank, which is what makes the result deterministic
and identical on all ranks.
"""

import contextlib
import dataclasses
import logging
import os
import sys
import time
import traceback
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from climseg.cli import ABORT_GRACE_S

log = logging.getLogger(__name__)

# config key -> (environment variable, kind); kind says how the value is checked and written.
HOROVOD_CONFIG_KEYS = {
    "hierarchical_allreduce": ("HOROVOD_HIERARCHICAL_ALLREDUCE", "flag"),
    "hierarchical_allgather": ("HOROVOD_HIERARCHICAL_ALLGATHER", "flag"),
    "fusion_threshold_mb": ("HOROVOD_FUSION_THRESHOLD", "megabytes"),
    "cycle_time_ms": ("HOROVOD_CYCLE_TIME", "number"),
    "cache_capacity": ("HOROVOD_CACHE_CAPACITY", "count"),
    "timeline": ("HOROVOD_TIMELINE", "path"),
    "timeline_mark_cycles": ("HOROVOD_TIMELINE_MARK_CYCLES", "flag"),
    "autotune": ("HOROVOD_AUTOTUNE", "flag"),
    "autotune_log": ("HOROVOD_AUTOTUNE_LOG", "path"),
    "stall_check_seconds": ("HOROVOD_STALL_CHECK_TIME_SECONDS", "count"),
    "num_nccl_streams": ("HOROVOD_NUM_NCCL_STREAMS", "count"),
    "log_level": ("HOROVOD_LOG_LEVEL", "log_level"),
}

# Horovod 0.28's value when the variable is unset (shown in the run log).
HOROVOD_DEFAULTS = {
    "HOROVOD_HIERARCHICAL_ALLREDUCE": "0",
    "HOROVOD_HIERARCHICAL_ALLGATHER": "0",
    "HOROVOD_FUSION_THRESHOLD": str(128 * 1024 * 1024),
    "HOROVOD_CYCLE_TIME": "1",
    "HOROVOD_CACHE_CAPACITY": "1024",
    "HOROVOD_TIMELINE": "",
    "HOROVOD_TIMELINE_MARK_CYCLES": "0",
    "HOROVOD_AUTOTUNE": "0",
    "HOROVOD_AUTOTUNE_LOG": "",
    "HOROVOD_STALL_CHECK_TIME_SECONDS": "60",
    "HOROVOD_NUM_NCCL_STREAMS": "1",
    "HOROVOD_LOG_LEVEL": "WARNING",
}

_HOROVOD_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARNING", "ERROR", "FATAL")

# Environment variables by which MPI launchers (Open MPI, MPICH/Hydra, PMIx, Slurm, LSF jsrun) announce
# the number of ranks; used only to refuse a silent single-process fallback inside a parallel launch.
_LAUNCHER_SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_STEP_NUM_TASKS",
                            "JSM_NAMESPACE_SIZE", "MV2_COMM_WORLD_SIZE")

_hvd = None            # the horovod.tensorflow module once initialized with it, else None
_initialized = False


# ---------------------------------------------------------------- configuration -> environment

def horovod_environment(config) -> dict:
    """Horovod environment variables for a ``horovod:`` configuration mapping.

    Parameters
    ----------
    config : Mapping or dataclass instance
        Keys from `HOROVOD_CONFIG_KEYS` (``hierarchical_allreduce: true``, ``fusion_threshold_mb: 64``,
        ``cycle_time_ms: 2.5``, ``timeline: RUN_DIR/timeline.json`` ...). ``None`` values are skipped.

    Returns
    -------
    dict of str -> str
        Environment variable -> value, e.g. ``{"HOROVOD_HIERARCHICAL_ALLREDUCE": "1",
        "HOROVOD_FUSION_THRESHOLD": "67108864"}``.

    Raises
    ------
    ValueError
        An unknown key or a value of the wrong kind, naming the key.
    """
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    if not isinstance(config, Mapping):
        raise ValueError(f"horovod settings must be a mapping of keys to values, got {type(config).__name__}")
    environment = {}
    for key, value in config.items():
        if key not in HOROVOD_CONFIG_KEYS:
            raise ValueError(f"unknown horovod setting {key!r}; known: {', '.join(HOROVOD_CONFIG_KEYS)}")
        if value is None:
            continue
        variable, kind = HOROVOD_CONFIG_KEYS[key]
        environment[variable] = _environment_value(key, value, kind)
    return environment


def _environment_value(key: str, value, kind: str) -> str:
    def wrong(expected):
        return ValueError(f"horovod setting {key}: expected {expected}, got {value!r}")

    if kind == "flag":
        if not isinstance(value, (bool, np.bool_)) and value not in (0, 1):
            raise wrong("true or false")
        return "1" if value else "0"
    if kind in ("number", "megabytes", "count"):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or value < 0:
            raise wrong("a number >= 0")
        if kind == "megabytes":
            return str(int(round(value * 1024 * 1024)))
        if kind == "count":
            if value != int(value):
                raise wrong("a whole number >= 0")
            return str(int(value))
        return f"{value:g}"
    if kind == "path":
        if not isinstance(value, (str, os.PathLike)) or not str(value):
            raise wrong("a file path")
        return os.fspath(value)
    if kind == "log_level":
        if str(value).upper() not in _HOROVOD_LOG_LEVELS:
            raise wrong(f"one of {', '.join(_HOROVOD_LOG_LEVELS)}")
        return str(value).upper()
    raise AssertionError(kind)


def horovod_settings() -> dict:
    """The Horovod settings in force: every known ``HOROVOD_*`` variable with its value.

    Unset variables carry Horovod's default (`HOROVOD_DEFAULTS`); any other ``HOROVOD_*`` variable
    found in the environment is included too. Meant for the run log and the run's metadata.

    Returns
    -------
    dict of str -> str
        Variable -> value, sorted by name.
    """
    settings = dict(HOROVOD_DEFAULTS)
    settings.update({name: value for name, value in os.environ.items() if name.startswith("HOROVOD_")})
    return dict(sorted(settings.items()))


def _settings_line() -> str:
    parts = []
    for name, value in horovod_settings().items():
        source = "" if name in os.environ else " (default)"
        parts.append(f"{name}={value or 'off'}{source}")
    return ", ".join(parts)


# ---------------------------------------------------------------- process group

def init(*, settings=None) -> None:
    """Start Horovod (once; later calls do nothing) and pin this rank to one GPU.

    Parameters
    ----------
    settings : Mapping, optional
        A ``horovod:`` configuration (see `horovod_environment`). Each resulting variable is set only
        where the environment does not already set it, before Horovod starts.

    Notes
    -----
    Call before TensorFlow touches a device: GPU visibility and memory growth cannot change afterwards
    (a warning is logged then, and TensorFlow keeps its devices). With several GPUs per node, local
    rank ``r`` sees only GPU ``r % n_gpus``.

    Without Horovod installed, a plain single-process run continues with size 1 (a warning says so);
    inside a parallel launch (``OMPI_COMM_WORLD_SIZE``, ``SLURM_STEP_NUM_TASKS`` ... above 1) that is an error,
    because N independent copies of the training would silently run instead of one job.
    """
    global _hvd, _initialized
    if _initialized:
        return
    if settings:
        for name, value in horovod_environment(settings).items():
            os.environ.setdefault(name, value)
    try:
        import horovod.tensorflow as hvd
    except ImportError as error:
        if _launcher_size() > 1:
            raise RuntimeError(f"launched as {_launcher_size()} ranks, but Horovod cannot be imported ({error}); "
                               "install it with scripts/bootstrap.sh") from error
        log.warning("Horovod is not installed (%s): training on one process", error)
    else:
        hvd.init()
        _hvd = hvd
    _initialized = True
    _pin_gpu()
    if is_root():
        log.info("distributed: %d rank(s), %d per node; Horovod %s", size(), local_size(),
                 "not installed" if _hvd is None else f"with {'MPI' if _hvd.mpi_enabled() else 'Gloo'}")
        log.info("Horovod settings: %s", _settings_line())


def _pin_gpu() -> None:
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return
    gpu = gpus[local_rank() % len(gpus)]
    if local_size() > len(gpus):
        log.warning("%d ranks on this node share %d GPU(s)", local_size(), len(gpus))
    try:
        tf.config.experimental.set_memory_growth(gpu, True)
        tf.config.set_visible_devices(gpu, "GPU")
    except RuntimeError as error:  # TensorFlow already created its devices
        log.warning("could not pin rank %d to %s: %s", rank(), gpu.name, error)


def _launcher_size() -> int:
    for name in _LAUNCHER_SIZE_VARIABLES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 1


def _require_init() -> None:
    if not _initialized:
        raise RuntimeError("training.distributed.init() must be called first")


def rank() -> int:
    """This process's rank, 0 .. size() - 1."""
    _require_init()
    return 0 if _hvd is None else _hvd.rank()


def size() -> int:
    """Number of ranks in the job (1 without a launcher)."""
    _require_init()
    return 1 if _hvd is None else _hvd.size()


def local_rank() -> int:
    """This process's rank among the ranks on its node (selects the GPU)."""
    _require_init()
    return 0 if _hvd is None else _hvd.local_rank()


def local_size() -> int:
    """Number of ranks on this node."""
    _require_init()
    return 1 if _hvd is None else _hvd.local_size()


def is_root() -> bool:
    """True on rank 0, the rank that writes checkpoints, logs and progress."""
    return rank() == 0


# ---------------------------------------------------------------- collectives

def broadcast_variables(variables: Sequence[tf.Variable], root_rank: int = 0) -> None:
    """Overwrite ``variables`` on every rank with their values on ``root_rank``.

    Call after the model and the optimizer state exist and before the first step (and again after
    restoring a checkpoint, which only rank 0 may have read): a Keras optimizer creates its slots on
    ``optimizer.build(model.trainable_variables)``, so pass ``model.variables + optimizer.variables``.
    Every rank must pass the same variables in the same order.
    """
    _require_init()
    variables = list(variables)
    if size() == 1 or not variables:
        return
    _hvd.broadcast_variables(variables, root_rank=root_rank)


def allreduce_gradients(gradients: Sequence, *, compression: str = "none") -> list:
    """Average gradients over all ranks with one grouped allreduce.

    Parameters
    ----------
    gradients : sequence of tf.Tensor, tf.IndexedSlices or None
        As returned by ``tape.gradient(loss, variables)``.
    compression : {"none", "fp16"}
        ``"fp16"`` sends float32 gradients as float16 (half the bytes, about 3 significant digits) and
        casts the average back to float32.

    Returns
    -------
    list
        Same length and order; ``None`` stays ``None`` (a variable the loss does not depend on);
        `tf.IndexedSlices` (from ``tf.gather`` / embeddings) come back as dense tensors, so the whole
        list is one fused dense allreduce (the segmentation models here produce none).

    Notes
    -----
    Works eagerly and inside ``tf.function``; with one rank nothing is communicated.
    """
    _require_init()
    if compression not in ("none", "fp16"):
        raise ValueError(f"gradient compression must be 'none' or 'fp16', got {compression!r}")
    gradients = list(gradients)
    present = [i for i, g in enumerate(gradients) if g is not None]
    dense = [tf.convert_to_tensor(gradients[i]) for i in present]
    if size() > 1 and dense:
        codec = _hvd.Compression.fp16 if compression == "fp16" else _hvd.Compression.none
        dense = _hvd.grouped_allreduce(dense, op=_hvd.Average, compression=codec)
    averaged = [None] * len(gradients)
    for i, gradient in zip(present, dense):
        averaged[i] = gradient
    return averaged


def allreduce_sum(tensor):
    """Sum of ``tensor`` over all ranks (confusion matrices, sample counts).

    Parameters
    ----------
    tensor : tf.Tensor or ndarray
        Same shape and dtype on every rank.

    Returns
    -------
    tf.Tensor or ndarray
        The sum, of the same kind as the input (an ndarray for an ndarray).
    """
    _require_init()
    if size() == 1:
        return tensor
    if isinstance(tensor, (np.ndarray, np.generic)):
        return _hvd.allreduce(tf.convert_to_tensor(tensor), op=_hvd.Sum).numpy()
    return _hvd.allreduce(tensor, op=_hvd.Sum)


def allreduce_mean(value: float) -> float:
    """Mean of a Python number over all ranks (e.g. the loss for the progress bar), as a float."""
    _require_init()
    if size() == 1:
        return float(value)
    return float(_hvd.allreduce(tf.constant(float(value), tf.float64), op=_hvd.Average).numpy())


def allreduce_average(variables: Sequence[tf.Variable]) -> None:
    """Replace every variable, on every rank, by its mean over the ranks (one grouped allreduce).

    For state that each rank updates on its own and that no gradient averages, such as batch
    normalization's moving mean and variance (each rank's follow its own batches): after this call every
    rank holds the same values, so a checkpoint written by rank 0 does not depend on which rank wrote it.
    Every rank must pass the same variables in the same order. Nothing happens on one rank.
    """
    _require_init()
    variables = list(variables)
    if size() == 1 or not variables:
        return
    averaged = _hvd.grouped_allreduce([variable.read_value() for variable in variables], op=_hvd.Average)
    for variable, value in zip(variables, averaged):
        variable.assign(value)


def barrier() -> None:
    """Wait until every rank arrives here."""
    _require_init()
    if size() > 1:
        _hvd.allreduce(tf.constant(0, tf.int32), op=_hvd.Sum)


# ---------------------------------------------------------------- failure

@contextlib.contextmanager
def fail_fast():
    """Abort the whole MPI job when the block raises on any rank.

    Without it, one rank that raises leaves the others blocked forever in their next allreduce. Inside
    a parallel job the failing rank prints its traceback and ``rank R: ErrorType: message`` to stderr
    and calls ``MPI_Abort``, which makes the launcher kill every rank; the job exits non-zero (1, or the
    code of a non-zero ``sys.exit``). With one process the exception propagates as usual. A
    ``climseg.cli.CommandError`` (a user error) prints its one line without the traceback.
    """
    try:
        yield
    except SystemExit as exit_:
        if exit_.code in (None, 0) or _world_size() == 1:
            raise
        code = exit_.code if isinstance(exit_.code, int) else 1
        _abort(f"exit({exit_.code})", code)
    except BaseException as error:
        if _world_size() == 1:
            raise
        from climseg.cli import CommandError
        if not isinstance(error, CommandError):
            traceback.print_exc()
        _abort(f"{type(error).__name__}: {error}", 1)


def _world_size() -> int:
    return size() if _initialized else _launcher_size()


def _abort(message: str, code: int):
    who = rank() if _initialized else os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("PMI_RANK", "?"))
    print(f"rank {who}: {message}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    time.sleep(ABORT_GRACE_S)
    try:
        from mpi4py import MPI
        MPI.COMM_WORLD.Abort(code)
    finally:
        os._exit(code)
