"""Checkpoints of a training run: one save function, one load function.

Everything a run needs to continue exactly where it stopped lives in one :class:`TrainingState`
(a ``tf.Module``): the model, the optimizer (slots, step counter, loss scale), the gradient-lag buffer,
the random-generator states of the dropout layers, and the data position (epoch and batches consumed in
it). It is saved with ``tf.train.Checkpoint`` under ``RUN_DIR/checkpoints``::

    checkpoints/
      step-00000120/ckpt.index, ckpt.data-00000-of-00001, meta.json   (config, step, epoch, metrics)
                    manifest.json   {"files": {"ckpt.index": {"bytes": 1234, "sha256": "..."}, ...}}
      step-00000160/...
      index.json        {"latest": "step-00000160", "best": "step-00000120", "best_mean_iou": 0.61, ...}

A save writes a hidden temporary directory, ``manifest.json`` last (the size and SHA-256 of every other
file), renames it into place (atomic), then replaces ``index.json`` (atomic too), then deletes the
checkpoints no longer kept (all but the last ``keep_last``, at least 2, and the best by validation mean
IoU). A run killed at any moment leaves ``index.json`` pointing at a complete checkpoint.

Checkpoints are checked against their manifest before they are used: one damaged afterwards (a killed
copy, a truncated file, bad bytes) is reported on stderr and :func:`find_checkpoint` falls back to the
previous kept one; :func:`load_checkpoint` refuses it. A full disk (or quota) during a save raises a
one-line ``OSError`` naming the directory, the space needed and the space free; the previous checkpoints
and ``index.json`` stay as they were.
The model is saved as the plain Keras model (no distributed wrapper), so a checkpoint loads the same with
one rank or many.
"""

import functools
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import training  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)

import numpy as np
import tensorflow as tf

from climseg.atomic import atomic_output
from climseg.disk import reporting_disk_full

CHECKPOINT_DIR = "checkpoints"
INDEX_FILE = "index.json"
MANIFEST_FILE = "manifest.json"
PREFIX = "ckpt"
MIN_KEPT = 2
"""Checkpoints always kept besides the best, whatever ``keep_last`` says: one to fall back to."""


def _dropout_generators(model):
    """The ``tf.random.Generator`` of every random layer (Dropout) of ``model``, created if needed.

    tf_keras keeps them outside the layers' weights, so ``tf.train.Checkpoint`` would not save them;
    without them a resumed run draws different dropout masks. Needs
    ``tf.keras.backend.experimental.enable_tf_random_generator()`` before the model is built (the loop
    does that); with legacy stateful random ops there is no state to save and the list is empty.
    """
    generators = []
    for layer in model.submodules:
        random_generator = getattr(layer, "_random_generator", None)
        if random_generator is None or not hasattr(random_generator, "_maybe_init"):
            continue
        random_generator._maybe_init()  # private tf_keras API: builds the generator now, not at first call
        if getattr(random_generator, "_generator", None) is not None:
            generators.append(random_generator._generator)
    return generators


class TrainingState(tf.Module):
    """Everything saved in a checkpoint.

    Parameters
    ----------
    model : tf.keras.Model
    optimizer : tf.keras.optimizers.Optimizer or None
        Built (``optimizer.build(model.trainable_variables)``) before a restore, so that its slots are
        restored at once rather than at the first step. None when only the weights are needed (predict).
    lag : training.gradient_lag.GradientLag or None
    """

    def __init__(self, model, optimizer=None, *, lag=None):
        super().__init__(name="training_state")
        self.model = model
        self.optimizer = optimizer
        self.lag = lag
        self.rng = _dropout_generators(model)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        """Optimizer steps taken (global: the same on every rank)."""
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        """Epoch in progress (0-based)."""
        self.batches_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="batches_in_epoch")
        """Batches of the epoch in progress already trained on."""

    def position(self) -> dict:
        return {"step": int(self.step.numpy()), "epoch": int(self.epoch.numpy()),
                "batches_in_epoch": int(self.batches_in_epoch.numpy())}


def _read_index(checkpoint_dir: Path) -> dict:
    path = checkpoint_dir / INDEX_FILE
    if not path.exists():
        return {"latest": None, "best": None, "best_mean_iou": None, "kept": []}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: corrupt checkpoint index ({error})") from None


