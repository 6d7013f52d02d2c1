import pytest

from climseg.atomic import atomic_output


def test_file_appears_only_when_the_block_completes(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_output(target) as tmp:
        tmp.write_text("complete")
        assert not target.exists()
        assert tmp.parent == target.parent
    assert target.read_text() == "complete"
    assert list(target.parent.iterdir()) == [target]


def test_failed_block_leaves_nothing_and_keeps_an_older_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_finished_file_has_the_permissions_of_a_plain_open(tmp_path):
    import os
    with atomic_output(tmp_path / "out.txt") as tmp:
        tmp.write_text("x")
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert (tmp_path / "out.txt").stat().st_mode == plain.stat().st_mode
    assert os.stat(tmp_path / "out.txt").st_mode & 0o044  # group and others may read
