"""Test-set scores of a trained run: ``climseg evaluate``.

    climseg evaluate --run runs/tiramisu --data splits/test.txt --out reports/tiramisu.json

writes ``REPORT.json`` and ``REPORT.md`` beside it: IoU per class and mean IoU (the paper's metric: TP /
(TP + FP + FN) from one confusion matrix accumulated over all test pixels), pixel accuracy, the
confusion matrix (rows truth, columns prediction), the number of samples, the checkpoint used and a
summary of the run's configuration. Every test sample is scored on its whole grid (see
:mod:`training.predict`). Under an MPI launcher each rank scores its share of the files and the confusion
matrices are summed; call it inside :func:`training.distributed.fail_fast` (``climseg evaluate`` does), so a
rank that fails ends the whole job with its message instead of leaving the others in the allreduce.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from climseg.atomic import atomic_output
from climseg.contract import CLASS_NAMES, NUM_CLASSES
from climseg.samples import rank_samples
from training import distributed
from training.metrics import iou_summary
from training.predict import sample_probabilities
from training.run import TrainedRun

SUMMARY_FIELDS = ("model", "model_preset", "model_overrides", "batch_size", "epochs", "optimizer", "learning_rate",
                  "lr_scaling", "larc", "precision", "gradient_lag", "normalization", "crop", "seed")


def confusion_of_files(run: TrainedRun, files, *, progress: bool = True) -> np.ndarray:
    """Confusion matrix (3, 3) int64 (rows truth, columns prediction) of ``run`` over labelled ``files``."""
    from tqdm import tqdm

    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    for path in tqdm(files, unit="sample", disable=not progress, desc="evaluate"):
        probabilities, truth = sample_probabilities(run, path)
        if truth is None:
            raise ValueError(f"{path}: sample has no labels to evaluate against")
        prediction = probabilities.argmax(axis=-1)
        confusion += np.bincount(truth.ravel().astype(np.int64) * NUM_CLASSES + prediction.ravel(),
                                 minlength=NUM_CLASSES ** 2).reshape(NUM_CLASSES, NUM_CLASSES)
    return confusion


def evaluation_report(run: TrainedRun, confusion: np.ndarray, *, samples: int, data_path: str) -> dict:
    """The report as a dict (what REPORT.json holds)."""
    return {"run": str(run.run_dir), "checkpoint": str(run.checkpoint), "step": run.step,
            "data": str(data_path), "samples": samples, "pixels": int(confusion.sum()),
            **iou_summary(confusion), "pixel_accuracy": float(np.trace(confusion) / confusion.sum()),
            "classes": list(CLASS_NAMES), "confusion_matrix": confusion.tolist(),
            "validation_mean_iou_of_checkpoint": run.meta.get("mean_iou"),
            "config": {name: getattr(run.config, name) for name in SUMMARY_FIELDS}}


def report_markdown(report: dict) -> str:
    """REPORT.md: the same figures as tables."""
    lines = [f"# Evaluation of {report['run']}", "",
             f"Checkpoint `{report['checkpoint']}` (step {report['step']}), {report['samples']} samples of "
             f"`{report['data']}` ({report['pixels']} pixels).", "",
             "| class | IoU |", "|---|---|"]
    for name, value in report["iou"].items():
        lines.append(f"| {name} | {'n/a (absent)' if value is None else f'{value:.4f}'} |")
    lines += [f"| **mean** | **{report['mean_iou']:.4f}** |", "",
              f"Pixel accuracy: {report['pixel_accuracy']:.4f}", "",
              "Confusion matrix (pixels; rows truth, columns prediction):", "",
              "| truth \\ prediction | " + " | ".join(report["classes"]) + " |",
              "|---" * (len(report["classes"]) + 1) + "|"]
    for name, row in zip(report["classes"], report["confusion_matrix"]):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    lines += ["", "Run configuration:", ""] + [f"- {k}: `{v}`" for k, v in report["config"].items()]
    return "\n".join(lines) + "\n"


def evaluate_run(run_dir, data_path, out_path, *, which: str = "best", progress: bool = True) -> dict:
    """Score a run on the samples named by ``data_path``; write ``out_path`` (JSON) and its ``.md``."""
    distributed.init()
    run = TrainedRun(run_dir, which=which)
    files = rank_samples(data_path, rank=distributed.rank(), size=distributed.size(), split="validation")
    confusion = distributed.allreduce_sum(confusion_of_files(run, files, progress=progress and distributed.is_root()))
    samples = int(distributed.allreduce_sum(np.array(len(files), np.int64)))
    report = evaluation_report(run, np.asarray(confusion), samples=samples, data_path=data_path)
    if distributed.is_root():
        out_path = Path(out_path)
        with atomic_output(out_path) as tmp:
            tmp.write_text(json.dumps(report, indent=1, default=list))
        with atomic_output(out_path.with_suffix(".md")) as tmp:
            tmp.write_text(report_markdown(report))
    return report
