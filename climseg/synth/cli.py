"""``climseg synth``: the command line of the generator."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from climseg.synth.config import STEPS_PER_DAY, SynthConfig
from climseg.synth.day import _check_date, write_day
from climseg.synth.geometry import cam5_grid
from climseg.synth.tracks import plan_tracked_events, run_times, write_truth_tracks

def synth_parser(parser) -> None:
    """Arguments of ``climseg synth``."""
    parser.description = (
        "Generate CAM5-like model output: one netCDF file per day (<case>.cam.h2.YYYY-MM-DD-00000.nc, 8 time "
        "steps of 3 h, the 16 channels with CAM5 names and units) with planted tropical cyclones and "
        "atmospheric rivers, and the truth of what was planted beside it (<same>.truth.h5). "
        "Deterministic for a seed.")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--days", type=int, default=1, help="number of consecutive days (29 February skipped)")
    parser.add_argument("--start-date", default="2000-01-01", help="first day, YYYY-MM-DD")
    parser.add_argument("--lat", type=int, default=768, help="number of latitudes (-90..90)")
    parser.add_argument("--lon", type=int, default=1152, help="number of longitudes (0..360)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--plev", action="store_true", help="also write Q, U, V on pressure levels (true IVT)")
    parser.add_argument("--case", default="synth", help="case name, the start of the file names")
    parser.add_argument("--tcs", type=int, default=argparse.SUPPRESS,
                        help="random tropical cyclones per day, each living one day (default 4; 0 with --tracks)")
    parser.add_argument("--ars", type=int, default=argparse.SUPPRESS,
                        help="random atmospheric rivers per day, each living one day (default 4; 0 with --tracks)")
    parser.add_argument("--tracks", action="store_true",
                        help="also plant events that live 2.5-4.5 days along known tracks: TCs in each of six "
                             "basins (both hemispheres) and one crossing 0/360, and ARs drifting onto the US West "
                             "Coast, Western Europe (across 0/360) and Chile; their truth goes to "
                             "<case>.truth.tracks.csv (TCs, StitchNodes CSV layout) and <case>.truth.ars.csv")
    parser.add_argument("--tracks-per-basin", type=int, default=2, help="tracked TCs per basin (with --tracks)")
    parser.add_argument("--ars-per-region", type=int, default=1, help="tracked ARs per landfall region (with --tracks)")


def model_days(start: dt.date, count: int) -> list[dt.date]:
    """``count`` consecutive days of the noleap calendar from ``start``."""
    days, day = [], start
    while len(days) < count:
        if not (day.month == 2 and day.day == 29):
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def synth_command(args) -> int:
    """Run ``climseg synth``."""
    from tqdm import tqdm

    from climseg.cli import CommandError

    try:
        start = dt.date.fromisoformat(args.start_date)
    except ValueError:
        raise CommandError(f"--start-date {args.start_date!r}: not a date of the form YYYY-MM-DD") from None
    if args.days < 1:
        raise CommandError(f"--days {args.days}: must be at least 1")
    try:
        _check_date(start)
        default_count = 0 if args.tracks else 4
        tracked_tcs, tracked_ars = plan_tracked_events(args.seed, start, args.days, per_basin=args.tracks_per_basin,
                                                       per_region=args.ars_per_region) if args.tracks else ((), ())
        config = SynthConfig(n_lat=args.lat, n_lon=args.lon, seed=args.seed,
                             n_tcs=getattr(args, "tcs", default_count), n_ars=getattr(args, "ars", default_count),
                             with_plev=args.plev, case=args.case, start_date=start, tracked_tcs=tracked_tcs,
                             tracked_ars=tracked_ars)
    except ValueError as error:
        raise CommandError(str(error)) from None
    try:  # before minutes of generating
        Path(args.out).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"{args.out}: cannot create the output directory ({error.strerror or error})") from None
    days = model_days(start, args.days)
    written = []
    with tqdm(total=len(days) * STEPS_PER_DAY, unit="step", desc="synth") as bar:
        for day in days:
            try:
                written.append(write_day(config, day, args.out, on_step=lambda: bar.update(1)))
            except (OSError, ValueError) as error:  # events that cannot be placed apart, a full disk
                raise CommandError(f"{day}: {error}") from None
    for nc_path, truth_path in written:
        print(f"wrote {nc_path} and {truth_path.name}")
    if args.tracks:
        lat, lon = cam5_grid(config.n_lat, config.n_lon)
        paths = write_truth_tracks(args.out, config.case, config.tracked_tcs, config.tracked_ars,
                                   run_times(start, args.days), lat, lon)
        print(f"wrote {len(config.tracked_tcs)} tracked TC(s) to {paths[0]} and {len(config.tracked_ars)} tracked "
              f"AR(s) to {paths[1]}")
    print(f"{len(written)} day(s) of {config.n_lat} x {config.n_lon} data in {args.out}")
    return 0
