"""Predicted masks of a trained run, next to the truth: ``climseg predict``.

    climseg predict --run runs/tiramisu data-2000-01-01-00-1.h5 data-2000-01-01-03-1.h5 --out predictions/ --png

For each sample ``S.h5`` it writes ``OUT/S.h5`` with

- ``prediction``: uint8 (lat, lon), the class of highest probability (0 background, 1 TC, 2 AR);
- ``truth``: uint8 (lat, lon), the sample's labels (absent when the sample has none);
- ``probabilities``: float16 (lat, lon, 3), softmax of the logits;
- attributes ``run``, ``checkpoint``, ``step``, ``model``, ``sample``;

and with ``--png`` a map ``OUT/S.png``: truth and prediction side by side over the sample's TMQ.

The network runs on the whole grid: a grid whose lat or lon is not a multiple of the network's divisor is
padded (periodically in longitude, by reflection in latitude) and the prediction cropped back. Inference
runs in float32 whatever the run's training precision.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

import training  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)

import tensorflow as tf

from climseg.atomic import atomic_output
from climseg.contract import CHANNELS, CLASS_NAMES, DATA_KEY, LABELS_KEY
from training import data
from training.checkpoint import TrainingState, find_checkpoint, load_checkpoint
from training.config import TrainConfig
from training.loop import build_run_model, model_config, set_precision


class TrainedRun:
    """A run directory's network with the weights of one checkpoint, and what is needed to feed it.

    Attributes: ``config`` (TrainConfig), ``model``, ``divisor`` (int), ``offset``/``scale`` (16,)
    float32 normalization, ``checkpoint`` (Path), ``meta`` (the checkpoint's meta.json).
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
        set_precision("fp32")
        self.model = build_run_model(self.config)
        self.meta = load_checkpoint(self.checkpoint, TrainingState(self.model), partial=True)
        self.divisor = model_config(self.config).divisor
        self.offset, self.scale = data.normalization_coefficients(data.read_stats(stats_path),
                                                                  method=self.config.normalization)
        self._logits = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)

    def probabilities(self, fields: np.ndarray) -> np.ndarray:
        """Class probabilities (lat, lon, 3) float32 for one normalized sample (lat, lon, 16)."""
        rows, cols = fields.shape[:2]
        pad_rows, pad_cols = -rows % self.divisor, -cols % self.divisor
        if pad_rows:
            fields = np.pad(fields, ((0, pad_rows), (0, 0), (0, 0)), mode="reflect")
        if pad_cols:
            fields = np.pad(fields, ((0, 0), (0, pad_cols), (0, 0)), mode="wrap")  # longitude is periodic
        logits = self._logits(tf.constant(fields[np.newaxis]))  # (1, lat', lon', classes)
        return tf.nn.softmax(logits, axis=-1).numpy()[0, :rows, :cols]

    def read(self, path) -> tuple[np.ndarray, np.ndarray | None]:
        """A sample's normalized fields (lat, lon, 16) and its labels (lat, lon), or None if it has none."""
        try:
            with h5py.File(path, "r") as f:
                has_labels = LABELS_KEY in f
                if not has_labels:
                    if DATA_KEY not in f or f[DATA_KEY].ndim != 3 or f[DATA_KEY].shape[2] != len(CHANNELS):
                        raise ValueError(f"{path}: no {DATA_KEY} of shape (lat, lon, {len(CHANNELS)})")
                    fields = f[DATA_KEY][()].astype(np.float32)
        except OSError as error:
            raise OSError(f"{path}: cannot read sample ({error})") from None
        if has_labels:  # the training reader checks shapes and label values
            return data.read_sample(path, offset=self.offset, scale=self.scale)
        return (fields - self.offset) * self.scale, None


def write_comparison_png(path, *, tmq: np.ndarray, truth: np.ndarray | None, prediction: np.ndarray,
                         title: str) -> None:
    """Truth and prediction over TMQ (kg m-2), side by side, as a PNG (written atomically)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    masks = {"truth": truth, "prediction": prediction} if truth is not None else {"prediction": prediction}
    colors = ListedColormap([(0, 0, 0, 0), (0.85, 0.1, 0.1, 0.75), (0.1, 0.3, 0.9, 0.6)])
    fig, axes = plt.subplots(1, len(masks), figsize=(6.5 * len(masks), 4), squeeze=False)
    for ax, (name, mask) in zip(axes[0], masks.items()):
        image = ax.imshow(tmq, origin="lower", cmap="Greys", aspect="auto")
        ax.imshow(mask, origin="lower", cmap=colors, vmin=0, vmax=2, interpolation="nearest", aspect="auto")
        ax.set_title(f"{name}: {CLASS_NAMES[1]} red, {CLASS_NAMES[2]} blue")
        ax.set_xlabel("longitude index")
        ax.set_ylabel("latitude index")
    fig.colorbar(image, ax=axes[0].tolist(), label="TMQ (kg m-2)")
    fig.suptitle(title)
    with atomic_output(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def predict_files(run: TrainedRun, samples, out_dir, *, png: bool = False, progress: bool = True) -> list[Path]:
    """Write ``OUT/<sample name>.h5`` (and ``.png``) for each sample; returns the HDF5 paths."""
    from tqdm import tqdm

    out_dir = Path(out_dir)
    written = []
    for sample in tqdm(samples, unit="sample", disable=not progress, desc="predict"):
        fields, truth = run.read(sample)
        probabilities = run.probabilities(fields)               # (lat, lon, classes)
        prediction = probabilities.argmax(axis=-1).astype(np.uint8)
        path = out_dir / Path(sample).name
        with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
            f.create_dataset("prediction", data=prediction, compression="gzip")
            if truth is not None:
                f.create_dataset("truth", data=truth.astype(np.uint8), compression="gzip")
            f.create_dataset("probabilities", data=probabilities.astype(np.float16), compression="gzip")
            f.attrs.update(run=str(run.run_dir), checkpoint=str(run.checkpoint), step=run.meta["step"],
                           model=run.config.model, sample=str(sample), classes=",".join(CLASS_NAMES))
        if png:
            with h5py.File(sample, "r") as f:
                tmq = f[DATA_KEY][:, :, CHANNELS.index("TMQ")]
            write_comparison_png(path.with_suffix(".png"), tmq=tmq, truth=truth, prediction=prediction,
                                 title=f"{Path(sample).name}: {run.config.model}, step {run.meta['step']}")
        written.append(path)
    return written
