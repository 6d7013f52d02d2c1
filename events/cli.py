"""``climseg track`` and ``climseg climatology``: tracks, AR objects and statistics of mask files.

Both read mask files of ``climseg infer`` (``*.climseg.nc``) or ``climseg export`` (``*.labels.nc``) one time
step at a time, with the raw input of each (its ``climseg_input_file`` attribute, or ``--raw-dir``) for PSL,
winds, TMQ, IVT and LANDFRAC. Formats: ``docs/design.md`` "Events and climatology".
"""

from __future__ import annotations

import sys
from pathlib import Path

MASK_SUFFIXES = (".climseg.nc", ".labels.nc")


def _common(parser) -> None:
    parser.add_argument("--raw-dir", default=None,
                        help="directory of the raw input files (default: each mask file's climseg_input_file "
                             "attribute); their PSL, UBOT/VBOT, TMQ, U850/V850 and LANDFRAC give the objects' "
                             "minimum pressure, maximum wind, moisture and the land mask")
    parser.add_argument("--no-raw", action="store_true", help="use the masks alone (pressure, wind, ACE unknown)")
    parser.add_argument("--max-speed-km-per-day", type=float, default=1600.0,
                        help="farthest a TC may travel in a day (scaled to the time between two points)")
    parser.add_argument("--max-gap-steps", type=int, default=1, help="time steps a TC track may miss")
    parser.add_argument("--min-duration-hours", type=float, default=48.0,
                        help="shortest TC track kept (last minus first time)")
    parser.add_argument("--min-wind-ms", type=float, default=None,
                        help="a TC track must reach this surface wind (m s-1) to be kept (needs the raw files)")
    parser.add_argument("--tc-min-area-km2", type=float, default=0.0, help="smaller TC regions are not candidates")
    parser.add_argument("--ar-min-area-km2", type=float, default=0.0, help="smaller AR regions are not AR objects")
    parser.add_argument("--region", action="append", default=None, metavar="NAME:LAT0:LAT1:LON0:LON1",
                        help="landfall region (degrees; repeat the option for several; default: us_west_coast "
                             "32:50:230:245, western_europe 36:60:345:15, chile -45:-30:280:292; 'global' land is "
                             "always counted)")
    parser.add_argument("--box-deg", type=float, default=5.0, help="box size of the TC track and genesis densities")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")


def _inputs_help() -> str:
    return ("mask files (*.climseg.nc of climseg infer or *.labels.nc of climseg export) or directories of them, "
            "read in the order of their names (CAM5 names sort by time)")


def track_parser(parser) -> None:
    """Arguments of ``climseg track``."""
    parser.description = (
        "Follow tropical cyclones and atmospheric rivers through time in mask files. TCs: the objects of each "
        "time step (8-connected regions, periodic in longitude) linked to the nearest object within a travel "
        "distance, written as a TempestExtremes StitchNodes CSV (tracks.csv: track_id, year, month, day, hour, "
        "i, j, lon, lat, psl, wind, area_km2) and a per-track table (track_table.csv: genesis, lifetime, "
        "distance, minimum pressure, maximum wind, Saffir-Simpson category, ACE). ARs: objects followed by "
        "overlap, one id per AR and time step in <mask stem>.ar_objects.nc, and ar_objects.csv (duration, area, "
        "IVT, landfall).")
    parser.add_argument("masks", nargs="+", help=_inputs_help())
    parser.add_argument("--out", required=True, help="output directory")
    _common(parser)


def climatology_parser(parser) -> None:
    """Arguments of ``climseg climatology``."""
    parser.description = (
        "Statistics of TCs and ARs in mask files, streamed over time: AR and TC frequency per grid cell, TC "
        "track and genesis density, per year and month the TC tracks by Saffir-Simpson category, ACE, AR "
        "objects, AR days and landfalls per region -> climatology.nc (CF), climatology_yearly.csv, "
        "climatology_monthly.csv, tracks.csv, track_table.csv, ar_objects.csv. For long records run one job "
        "per file or year with --partial, then one --merge: the result is the same as one pass (tracks and ARs "
        "crossing a file boundary are joined).")
    parser.add_argument("masks", nargs="*", help=_inputs_help() + "; with --merge: partial sums files")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--out", help="output directory of the statistics (this or --partial is required)")
    group.add_argument("--partial", metavar="FILE.nc", help="write the partial sums of these masks to FILE.nc")
    parser.add_argument("--merge", action="store_true",
                        help="the inputs are partial sums files (of --partial): merge them and write --out")
    _common(parser)


def mask_files(sources) -> list[Path]:
    """Mask files of files and directories, in name order. Raises CommandError for a missing source."""
    from climseg.cli import CommandError

    files = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.name.endswith(MASK_SUFFIXES))
            if not found:
                raise CommandError(f"{path}: no mask files (*.climseg.nc, *.labels.nc) in this directory")
            kinds = {p.name.endswith(".labels.nc") for p in found}
            if len(kinds) > 1:
                raise CommandError(f"{path}: holds both network (*.climseg.nc) and heuristic (*.labels.nc) masks; "
                                   "name the files of one kind")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise CommandError(f"{path}: no such file or directory")
    return sorted(dict.fromkeys(files), key=lambda p: p.name)


