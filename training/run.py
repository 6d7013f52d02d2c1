"""A trained run, loaded to be applied: its configuration, normalization and network with one checkpoint's weights.

Used by ``climseg predict``, ``climseg evaluate`` and ``climseg infer``; none of them imports the training loop.

    >>> run = TrainedRun("runs/tiramisu", which="best")                      # doctest: +SKIP
    >>> probabilities = run.class_probabilities(run.normalize(fields))      # (batch, lat, lon, 3)

Any grid
--------
The networks are fully convolutional but need lat and lon to be multiples of their divisor
(``model_config(...).divisor``: 16 for Tiramisu, 8 for DeepLabv3+). A grid that is not is
padded at its end (north and east on the canonical grid) and the result cropped back: periodically in
longitude when the grid goes round the globe, symmetrically (mirror including the edge) in latitude and in
the longitude of a regional grid. Nothing is resampled. Inference runs in float32 whatever the run's
training precision.

Missing values
--------------
A NaN in the input (a ``_FillValue`` of the netCDF file) is replaced by the training mean of its channel,
i.e. the value a normalized channel has on average (0 for ``zscore``), so it carries no signal;
:meth:`TrainedRun.normalize` returns how many values it filled in each channel.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import h5py
import numpy as np

import training  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)

import tensorflow as tf

from climseg.contract import CHANNELS, FULL_GRID, NUM_CLASSES, cam5_grid
from climseg.samples import resolve_samples
from training import data, models
from training.checkpoint import TrainingState, find_checkpoint, load_checkpoint
from training.config import TrainConfig

CHECKPOINT_CHOICES = ("best", "latest")
"""``best``: the highest validation mean IoU (falls back to the latest); ``latest``: the last saved."""


def model_config(config: TrainConfig):
    """The model configuration dataclass of a run: the preset with the run's overrides."""
    config_class = models.MODELS[config.model][0]
    preset = config_class.small() if config.model_preset == "small" else config_class()
    overrides = dict(config.model_overrides)
    if config.weight_decay is not None:
        overrides["weight_decay"] = config.weight_decay
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"model_overrides: unknown {config.model} option(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(known))}")
    return dataclasses.replace(preset, **overrides)


def build_run_model(config: TrainConfig) -> tf.keras.Model:
    """The network of a run, for inputs of any (lat, lon) that are multiples of its divisor."""
    return models.build_model(config.model, (None, None, len(CHANNELS)), num_classes=NUM_CLASSES,
                              config=model_config(config))


def grid_spacing_deg(lat_deg, lon_deg) -> tuple[float, float]:
    """Median (lat, lon) spacing in degrees of a grid given by its coordinates (either orientation)."""
    lat_step = float(np.median(np.abs(np.diff(np.asarray(lat_deg, np.float64)))))
    lon_step = float(np.median(np.abs(np.diff(np.mod(np.asarray(lon_deg, np.float64), 360.0)))))
    return lat_step, lon_step


def is_global_longitude(lon_deg) -> bool:
    """Whether longitudes ``lon_deg`` (degrees, evenly spaced) go round the globe (360 / spacing points)."""
    lon_step = grid_spacing_deg([0.0, 1.0], lon_deg)[1]
    return bool(np.isclose(lon_step * len(lon_deg), 360.0, rtol=1e-3))


def pad_to_divisor(fields: np.ndarray, divisor: int, *, periodic_lon: bool = True) -> np.ndarray:
    """Pad (..., lat, lon, channels) at the end of lat and lon to multiples of ``divisor`` points.

    Latitude is mirrored (``symmetric``: the edge row repeated first); longitude wraps round when
    ``periodic_lon`` (a global grid), else is mirrored too. Crop the result with ``[..., :lat, :lon, :]``.
    """
    rows, cols = fields.shape[-3:-1]
    pad = [(0, 0)] * fields.ndim
    pad[-3] = (0, -rows % divisor)
    if pad[-3][1]:
        fields = np.pad(fields, pad, mode="symmetric")
    pad[-3] = (0, 0)
    pad[-2] = (0, -cols % divisor)
    if pad[-2][1]:
        fields = np.pad(fields, pad, mode="wrap" if periodic_lon else "symmetric")
    return fields


def first_sample(source) -> Path:
    """The first sample file of a training source: a directory, a list, a sample, or a staging manifest
    (whose ranks' files are all on the same grid: rank 0's first)."""
    source = Path(source)
    if source.suffix == ".json":
        ranks = json.loads(source.read_text())["ranks"]
        entry = ranks[min(ranks, key=int)]
        return source.parent / (entry.get("train") or entry["validation"])[0]
    return resolve_samples(source)[0]


