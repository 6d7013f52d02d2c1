"""The ``climseg`` command line: one entry point, one subcommand per pipeline step.

Subcommands are imported only when chosen, so ``climseg --help`` is instant and ``climseg label``
never loads TensorFlow. A subcommand ``NAME`` served by module ``M`` is two functions there:
``M.NAME_parser(parser)`` adds its arguments, ``M.NAME_command(args)`` runs it and returns an exit
code (``None`` means 0).

Every command has the same common options (:func:`add_common_options`; a command module does not define
them): ``--no-progress`` (``args.progress``), ``-v/--verbose`` (log messages from INFO on; ``-vv`` from DEBUG
on, and TensorFlow's C++ messages) and ``-q/--quiet`` (no progress bars and nothing on stdout: errors and
warnings still go to stderr). Worker counts follow one convention:
``--workers N`` is the number of processes that do a command's computation (``climseg label``),
``--read-workers N`` the number of processes or threads that read input ahead of it (``climseg train``,
``climseg infer``).
"""

import argparse
import contextlib
import importlib
import logging
import os
import sys

from climseg import __version__

COMMANDS = {
    # name: (module, one-line help)
    "synth": ("climseg.synth.cli", "generate CAM5-like netCDF model output with planted TCs and ARs (demo and test input)"),
    "label": ("labeling.cli", "label CAM5 netCDF files: one DeepCAM-format HDF5 sample per time step"),
    "stats": ("labeling.cli", "per-channel statistics (stats.h5) and class frequencies of sample files"),
    "plot": ("labeling.cli", "quick-look map of a sample: IVT or TMQ with the AR and TC masks"),
    "split": ("climseg.split", "split samples into train/validation/test by time, with a fixed seed"),
    "stage": ("staging.cli", "copy a sample of files to node-local storage over MPI, each read once"),
    "train": ("training.cli", "train Tiramisu or DeepLabv3+ (one process, or many under mpirun/srun/jsrun)"),
    "predict": ("training.cli", "write predicted masks of a trained run next to the truth"),
    "evaluate": ("training.cli", "test-set IoU per class of a trained run, as JSON and Markdown"),
    "infer": ("inference.cli", "apply a trained network to raw netCDF files: CF/ARTMIP netCDF masks (any grid, MPI)"),
    "export": ("inference.cli", "heuristic labels of raw netCDF files as mask files in the format of climseg infer"),
    "track": ("events.cli", "TC tracks (TempestExtremes CSV) and AR objects followed in time, from mask files"),
    "climatology": ("events.cli", "TC and AR statistics of mask files (maps, yearly counts, landfall), per file or merged"),
    "compare": ("events.compare", "score network masks and tracks against the heuristics': events matched, missed, false"),
    "figures": ("events.plots", "the report's maps, track maps and yearly counts of the heuristic and network climatologies"),
    "animate": ("events.animate", "GIF of IVT/TMQ with heuristic labels and network masks over consecutive time steps"),
}


ABORT_GRACE_S = 0.5
"""Seconds a failing MPI rank waits between printing its message and ``MPI_Abort``: the launcher forwards a
rank's stderr asynchronously, and an abort right after the print lost the message now and then (seen under
load)."""


class CommandError(Exception):
    """An error to report to the user as one line, without a traceback (exit code 2)."""


def _top_level_parser() -> argparse.ArgumentParser:
    width = max(map(len, COMMANDS)) + 2
    listing = "\n".join(f"  {name:<{width}}{help_}" for name, (_, help_) in COMMANDS.items())
    return argparse.ArgumentParser(
        prog="climseg",
        description="Find extreme weather (tropical cyclones, atmospheric rivers) in climate simulations "
        "with deep learning: label -> stage -> train.",
        epilog=f"commands:\n{listing}\n\nRun 'climseg COMMAND --help' for the options of a command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


COMMON_OPTIONS = ("--no-progress", "--verbose", "--quiet")
"""The options every command has (and that no command module defines itself)."""


PACKAGES = ("climseg", "labeling", "staging", "training", "inference")
"""Packages whose loggers ``-v`` and ``-q`` set."""


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """``--no-progress`` (dest ``progress``), ``-v/--verbose`` (count) and ``-q/--quiet``, in a group of their own."""
    group = parser.add_argument_group("common options")
    group.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    group.add_argument("-v", "--verbose", action="count", default=0,
                       help="more detail on stderr: informational log messages (-vv: debug ones and TensorFlow's own)")
    group.add_argument("-q", "--quiet", action="store_true",
                       help="no progress bars and nothing on stdout; errors and warnings still go to stderr")


def command_parser(name: str) -> argparse.ArgumentParser:
    """The full argument parser of ``climseg NAME``: the command's own arguments and the common options."""
    module_name, help_ = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"climseg {name}", description=help_[0].upper() + help_[1:] + ".",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    getattr(module, f"{name}_parser")(parser)
    add_common_options(parser)
    return parser


def _apply_common_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> contextlib.AbstractContextManager:
    """Set up logging for ``-v``/``-q``; returns the context the command runs in (stdout muted when quiet)."""
    if args.quiet and args.verbose:
        parser.error("-q/--quiet and -v/--verbose exclude each other")
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(format="%(name)s: %(levelname)s: %(message)s", stream=sys.stderr)  # no-op if configured
    for package in PACKAGES:
        logging.getLogger(package).setLevel(level)
    if args.verbose >= 2:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    if not args.quiet:
        return contextlib.nullcontext()
    args.progress = False
    return _muted_stdout()


@contextlib.contextmanager
def _muted_stdout():
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        yield


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    top = _top_level_parser()
    top.add_argument("--version", action="version", version=f"climseg {__version__}")
    top.add_argument("command", choices=sorted(COMMANDS), metavar="COMMAND", help="one of the commands below")
    if not argv or argv[0] not in COMMANDS:
        top.parse_args(argv[:1] or ["--help"])  # prints help, version, or the "invalid choice" error
    name, rest = argv[0], argv[1:]
    parser = command_parser(name)
    args = parser.parse_args(rest)
    module = importlib.import_module(COMMANDS[name][0])
    try:
        with _apply_common_options(parser, args):
            code = getattr(module, f"{name}_command")(args)
    except CommandError as error:
        print(f"climseg {name}: error: {error}", file=sys.stderr)
        return 2
    return 0 if code is None else int(code)

