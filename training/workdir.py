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
3. The command gets ``--out WORK [--resume] --seed SEED`` appended and runs in this process group; its exit code is this
   module's. SIGTERM, SIGUSR1 and SIGINT do not stop this process meanwhile: a batch system signals the whole
   job step (or process group), so the command gets them itself and this process waits for its checkpoint
   and exit 75 (as a shell waiting for a command does; passing them on would signal the launcher twice).
4. Only when it succeeds is the work directory moved to ``--out``; then the work root is removed if empty.
   The work directories of other settings or data (other interrupted runs the user may come back to) are
   never deleted.
5. ``--instances K`` (MLPerf HPC weak scaling: models trained per minute) runs K independent trainings at
   once, instance i with ``--seed SEED+i`` in ``WORK`` (i = 0) or ``WORK-seed<SEED+i>``, each resumed on its
   own; instance i > 0 also gets ``--mllog <its work directory>/mllog.txt`` and writes its output to
   ``LOG.seed-<SEED+i>`` (``--log LOG``). When all succeed, instance i > 0 is moved to
   ``WORK/instances/seed-<SEED+i>``, then ``WORK`` to ``--out``. The command must leave out ``--seed`` and
   give each instance its share of the ranks (the launcher's ``-n``).

The first line printed is ``train: run directory WORK --resume`` or ``train: run directory WORK (new run)``.
"""

from __future__ import annotations

import argparse
import contextlib
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


def run_waiting_out_signals(commands: list[list[str]], outputs: list | None = None) -> list[int]:
    """Run ``commands`` at once in this process group and wait for all of them, however often SIGTERM,
    SIGUSR1 or SIGINT arrive. ``outputs``: a file (or None: ours) per command for its stdout and stderr.
    Returns their exit codes (128 + N for a command killed by signal N, as a shell reports it)."""
    outputs = outputs or [None] * len(commands)
    previous = {sig: signal.signal(sig, lambda _signum, _frame: None) for sig in WAITED_OUT_SIGNALS}
    try:
        children = [subprocess.Popen(command, stdout=out, stderr=None if out is None else subprocess.STDOUT)
                    for command, out in zip(commands, outputs)]
        codes = [child.wait() for child in children]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return [128 - code if code < 0 else code for code in codes]


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


def instance_work_directory(work: Path, seed: int, instance: int) -> Path:
    """Where instance ``instance`` (0: the run itself) with seed ``seed`` trains (step 5 of the module docstring)."""
    return work if instance == 0 else work.with_name(f"{work.name}-seed{seed}")


def train_in_work_directory(command: list[str], *, work_root, key: str, stats, out, instances: int = 1,
                            seed: int = 0, log=None) -> int:
    """Steps 1-5 of the module docstring; returns the first non-zero exit code of the instances, else 0."""
    if instances < 1:
        raise ValueError(f"--instances {instances}: must be at least 1")
    if instances > 1 and log is None:
        raise ValueError("--instances above 1 needs --log (instance i > 0 writes to LOG.seed-S)")
    work = work_directory(work_root, key, stats)
    commands, outputs, works = [], [], []
    with contextlib.ExitStack() as files:
        for instance in range(instances):
            instance_seed = seed + instance
            instance_work = instance_work_directory(work, instance_seed, instance)
            resume = can_resume(instance_work)
            line = f"train: run directory {instance_work} {'--resume' if resume else '(new run)'}\n"
            extra = ["--out", str(instance_work), *(["--resume"] if resume else []), "--seed", str(instance_seed)]
            if instance == 0:
                print(line, end="", flush=True)
                outputs.append(None)
            else:
                extra += ["--mllog", str(instance_work / "mllog.txt")]
                output = files.enter_context(open(f"{log}.seed-{instance_seed}", "w"))
                output.write(line)
                output.flush()
                outputs.append(output)
            commands.append([*command, *extra])
            works.append((instance_seed, instance_work))
        codes = run_waiting_out_signals(commands, outputs)
    failed = [code for code in codes if code != 0]
    if failed:
        return failed[0]
    for instance_seed, instance_work in works[1:]:
        kept = work / "instances" / f"seed-{instance_seed}"
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(instance_work), str(kept))
    finish(work, Path(out))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.workdir", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Everything after -- is the training command (launcher included, --seed left out); "
               "--out WORK [--resume] --seed SEED is appended to it.")
    parser.add_argument("--work-root", required=True, metavar="DIR", help="directory of the runs' work directories")
    parser.add_argument("--key", required=True, help="digest of the settings that define the run")
    parser.add_argument("--stats", required=True, metavar="stats.h5", help="the run's statistics (digested)")
    parser.add_argument("--out", required=True, metavar="RUN_DIR", help="where the finished run is moved")
    parser.add_argument("--instances", type=int, default=1, metavar="K",
                        help="K independent trainings at once, seeds SEED..SEED+K-1 (step 5 above)")
    parser.add_argument("--seed", type=int, default=0, help="the run's seed (of the first instance with --instances)")
    parser.add_argument("--log", metavar="LOG", help="with --instances: instance i > 0 writes to LOG.seed-S")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the training command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no training command given after --")
    try:
        return train_in_work_directory(command, work_root=args.work_root, key=args.key, stats=args.stats,
                                       out=args.out, instances=args.instances, seed=args.seed, log=args.log)
    except (OSError, ValueError) as error:
        print(f"training.workdir: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
