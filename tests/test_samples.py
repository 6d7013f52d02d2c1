"""climseg.samples: the one resolver of sample sources (directories, files, lists)."""

from pathlib import Path

import pytest

from climseg.samples import resolve_samples


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
