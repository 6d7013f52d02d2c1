"""Events throughput: objects + tracks + climatology at full size against reading the masks alone.

    .venv/bin/python bench/events.py                  # 4 time steps of 768 x 1152
    .venv/bin/python bench/events.py --steps 8 --lat 192 --lon 288

Generates one day of CAM5-like output (``climseg.synth`` with its random events and the tracked ones of
``--tracks``) and its truth as a mask file (the format of ``climseg export``) of the first ``--steps`` time steps,
then measures in the same run, each after an untimed warm-up pass:

- **read masks**, the baseline: ``events.reading.read_steps`` on the mask file alone (decompress, reorient);
- **read masks + raw**: the same with the six raw fields the object properties use (PSL, UBOT, VBOT, TMQ,
  U850, V850);
- **stream**: ``events.climatology.Accumulator.add`` per step on masks + raw (TC and AR objects with their
  properties, land flags, AR overlap tracking, counts), and on the masks alone (``--no-raw``);
- **merge + write**: ``merge`` (the TC tracker over all candidates) and ``write_climatology`` (netCDF + CSV),
  once per run (shown per step of this short run: it shrinks with longer ones);
- **events**: the two together.

Also the TC tracker alone on 200 steps of 20 and of 200 moving storms: 10x the candidates cost about 10x the
time (a k-d tree per step, no all-pairs distances). Last line: events / read-masks time steps per second (and
the per-step part alone).
"""

import argparse
import dataclasses
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from climseg.contract import FULL_GRID  # noqa: E402


def make_masks(directory: Path, *, size, steps: int) -> tuple[Path, Path]:
    """A raw file and its truth mask file with ``steps`` time steps on a ``size`` grid."""
    import xarray as xr

    from climseg import synth
    from inference.masks import HEURISTIC, mask_file, mask_file_name, read_source_coordinates

    day = dt.date(2000, 1, 1)
    tcs, ars = synth.plan_tracked_events(0, day, 1)
    config = dataclasses.replace(synth.SynthConfig(n_lat=size[0], n_lon=size[1], case="bench"), tracked_tcs=tcs,
                                 tracked_ars=ars)
    raw, truth_path = synth.write_day(config, day, directory)
    if steps < synth.STEPS_PER_DAY:
        cut = directory / ("cut." + raw.name)
        with xr.open_dataset(raw, decode_times=False) as ds:
            encoding = {name: {key: value for key, value in ds[name].encoding.items()
                               if key in ("_FillValue", "dtype")} for name in ds.variables}
            ds.isel(time=slice(0, steps)).to_netcdf(cut, encoding=encoding)
        cut.replace(raw)
    truth = synth.read_truth(truth_path)
    classes = np.where(truth.tc_mask, 1, np.where(truth.ar_mask, 2, 0)).astype(np.int8)[:steps]
    path = directory / mask_file_name(raw, HEURISTIC)
    with mask_file(path, read_source_coordinates(raw), mask_source=HEURISTIC, source="bench", history="",
                   title="bench", input_file=raw) as masks:
        masks.write(0, classes)
    return raw, path


def read_only(mask: Path, raw) -> int:
    from events.reading import read_steps

    count = 0
    for _, step in read_steps(mask, raw_path=raw):
        count += int(step.classes[0, 0]) * 0 + 1
    return count


def stream(mask: Path, raw: Path):
    """The per-step part: objects, land flags, AR tracking and counts of every time step."""
    from events.climatology import Accumulator
    from events.reading import read_steps

    accumulator = Accumulator()
    for grid, step in read_steps(mask, raw_path=raw):
        accumulator.add(grid, step, source=str(mask))
    return accumulator


def finish(accumulator, out: Path) -> tuple[int, int, int]:
    """The once-per-run part: merge (the TC tracker over all candidates) and writing the statistics."""
    from events.climatology import merge, write_climatology

    partial = accumulator.partial()
    result = merge([partial])
    write_climatology(out, result)
    return len(partial.times), len(partial.candidates), len(result.ar_objects())


