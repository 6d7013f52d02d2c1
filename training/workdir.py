"""The work directory of a workflow's training run: resume an interrupted run, never delete another one.

The train rule of the workflow runs ``climseg train`` through this module::

    python -m training.workdir --work-root results/train/work --key 3f2a9c1b0d4e --stats results/stats.h5 \\
        --out results/train/run -- mpirun -n 4 climseg train --data ... --stats results/stats.h5 ...

1. The run trains in ``WORK_ROOT/<key>-<first 12 hex digits of the SHA-1 of stats.h5>``, a directory that is
   not an output of the rule (Snakemake deletes the outputs of a failed job): ``--key`` is a digest of the
   settings that define the run (the workflow's ``training_run_key()``), the stats digest changes with the data.
2. When that directory holds a checkpoint (``checkpoints/index.json``) the command gets ``--resume``: a run
   stopped by the batch system (SIGTERM or SIGUSR1 before the wall time: checkpoint, exit 75) continues where
   it stopped when the workflow is rerun with the same settings and data. Otherwise it is a new run.
3. The command gets ``--out WORK [--resume]`` appended and runs in this process group; its exit code is this
   module's. SIGTERM, SIGUSR1 and SIGINT do not stop this process meanwhile: a batch system signals the whole
   job step (or process group), so the command gets them itself and this process waits for its checkpoint
   and exit 75 (as a shell waiting for a command does; passing them on would signal the launcher twice).
4. Only when it succeeds is the work directory moved to ``--out``; then the work root is removed if empty.
   The work directories of other settings or data (other interrupted runs the user may come back to) are
   never deleted.

The first line printed is ``train: run directory WORK --resume`` or ``train: run directory WORK (new run)``.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import signal
import subprocess
import sys
from pathlib import Path

WAITED_OUT_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)
DIGEST_CHARS = 12


def file_digest(path, *, chunk_bytes: int = 1 << 20) -> str:
    """The first 12 hex digits of the SHA-1 of a file's bytes, read in chunks (OSError names the file)."""
    sha1 = hashlib.sha1()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(chunk_bytes), b""):
                sha1.update(chunk)
    except OSError as error:
        raise OSError(f"{path}: cannot read ({error.strerror or error})") from None
    return sha1.hexdigest()[:DIGEST_CHARS]


def work_directory(work_root, key: str, stats) -> Path:
    """``WORK_ROOT/<key>-<digest of stats>``: the same settings and data give the same directory."""
    if not key or "/" in key:
        raise ValueError(f"run key {key!r}: must be a non-empty name without '/'")
    return Path(work_root) / f"{key}-{file_digest(stats)}"


def can_resume(work: Path) -> bool:
    """Whether ``work`` holds a checkpoint to continue from."""
    return (Path(work) / "checkpoints" / "index.json").is_file()


def run_waiting_out_signals(command: list[str]) -> int:
    """Run ``command`` in this process group and wait for it, however often SIGTERM, SIGUSR1 or SIGINT arrive.
    Returns its exit code (128 + N for a command killed by signal N, as a shell reports it)."""
    child = subprocess.Popen(command)
    previous = {sig: signal.signal(sig, lambda _signum, _frame: None) for sig in WAITED_OUT_SIGNALS}
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - code if code < 0 else code


def finish(work: Path, out: Path) -> None:
    """Move the finished run ``work`` to ``out``; remove the work root if nothing else is in it."""
    if out.exists():
        raise FileExistsError(f"{out}: exists already; the finished run stays in {work}")
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(work), str(out))
    try:
        work.parent.rmdir()  # only when empty: other runs' directories are kept
    except OSError:
        pass


def train_in_work_directory(command: list[str], *, work_root, key: str, stats, out) -> int:
    """Steps 1-4 of the module docstring; returns the command's exit code."""
    work = work_directory(work_root, key, stats)
    resume = can_resume(work)
    print(f"train: run directory {work} {'--resume' if resume else '(new run)'}", flush=True)
    code = run_waiting_out_signals([*command, "--out", str(work), *(["--resume"] if resume else [])])
    if code == 0:
        finish(work, Path(out))
    return code


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.workdir", description=__doc__.split("\n\n")[0],
        epilog="Everything after -- is the training command (launcher included); --out WORK [--resume] is "
               "appended to it.")
    parser.add_argument("--work-root", required=True, metavar="DIR", help="directory of the runs' work directories")
    parser.add_argument("--key", required=True, help="digest of the settings that define the run")
    parser.add_argument("--stats", required=True, metavar="stats.h5", help="the run's statistics (digested)")
    parser.add_argument("--out", required=True, metavar="RUN_DIR", help="where the finished run is moved")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the training command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no training command given after --")
    try:
        return train_in_work_directory(command, work_root=args.work_root, key=args.key, stats=args.stats,
                                       out=args.out)
    except (OSError, ValueError) as error:
        print(f"training.workdir: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
