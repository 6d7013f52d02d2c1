"""Convergence: validation mean IoU against wall time for both networks (small configurations) on CPU.

    .venv/bin/python bench/converge.py                       # 64 training + 16 validation samples, 48 x 72
                                                             # -> results/bench/converge.png
    .venv/bin/python bench/converge.py --epochs 20 --grid 96 144 --plot converge.png

Demo samples (``training.demo``: planted round "TCs" and elongated "ARs" in smooth random fields) are
written to a temporary directory; each network is trained with ``climseg train``'s loop (Adam, warm-up,
poly decay, deterministic ops) and validated every ``--validate-every`` steps. The table lists mean IoU
and IoU per class against the run's wall time; a PNG shows the curves.

Baseline, measured on the same validation set: the mean IoU of predicting background everywhere
(background IoU = its pixel fraction, TC and AR IoU = 0). The last line is final mean IoU / baseline for
the small Tiramisu.
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from training.config import TrainConfig  # noqa: E402
from training.demo import write_demo_samples  # noqa: E402
from training.loop import count_labels, train  # noqa: E402


def background_baseline(validation_files) -> float:
    """Mean IoU over the classes present of predicting background everywhere."""
    counts = count_labels(validation_files)
    present = counts > 0
    iou = np.zeros(len(counts))
    iou[0] = counts[0] / counts.sum()
    return float(iou[present].mean())


def plot(curves: dict, baseline: float, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, records in curves.items():
        ax.plot([r["wall_time_s"] for r in records], [r["mean_iou"] for r in records], marker="o", label=name)
    ax.axhline(baseline, color="grey", linestyle="--", label="all background")
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel("validation mean IoU")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Convergence on demo samples (small networks, CPU)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["tiramisu", "deeplabv3plus"])
    parser.add_argument("--grid", type=int, nargs=2, default=[48, 72], metavar=("LAT", "LON"))
    parser.add_argument("--train-samples", type=int, default=64)
    parser.add_argument("--validation-samples", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--validate-every", type=int, default=8, help="steps")
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--plot", type=Path, default=Path("results/bench/converge.png"), help="PNG of IoU against time")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="climseg-converge-") as tmp:
        tmp = Path(tmp)
        _, stats = write_demo_samples(tmp / "train", count=args.train_samples, grid=tuple(args.grid), seed=0)
        validation, _ = write_demo_samples(tmp / "validation", count=args.validation_samples, grid=tuple(args.grid),
                                           seed=1)
        baseline = background_baseline(validation)
        curves = {}
        for name in args.models:
            config = TrainConfig(data=str(tmp / "train"), validation_data=str(tmp / "validation"), stats=str(stats),
                                 model=name, model_preset="small", batch_size=args.batch_size, epochs=args.epochs,
                                 learning_rate=args.learning_rate, warmup_steps=args.validate_every,
                                 validate_every=args.validate_every, read_workers=2, seed=0)
            code = train(config, tmp / f"run-{name}", progress=False)
            if code != 0:
                print(f"{name}: training ended with exit code {code}")
                continue
            lines = (tmp / f"run-{name}" / "metrics.jsonl").read_text().splitlines()
            records = [json.loads(line) for line in lines]
            curves[name] = [r for r in records if "mean_iou" in r]

    print(f"demo samples {args.grid[0]} x {args.grid[1]}: {args.train_samples} training, {args.validation_samples} "
          f"validation; batch {args.batch_size}, {args.epochs} epochs")
    print(f"baseline (all background) mean IoU: {baseline:.3f}\n")
    print(f"{'model':<14} {'step':>5} {'time s':>7} {'mean IoU':>9} {'background':>11} {'TC':>6} {'AR':>6}")
    for name, records in curves.items():
        seen = set()
        for r in records:
            if r["step"] in seen:
                continue
            seen.add(r["step"])
            iou = r["iou"]
            print(f"{name:<14} {r['step']:>5} {r['wall_time_s']:>7.1f} {r['mean_iou']:>9.3f} "
                  f"{iou['background']:>11.3f} {iou['TC'] or 0:>6.3f} {iou['AR'] or 0:>6.3f}")
    plot(curves, baseline, args.plot)
    print(f"\nplot: {args.plot}")
    for name, records in curves.items():
        print(f"{name}: final mean IoU {records[-1]['mean_iou']:.3f} after {records[-1]['wall_time_s']:.0f} s "
              f"= {records[-1]['mean_iou'] / baseline:.2f} x baseline")
    reference = "tiramisu" if "tiramisu" in curves else next(iter(curves), None)
    if reference:
        print(f"ratio: {curves[reference][-1]['mean_iou'] / baseline:.2f} (small {reference} final validation "
              f"mean IoU / all-background mean IoU; goal: clearly above 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