def training_grid_spacing_deg(config: TrainConfig) -> tuple[float, float] | None:
    """(lat, lon) spacing in degrees of the run's training samples, or None when none can be read.

    Read from the ``lat``/``lon`` of the first training (or validation) sample still on disk; a sample
    without them (the public DeepCAM files) is on the CAM5 grid of :data:`climseg.contract.FULL_GRID`.
    """
    for source in (config.data, config.validation_data):
        if not source:
            continue
        try:
            with h5py.File(first_sample(source), "r") as f:
                if "lat" in f and "lon" in f:
                    return grid_spacing_deg(f["lat"][()], f["lon"][()])
            return grid_spacing_deg(*cam5_grid(*FULL_GRID))
        except (OSError, ValueError, IndexError, KeyError):
            continue  # a node-local staging directory long gone: try the next source
    return None


class TrainedRun:
    """A run directory's network with the weights of one checkpoint, and what is needed to feed it.

    Parameters
    ----------
    run_dir : path
        A ``climseg train`` run directory (``config.yaml``, ``stats.h5``, ``checkpoints/``).
    which : {"best", "latest"}

    Attributes
    ----------
    config : TrainConfig
    model : tf.keras.Model
    divisor : int
        lat and lon of the network's input must be multiples of it.
    offset, scale : ndarray (16,) float32
        The run's normalization, ``normalized = (x - offset) * scale``.
    fill : ndarray (16,) float32
        Normalized training mean of each channel: what a missing value becomes.
    checkpoint : Path
    meta : dict
        The checkpoint's ``meta.json`` (``step``, ``mean_iou``, ...).

    Raises
    ------
    ValueError
        ``run_dir`` is not a run directory, has no checkpoint, or its checkpoint does not fit the model.
    """

    def __init__(self, run_dir, *, which: str = "best"):
        run_dir = Path(run_dir)
        config_path, stats_path = run_dir / "config.yaml", run_dir / "stats.h5"
        for path in (config_path, stats_path):
            if not path.exists():
                raise ValueError(f"{run_dir}: not a training run directory (no {path.name})")
        self.run_dir = run_dir
        self.config = TrainConfig.from_yaml(config_path)
        self.checkpoint = find_checkpoint(run_dir, which)
        if self.checkpoint is None:
            raise ValueError(f"{run_dir}: the run has no checkpoint yet")
        tf.keras.mixed_precision.set_global_policy("float32")
        self.model = build_run_model(self.config)
        self.meta = load_checkpoint(self.checkpoint, TrainingState(self.model), partial=True)
        self.divisor = model_config(self.config).divisor
        stats = data.read_stats(stats_path)
        self.offset, self.scale = data.normalization_coefficients(stats, method=self.config.normalization)
        self.fill = ((stats.mean.astype(np.float32) - self.offset) * self.scale).astype(np.float32)
        self._logits = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)

    @property
    def step(self) -> int:
        """Training step of the loaded checkpoint."""
        return int(self.meta["step"])

    def describe(self) -> str:
        """One line naming the model, run directory and checkpoint (the ``source`` of output files)."""
        return f"{self.config.model} network of run {self.run_dir.resolve()}, checkpoint {self.checkpoint.name} " \
               f"(step {self.step})"

    def normalize(self, fields: np.ndarray, *, in_place: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Normalize raw fields (..., 16) in channel units, filling NaN with the channel's training mean.

        Parameters
        ----------
        fields : ndarray (..., lat, lon, 16)
        in_place : bool
            Overwrite ``fields`` (float32) instead of allocating the result.

        Returns
        -------
        normalized : ndarray, float32, the shape of ``fields``
        filled : ndarray (16,) int64
            Missing values filled, per channel.
        """
        normalized = fields if in_place else np.array(fields, np.float32)
        np.subtract(normalized, self.offset, out=normalized)
        np.multiply(normalized, self.scale, out=normalized)
        missing = np.isnan(normalized)
        filled = np.zeros(len(CHANNELS), np.int64)
        if missing.any():
            filled = missing.reshape(-1, len(CHANNELS)).sum(axis=0)
            np.copyto(normalized, np.broadcast_to(self.fill, normalized.shape), where=missing)
        return normalized, filled

    def class_probabilities(self, fields: np.ndarray, *, periodic_lon: bool = True) -> np.ndarray:
        """Class probabilities (batch, lat, lon, 3) float32 of normalized fields (batch, lat, lon, 16).

        The grid is padded to the network's divisor and the result cropped back (see the module notes).
        """
        rows, cols = fields.shape[1:3]
        padded = pad_to_divisor(fields, self.divisor, periodic_lon=periodic_lon)
        logits = self._logits(tf.constant(padded))
        return tf.nn.softmax(logits, axis=-1).numpy()[:, :rows, :cols]
