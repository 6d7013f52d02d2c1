"""``climseg stage``: copy each rank's sample of files to node-local storage, each file read once.

Run under an MPI launcher, one rank per GPU, with the same options on every rank::

    mpirun -np 8 climseg stage --train splits/train.txt --validation splits/validation.txt \\
        --samples-per-rank 250 --seed 1 --node-local-dir /tmp/$USER/climseg --stats stats.h5
    jsrun -n 4600 -a 6 climseg stage ... --node-local-dir '/mnt/bb/$USER'     # Summit burst buffer
    srun --kill-on-bad-exit=1 climseg stage ... --node-local-dir '/dev/shm/$SLURM_JOB_ID'

Any failing rank (unreadable source file, full node-local disk, any exception) prints one line naming
the problem and aborts the whole job (``MPI_Abort``); a rank killed outright is noticed by the
launcher (mpirun does so by default, srun with ``--kill-on-bad-exit=1``).

Each node's directory then holds the staged files (flat, by base name), ``plan.json``,
``stats.h5``, ``stage_summary.json`` and, once every rank has finished, ``manifest.json``: rank r
trains on ``manifest["ranks"][str(r)]["train"]``. Running the same command again verifies what is
there and copies only what is missing, partial, corrupt or outdated.

With ``--mllog PATH`` rank 0 appends two MLPerf-style lines (:mod:`climseg.mllog`) to PATH:
``staging_start`` (INTERVAL_START, metadata ``number_of_ranks``) before anything is read, and
``staging_stop`` (INTERVAL_END, metadata ``status: success``, ``staging_seconds``, ``number_of_files``,
``bytes_written``, ``bytes_read_from_source``) when every rank is done; a failed job logs no
``staging_stop``. ``climseg train --mllog PATH`` then appends the training events to the same file.
"""

import os
import sys
import time
import traceback
from pathlib import Path

from climseg.cli import ABORT_GRACE_S, CommandError
from climseg.contract import STATS_KEYS
from climseg.samples import SOURCES_HELP, resolve_samples
from staging.plan import RankPlan, check_plan_arguments, make_rank_plan, sample_universe


def stage_parser(parser) -> None:
    parser.description = (
        "Copy a random sample of files to node-local storage, for every rank of an MPI job "
        "(run it under mpirun/srun/jsrun with the ranks of the training job). Each rank gets "
        "--samples-per-rank training samples drawn with replacement (and validation samples without), "
        "every distinct file is read once from the shared file system and sent to the nodes needing it "
        "over MPI, and written once per node. Files are verified (size, CRC-32C) and renamed into place "
        "when complete; running the same command again resumes and repairs.")
    parser.epilog = (
        "Writes to DIR on every node: the staged files, plan.json, stats.h5, stage_summary.json and, when all "
        "ranks are done, manifest.json (rank r reads manifest['ranks'][str(r)]). Example: mpirun -np 8 climseg "
        "stage --train splits/train.txt --samples-per-rank 250 --node-local-dir '/tmp/$USER/stage' --stats "
        "stats.h5. Under srun use --kill-on-bad-exit=1, so that a rank that dies ends the job.")
    parser.add_argument("--train", required=True, nargs="+", metavar="SOURCE",
                        help=f"training samples, one or more sources; each is {SOURCES_HELP}")
    parser.add_argument("--validation", nargs="+", metavar="SOURCE", help="validation samples, same forms as --train")
    parser.add_argument("--samples-per-rank", type=int, required=True, metavar="N",
                        help="training samples per rank, drawn with replacement (the paper: 250)")
    parser.add_argument("--validation-samples-per-rank", type=int, metavar="M",
                        help="validation samples per rank, drawn without replacement, disjoint across ranks "
                             "while there are enough files; None: all validation files spread over the ranks")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random draw: same seed, same plan")
    parser.add_argument("--node-local-dir", required=True, metavar="DIR",
                        help="directory on node-local storage, the same path on all ranks of a node; "
                             "environment variables ($USER, $SLURM_JOB_ID, ...) are expanded on each rank")
    parser.add_argument("--stats", metavar="STATS_H5", help="normalization statistics copied beside the data")
    parser.add_argument("--chunk-mib", type=float, default=16, metavar="MIB",
                        help="size of the messages carrying file data, MiB; memory per rank is about 8 chunks")
    parser.add_argument("--node-id-from-env", metavar="VAR",
                        help="take the node of each rank from environment variable VAR (e.g. SLURM_NODEID) "
                             "instead of detecting ranks that share memory; also simulates nodes in tests")
    parser.add_argument("--mllog", metavar="PATH",
                        help="MLPerf-style log (climseg.mllog): rank 0 appends staging_start and staging_stop "
                             "lines, so that `climseg train --mllog PATH` continues the same file and the time "
                             "to train counts staging, as MLPerf HPC does")


def read_stats_file(path) -> bytes:
    """The bytes of ``stats.h5`` at ``path``, after checking it holds the statistics of the data contract."""
    import h5py

    try:
        with h5py.File(path, "r") as stats:
            missing = [key for key in STATS_KEYS if key not in stats]
    except OSError as error:
        raise CommandError(f"{path}: not a readable HDF5 statistics file ({error})") from None
    if missing:
        raise CommandError(f"{path}: not a statistics file, it lacks {', '.join(missing)}")
    return Path(path).read_bytes()


def expand_node_local_dir(template: str) -> Path:
    """``template`` with ``~`` and environment variables expanded; CommandError if a variable is unset."""
    path = os.path.expandvars(os.path.expanduser(template))
    if "$" in path:
        raise CommandError(f"--node-local-dir {template}: an environment variable is not set here ({path})")
    return Path(path)


