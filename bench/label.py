"""Labelling speed on full-size data against the I/O floor, measured in the same run, on one core.

Generates one day (8 time steps) of full-size 768 x 1152 ``climseg synth`` output in a temporary
directory, then measures seconds per time step of

- the stages, each timed on its own: read (``labeling.reading``: the 16 channels of one step, validated
  and normalised), IVT (proxy), TC (centres + masks), AR (mask with the TC cores excluded), write
  (``labeling.sample.write_sample``);
- the whole pipeline, ``labeling.pipeline.label_file`` over the day (what ``climseg label`` runs);
- the I/O floor: reading the same 16 variables of each step with netCDF4 alone (no masking, no
  checks) and writing the same output bytes (``climate/data`` + ``climate/labels_0``) with h5py alone.

The floor and the pipeline are measured twice each, alternating (floor, pipeline, floor, pipeline, each
pipeline run into a fresh directory), and the faster run of each is kept, so that a burst of load from
other processes does not decide the ratio (the page cache is warm for all: the input was just written).
Threads of BLAS/OpenMP are pinned to one. Wall and CPU seconds of this process are both reported: on a
machine loaded by others the CPU ratio moves least.

Each phase's output is deleted before the next phase (after an untimed warm-up run of the floor), so every
phase writes into page-cache memory that the previous one freed. On a virtual machine, memory touched for
the first time costs several microseconds per page (measured on the 2-core test machine: 26 s for 4 GB,
and a 57 MB sample write 0.10-0.14 CPU seconds instead of 0.015); without this, that cost fell on whichever
phase first needed fresh memory and decided the ratio.

    .venv/bin/python bench/label.py [--plev] [--keep DIR]
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import h5py  # noqa: E402
import netCDF4  # noqa: E402
import numpy as np  # noqa: E402

from climseg import synth  # noqa: E402
from climseg.contract import CHANNELS, DATA_KEY, FULL_GRID, LABELS_KEY  # noqa: E402
from labeling.ar import atmospheric_river_mask  # noqa: E402
from labeling.config import LabelConfig  # noqa: E402
from labeling.ivt import integrated_vapor_transport, ivt_proxy  # noqa: E402
from labeling.pipeline import label_file  # noqa: E402
from labeling.reading import open_model_output  # noqa: E402
from labeling.sample import class_map, stack_channels, write_sample  # noqa: E402
from labeling.tc import detect_tc_centres, tropical_cyclone_mask  # noqa: E402

DATE = dt.date(2000, 9, 1)


def io_floor(nc_path: Path, out_dir: Path, *, levels: bool) -> tuple[float, float]:
    """Seconds per time step (wall, CPU) to read the inputs with netCDF4 and write the output bytes with h5py."""
    names = list(CHANNELS) + (["Q", "U", "V"] if levels else [])
    out_dir.mkdir(parents=True, exist_ok=True)
    start, start_cpu = time.perf_counter(), time.process_time()
    with netCDF4.Dataset(nc_path) as nc:
        nc.set_auto_maskandscale(False)
        steps = len(nc.dimensions["time"])
        for step in range(steps):
            data = np.empty(FULL_GRID + (len(CHANNELS),), np.float32)
            for index, name in enumerate(names):
                values = nc.variables[name][step]
                if index < len(CHANNELS):
                    data[..., index] = values
            labels = np.zeros(FULL_GRID, np.uint8)
            with h5py.File(out_dir / f"floor-{step}.h5", "w") as f:
                f.create_dataset(DATA_KEY, data=data)
                f.create_dataset(LABELS_KEY, data=labels)
    return (time.perf_counter() - start) / steps, (time.process_time() - start_cpu) / steps


def pipeline_time(nc_path: Path, out_dir: Path, config: LabelConfig) -> tuple[float, float]:
    """Seconds per time step (wall, CPU) of ``label_file``."""
    start, start_cpu = time.perf_counter(), time.process_time()
    written = label_file(nc_path, out_dir, config=config)
    return (time.perf_counter() - start) / len(written), (time.process_time() - start_cpu) / len(written)


def stage_times(nc_path: Path, out_dir: Path, config: LabelConfig) -> dict:
    """Seconds per time step of each stage, timed on its own."""
    totals = dict.fromkeys(("read", "IVT", "TC", "AR", "write"), 0.0)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open_model_output(nc_path) as model:
        lat, lon = model.lat_deg, model.lon_deg
        for step in range(len(model)):
            t0 = time.perf_counter()
            fields, levels = model.read_step(step)
            t1 = time.perf_counter()
            if levels is not None:
                _, _, ivt = integrated_vapor_transport(levels["Q"], levels["U"], levels["V"], levels["plev"],
                                                       fields["PS"])
            else:
                _, _, ivt = ivt_proxy(fields["TMQ"], fields["U850"], fields["V850"])
            t2 = time.perf_counter()
            centres = detect_tc_centres(fields, lat, lon, config=config.tc)
            tc_mask = tropical_cyclone_mask(fields, lat, lon, centres, config=config.tc)
            t3 = time.perf_counter()
            ar_mask = atmospheric_river_mask(ivt, lat, lon, config=config.ar, exclude=tc_mask)
            t4 = time.perf_counter()
            write_sample(out_dir / f"stage-{step}.h5", stack_channels(fields), class_map(tc_mask, ar_mask), lat, lon,
                         attrs={"time": model.time_label(step)})
            t5 = time.perf_counter()
            for name, seconds in zip(totals, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                totals[name] += seconds
        steps = len(model)
    return {name: seconds / steps for name, seconds in totals.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plev", action="store_true", help="input with Q, U, V on pressure levels (true IVT)")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep the files (default: a temporary dir)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-label-") as tmp:
        work = Path(args.keep or tmp)
        config = synth.SynthConfig(with_plev=args.plev)
        start = time.perf_counter()
        nc_path, _ = synth.write_day(config, DATE, work / "input")
        synth_seconds = (time.perf_counter() - start) / synth.STEPS_PER_DAY
        label_config = LabelConfig()

        stages = stage_times(nc_path, work / "stages", label_config)
        shutil.rmtree(work / "stages")
        io_floor(nc_path, work / "warm-up", levels=args.plev)  # untimed: see the module docstring
        shutil.rmtree(work / "warm-up")
        floors, pipelines = [], []
        for attempt in range(2):
            floors.append(io_floor(nc_path, work / f"floor-{attempt}", levels=args.plev))
            shutil.rmtree(work / f"floor-{attempt}")
            pipelines.append(pipeline_time(nc_path, work / f"samples-{attempt}", label_config))
            if not args.keep:
                shutil.rmtree(work / f"samples-{attempt}")
        floor, floor_cpu = (min(run[k] for run in floors) for k in (0, 1))  # the faster run, wall and CPU
        pipeline_seconds, pipeline_cpu = (min(run[k] for run in pipelines) for k in (0, 1))

    print(f"grid {FULL_GRID[0]} x {FULL_GRID[1]}, {synth.STEPS_PER_DAY} time steps, "
          f"IVT from {'pressure levels' if args.plev else 'the TMQ proxy'}, one core")
    print(f"{'what':<34}{'s / time step':>14}")
    print(f"{'synth (generate + write netCDF)':<34}{synth_seconds:>14.3f}")
    for name, seconds in stages.items():
        print(f"{'stage: ' + name:<34}{seconds:>14.3f}")
    print(f"{'stages, sum':<34}{sum(stages.values()):>14.3f}")
    print(f"{'pipeline (label_file), total':<34}{pipeline_seconds:>14.3f}   (runs {pipelines[0][0]:.3f}, "
          f"{pipelines[1][0]:.3f}; CPU {pipeline_cpu:.3f})")
    print(f"{'I/O floor (netCDF4 read + h5py write)':<34}{floor:>14.3f}   (runs {floors[0][0]:.3f}, "
          f"{floors[1][0]:.3f}; CPU {floor_cpu:.3f})")
    # CPU seconds of this process: what a loaded machine disturbs least (the work is CPU-bound: warm page cache)
    print(f"cpu ratio: {pipeline_cpu / floor_cpu:.2f} (pipeline CPU / I/O floor CPU per time step, faster runs)")
    print(f"ratio: {pipeline_seconds / floor:.2f} (pipeline total / I/O floor per time step, wall; goal: <= 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
