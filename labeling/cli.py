"""``climseg label``, ``climseg stats`` and ``climseg plot``: the command lines of the labelling stage."""

from __future__ import annotations

import sys
from pathlib import Path

from climseg.cli import CommandError
from climseg.samples import SOURCES_HELP, resolve_samples


# ---------------------------------------------------------------------------------------------- label
def label_parser(parser) -> None:
    """Arguments of ``climseg label``."""
    parser.description = (
        "Label CAM5-style netCDF model output: find tropical cyclones (850 hPa vorticity, closed PSL minimum, "
        "warm core, surface wind) and atmospheric rivers (IVT percentile, length and width filters), and write "
        "one DeepCAM-format sample DIR/data-YYYY-MM-DD-TT-R.h5 per time step (16 channels + labels 0/1/2 + "
        "provenance). A file that fails is reported in one line and loses only its own samples.")
    parser.add_argument("inputs", nargs="*", metavar="INPUT",
                        help="netCDF files (<case>.cam.h2.YYYY-MM-DD-00000.nc), or directories of them")
    parser.add_argument("--out", required=True, metavar="DIR", help="directory for the sample files")
    parser.add_argument("--config", metavar="LABEL.yaml",
                        help="labelling parameters (YAML: ivt/ar/tc sections; missing keys keep their defaults)")
    parser.add_argument("--workers", type=int, default=1, metavar="N", help="files labelled in parallel processes")
    parser.add_argument("--run", type=int, default=1, help="ensemble run R in the sample names")
    add_label_rerun_options(parser)


# ------------------------------------------------------------- label: reruns and exit status (labelling)
LABEL_EXIT_STATUS = (
    "Exit status: 0 when every file was labelled; 1 when one or more files failed (each reported in one line "
    "'climseg label: error: FILE: reason' on stderr; the other files' samples are written and kept, the failed "
    "files' samples removed; rerun with --skip-done to label only those); 2 for a usage or configuration error "
    "(nothing labelled).")


def add_label_rerun_options(parser) -> None:
    """``--skip-done`` and the exit status of ``climseg label``."""
    parser.add_argument("--skip-done", action="store_true",
                        help="skip an input whose samples are all in DIR already, labelled from it with the same "
                             "configuration (provenance checked): a rerun after a failure labels only the files "
                             "that failed")
    parser.epilog = LABEL_EXIT_STATUS


def _netcdf_inputs(inputs) -> list[Path]:
    paths = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(item.glob("*.nc"))
            if not found:
                raise CommandError(f"{item}: directory holds no .nc files")
            paths.extend(found)
        else:
            paths.append(item)
    return paths


def label_command(args) -> int:
    """Run ``climseg label``."""
    from tqdm import tqdm

    from labeling.config import LabelConfig
    from labeling.pipeline import label_files

    paths = _netcdf_inputs(args.inputs)
    if not paths:
        raise CommandError("no input files given (INPUT.nc ...)")
    if args.workers < 1:
        raise CommandError(f"--workers {args.workers}: must be at least 1")
    if args.run < 0:
        raise CommandError(f"--run {args.run}: must be >= 0")
    try:
        config = LabelConfig.from_yaml(args.config) if args.config else LabelConfig()
    except (OSError, ValueError) as error:
        raise CommandError(str(error)) from None
    try:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"{args.out}: cannot create the output directory ({error.strerror or error})") from None

    failed = 0
    with tqdm(total=len(paths), unit="file", desc="files", position=0, disable=not args.progress) as files_bar, \
            tqdm(unit="step", desc="time steps", position=1, disable=not args.progress) as steps_bar:
        def on_file(result):
            nonlocal failed
            failed += result.error is not None
            files_bar.update(1)
            if failed:
                files_bar.set_postfix(failed=failed)

        results = label_files(paths, args.out, config=config, run=args.run, workers=args.workers,
                              on_step=lambda: steps_bar.update(1), on_file=on_file,
                              skip_done=args.skip_done)
    errors = [r.error for r in results if r.error]  # after the bars: one clean line each, in input order
    for error in errors:
        print(f"climseg label: error: {error}", file=sys.stderr)
    samples = sum(len(r.written) for r in results if not r.skipped)
    skipped = sum(r.skipped for r in results)
    print(f"wrote {samples} sample(s) from {len(paths) - len(errors) - skipped} of {len(paths)} file(s) to {args.out}"
          + (f" ({skipped} file(s) already done, skipped)" if skipped else ""))
    if errors:
        print(f"climseg label: {len(errors)} of {len(paths)} file(s) failed; their samples were not kept",
              file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------------------------------------- stats
def stats_parser(parser) -> None:
    """Arguments of ``climseg stats``."""
    parser.description = (
        "Per-channel statistics of sample files (stats.h5: climate/count, mean, sqmean, minval, maxval, "
        "each (16,) float64) and the class frequencies of their labels (climate/class_counts, "
        "climate/class_frequencies), in one streaming pass.")
    parser.add_argument("samples", nargs="*", metavar="SAMPLES", help=f"sample sources: {SOURCES_HELP}")
    parser.add_argument("--out", required=True, metavar="stats.h5", help="statistics file to write")


def stats_command(args) -> int:
    """Run ``climseg stats``."""
    from tqdm import tqdm

    from labeling.stats import compute_stats, write_stats

    if not args.samples:
        raise CommandError(f"no samples given ({SOURCES_HELP})")
    try:
        paths = resolve_samples(args.samples)
    except (OSError, ValueError) as error:
        raise CommandError(str(error)) from None
    try:
        with tqdm(total=len(paths), unit="file", desc="stats", disable=not args.progress) as bar:
            stats = compute_stats(paths, on_file=lambda: bar.update(1))
        write_stats(args.out, stats)
    except (OSError, ValueError) as error:
        raise CommandError(str(error)) from None
    frequencies = ", ".join(f"{f:.4f}" for f in stats.class_frequencies)
    print(f"wrote {args.out}: {stats.files} sample(s); class frequencies (background, TC, AR) {frequencies}")
    return 0


# ---------------------------------------------------------------------------------------------- plot
def plot_parser(parser) -> None:
    """Arguments of ``climseg plot``."""
    parser.description = ("Quick-look map of one sample file: IVT (proxy from TMQ, U850, V850) or TMQ on a "
                          "lat/lon map, with the TC (red) and AR (white) masks outlined.")
    parser.add_argument("sample", metavar="SAMPLE.h5", help="a sample file (ours or the public DeepCAM ones)")
    parser.add_argument("--out", required=True, metavar="PNG", help="picture to write")
    parser.add_argument("--field", choices=("ivt", "tmq"), default="ivt", help="field drawn under the masks")


def plot_command(args) -> int:
    """Run ``climseg plot``."""
    from labeling.plot import plot_sample

    try:
        out = plot_sample(args.sample, args.out, field=args.field)
    except (OSError, ValueError) as error:
        raise CommandError(str(error)) from None
    print(f"wrote {out}")
    return 0