def settings_from_args(args):
    from climseg.cli import CommandError
    from events.climatology import ClimatologySettings
    from events.landmask import DEFAULT_REGIONS, Region
    from events.tracks import TrackConfig

    try:
        regions = tuple(Region.parse(r) for r in args.region) if args.region else DEFAULT_REGIONS
        if len({r.name for r in regions}) != len(regions):
            raise ValueError("--region: names must differ")
        tracking = TrackConfig(max_speed_km_per_day=args.max_speed_km_per_day, max_gap_steps=args.max_gap_steps,
                               min_duration_hours=args.min_duration_hours, min_wind_ms=args.min_wind_ms)
        if args.box_deg <= 0 or 180.0 % args.box_deg > 1e-9:
            raise ValueError(f"--box-deg {args.box_deg}: must divide 180")
    except ValueError as error:
        raise CommandError(str(error)) from None
    return ClimatologySettings(tracking=tracking, regions=regions, box_deg=args.box_deg,
                               tc_min_area_km2=args.tc_min_area_km2, ar_min_area_km2=args.ar_min_area_km2)


def _count_steps(files) -> int:
    import netCDF4

    from climseg.cli import CommandError

    total = 0
    for path in files:
        try:
            with netCDF4.Dataset(path) as ds:
                if "class" not in ds.variables or "time" not in ds.dimensions:
                    raise CommandError(f"{path}: not a mask file (no variable 'class' on a time axis)")
                total += len(ds.dimensions["time"])
        except OSError as error:
            raise CommandError(f"{path}: cannot read as netCDF ({error.strerror or error})") from None
    return total


def accumulate(files, settings, args, *, on_step=None, on_file_done=None):
    """One pass over the mask files -> Accumulator; ``on_step(path, grid, index, ids)`` gets each step's AR ids."""
    from tqdm import tqdm

    from climseg.cli import CommandError
    from events.climatology import Accumulator
    from events.reading import raw_file_of, read_steps

    accumulator = Accumulator(settings)
    with tqdm(total=_count_steps(files), unit="step", desc="events", disable=not args.progress,
              file=sys.stderr) as bar:
        for path in files:
            try:
                raw = None if args.no_raw else raw_file_of(path, args.raw_dir)
                for grid, step in read_steps(path, raw_path=raw):
                    ids = accumulator.add(grid, step, source=str(path))
                    if on_step is not None:
                        on_step(path, grid, step.index, ids)
                    bar.update(1)
            except (OSError, ValueError, KeyError) as error:
                message = str(error)
                raise CommandError(message if str(path) in message else f"{path}: {message}") from None
            if on_file_done is not None:
                on_file_done(path)
    return accumulator


def track_command(args) -> int:
    """Run ``climseg track``."""
    from climseg.atomic import atomic_output
    from climseg.cli import CommandError
    from events.ar_tracks import ar_object_file, to_file_order
    from events.climatology import merge
    from events.tracks import write_track_table, write_tracks
    from inference.masks import history_line

    files = mask_files(args.masks)
    settings = settings_from_args(args)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"{out}: cannot create the output directory ({error.strerror or error})") from None
    history = history_line("climseg track " + " ".join(sys.argv[2:]))
    writers = {}

    def on_step(path, grid, index, ids):
        if path not in writers:
            name = path.name[: -len(".nc")] + ".ar_objects.nc"
            context = ar_object_file(out / name, path, history=history, min_area_km2=settings.ar_min_area_km2)
            writers[path] = (context, context.__enter__())
        writers[path][1](index, to_file_order(ids, grid))

    def on_file_done(path):
        if path in writers:
            writers.pop(path)[0].__exit__(None, None, None)  # complete: renamed into place

    try:
        accumulator = accumulate(files, settings, args, on_step=on_step, on_file_done=on_file_done)
    except BaseException as error:  # the unfinished id file is removed, not renamed into place
        for context, _ in writers.values():
            context.__exit__(type(error), error, error.__traceback__)
        raise
    result = merge([accumulator.partial()])
    write_tracks(out / "tracks.csv", result.tracks)
    write_track_table(out / "track_table.csv", result.tracks)
    objects = result.ar_objects()
    with atomic_output(out / "ar_objects.csv") as tmp:
        objects.to_csv(tmp, index=False)
    print(f"{len(result.tracks)} TC track(s) in {out / 'tracks.csv'}, {len(objects)} AR object(s) in "
          f"{out / 'ar_objects.csv'} ({len(accumulator.times)} time steps of {len(files)} file(s))")
    return 0


def climatology_command(args) -> int:
    """Run ``climseg climatology``."""
    from climseg.cli import CommandError
    from events.climatology import merge, read_partial, write_climatology, write_partial
    from inference.masks import history_line

    history = history_line("climseg climatology " + " ".join(sys.argv[2:]))
    if not args.out and not args.partial:
        raise CommandError("one of --out DIR (the statistics) or --partial FILE.nc (partial sums) is required")
    if args.merge:
        if args.partial or not args.masks:
            raise CommandError("--merge needs partial sums files as inputs and --out")
        try:
            partials = [read_partial(p) for p in args.masks]
            result = merge(partials, sources=list(args.masks))
        except ValueError as error:
            raise CommandError(str(error)) from None
    else:
        if not args.masks:
            raise CommandError("no mask files given")
        files = mask_files(args.masks)
        accumulator = accumulate(files, settings_from_args(args), args)
        if args.partial:
            write_partial(args.partial, accumulator.partial())
            print(f"wrote partial sums of {len(accumulator.times)} time steps to {args.partial}")
            return 0
        result = merge([accumulator.partial()])
    paths = write_climatology(args.out, result, history=history)
    print(f"{len(result.partial.times)} time steps: {len(result.tracks)} TC track(s), "
          f"{len(result.ar_objects())} AR object(s); wrote {', '.join(str(p) for p in paths.values())}")
    return 0
