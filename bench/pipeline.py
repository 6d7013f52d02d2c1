"""Input-pipeline throughput against raw parallel h5py reads of the same files, in the same run.

Writes ``--files`` full-size (768 x 1152 x 16) sample files to a temporary directory, reads them once
to bring them into the page cache, then measures in alternating rounds (medians reported) samples per
second and CPU time per sample (reader processes + this process: on a busy machine the CPU time is
the steadier figure):

- baseline: a pool of ``--workers`` processes, each reading ``climate/data`` and ``climate/labels_0`` of
  a file into numpy arrays with h5py (and discarding them), the I/O floor of the pipeline;
- threads: ``tf.data`` mapping a ``py_function`` h5py read with ``--workers`` parallel calls (threads,
  which h5py's global lock serializes);
- pipeline: ``training.data.make_dataset`` (``--workers`` reader processes, normalization, batches of
  ``--batch-size``, no crop), counted after ``2 * --workers`` samples, so the start of its readers (about
  0.1-0.5 s each: a process, and mapping its shared buffers) is not counted: it is paid once per run.

    .venv/bin/python bench/pipeline.py [--files 36] [--batch-size 2] [--workers 4] [--epochs 2] [--rounds 3]
"""

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import h5py  # noqa: E402
import numpy as np  # noqa: E402

from climseg.contract import CHANNELS, DATA_KEY, FULL_GRID, LABELS_KEY  # noqa: E402


def write_samples(folder: Path, count: int, grid) -> list[str]:
    """``count`` sample files with random fields and labels (a quarter as DeepCAM float32 labels)."""
    rng = np.random.default_rng(0)
    base = rng.normal(0.0, 1.0, (*grid, len(CHANNELS))).astype(np.float32)
    labels = rng.choice(3, size=grid, p=[0.95, 0.01, 0.04]).astype(np.uint8)
    paths = []
    for i in range(count):
        path = folder / f"data-2000-01-{1 + i // 8:02d}-{i % 8:02d}-1.h5"
        with h5py.File(path, "w") as f:
            f[DATA_KEY] = base + np.float32(i)
            f[LABELS_KEY] = labels.astype(np.float32) if i % 4 == 3 else labels
        paths.append(str(path))
    return paths


def write_stats(path: Path) -> None:
    n = len(CHANNELS)
    with h5py.File(path, "w") as f:
        for name, value in dict(mean=np.zeros(n), sqmean=np.ones(n), minval=np.full(n, -5.0),
                                maxval=np.full(n, 50.0), count=np.full(n, 1e9)).items():
            f[f"climate/{name}"] = value


def raw_read(path: str) -> int:
    with h5py.File(path, "r") as f:
        data, labels = f[DATA_KEY][()], f[LABELS_KEY][()]
    return data.shape[0] + labels.shape[0]


def cpu_seconds(pids) -> float:
    """User + system CPU time of processes ``pids`` (from /proc)."""
    ticks = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


class Meter:
    """Wall time and CPU time (this process and the reader processes) over a stretch of samples."""

    def __init__(self, worker_pids):
        self.pids = list(worker_pids)
        self.wall, self.cpu, self.workers = time.perf_counter(), time.process_time(), cpu_seconds(self.pids)

    def result(self, samples: int) -> tuple[float, float]:
        """(samples per second, CPU milliseconds per sample)."""
        cpu = time.process_time() - self.cpu + cpu_seconds(self.pids) - self.workers
        return samples / (time.perf_counter() - self.wall), 1e3 * cpu / samples


def measure_raw(files, workers: int, epochs: int) -> tuple[float, float]:
    """A process pool reading every file ``epochs`` times (pool started before timing)."""
    with multiprocessing.get_context("forkserver").Pool(workers) as pool:
        pool.map(abs, range(workers))  # workers up
        meter = Meter(p.pid for p in pool._pool)
        for _ in pool.imap_unordered(raw_read, files * epochs):
            pass
        return meter.result(len(files) * epochs)


def time_batches(dataset, batches: int, batch_size: int, worker_pids=lambda: (), warmup: int = 1):
    """(samples/s, CPU ms/sample) over ``batches`` batches after ``warmup`` batches."""
    iterator = iter(dataset)
    for _ in range(warmup):
        next(iterator)
    meter = Meter(worker_pids())
    for _ in range(batches):
        next(iterator)
    return meter.result(batches * batch_size)


