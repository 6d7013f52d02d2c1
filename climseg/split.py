"""Split samples into train / validation / test by time, with a fixed seed.

Neighbouring 3-hourly time steps of a climate simulation are nearly the same picture: a random
split per sample would put the twin of every test sample into the training set. So the split
assigns whole *blocks* of time (by default whole days, every ensemble run of that time together)
to one set, in an order drawn with a fixed seed. ``--gap-hours`` additionally drops the samples of
a block that lie within that many hours of a neighbouring block of another set.

Usage::

    climseg split results/samples --out results/split                         # 80/10/10, days
    climseg split samples/ --out split/ --fractions 0.7 0.15 0.15 --seed 3 --block-hours 72 --gap-hours 24

writes ``train.txt``, ``validation.txt`` and ``test.txt`` (one absolute sample path per line,
in time order) in ``--out``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from climseg.atomic import atomic_output
from climseg.contract import parse_sample_file_name
from climseg.samples import SOURCES_HELP, resolve_samples

SPLITS = ("train", "validation", "test")
_EPOCH = dt.date(1, 1, 1)


def sample_hours(path, *, hours_per_step: float = 3.0) -> float:
    """Hours since 0001-01-01 00 UTC of the time step a sample file holds (from its name)."""
    name = parse_sample_file_name(str(path))
    return (name.date - _EPOCH).days * 24.0 + name.step * hours_per_step


def blocks_per_split(n_blocks: int, fractions) -> list[int]:
    """How many of ``n_blocks`` time blocks each split gets: proportional to ``fractions`` (largest
    remainder), at least one for every split with a positive fraction.

    Raises ValueError when there are fewer blocks than splits with a positive fraction.
    """
    fractions = np.asarray(fractions, dtype=float)
    wanted = int(np.count_nonzero(fractions))
    if n_blocks < wanted:
        raise ValueError(f"{n_blocks} time block(s) cannot fill {wanted} splits: "
                         "use shorter --block-hours or more data")
    exact = fractions / fractions.sum() * n_blocks
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: n_blocks - counts.sum()]:
        counts[i] += 1
    # every split with a positive fraction gets a block, taken from the split with the most
    for i in np.flatnonzero((counts == 0) & (fractions > 0)):
        counts[np.argmax(counts)] -= 1
        counts[i] += 1
    return counts.tolist()


def split_by_time(samples, *, fractions=(0.8, 0.1, 0.1), seed: int = 0, block_hours: float = 24.0,
                  gap_hours: float = 0.0, hours_per_step: float = 3.0) -> dict[str, list[Path]]:
    """Assign sample files to train / validation / test in whole blocks of time.

    Parameters
    ----------
    samples : sequence of path
        Sample files named ``data-YYYY-MM-DD-TT-R.h5``.
    fractions : (3,) float
        Shares of the time blocks for train, validation and test; they must sum to 1.
    seed : int
        Seed of the random order in which blocks are dealt to the splits.
    block_hours : float, h
        Length of a block: all samples whose time falls in the same block (every ensemble run
        included) go to the same split.
    gap_hours : float, h
        Drop the samples of a block that lie within this many hours of a sample of the previous
        block when that block went to another split (0: drop nothing).
    hours_per_step : float, h
        Hours between time steps ``TT`` of a day (3 for CAM5 h2 files).

    Returns
    -------
    dict
        ``{"train": [...], "validation": [...], "test": [...]}``, each sorted by time then run.
    """
    fractions = np.asarray(fractions, dtype=float)
    if fractions.shape != (3,) or np.any(fractions < 0) or not np.isclose(fractions.sum(), 1.0):
        raise ValueError(f"fractions must be 3 non-negative numbers summing to 1, got {fractions.tolist()}")
    if block_hours <= 0 or gap_hours < 0:
        raise ValueError(f"block hours must be positive and gap hours non-negative, "
                         f"got {block_hours} and {gap_hours}")
    hours = {Path(s): sample_hours(s, hours_per_step=hours_per_step) for s in samples}
    if not hours:
        raise ValueError("no sample files to split")
    block_of = {s: int(h // block_hours) for s, h in hours.items()}
    blocks = sorted(set(block_of.values()))
    counts = blocks_per_split(len(blocks), fractions)
    order = np.random.default_rng(seed).permutation(len(blocks))
    split_of_block = {}
    start = 0
    for split, count in zip(SPLITS, counts):
        for i in order[start:start + count]:
            split_of_block[blocks[i]] = split
        start += count

    last_hour_of_block = {}
    for s, h in hours.items():
        last_hour_of_block[block_of[s]] = max(h, last_hour_of_block.get(block_of[s], -np.inf))
    previous_block = dict(zip(blocks[1:], blocks[:-1]))
    result = {split: [] for split in SPLITS}
    for s, h in sorted(hours.items(), key=lambda item: (item[1], parse_sample_file_name(str(item[0])).run)):
        block = block_of[s]
        if gap_hours > 0 and block in previous_block:
            previous = previous_block[block]
            if (split_of_block[previous] != split_of_block[block]
                    and h - last_hour_of_block[previous] <= gap_hours):
                continue
        result[split_of_block[block]].append(s)
    return result


def write_split(split: dict, out_dir) -> list[Path]:
    """Write ``train.txt``, ``validation.txt``, ``test.txt`` (absolute paths) into ``out_dir``, atomically."""
    written = []
    for name in SPLITS:
        path = Path(out_dir) / f"{name}.txt"
        with atomic_output(path) as tmp:
            tmp.write_text("".join(f"{Path(s).resolve()}\n" for s in split[name]))
        written.append(path)
    return written


def split_parser(parser):
    parser.description = __doc__.split("\n\n")[0] + " " + __doc__.split("\n\n")[1].replace("\n", " ")
    parser.add_argument("samples", nargs="+", metavar="SAMPLES", help=f"sample sources: {SOURCES_HELP}")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="directory for train.txt, validation.txt and test.txt")
    parser.add_argument("--fractions", nargs=3, type=float, default=[0.8, 0.1, 0.1],
                        metavar=("TRAIN", "VALIDATION", "TEST"), help="shares of the time blocks")
    parser.add_argument("--seed", type=int, default=0, help="seed of the order blocks are dealt in")
    parser.add_argument("--block-hours", type=float, default=24.0, metavar="H",
                        help="samples within the same block of H hours go to the same split")
    parser.add_argument("--gap-hours", type=float, default=0.0, metavar="H",
                        help="drop samples within H hours of a neighbouring block of another split")
    parser.add_argument("--hours-per-step", type=float, default=3.0, metavar="H",
                        help="hours between the time steps TT of a day in the file names")


def split_command(args):
    from climseg.cli import CommandError

    try:
        samples = resolve_samples(args.samples)
        split = split_by_time(samples, fractions=args.fractions, seed=args.seed,
                              block_hours=args.block_hours, gap_hours=args.gap_hours,
                              hours_per_step=args.hours_per_step)
        written = write_split(split, args.out)
    except (OSError, ValueError) as error:  # unreadable list, --out not a directory, ...
        raise CommandError(str(error)) from None
    for path in written:
        name = path.stem
        print(f"{path}: {len(split[name])} samples")
    dropped = len(samples) - sum(len(v) for v in split.values())
    if dropped:
        print(f"dropped {dropped} samples within {args.gap_hours:g} h of another split")
