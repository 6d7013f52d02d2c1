"""Heuristic-vs-network scores and the animation at full size, against reading their inputs alone.

    .venv/bin/python bench/report.py                   # 4 time steps of 768 x 1152
    .venv/bin/python bench/report.py --steps 8 --lat 192 --lon 288

Writes two mask files (``climseg export`` / ``climseg infer`` format) of the same grid: the reference holds
rivers and storms, the candidate the same shifted by one cell plus specks, and one raw file (``climseg synth``,
first ``--steps`` time steps). Measured in the same run, each after an untimed warm-up:

- **read masks**, the baseline: ``events.reading.read_steps`` on both mask files (decompress, reorient);
- **compare**: ``events.compare.compare_mask_files`` (the same reads, AR regions periodic in longitude, area on
  the sphere, one-to-one matching by footprint IoU, pixel IoU per class);
- **read raw**: ``labeling.reading.open_model_output(...).read_step`` (the 16 channels of a step), the
  baseline of
- **animate**: ``events.animate.animate`` (read raw + masks, draw two panels, quantize, write the GIF).

Last line: compare / read-masks time per step (goal: <= 3).
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from climseg.contract import AR, FULL_GRID, TC  # noqa: E402


def planted_classes(steps: int, n_lat: int, n_lon: int, *, seed: int = 0) -> np.ndarray:
    """(steps, lat, lon) int8 class ids: 6 rivers (long diagonal bands, one across 0/360) and 12 storms per step."""
    rng = np.random.default_rng(seed)
    classes = np.zeros((steps, n_lat, n_lon), np.int8)
    rows, cols = np.mgrid[0:n_lat, 0:n_lon]
    for step in range(steps):
        for k in range(6):
            r0, c0 = rng.integers(n_lat // 6, 5 * n_lat // 6), (rng.integers(0, n_lon) if k else n_lon - n_lon // 40)
            along = (cols - c0) % n_lon
            band = (np.abs((rows - r0) - 0.3 * along) < n_lat / 60) & (along < n_lon // 6)
            classes[step][band] = AR
        for _ in range(12):
            r0, c0 = rng.integers(n_lat // 4, 3 * n_lat // 4), rng.integers(0, n_lon)
            classes[step][(rows - r0) ** 2 + ((cols - c0 + n_lon // 2) % n_lon - n_lon // 2) ** 2 < (n_lat / 80) ** 2] = TC
    return classes


def write_masks(path, raw, classes, source):
    from inference.masks import history_line, mask_file, read_source_coordinates

    with mask_file(path, read_source_coordinates(raw), mask_source=source, source="bench", title="bench",
                   history=history_line("bench"), input_file=raw) as masks:
        masks.write(0, classes)


def timed(function, repeats: int = 1) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4, help="time steps (at most 8)")
    parser.add_argument("--lat", type=int, default=FULL_GRID[0])
    parser.add_argument("--lon", type=int, default=FULL_GRID[1])
    args = parser.parse_args(argv)

    import xarray as xr

    from climseg.cli import main as climseg
    from events.animate import animate
    from events.compare import compare_mask_files
    from events.reading import read_steps
    from inference.masks import HEURISTIC, NETWORK
    from labeling.reading import open_model_output

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        climseg(["synth", "--out", str(tmp), "--days", "1", "--lat", str(args.lat), "--lon", str(args.lon)])
        (raw,) = tmp.glob("*.cam.h2.*-00000.nc")
        if args.steps < 8:
            with xr.open_dataset(raw, decode_times=False) as ds:
                ds.isel(time=slice(0, args.steps)).load().to_netcdf(tmp / "cut.nc")
            (tmp / "cut.nc").replace(raw)
        reference = planted_classes(args.steps, args.lat, args.lon)
        candidate = np.roll(reference, 1, axis=2)
        candidate[:, ::97, ::89] = AR  # specks
        write_masks(tmp / "a.labels.nc", raw, reference, HEURISTIC)
        write_masks(tmp / "a.climseg.nc", raw, candidate, NETWORK)
        pair = ([tmp / "a.labels.nc"], [tmp / "a.climseg.nc"])

        def read_masks():
            for path in (*pair[0], *pair[1]):
                for _ in read_steps(path):
                    pass

        def read_raw():
            with open_model_output(raw) as model:
                for step in range(len(model)):
                    model.read_step(step)

        read_masks(), read_raw()  # warm-up: page cache, imports
        t_read = timed(read_masks, 2)
        summary = {}
        t_compare = timed(lambda: summary.update(compare_mask_files(*pair, min_area_km2=1e5)), 2)
        t_raw = timed(read_raw, 2)
        t_animate = timed(lambda: animate([(raw, *pair[0], *pair[1])], tmp / "a.gif", max_frames=None))
    steps = args.steps
    print(f"grid {args.lat} x {args.lon}, {steps} time steps; AR objects matched {summary['ar_matched']} of "
          f"{summary['ar_reference_objects']}, AR pixel IoU {summary['ar_pixel_iou']:.3f}")
    print(f"{'phase':<28}{'s per step':>12}{'steps/s':>10}")
    for name, seconds in (("read masks (both sets)", t_read), ("compare", t_compare),
                          ("read raw (16 channels)", t_raw), ("animate (per frame)", t_animate)):
        print(f"{name:<28}{seconds / steps:>12.3f}{steps / seconds:>10.2f}")
    print(f"animate / read raw: {t_animate / t_raw:.1f}")
    print(f"ratio: {t_compare / t_read:.2f} (compare / reading both mask sets; goal: <= 3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
