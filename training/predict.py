"""Predicted masks of a trained run, next to the truth: ``climseg predict``.

    climseg predict --run runs/tiramisu data-2000-01-01-00-1.h5 data-2000-01-01-03-1.h5 --out predictions/ --png

For each sample ``S.h5`` it writes ``OUT/S.h5`` with

- ``prediction``: uint8 (lat, lon), the class of highest probability (0 background, 1 TC, 2 AR);
- ``truth``: uint8 (lat, lon), the sample's labels (absent when the sample has none);
- ``probabilities``: float16 (lat, lon, 3), softmax of the logits;
- attributes ``run``, ``checkpoint``, ``step``, ``model``, ``sample``;

written atomically (a full disk is one line naming the file and the space needed, and leaves no file), and
with ``--png`` a map ``OUT/S.png``: truth and prediction side by side over the sample's TMQ.

The network runs on the whole grid (see :mod:`training.run`: padding to the network's divisor, periodic in
longitude and mirrored in latitude, then cropped back; missing values filled with the channel's training
mean; float32 whatever the training precision). ``climseg infer`` gives the same masks from the raw netCDF.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from climseg.atomic import atomic_output
from climseg.contract import CHANNELS, CLASS_NAMES, DATA_KEY, LABELS_KEY, NUM_CLASSES
from climseg.disk import reporting_disk_full
from training import data
from training.run import TrainedRun


def read_sample_fields(path) -> tuple[np.ndarray, np.ndarray | None]:
    """A sample's raw fields (lat, lon, 16) float32 in channel units and its labels (lat, lon), or None.

    Samples with labels go through the training reader (which checks shapes and label values).
    """
    try:
        with h5py.File(path, "r") as f:
            has_labels = LABELS_KEY in f
            if not has_labels:
                if DATA_KEY not in f or f[DATA_KEY].ndim != 3 or f[DATA_KEY].shape[2] != len(CHANNELS):
                    raise ValueError(f"{path}: no {DATA_KEY} of shape (lat, lon, {len(CHANNELS)})")
                return f[DATA_KEY][()].astype(np.float32), None
    except OSError as error:
        raise OSError(f"{path}: cannot read sample ({error})") from None
    return data.read_sample(path, offset=np.zeros(len(CHANNELS), np.float32), scale=np.ones(len(CHANNELS), np.float32))


def sample_probabilities(run: TrainedRun, path) -> tuple[np.ndarray, np.ndarray | None]:
    """Class probabilities (lat, lon, 3) float32 of one sample file, and its labels (lat, lon) or None."""
    fields, labels = read_sample_fields(path)
    normalized, _ = run.normalize(fields[np.newaxis])
    return run.class_probabilities(normalized)[0], labels


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
        probabilities, truth = sample_probabilities(run, sample)   # (lat, lon, classes)
        prediction = probabilities.argmax(axis=-1).astype(np.uint8)
        path = out_dir / Path(sample).name
        needed = prediction.size * (2 + 2 * NUM_CLASSES) + 64 * 1024  # uint8 prediction and truth, float16 probabilities
        with (reporting_disk_full(path, needed_bytes=needed, kept="no file was left"),
              atomic_output(path) as tmp, h5py.File(tmp, "w") as f):
            f.create_dataset("prediction", data=prediction, compression="gzip")
            if truth is not None:
                f.create_dataset("truth", data=truth.astype(np.uint8), compression="gzip")
            f.create_dataset("probabilities", data=probabilities.astype(np.float16), compression="gzip")
            f.attrs.update(run=str(run.run_dir), checkpoint=str(run.checkpoint), step=run.step,
                           model=run.config.model, sample=str(sample), classes=",".join(CLASS_NAMES))
        if png:
            with h5py.File(sample, "r") as f:
                tmq = f[DATA_KEY][:, :, CHANNELS.index("TMQ")]
            write_comparison_png(path.with_suffix(".png"), tmq=tmq, truth=truth, prediction=prediction,
                                 title=f"{Path(sample).name}: {run.config.model}, step {run.step}")
        written.append(path)
    return written