def sample_lists_from_args(args, n_ranks: int) -> tuple[list[str], list[str]]:
    """The training and validation sample paths of a ``climseg stage`` command line, checked to make a plan
    for ``n_ranks`` ranks (on rank 0, before the lists travel to the other ranks)."""
    if args.samples_per_rank < 1:
        raise CommandError(f"--samples-per-rank must be at least 1, got {args.samples_per_rank}")
    if not 1 / 256 <= args.chunk_mib <= 1024:
        raise CommandError(f"--chunk-mib must be between 1/256 (4 KiB) and 1024, got {args.chunk_mib}")
    try:
        train = [str(path) for path in resolve_samples(args.train)]
        validation = [str(path) for path in resolve_samples(args.validation)] if args.validation else []
        check_plan_arguments(len(train), len(validation), n_ranks=n_ranks, samples_per_rank=args.samples_per_rank,
                             validation_samples_per_rank=args.validation_samples_per_rank)
        sample_universe(train, validation)  # two files of one name
    except ValueError as error:
        raise CommandError(str(error)) from None
    return train, validation


def rank_plan(args, lists, node_of_rank, rank: int) -> RankPlan:
    """This rank's part of the staging plan (:func:`staging.plan.make_rank_plan`) of checked sample lists."""
    train, validation = lists
    return make_rank_plan(train, rank=rank, n_ranks=len(node_of_rank), samples_per_rank=args.samples_per_rank,
                          seed=args.seed, validation_files=validation,
                          validation_samples_per_rank=args.validation_samples_per_rank, node_of_rank=node_of_rank)


def plan_line(plan: RankPlan, lists) -> str:
    return (f"climseg stage: {plan.n_ranks} ranks on {plan.n_nodes} nodes, {plan.samples_per_rank} training "
            f"samples per rank from {len(lists[0])} files, {plan.validation_samples_per_rank} validation samples "
            f"per rank from {len(lists[1])} files, seed {plan.seed}: {plan.n_sources} distinct files")


def plan_from_args(args, node_of_rank, *, rank: int = 0):
    """``rank``'s part of the staging plan and the stats file's bytes (or None) of a ``climseg stage`` command
    line, as one process computes them; prints the plan's line."""
    lists = sample_lists_from_args(args, len(node_of_rank))
    stats = read_stats_file(args.stats) if args.stats else None
    plan = rank_plan(args, lists, node_of_rank, rank)
    print(plan_line(plan, lists), flush=True)
    return plan, stats


def stage_command(args):
    node_id = None
    if args.node_id_from_env:  # checked before MPI starts: a rank exiting with an error ends the job
        node_id = os.environ.get(args.node_id_from_env)
        if node_id is None:
            raise CommandError(f"--node-id-from-env {args.node_id_from_env}: no such environment variable")

    from mpi4py import MPI

    from climseg.mllog import MLLogger
    from staging import transfer

    comm = MPI.COMM_WORLD
    mllog = MLLogger(args.mllog or "", enabled=comm.rank == 0 and args.mllog is not None)
    mllog.start("staging_start", number_of_ranks=comm.size)
    try:
        node_comm, node_of_rank = transfer.node_layout(comm, node_id=node_id)
        node_dir = expand_node_local_dir(args.node_local_dir)
        paths = node_comm.allgather(str(node_dir))
        if len(set(paths)) > 1:
            raise CommandError(f"--node-local-dir {args.node_local_dir}: the ranks of one node disagree on the "
                               f"path: {', '.join(sorted(set(paths)))}")
        if comm.rank == 0:  # one rank reads the lists and stats.h5 from the shared file system
            lists = sample_lists_from_args(args, comm.size)
            stats = read_stats_file(args.stats) if args.stats else None
        else:
            lists, stats = None, None
        lists, stats = comm.bcast((lists, stats), root=0)
        plan = rank_plan(args, lists, node_of_rank, comm.rank)  # each rank its own part: no rank holds all
        if comm.rank == 0:
            print(plan_line(plan, lists), flush=True)
        summary = transfer.stage(comm, plan, node_dir, node_comm=node_comm, stats=stats,
                                 chunk_bytes=int(args.chunk_mib * 2**20), show_progress=args.progress)
    except Exception as error:
        user_error = isinstance(error, (CommandError, OSError, ValueError))
        message = str(error)
        if isinstance(error, OSError) and error.filename is None and error.strerror:
            message = error.strerror  # our OSErrors name the file in the message, no "[Errno N]" needed
        if comm.size == 1:  # no other rank to stop: report like any other command
            if user_error:
                raise CommandError(message) from None
            raise
        if not user_error:
            traceback.print_exc()
        print(f"climseg stage: error: rank {comm.rank}: {message}", file=sys.stderr, flush=True)
        time.sleep(ABORT_GRACE_S)  # the launcher forwards stderr asynchronously: let the line out first
        comm.Abort(2 if isinstance(error, CommandError) else 1)
    mllog.end("staging_stop", status="success", staging_seconds=summary["seconds"],
              number_of_files=summary["files_needed"], bytes_written=summary["bytes_written"],
              bytes_read_from_source=summary["source_bytes_read"])
    if comm.rank == 0:
        print(f"climseg stage: {transfer.summary_line(summary)}", flush=True)
        print(f"climseg stage: manifest in {node_dir / 'manifest.json'} on every node", flush=True)
