"""Tests of climseg.split: whole blocks of time per split, fixed seed, no neighbours across splits."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from climseg.cli import main
from climseg.contract import sample_file_name
from climseg.split import SPLITS, blocks_per_split, sample_hours, split_by_time


def make_samples(directory, *, days=4, steps=8, runs=(1,), start=dt.date(2106, 1, 1)):
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for d in range(days):
        for step in range(steps):
            for run in runs:
                path = directory / sample_file_name(start + dt.timedelta(days=d), step, run)
                path.write_bytes(b"")  # split reads names only
                paths.append(path)
    return paths


def read_split(out):
    return {name: [Path(line) for line in (out / f"{name}.txt").read_text().splitlines()] for name in SPLITS}


def test_sample_hours_counts_days_and_steps():
    assert sample_hours("data-2106-01-02-03-1.h5") - sample_hours("data-2106-01-01-00-1.h5") == 24 + 9


@pytest.mark.parametrize("n_blocks, fractions, expected", [
    (10, (0.8, 0.1, 0.1), [8, 1, 1]),
    (3, (0.8, 0.1, 0.1), [1, 1, 1]),
    (4, (0.8, 0.1, 0.1), [2, 1, 1]),
    (5, (1.0, 0.0, 0.0), [5, 0, 0]),
    (7, (0.5, 0.25, 0.25), [3, 2, 2]),
])
def test_blocks_per_split(n_blocks, fractions, expected):
    counts = blocks_per_split(n_blocks, fractions)
    assert sum(counts) == n_blocks
    assert counts == expected


def test_too_few_blocks_for_three_splits():
    with pytest.raises(ValueError, match="2 time block"):
        blocks_per_split(2, (0.8, 0.1, 0.1))


def test_whole_days_stay_together_and_every_sample_is_used_once(tmp_path):
    samples = make_samples(tmp_path / "s", days=10, runs=(1, 2))
    split = split_by_time(samples, seed=0)
    assert sorted(p for v in split.values() for p in v) == sorted(samples)
    days = {name: {p.name[5:15] for p in split[name]} for name in SPLITS}
    assert [len(days[n]) for n in SPLITS] == [8, 1, 1]
    assert not (days["train"] & days["validation"]) and not (days["train"] & days["test"])
    assert not (days["validation"] & days["test"])
    for name in SPLITS:  # every time step and run of a day goes where its day goes
        assert len(split[name]) == 16 * len(days[name])


def test_no_adjacent_steps_across_splits_with_gap(tmp_path):
    samples = make_samples(tmp_path / "s", days=12)
    split = split_by_time(samples, seed=5, block_hours=24, gap_hours=3)
    where = {}
    for name, paths in split.items():
        where.update({sample_hours(p): name for p in paths})
    times = sorted(where)
    neighbours = [(a, b) for a, b in zip(times, times[1:]) if b - a <= 3]
    assert neighbours, "the test needs adjacent steps"
    assert all(where[a] == where[b] for a, b in neighbours)
    assert len(times) < len(samples)  # the first step after each change of split was dropped


def test_same_seed_same_split_other_seed_other_split(tmp_path):
    samples = make_samples(tmp_path / "s", days=20)
    first = split_by_time(samples, seed=1)
    assert split_by_time(list(reversed(samples)), seed=1) == first
    assert any(split_by_time(samples, seed=s)["test"] != first["test"] for s in (2, 3, 4))


def test_sample_fractions_follow_block_fractions(tmp_path):
    samples = make_samples(tmp_path / "s", days=8, steps=8)
    split = split_by_time(samples, fractions=(0.5, 0.25, 0.25), block_hours=12)
    assert [len(split[n]) for n in SPLITS] == [32, 16, 16]


@pytest.mark.parametrize("kwargs, message", [
    ({"fractions": (0.8, 0.1)}, "3 non-negative numbers"),
    ({"fractions": (0.8, 0.3, -0.1)}, "3 non-negative numbers"),
    ({"fractions": (0.5, 0.1, 0.1)}, "summing to 1"),
    ({"block_hours": 0}, "block hours must be positive"),
])
def test_bad_arguments(tmp_path, kwargs, message):
    samples = make_samples(tmp_path / "s", days=4)
    with pytest.raises(ValueError, match=message):
        split_by_time(samples, **kwargs)


def test_command_writes_three_lists_of_absolute_paths(tmp_path, capsys):
    samples = make_samples(tmp_path / "s" / "2106-01", days=3, steps=4)
    assert main(["split", str(tmp_path / "s"), "--out", str(tmp_path / "out"), "--seed", "7"]) == 0
    split = read_split(tmp_path / "out")
    assert all(len(split[n]) == 4 for n in SPLITS)  # 3 days, one each
    assert sorted(p for v in split.values() for p in v) == sorted(p.resolve() for p in samples)
    assert all(p.is_absolute() for v in split.values() for p in v)
    assert "train.txt: 4 samples" in capsys.readouterr().out
    assert not list((tmp_path / "out").glob(".*"))  # no temporary files left


def test_command_accepts_a_list_file(tmp_path):
    samples = make_samples(tmp_path / "s", days=3)
    listing = tmp_path / "all.txt"
    listing.write_text("".join(f"{p}\n" for p in samples))
    assert main(["split", str(listing), "--out", str(tmp_path / "out"), "--block-hours", "12"]) == 0
    assert sum(len(v) for v in read_split(tmp_path / "out").values()) == 24


@pytest.mark.parametrize("setup, args, message", [
    ("missing", ["nowhere"], "nowhere: no such directory"),
    ("empty", ["empty"], "empty: no data-*.h5 sample files in this directory or below it"),
    ("listed_missing", ["missing.txt"], "missing.txt line 1: /x/data-2000-01-01-00-1.h5 does not exist"),
    ("badname", ["bad.txt"], "not_a_sample.h5: not a sample file name"),
    ("fewdays", ["few"], "2 time block(s) cannot fill 3 splits"),
    ("fewdays", ["few", "--fractions", "0.9", "0.2", "0.1"], "summing to 1"),
])
def test_command_errors_are_one_line(tmp_path, setup, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "not_a_sample.h5").write_bytes(b"")
    (tmp_path / "bad.txt").write_text("not_a_sample.h5\n")
    (tmp_path / "missing.txt").write_text("/x/data-2000-01-01-00-1.h5\n")
    make_samples(tmp_path / "few", days=2)
    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", "import sys; from climseg.cli import main; sys.exit(main())",
                             "split", *args, "--out", "out"],
                            cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(repo)})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"climseg split: error: {result.stderr.split('error: ', 1)[1].strip()}"]
    assert message in result.stderr
    assert not (tmp_path / "out").exists()


def test_command_reports_an_unwritable_output_in_one_line(tmp_path, capsys):
    make_samples(tmp_path / "s", days=3)
    (tmp_path / "taken").write_text("a file where the output directory should go\n")
    assert main(["split", str(tmp_path / "s"), "--out", str(tmp_path / "taken")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("climseg split: error:") and "taken" in err[0]
    assert (tmp_path / "taken").read_text().startswith("a file")
