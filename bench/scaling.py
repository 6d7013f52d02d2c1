"""Scaling benchmark: training samples/s on 1 and 2 ranks (same per-rank batch), with and without gradient lag.

Weak scaling as in the paper: every rank keeps its batch, so 2 ranks should process twice the samples
per second; the parallel efficiency is ``samples/s on N ranks / (N x samples/s on 1 rank)``. Each rank
runs the training step of ``climseg train`` (Tiramisu forward + weighted cross-entropy + backward,
gradients averaged by ``training.distributed`` or exchanged by ``training.gradient_lag``, Adam) on
in-memory random batches, so the figures measure computation and communication, not file reading.

One ``mpirun -np N`` launch times four modes after two warm-up steps each, in interleaved rounds (the
fastest round of each mode counts; interleaving exposes all modes to the same background load, which on
a shared machine drifts by more than the effects measured):

- ``1 rank``: rank 0 trains alone (no allreduce; the other ranks wait at a barrier): the baseline, the
  same computation on the same bound core as a one-process run;
- ``local``: all ranks train, gradients applied without any allreduce (ranks drift apart): the
  computation alone, showing what sharing the machine costs before any communication;
- ``lag 0``: synchronous allreduce of the gradients every step;
- ``lag 1``: gradient lag 1 (the allreduce of step t-1 overlaps step t's forward/backward pass).

Ranks are bound one per core (``mpirun --bind-to core``), as one GPU per rank on a cluster; TensorFlow
sizes its thread pools to the core it is bound to. A second, short launch records a Horovod timeline
(``HOROVOD_TIMELINE``) of lag-1 training to ``OUT/timeline_2ranks_lag1.json`` (open it in chrome://tracing
or https://ui.perfetto.dev); the time spent in MPI_Allreduce per step is read from it.

Run from the repository root::

    .venv/bin/python bench/scaling.py                          # paper's Tiramisu (7.5M parameters), 96 x 144
    .venv/bin/python bench/scaling.py --grid 192 288 --steps 6
    .venv/bin/python bench/scaling.py --small                  # a tiny Tiramisu: communication-bound

On a 2-core machine shared with other work, figures vary from run to run; they show what this machine
shows, not what a cluster with one GPU per rank would.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np


def worker(args) -> None:
    """One rank: time the modes of ``args.modes``, write rank 0's figures to ``args.result``."""
    import training  # noqa: F401  (sets TF_USE_LEGACY_KERAS)
    import tensorflow as tf

    from training import distributed, losses
    from training.gradient_lag import GradientLag
    from training.models import TiramisuConfig, build_model

    distributed.init()
    with distributed.fail_fast():
        config = TiramisuConfig.small() if args.small else TiramisuConfig(dropout=0.0)
        lat, lon = args.grid
        tf.keras.utils.set_random_seed(0)
        model = build_model("tiramisu", (lat, lon, 16), config=config)
        optimizer = tf.keras.optimizers.Adam(1e-4)
        optimizer.build(model.trainable_variables)
        distributed.broadcast_variables(model.variables + optimizer.variables())
        class_weights = tf.constant([0.022, 0.812, 0.166])
        rng = np.random.default_rng(distributed.rank())
        images = tf.constant(rng.normal(size=(args.batch, lat, lon, 16)).astype(np.float32))  # (batch, lat, lon, 16)
        labels = tf.constant(rng.integers(0, 3, size=(args.batch, lat, lon)).astype(np.int32))  # (batch, lat, lon)

        def make_step(mode):
            lag = GradientLag(model.trainable_variables) if mode == "lag 1" else None  # "1 rank", "local": none

            @tf.function
            def step(x, y):
                with tf.GradientTape() as tape:
                    loss = losses.weighted_cross_entropy(y, model(x, training=True), class_weights)
                    loss += tf.add_n(model.losses)
                gradients = tape.gradient(loss, model.trainable_variables)
                if mode == "lag 0":
                    gradients = distributed.allreduce_gradients(gradients)
                elif mode == "lag 1":
                    gradients = lag.exchange(gradients)
                optimizer.apply_gradients(zip(gradients, model.trainable_variables))
                return loss
            return step

        parameters = int(sum(np.prod(v.shape) for v in model.trainable_variables))
        figures = {"ranks": distributed.size(), "parameters": parameters}
        steps = {mode: make_step(mode) for mode in args.modes}
        for step in steps.values():
            for _ in range(2):
                float(step(images, labels))                          # trace, warm up
        for _ in range(args.rounds):                                 # modes interleaved; the best round counts
            for mode, step in steps.items():
                working = mode != "1 rank" or distributed.is_root()
                distributed.barrier()
                started = time.perf_counter()
                if working:
                    for _ in range(args.steps):
                        loss = step(images, labels)
                    float(loss)
                elapsed = time.perf_counter() - started
                distributed.barrier()
                workers = 1 if mode == "1 rank" else distributed.size()
                elapsed = float(distributed.allreduce_sum(np.array([elapsed if working else 0.0]))[0]) / workers
                samples_per_second = args.steps * args.batch * workers / elapsed  # all working ranks
                figures[mode] = max(figures.get(mode, 0.0), samples_per_second)
        if distributed.is_root():
            Path(args.result).write_text(json.dumps(figures))


