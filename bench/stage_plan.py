"""Staging plan at the paper's scale: time and memory of one rank's part against the whole plan, same run.

The plan function alone, no MPI: 27,360 simulated ranks on 4,560 nodes of 6 (Summit, as in Kurth et al.
SC18), 250 training samples per rank drawn with replacement from 63,000 files, plus 6,300 validation files
spread over the ranks. Every measurement runs in a fresh Python process, which first builds the file
lists (what ``climseg stage`` broadcasts from rank 0: part of every rank's memory), then plans:

- ``make_rank_plan`` for a few ranks (first, middle, last): what each rank of ``climseg stage`` computes;
- ``make_plan``: the whole plan, which every rank computed (and held) before.

Time is measured without tracing, memory in a second run under ``tracemalloc`` (peak of Python and numpy
allocations, file lists included) and as the process's peak resident size (``ru_maxrss``, which adds
the interpreter and numpy, about 30 MB). Goal: a rank's part in a few seconds and a few tens of MB.
Run from the repository root::

    .venv/bin/python bench/stage_plan.py                      # the paper's scale: about a minute here
    .venv/bin/python bench/stage_plan.py --ranks 2736 --files 6300    # a tenth
"""

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc

from staging.plan import make_plan, make_rank_plan


def file_lists(n_files: int, n_validation: int) -> tuple[list[str], list[str]]:
    """Paths as long as a real project's (about 70 characters)."""
    folder = "/gpfs/alpine/proj-shared/climate/cam5_0.25deg/samples"
    train = [f"{folder}/data-{2000 + k // 2920}-{k % 2920:05d}-1.h5" for k in range(n_files)]
    validation = [f"{folder}/data-2030-{k:05d}-1.h5" for k in range(n_validation)]
    return train, validation


def measure(args) -> dict:
    """One planning in this process: seconds, tracemalloc peak (bytes), ru_maxrss (bytes) and the plan's size."""
    if args.trace:
        tracemalloc.start()
    train, validation = file_lists(args.files, args.validation_files)
    nodes = [rank // args.ranks_per_node for rank in range(args.ranks)]
    options = dict(n_ranks=args.ranks, samples_per_rank=args.samples_per_rank, seed=0, validation_files=validation,
                   node_of_rank=nodes)
    start = time.perf_counter()
    if args.measure == "global":
        plan = make_plan(train, **options)
        size = {"files": len(plan.sources), "copies": sum(len(w) for w in plan.writers)}
    else:
        plan = make_rank_plan(train, rank=int(args.measure), **options)
        size = {"files": len(plan.sources), "copies": len(plan.writer), "owned": len(plan.owned)}
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] if args.trace else None
    return {"seconds": seconds, "traced_peak_bytes": peak,
            "maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, **size}


def run(args, which: str, *, trace: bool) -> dict:
    command = [sys.executable, __file__, "--measure", which, "--ranks", str(args.ranks), "--files", str(args.files),
               "--validation-files", str(args.validation_files), "--ranks-per-node", str(args.ranks_per_node),
               "--samples-per-rank", str(args.samples_per_rank), *(["--trace"] if trace else [])]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--ranks", type=int, default=27_360)
    parser.add_argument("--ranks-per-node", type=int, default=6)
    parser.add_argument("--samples-per-rank", type=int, default=250)
    parser.add_argument("--files", type=int, default=63_000, help="training files")
    parser.add_argument("--validation-files", type=int, default=6_300)
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # internal: one measurement, JSON on stdout
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args)))
        return

    print(f"{args.ranks} ranks on {-(-args.ranks // args.ranks_per_node)} nodes, {args.samples_per_rank} samples "
          f"per rank from {args.files} files, {args.validation_files} validation files; plan function alone")
    print(f"{'':<28}{'seconds':>9}{'traced peak':>14}{'max RSS':>10}{'files':>8}{'copies':>10}")
    rows = {}
    for which in ("0", str(args.ranks // 2), str(args.ranks - 1), "global"):
        timed, traced = run(args, which, trace=False), run(args, which, trace=True)
        rows[which] = (timed["seconds"], traced["traced_peak_bytes"], traced["maxrss_bytes"])
        label = "whole plan (make_plan)" if which == "global" else f"rank {which} (make_rank_plan)"
        print(f"{label:<28}{timed['seconds']:>9.2f}{traced['traced_peak_bytes'] / 1e6:>11.1f} MB"
              f"{timed['maxrss_bytes'] / 1e6:>7.0f} MB{timed['files']:>8}{timed['copies']:>10}")
    worst = max((rows[w] for w in rows if w != "global"), key=lambda row: row[1])
    slowest = max(rows[w][0] for w in rows if w != "global")
    print(f"ratio: a rank's part takes {slowest / rows['global'][0]:.3f} of the whole plan's time "
          f"and {worst[1] / rows['global'][1]:.3f} of its traced memory "
          f"({slowest:.2f} s and {worst[1] / 1e6:.0f} MB; goal: a few seconds, a few tens of MB)")


if __name__ == "__main__":
    main()