def tracker_seconds(steps: int, per_step: int, seed: int = 0) -> float:
    """CPU seconds the TC tracker takes for ``steps`` time steps of ``per_step`` storms moving 50 km per step."""
    import pandas as pd

    from events.tracks import Tracker

    rng = np.random.default_rng(seed)
    lat = rng.uniform(-60.0, 60.0, per_step)
    lon = rng.uniform(0.0, 360.0, per_step)
    frames = []
    for _ in range(steps):
        lon = (lon + 50.0 / (111.2 * np.cos(np.deg2rad(lat)))) % 360.0
        frames.append(pd.DataFrame({"lat": lat.copy(), "lon": lon.copy(), "psl": 99000.0, "wind": 30.0}))
    tracker = Tracker()
    start = time.process_time()
    for k, frame in enumerate(frames):
        tracker.add(dt.datetime(2000, 1, 1) + dt.timedelta(hours=3 * k), frame)
    tracker.finish()
    return time.process_time() - start


CPU_SECONDS = {}


def timed(function, *args):
    """Wall seconds and value of ``function(*args)`` after a warm-up; its CPU seconds go to ``CPU_SECONDS``."""
    function(*args)  # warm-up: file cache, imports, the land mask
    start, cpu = time.perf_counter(), time.process_time()
    value = function(*args)
    CPU_SECONDS[function.__name__, args[1] is None if len(args) > 1 else False] = time.process_time() - cpu
    return time.perf_counter() - start, value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--steps", type=int, default=4, help="time steps (1..8)")
    parser.add_argument("--lat", type=int, default=FULL_GRID[0])
    parser.add_argument("--lon", type=int, default=FULL_GRID[1])
    args = parser.parse_args(argv)
    steps = max(1, min(args.steps, 8))
    with tempfile.TemporaryDirectory(prefix="climseg-bench-events-") as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        raw, mask = make_masks(tmp, size=(args.lat, args.lon), steps=steps)
        print(f"grid {args.lat} x {args.lon}, {steps} time steps (input made in {time.perf_counter() - start:.0f} s)")
        masks_s, _ = timed(read_only, mask, None)
        masks_cpu = CPU_SECONDS["read_only", True]
        raw_s, _ = timed(read_only, mask, raw)
        raw_cpu = CPU_SECONDS["read_only", False]
        bare_s, _ = timed(stream, mask, None)
        bare_cpu = CPU_SECONDS["stream", True]
        stream_s, accumulator = timed(stream, mask, raw)
        stream_cpu = CPU_SECONDS["stream", False]
        finish_s, (n, candidates, objects) = timed(finish, accumulator, tmp / "out")
        finish_cpu = CPU_SECONDS["finish", False]
    events_s, events_cpu = stream_s + finish_s, stream_cpu + finish_cpu
    print(f"{'':<40}{'seconds/step':>14}{'CPU s/step':>12}{'steps/s':>10}")
    for name, seconds, cpu in (("read masks (baseline)", masks_s, masks_cpu),
                               ("read masks + raw fields", raw_s, raw_cpu),
                               ("stream without raw fields (--no-raw)", bare_s, bare_cpu),
                               ("stream: objects, AR tracking, counts", stream_s, stream_cpu),
                               ("merge (tracker) + write, per step", finish_s, finish_cpu),
                               ("events: objects+tracks+climatology", events_s, events_cpu)):
        print(f"{name:<40}{seconds / steps:>14.3f}{cpu / steps:>12.3f}{steps / seconds:>10.2f}")
    print(f"{candidates} TC objects, {objects} AR objects in {n} steps; merge + write {finish_s:.2f} s once per run")
    small, large = tracker_seconds(200, 20), tracker_seconds(200, 200)
    print(f"TC tracker, 200 steps: 20 storms a step {small:.2f} CPU s, 200 storms a step {large:.2f} CPU s "
          f"(x{large / small:.1f} for x10 candidates; at most linear)")
    print(f"ratio: {masks_s / events_s:.2f} (events / read-masks time steps per second; per-step part alone "
          f"{masks_s / stream_s:.2f}, without raw fields {masks_s / bare_s:.2f}; against reading masks + raw fields "
          f"{raw_s / events_s:.2f}; in CPU time {masks_cpu / events_cpu:.2f} and {raw_cpu / events_cpu:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