def save_checkpoint(run_dir, state: TrainingState, *, config: dict, keep_last: int = 3,
                    mean_iou: float | None = None, metrics: dict | None = None) -> Path:
    """Save ``state`` as ``RUN_DIR/checkpoints/step-NNNNNNNN`` and return that directory.

    Parameters
    ----------
    run_dir : path
    state : TrainingState
    config : dict
        The run's configuration (``TrainConfig.to_dict()``), stored in the checkpoint's ``meta.json``.
    keep_last : int
        Checkpoints kept besides the best one (at least :data:`MIN_KEPT`).
    mean_iou : float or None
        Validation mean IoU at this step; the checkpoint with the highest is kept as ``best``.
    metrics : dict or None
        Anything else to record in ``meta.json`` (losses, IoU per class).
    """
    checkpoint_dir = Path(run_dir) / CHECKPOINT_DIR
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    position = state.position()
    name = f"step-{position['step']:08d}"
    final = checkpoint_dir / name
    disk_full_reported = functools.partial(  # one line naming the checkpoint when the disk fills up
        reporting_disk_full, final, needed_bytes=sum(int(np.prod(v.shape)) * v.dtype.size for v in state.variables),
        kept="the previous checkpoints are intact")

    index = _read_index(checkpoint_dir)
    if not final.exists():
        with disk_full_reported():
            tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=checkpoint_dir))
        try:
            with disk_full_reported():
                tf.train.Checkpoint(state=state).write(str(tmp / PREFIX))
                meta = {**position, "mean_iou": mean_iou, "metrics": metrics or {}, "config": config,
                        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
                (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
                _write_manifest(tmp)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    elif mean_iou is not None:  # saved before at this step (e.g. end of epoch, then SIGTERM): add the IoU
        meta = json.loads((final / "meta.json").read_text())
        meta.update(mean_iou=mean_iou, metrics=metrics or meta.get("metrics", {}))
        with disk_full_reported():
            with atomic_output(final / "meta.json") as tmp_meta:
                tmp_meta.write_text(json.dumps(meta, indent=1))
            _write_manifest(final)

    kept = [k for k in index.get("kept", []) if k != name and (checkpoint_dir / k).exists()] + [name]
    kept = sorted(kept)[-max(keep_last, MIN_KEPT):]
    best, best_iou = index.get("best"), index.get("best_mean_iou")
    if mean_iou is not None and (best_iou is None or mean_iou > best_iou):
        best, best_iou = name, float(mean_iou)
    new_index = {"latest": name, "best": best, "best_mean_iou": best_iou, "kept": kept}
    with disk_full_reported(), atomic_output(checkpoint_dir / INDEX_FILE) as tmp_index:
        tmp_index.write_text(json.dumps(new_index, indent=1))

    for stale in checkpoint_dir.glob("step-*"):
        if stale.name not in kept and stale.name != best:
            shutil.rmtree(stale, ignore_errors=True)
    return final


def find_checkpoint(run_dir, which: str = "latest", *, report=None) -> Path | None:
    """Directory of the ``latest`` or ``best`` checkpoint of a run, or None if it has none.

    ``best`` falls back to ``latest`` when no checkpoint was validated. A checkpoint that does not match its
    manifest (:func:`checkpoint_problem`) is reported, one line each through ``report`` (default: printed to
    stderr), and the newest valid one kept before it is returned instead; ValueError when none is valid.
    """
    if which not in ("latest", "best"):
        raise ValueError(f"unknown checkpoint choice {which!r}; choose latest or best")
    checkpoint_dir = Path(run_dir) / CHECKPOINT_DIR
    index = _read_index(checkpoint_dir)
    name = index.get(which) or index.get("latest")
    if name is None:
        return None
    kept = sorted(index.get("kept", []), reverse=True)  # newest first
    candidates = list(dict.fromkeys([name, index.get("latest") or name, *kept]))
    report = report or (lambda line: print(line, file=sys.stderr, flush=True))
    problems = []
    for candidate in candidates:
        path = checkpoint_dir / candidate
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        problems.append(f"{candidate}: {problem}")
        report(f"{path}: {problem}; not used")
    if len(candidates) == 1 and not (checkpoint_dir / name).exists():
        raise ValueError(f"{checkpoint_dir / INDEX_FILE}: names checkpoint {name}, which is missing")
    raise ValueError(f"{checkpoint_dir}: no valid checkpoint ({'; '.join(problems)})")


def checkpoint_problem(path) -> str | None:
    """What is wrong with the checkpoint directory ``path`` (a missing, truncated or altered file, checked
    against its ``manifest.json``), or None when it is complete and unaltered."""
    path = Path(path)
    if not path.is_dir():
        return "missing"
    try:
        files = json.loads((path / MANIFEST_FILE).read_text())["files"]
    except FileNotFoundError:
        return f"no {MANIFEST_FILE} (an incomplete copy?)"
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"unreadable {MANIFEST_FILE} ({error})"
    for name, expected in sorted(files.items()):
        file = path / name
        if not file.is_file():
            return f"{name} is missing"
        size = file.stat().st_size
        if size != expected["bytes"]:
            return f"{name} has {size} bytes, the manifest says {expected['bytes']} (truncated?)"
        if _sha256(file) != expected["sha256"]:
            return f"{name} does not match its SHA-256 in the manifest (corrupt bytes)"
    if "meta.json" not in files or not any(name.startswith(PREFIX + ".") for name in files):
        return f"{MANIFEST_FILE} lists no checkpoint files"
    return None


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _manifest_of(directory: Path) -> dict:
    return {"files": {file.name: {"bytes": file.stat().st_size, "sha256": _sha256(file)}
                      for file in sorted(directory.iterdir())
                      if file.is_file() and file.name != MANIFEST_FILE and not file.name.startswith(".")}}


def _write_manifest(directory: Path) -> None:
    """Write ``manifest.json`` (size and SHA-256 of every other file of ``directory``), last, atomically."""
    manifest = _manifest_of(directory)
    with atomic_output(directory / MANIFEST_FILE) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1))


def load_checkpoint(path, state: TrainingState, *, partial: bool = False) -> dict:
    """Restore ``state`` from a checkpoint directory (as returned by :func:`find_checkpoint`).

    Returns the checkpoint's ``meta.json`` (position, metrics, config). With ``partial=False`` every
    object of ``state`` must be in the checkpoint (a resume); ``partial=True`` restores what matches
    (the weights for predict/evaluate).
    """
    path = Path(path)
    meta_path = path / "meta.json"
    if not meta_path.exists():
        raise ValueError(f"{path}: not a checkpoint directory (no meta.json)")
    problem = checkpoint_problem(path)
    if problem is not None:
        raise ValueError(f"{path}: damaged checkpoint: {problem}")
    try:
        status = tf.train.Checkpoint(state=state).read(str(path / PREFIX))
        if partial:
            status.expect_partial()
        else:
            status.assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as error:
        message = getattr(error, "message", None) or str(error)
        raise ValueError(f"{path}: checkpoint does not match this model/optimizer "
                         f"({message.strip().splitlines()[0][:300]})") from None
    return json.loads(meta_path.read_text())