def seconds_in(timeline: Path, activity: str = "MPI_ALLREDUCE") -> float:
    """Wall time covered by ``activity`` spans (union over all tensors) in a Horovod timeline, seconds."""
    open_spans, spans = defaultdict(list), []
    for event in json.loads(timeline.read_text()):
        if event.get("ph") == "B":
            open_spans[event["pid"]].append((event["name"], event["ts"]))
        elif event.get("ph") == "E" and open_spans[event["pid"]]:
            name, start = open_spans[event["pid"]].pop()
            if name == activity:
                spans.append((start, event["ts"]))
    covered, end = 0, None
    for start, stop in sorted(spans):                                # union of intervals, microseconds
        if end is None or start > end:
            covered += stop - start
            end = stop
        elif stop > end:
            covered += stop - end
            end = stop
    return covered / 1e6


def launch(ranks: int, args, result: Path, modes, *, steps: int, rounds: int, timeline: Path | None = None) -> dict:
    command = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "core", "-np", str(ranks)]
    command += [sys.executable, __file__, "--worker", "--result", str(result), "--grid", *map(str, args.grid),
                "--batch", str(args.batch), "--steps", str(steps), "--rounds", str(rounds), "--modes", *modes]
    command += ["--small"] if args.small else []
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"     # the venv's mpirun first
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PATH=path)
    if timeline is not None:
        env["HOROVOD_TIMELINE"] = str(timeline)                      # written by rank 0
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return json.loads(result.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--grid", type=int, nargs=2, default=(96, 144), metavar=("LAT", "LON"),
                        help="grid points per sample (multiples of 16 for the paper's Tiramisu)")
    parser.add_argument("--ranks", type=int, default=2, help="ranks of the parallel runs (one core each)")
    parser.add_argument("--batch", type=int, default=1, help="samples per rank and step")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per mode")
    parser.add_argument("--rounds", type=int, default=3,
                        help="timed rounds per mode, interleaved; the fastest counts (other load on the machine)")
    parser.add_argument("--small", action="store_true", help="a tiny Tiramisu instead of the paper's")
    parser.add_argument("--out", default="results/bench/scaling", help="run directory (figures, timeline)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--modes", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    modes = ["1 rank", "local", "lag 0", "lag 1"]
    print(f"timing {', '.join(modes)} on {args.ranks} ranks ...", flush=True)
    figures = launch(args.ranks, args, out / "figures.json", modes, steps=args.steps, rounds=args.rounds)
    print("recording a Horovod timeline ...", flush=True)
    timeline = (out / f"timeline_{args.ranks}ranks_lag1.json").resolve()
    timeline_steps = 3
    traced = launch(args.ranks, args, out / "figures_timeline.json", ["lag 1"], steps=timeline_steps, rounds=1,
                    timeline=timeline)
    allreduce_per_step = seconds_in(timeline) / (timeline_steps + 2)  # + the two warm-up steps

    one, n = figures["1 rank"], args.ranks
    print(f"\nTiramisu ({'small' if args.small else 'paper'}), {figures['parameters'] / 1e6:.2f}M parameters, "
          f"{args.grid[0]} x {args.grid[1]} x 16, batch {args.batch} per rank, best of {args.rounds} rounds of "
          f"{args.steps} steps, one core per rank\n")
    print(f"{'mode':<8}{'ranks':>6}{'samples/s':>11}{'per rank':>10}{'efficiency':>12}")
    print(f"{'1 rank':<8}{1:>6}{one:>11.3f}{one:>10.3f}{1:>12.2f}")
    for mode in modes[1:]:
        print(f"{mode:<8}{n:>6}{figures[mode]:>11.3f}{figures[mode] / n:>10.3f}{figures[mode] / (n * one):>12.2f}")
    print(f"\ngradient lag 1 / lag 0: {figures['lag 1'] / figures['lag 0']:.2f} x samples/s; "
          f"lag 0 / local (the cost of the allreduce): {figures['lag 0'] / figures['local']:.2f}")
    print(f"Horovod timeline of {n} ranks with gradient lag: {timeline}")
    print(f"  in MPI_Allreduce: {allreduce_per_step * 1e3:.1f} ms per step of "
          f"{args.batch * n / traced['lag 1'] * 1e3:.0f} ms ({figures['parameters'] * 4 / 2**20:.1f} MiB of "
          f"float32 gradients per step)")
    summary = {"ranks": n, "grid": list(args.grid), "batch_per_rank": args.batch, "steps": args.steps,
               "rounds": args.rounds, "small": args.small, "parameters": figures["parameters"],
               "samples_per_second": {mode: figures[mode] for mode in modes},
               "efficiency": {mode: figures[mode] / (n * one) for mode in modes[1:]},
               "mpi_allreduce_seconds_per_step": allreduce_per_step, "timeline": str(timeline)}
    (out / "scaling.json").write_text(json.dumps(summary, indent=2))
    print(f"ratio: {figures['lag 0'] / (n * one):.2f} ({n}-rank samples/s / ({n} x 1-rank samples/s), lag 0; "
          f"goal: near 1)")

if __name__ == "__main__":
    main()
