"""Inference throughput: ``climseg infer`` on full-size netCDF against the network alone on in-memory tensors.

    .venv/bin/python bench/infer.py                         # CPU: 8 time steps (a day) of 768 x 1152, small Tiramisu
    .venv/bin/python bench/infer.py --batch 2               # a GPU: batches of 2
    .venv/bin/python bench/infer.py --preset paper          # the paper's Tiramisu (slow on a CPU)

Generates one CAM5-like file (``climseg.synth``, 768 x 1152 by default, ``--steps`` time steps, uncompressed
float32 as CAM5 writes them) and a run directory holding an untrained network (speed does not depend on the
weights), then measures, each in a fresh process so that its peak memory (``ru_maxrss``) is its own:

- **forward**, the baseline: ``TrainedRun.class_probabilities`` + argmax on normalized tensors already in
  memory, the same batch size and grid (padding to the divisor included), after one warm-up call;
- **read**: the reader of ``climseg infer`` alone (``inference.infer.read_batches``: validation, netCDF reads,
  channel interleaving, normalization), which shows how much CPU time the readers need beside the network;
- **infer**: ``inference.infer.infer_file`` on the netCDF file: validation, reading, normalization, the
  network, reorientation and writing the compressed mask file, after the same warm-up call.

Figures: time steps per second and peak memory of each, the output bytes per time step against the raw
input's. Last line: infer / forward time steps per second (goal >= 0.8: reading and writing hidden behind the
network by the reader threads).
"""

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from climseg.contract import CHANNELS, FULL_GRID  # noqa: E402


def make_input(directory: Path, *, size, steps: int) -> Path:
    """A CAM5-like netCDF file of ``steps`` time steps on a ``size`` grid (first steps of a synth day)."""
    import xarray as xr

    from climseg.synth import SynthConfig, write_day

    day = dt.date(2000, 1, 1)
    config = SynthConfig(n_lat=size[0], n_lon=size[1], case="bench")
    full, _ = write_day(config, day, directory / "day")
    if steps >= 8:
        return full
    target = directory / full.name
    with xr.open_dataset(full, decode_times=False) as ds:
        encoding = {name: {key: value for key, value in ds[name].encoding.items() if key in ("_FillValue", "dtype")}
                    for name in ds.variables}
        ds.isel(time=slice(0, steps)).to_netcdf(target, encoding=encoding)
    full.unlink()
    return target


def make_run(directory: Path, raw: Path, *, preset: str) -> Path:
    """A run directory (config.yaml, stats.h5 from the raw file, one checkpoint of an untrained Tiramisu)."""
    import h5py
    import xarray as xr

    import training  # noqa: F401
    from training.checkpoint import TrainingState, save_checkpoint
    from training.config import TrainConfig
    from training.run import build_run_model

    run = directory / "run"
    run.mkdir()
    config = TrainConfig(model="tiramisu", model_preset=preset)
    config.write_yaml(run / "config.yaml")
    with xr.open_dataset(raw) as ds, h5py.File(run / "stats.h5", "w") as f:
        moments = []
        for name in CHANNELS:  # one channel in memory at a time
            v = ds[name].values
            moments.append((v.mean(dtype=np.float64), np.square(v, dtype=np.float64).mean(), v.min(), v.max(), v.size))
        for key, column in zip(("mean", "sqmean", "minval", "maxval", "count"), zip(*moments)):
            f[f"climate/{key}"] = np.asarray(column, np.float64)
    save_checkpoint(run, TrainingState(build_run_model(config)), config=config.to_dict())
    return run