def measure_threads(files, workers: int, batch_size: int, epochs: int) -> tuple[float, float]:
    import tensorflow as tf

    def read(path):
        with h5py.File(path.numpy().decode(), "r") as f:
            return f[DATA_KEY][()], f[LABELS_KEY][()].astype(np.int32)

    grid = FULL_GRID
    dataset = (tf.data.Dataset.from_tensor_slices(files).repeat()
               .map(lambda p: tf.py_function(read, [p], (tf.float32, tf.int32)), num_parallel_calls=workers)
               .map(lambda x, y: (tf.ensure_shape(x, (*grid, len(CHANNELS))), tf.ensure_shape(y, grid)))
               .batch(batch_size).prefetch(2))
    return time_batches(dataset, len(files) * epochs // batch_size, batch_size)


def measure_pipeline(files, stats, workers: int, batch_size: int, epochs: int) -> tuple[float, float]:
    from training import data

    dataset = data.make_dataset(files, stats, batch_size=batch_size, read_workers=workers, seed=1)
    reader_pids = lambda: [p.pid for stream in data.dataset._streams.values() for p in stream.readers]  # noqa: E731
    warmup = -(-2 * workers // batch_size)  # every reader started and its buffers mapped
    return time_batches(dataset, len(files) * epochs // batch_size, batch_size, reader_pids, warmup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--files", type=int, default=36, help="sample files to write (about 57 MB each)")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4, help="reader processes (and threads)")
    parser.add_argument("--epochs", type=int, default=2, help="passes over the files per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are reported")
    parser.add_argument("--dir", help="directory for the sample files (default: a temporary directory)")
    parser.add_argument("--no-threads", action="store_true", help="skip the thread-based reader")
    args = parser.parse_args()

    import training  # noqa: F401  (TF_USE_LEGACY_KERAS)
    from training.data import read_stats

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        files = write_samples(folder, args.files, FULL_GRID)
        write_stats(folder / "stats.h5")
        stats = read_stats(folder / "stats.h5")
        size_mb = sum(os.path.getsize(f) for f in files) / 1e6
        print(f"wrote {len(files)} samples {FULL_GRID[0]} x {FULL_GRID[1]} x {len(CHANNELS)} ({size_mb:.0f} MB) "
              f"in {time.perf_counter() - start:.1f} s; cores: {os.cpu_count()}")
        for path in files:  # into the page cache
            raw_read(path)

        results = {"raw": [], "threads": [], "pipeline": []}
        for round_ in range(args.rounds):
            results["raw"].append(measure_raw(files, args.workers, args.epochs))
            if not args.no_threads:
                results["threads"].append(measure_threads(files, args.workers, args.batch_size, args.epochs))
            results["pipeline"].append(measure_pipeline(files, stats, args.workers, args.batch_size, args.epochs))
            print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1][0]:.1f} samples/s" for k, v in results.items() if v),
                  flush=True)

    mb_per_sample = size_mb / len(files)
    print(f"\n{'reader':<56}{'samples/s':>10}{'best':>7}{'MB/s':>7}{'CPU ms/sample':>15}")
    names = {"raw": f"raw h5py reads, {args.workers} processes (baseline)",
             "threads": f"tf.data map over py_function, {args.workers} threads",
             "pipeline": f"training.data.make_dataset, {args.workers} processes, batch {args.batch_size}"}
    median, cpu_ms = {}, {}
    for key, values in results.items():
        if values:
            rates, cpus = np.array(values).T
            median[key], cpu_ms[key] = float(np.median(rates)), cpus
            print(f"{names[key]:<56}{median[key]:>10.1f}{rates.max():>7.1f}{median[key] * mb_per_sample:>7.0f}"
                  f"{np.median(cpus):>15.1f}")
    print("(medians over the rounds, 'best' the fastest round; CPU: readers + this process, summed over cores)")
    print(f"CPU per sample, pipeline / raw reads: {np.median(cpu_ms['pipeline']) / np.median(cpu_ms['raw']):.2f}")
    print(f"ratio: {median['pipeline'] / median['raw']:.2f} (pipeline / raw parallel reads; goal: >= 0.9)")

if __name__ == "__main__":
    main()
