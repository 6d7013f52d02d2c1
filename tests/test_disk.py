"""climseg.disk: one test and one message for a full disk, whichever library met it."""

import errno

import pytest

from climseg.disk import disk_full_error, human_bytes, is_disk_full, reporting_disk_full


def test_human_bytes():
    assert [human_bytes(n) for n in (0, 999, 1500, 65536, 2.5e9, 3e15)] == \
        ["0 B", "999 B", "1.50 kB", "65.54 kB", "2.50 GB", "3000.00 TB"]


@pytest.mark.parametrize("error", [
    OSError(errno.ENOSPC, "No space left on device"),
    OSError(errno.EDQUOT, "Disk quota exceeded"),
    OSError("Unable to synchronously create file (file write failed: errno = 28, error message = 'No space left on "
            "device')"),                                            # h5py: the text, no errno
    RuntimeError("write failed: Disk quota exceeded"),              # TensorFlow's OpError carries the text
])
def test_full_disk_errors_of_every_library_are_recognized(error, tmp_path):
    assert is_disk_full(error, directory=tmp_path, needed_bytes=1)


def test_other_errors_are_not_a_full_disk(tmp_path):
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"), directory=tmp_path, needed_bytes=1 << 70)
    assert not is_disk_full(RuntimeError("NetCDF: HDF error"), directory=tmp_path, needed_bytes=1)
    assert not is_disk_full(RuntimeError("NetCDF: HDF error"))


def test_an_errorless_failure_counts_as_full_when_the_output_does_not_fit(tmp_path):
    """netCDF4 and h5py at close raise without an errno: the free space decides."""
    assert is_disk_full(RuntimeError("NetCDF: HDF error"), directory=tmp_path, needed_bytes=1 << 70)


def test_the_message_names_the_file_the_space_needed_and_free_and_what_was_kept(tmp_path):
    error = disk_full_error(tmp_path / "x.nc", needed_bytes=1500, kept="no file was left", code=errno.EDQUOT)
    message = str(error)
    assert message.startswith(f"{tmp_path / 'x.nc'}: disk full or quota exceeded: needs 1.50 kB, ")
    assert message.endswith(f" free in {tmp_path}; no file was left") and "\n" not in message
    assert error.errno == errno.EDQUOT
    assert disk_full_error(tmp_path / "x.nc", needed_bytes=1, kept="-", code=None).errno == errno.ENOSPC


def test_reporting_disk_full_replaces_only_full_disk_errors(tmp_path, small_tmpfs):
    directory = small_tmpfs or tmp_path
    path = directory / "big.bin"
    with pytest.raises(OSError) as caught, reporting_disk_full(path, needed_bytes=1 << 20, kept="no file was left"):
        if small_tmpfs is None:  # no mount allowed: the write fails as on a full disk
            raise OSError(errno.ENOSPC, "No space left on device")
        path.write_bytes(b"\0" * (1 << 20))                 # 1 MiB on a 64 KiB disk
    assert str(caught.value).startswith(f"{path}: disk full or quota exceeded: needs 1.05 MB, ")
    assert caught.value.errno == errno.ENOSPC and caught.value.__cause__ is None
    with pytest.raises(PermissionError), reporting_disk_full(path, needed_bytes=1, kept="-"):
        raise PermissionError(errno.EACCES, "Permission denied")