def measure(kind: str, run: Path, raw: Path, out: Path, batch: int, workers: int) -> dict:
    """One measurement in this process: seconds and time steps of ``forward``, ``read`` or ``infer``."""
    import xarray as xr

    from inference.infer import infer_file, read_batches
    from labeling.reading import open_model_output
    from training.run import TrainedRun

    trained = TrainedRun(run, which="latest")
    with xr.open_dataset(raw, decode_times=False) as ds:
        steps, rows, cols = ds.sizes["time"], ds.sizes["lat"], ds.sizes["lon"]
    rng = np.random.default_rng(0)
    fields = rng.normal(size=(batch, rows, cols, len(CHANNELS))).astype(np.float32)
    trained.class_probabilities(fields).argmax(-1)  # warm-up: graph tracing and memory pools, both kinds
    start = time.perf_counter()
    if kind == "forward":
        for _ in range(0, steps, batch):
            trained.class_probabilities(fields).argmax(-1)
    elif kind == "read":
        with open_model_output(raw) as model:
            for _ in read_batches(model, batch, trained.normalize, workers=workers):
                pass
    else:
        infer_file(trained, raw, out, batch_size=batch, workers=workers)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "steps": steps, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_measurement(kind: str, args, run: Path, raw: Path, out: Path) -> dict:
    command = [sys.executable, __file__, "--measure", kind, "--run-dir", str(run), "--raw", str(raw),
               "--out-file", str(out), "--batch", str(args.batch), "--workers", str(args.workers)]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if result.returncode != 0:
        sys.exit(f"bench/infer.py: the {kind} measurement failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, nargs=2, default=FULL_GRID, metavar=("LAT", "LON"))
    parser.add_argument("--steps", type=int, default=8, help="time steps in the file (1..8)")
    parser.add_argument("--batch", type=int, default=1, help="time steps per forward pass")
    parser.add_argument("--workers", type=int, default=1, help="reader threads of climseg infer")
    parser.add_argument("--preset", choices=("small", "paper"), default="small", help="Tiramisu configuration")
    parser.add_argument("--measure", choices=("forward", "read", "infer"), help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--raw", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.run_dir, args.raw, args.out_file, args.batch, args.workers)))
        return

    with tempfile.TemporaryDirectory(prefix="climseg-bench-infer-") as tmp:
        tmp = Path(tmp)
        print(f"generating {args.steps} time step(s) of {args.size[0]} x {args.size[1]} ...", flush=True)
        raw = make_input(tmp, size=args.size, steps=args.steps)
        run = make_run(tmp, raw, preset=args.preset)
        out = tmp / "masks" / raw.name.replace(".nc", ".climseg.nc")
        figures = {kind: run_measurement(kind, args, run, raw, out) for kind in ("forward", "read", "infer")}
        raw_bytes, out_bytes = raw.stat().st_size / args.steps, out.stat().st_size / args.steps

    print(f"\ntiramisu ({args.preset}), {args.size[0]} x {args.size[1]}, batch {args.batch}, "
          f"{args.workers} reader thread(s), {args.steps} time steps, CPU: {os.cpu_count()} cores")
    print(f"{'measurement':<44} {'steps/s':>9} {'peak MiB':>9}")
    names = {"forward": "forward pass alone, in-memory tensors", "read": "reading + normalizing alone (reader)",
             "infer": "climseg infer: netCDF -> masks netCDF"}
    for kind, figure in figures.items():
        print(f"{names[kind]:<44} {figure['steps'] / figure['seconds']:>9.3f} {figure['peak_mib']:>9.0f}")
    print(f"bytes per time step: raw input {raw_bytes / 1e6:.2f} MB, mask file {out_bytes / 1e3:.1f} kB "
          f"({out_bytes / raw_bytes:.4f} of the input)")
    ratio = (figures["infer"]["steps"] / figures["infer"]["seconds"]) / \
        (figures["forward"]["steps"] / figures["forward"]["seconds"])
    steps_per_second = {kind: figure["steps"] / figure["seconds"] for kind, figure in figures.items()}
    overlap_bound = 1 / (1 + steps_per_second["forward"] / steps_per_second["read"])
    print(f"if reading took CPU time from the network (all cores busy): ratio {overlap_bound:.2f} at best")
    print(f"ratio: {ratio:.2f} (infer steps/s / forward-pass steps/s; goal: >= 0.8)")


if __name__ == "__main__":
    main()
