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
