"""climseg.samples: the one resolver of sample sources (directories, files, lists)."""

import json
from pathlib import Path

import pytest

from climseg.samples import rank_samples, resolve_samples


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_directory_is_searched_recursively_and_sorted(tmp_path):
    b = _touch(tmp_path / "2000" / "data-2000-01-02-00-1.h5")
    a = _touch(tmp_path / "1999" / "data-1999-12-31-07-1.h5")
    _touch(tmp_path / "stats.h5")  # not a sample: not named data-*.h5
    assert resolve_samples(tmp_path) == [a.resolve(), b.resolve()]


def test_list_paths_are_relative_to_the_list_not_the_working_directory(tmp_path, monkeypatch):
    sample = _touch(tmp_path / "samples" / "data-2000-01-01-00-1.h5")
    listing = tmp_path / "splits" / "train.txt"
    listing.parent.mkdir()
    listing.write_text("# training samples\n\n../samples/data-2000-01-01-00-1.h5   # the only one\n")
    monkeypatch.chdir(tmp_path / "samples")
    assert resolve_samples([listing]) == [sample.resolve()]


def test_several_sources_keep_their_order(tmp_path):
    first = _touch(tmp_path / "b" / "data-2000-01-02-00-1.h5")
    second = _touch(tmp_path / "a" / "data-2000-01-01-00-1.h5")
    assert resolve_samples([first, tmp_path / "a"]) == [first.resolve(), second.resolve()]


@pytest.mark.parametrize("case, message", [
    ("missing", "no such directory"),
    ("empty_dir", "no data-*.h5 sample files"),
    ("empty_list", "names no sample files"),
    ("listed_missing", "line 1: "),
    ("not_a_sample", "is not a sample file"),
    ("duplicate", "again (already named by"),
    ("binary_list", "not a text file"),
])
def test_bad_sources_are_named(tmp_path, case, message):
    sample = _touch(tmp_path / "s" / "data-2000-01-01-00-1.h5")
    source = {
        "missing": tmp_path / "nowhere",
        "empty_dir": tmp_path / "empty",
        "empty_list": tmp_path / "empty.txt",
        "listed_missing": tmp_path / "missing.txt",
        "not_a_sample": tmp_path / "notes.txt",
        "duplicate": tmp_path / "dup.txt",
        "binary_list": tmp_path / "binary.lst",
    }[case]
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    (tmp_path / "missing.txt").write_text("s/data-2000-01-01-01-1.h5\n")
    (tmp_path / "notes.txt").write_text("s/readme.md\n")
    (tmp_path / "dup.txt").write_text(f"s/data-2000-01-01-00-1.h5\n{sample}\n")
    (tmp_path / "binary.lst").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(ValueError, match=message.replace("*", r"\*").replace("(", r"\(")) as error:
        resolve_samples([source])
    assert str(source) in str(error.value)


def test_rank_samples_deals_a_directory_round_robin(tmp_path):
    files = [_touch(tmp_path / f"d{i % 2}" / f"data-2000-01-0{i + 1}-00-1.h5").resolve() for i in range(5)]
    everything = resolve_samples(tmp_path)
    parts = [rank_samples(tmp_path, rank=r, size=2) for r in range(2)]
    assert parts == [everything[0::2], everything[1::2]] and sorted(parts[0] + parts[1]) == sorted(files)


def test_rank_samples_takes_each_rank_entry_of_a_manifest(tmp_path):
    for name in ("a", "b", "c"):
        _touch(tmp_path / f"data-2000-01-01-0{ord(name) - 97}-1.h5")
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"ranks": {"0": {"train": ["data-2000-01-01-00-1.h5"], "validation": []},
                                              "1": {"train": ["data-2000-01-01-01-1.h5"],
                                                    "validation": ["data-2000-01-01-02-1.h5"]}}}))
    assert rank_samples(manifest, rank=1, size=2) == [(tmp_path / "data-2000-01-01-01-1.h5").resolve()]
    assert rank_samples(manifest, rank=1, size=2, split="validation") == [(tmp_path / "data-2000-01-01-02-1.h5").resolve()]
    with pytest.raises(ValueError, match="manifest lists no validation files for rank 0"):
        rank_samples(manifest, rank=0, size=2, split="validation")
    with pytest.raises(ValueError, match="staged for 2 ranks, but this job has 3"):
        rank_samples(manifest, rank=0, size=3)
    (tmp_path / "data-2000-01-01-01-1.h5").unlink()
    with pytest.raises(ValueError, match="data-2000-01-01-01-1.h5, which does not exist"):
        rank_samples(manifest, rank=1, size=2)
    manifest.write_text("{not json")
    with pytest.raises(ValueError, match="not a JSON staging manifest"):
        rank_samples(manifest, rank=0, size=2)


def test_rank_samples_needs_a_file_per_rank(tmp_path):
    sample = _touch(tmp_path / "data-2000-01-01-00-1.h5")
    with pytest.raises(ValueError, match="no files for rank 1 of 2"):
        rank_samples(sample, rank=1, size=2)
    with pytest.raises(ValueError, match="outside 0..1"):
        rank_samples(sample, rank=2, size=2)


@pytest.mark.parametrize("content, message", [
    ('{"ranks": {"0": {"train": ["a.h5"]}}}', "staged for 1 ranks, but this job has 2"),
    ('{"n_ranks": 3, "ranks": {"0": {"validation": ["a.h5"]}}}', "staged for 3 ranks, but this job has 2"),
    ('{"ranks": {"1": {"train": ["a.h5"]}, "2": {}}}', "no entry for rank 0"),
    ('{"ranks": {"0": {"train": ["a.h5"]}, "1": {}}}', "rank 0 has no 'validation' list"),
    ('{"ranks": {"0": {"validation": []}, "1": {}}}', "lists no validation files for rank 0"),
])
def test_bad_manifest_is_named_with_the_problem(tmp_path, content, message):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(content)
    with pytest.raises(ValueError, match=f"manifest.json: .*{message}"):
        rank_samples(manifest, rank=0, size=2, split="validation")


def test_a_node_manifest_lists_its_own_ranks_and_counts_all(tmp_path):
    """``climseg stage`` writes one manifest per node: it lists that node's ranks, ``n_ranks`` counts all."""
    (tmp_path / "data-2000-01-01-05-1.h5").write_bytes(b"")
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"n_ranks": 4, "ranks": {"2": {"train": ["data-2000-01-01-05-1.h5"]}}}))
    assert rank_samples(manifest, rank=2, size=4) == [(tmp_path / "data-2000-01-01-05-1.h5").resolve()]
