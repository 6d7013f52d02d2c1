"""``climseg infer`` and ``climseg export``: masks of raw netCDF model output as CF netCDF files."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from climseg.cli import CommandError

FORMAT_HELP = ("Each output holds class (int8, flag_values 0 1 2 = background tropical_cyclone atmospheric_river), "
               "ar_binary_tag and tc_binary_tag (int8 0/1) on the input's own time, lat, lon (orientation, "
               "attributes and calendar copied), CF-1.8; the format is documented in inference/masks.py.")


def netcdf_inputs(inputs) -> list[Path]:
    """Input netCDF files: the files given, and the ``*.nc`` files of the directories given, sorted."""
    paths = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.glob("*.nc") if not p.name.endswith((".climseg.nc", ".labels.nc")))
            if not found:
                raise CommandError(f"{item}: directory holds no .nc files")
            paths.extend(found)
        else:
            paths.append(item)
    if not paths:
        raise CommandError("no input files given (RAW.nc ...)")
    names = [p.name for p in paths]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise CommandError(f"{duplicates[0]}: given twice (or from two directories); outputs are named after "
                           "the input file, so input names must differ")
    return paths


def _command_line() -> str:
    return shlex.join(["climseg", *sys.argv[1:]]) if Path(sys.argv[0]).name == "climseg" else shlex.join(sys.argv)


# ---------------------------------------------------------------------------------------------- infer
def infer_parser(parser) -> None:
    """Arguments of ``climseg infer``."""
    parser.description = (
        "Apply a trained network to raw CAM5-style netCDF model output (the files climseg label reads, any grid "
        "and orientation) and write one mask file OUT/<input stem>.climseg.nc per input. " + FORMAT_HELP +
        " Under mpirun/srun/jsrun each rank infers its share of the files. An output made by the same run and "
        "checkpoint is kept, so a rerun redoes only the missing files.")
    parser.epilog = "Exit code 2: bad input or a full disk (one line naming the file; no partial output is left)."
    parser.add_argument("inputs", nargs="+", metavar="RAW.nc", help="netCDF files, or directories of them")
    parser.add_argument("--run", required=True, metavar="RUN_DIR", help="directory of a training run")
    parser.add_argument("--out", required=True, metavar="DIR", help="directory for the mask files")
    parser.add_argument("--checkpoint", choices=("best", "latest"), default="best",
                        help="which checkpoint: best by validation mean IoU, or the latest")
    parser.add_argument("--batch-size", type=int, default=1, metavar="B", help="time steps per forward pass")
    parser.add_argument("--probabilities", action="store_true",
                        help="also write the per-class probabilities (packed uint8, scale_factor 0.004)")
    parser.add_argument("--read-workers", type=int, default=1, metavar="N",
                        help="reader threads preparing the next batches while the network runs")
    parser.add_argument("--overwrite", action="store_true", help="redo outputs that exist and are current")


def infer_command(args) -> int:
    """Run ``climseg infer``."""
    for flag, value in (("--batch-size", args.batch_size), ("--read-workers", args.read_workers)):
        if value < 1:
            raise CommandError(f"{flag} {value}: must be at least 1")
    paths = netcdf_inputs(args.inputs)

    import tensorflow as tf

    from inference.infer import infer_files
    from inference.masks import history_line
    from training import distributed

    def report(result):
        for warning in result.warnings:
            print(f"climseg infer: warning: {warning}", file=sys.stderr, flush=True)

    with distributed.fail_fast():  # a rank that fails ends the whole job with its message
        try:
            results, written = infer_files(args.run, paths, args.out, which=args.checkpoint,
                                           batch_size=args.batch_size, probabilities=args.probabilities,
                                           workers=args.read_workers, history=history_line(_command_line()),
                                           overwrite=args.overwrite, progress=args.progress, on_result=report)
        except (OSError, ValueError) as error:
            raise CommandError(str(error).splitlines()[0]) from None
        except tf.errors.OpError as error:
            raise CommandError(f"the network failed: {error.message.splitlines()[0]}") from None
    if distributed.is_root():
        print(f"climseg infer: {written} mask file(s) written to {args.out} "
              f"({len(paths) - written} already current)")
    return 0


# ---------------------------------------------------------------------------------------------- export
def export_parser(parser) -> None:
    """Arguments of ``climseg export``."""
    parser.description = (
        "Label raw CAM5-style netCDF model output with the heuristics of climseg label (same reader, same "
        "LABEL.yaml) and write the labels as OUT/<input stem>.labels.nc, in the format of climseg infer's "
        "masks (climseg_mask_source = heuristic), so later steps read heuristic and network masks alike. " +
        FORMAT_HELP)
    parser.epilog = "Exit code 2: bad input or a full disk (one line naming the file; no partial output is left)."
    parser.add_argument("inputs", nargs="+", metavar="RAW.nc", help="netCDF files, or directories of them")
    parser.add_argument("--out", required=True, metavar="DIR", help="directory for the label files")
    parser.add_argument("--config", metavar="LABEL.yaml",
                        help="labelling parameters (as for climseg label; missing keys keep their defaults)")


def export_command(args) -> int:
    """Run ``climseg export``."""
    from tqdm import tqdm

    from inference.export import export_labels
    from inference.masks import HEURISTIC, history_line, mask_file_name
    from labeling.config import LabelConfig

    paths = netcdf_inputs(args.inputs)
    try:
        config = LabelConfig.from_yaml(args.config) if args.config else LabelConfig()
        history = history_line(_command_line())
        for path in tqdm(paths, unit="file", desc="export", disable=not args.progress):
            export_labels(path, Path(args.out) / mask_file_name(path, HEURISTIC), config=config, history=history)
    except (OSError, ValueError) as error:
        raise CommandError(str(error).splitlines()[0]) from None
    print(f"climseg export: {len(paths)} label file(s) written to {args.out}")
    return 0
