"""A full disk or quota while writing an output: one test and one message for every stage.

Every writer of the pipeline (samples, staged files and their records, checkpoints, mask and prediction
files) reports a full disk the same way, as an ``OSError`` (errno ENOSPC or EDQUOT) with one line::

    PATH: disk full or quota exceeded: needs 3.92 MB, 65.5 kB free in DIR; WHAT IS LEFT AS IT WAS

Libraries report a full disk differently: ``open``/``write`` raise ``OSError(ENOSPC)``, h5py an ``OSError``
whose text holds "No space left on device" (and a ``RuntimeError`` without either when the disk fills up at
close), TensorFlow an ``OpError`` with the text, netCDF4 ``RuntimeError("NetCDF: HDF error")``.
:func:`is_disk_full` recognizes all of them.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
from pathlib import Path

FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
FULL_TEXTS = ("No space left on device", "Disk quota exceeded")


def human_bytes(size: float) -> str:
    """``size`` bytes as text in decimal units: ``'999 B'``, ``'1.50 kB'``, ``'2.50 GB'``."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.2f} {unit}"
        size /= 1000


def free_bytes(directory) -> int | None:
    """Bytes free to this user in ``directory``'s file system; None when it cannot be asked."""
    try:
        return shutil.disk_usage(directory).free
    except OSError:
        return None


def is_disk_full(error: BaseException, *, directory=None, needed_bytes: int = 0) -> bool:
    """Whether ``error``, raised by a write into ``directory``, came from a full disk or quota.

    Yes when its errno is ENOSPC or EDQUOT or its text says so; for an error without an errno (netCDF4, h5py at
    close) also when ``directory`` has less than ``needed_bytes`` free.
    """
    if getattr(error, "errno", None) in FULL_ERRNOS:
        return True
    if any(text in str(error) for text in FULL_TEXTS):
        return True
    if getattr(error, "errno", None) is None and directory is not None and needed_bytes > 0:
        free = free_bytes(directory)
        return free is not None and free < needed_bytes
    return False


def disk_full_error(path, *, needed_bytes: int, kept: str, code: int | None = None) -> OSError:
    """The one-line error of an output ``path`` that did not fit.

    Parameters
    ----------
    path : the output file (or directory) being written
    needed_bytes : int
        The space the output needs, bytes (an estimate is fine: its data without compression).
    kept : str
        What the failed write left as it was, e.g. ``"no file was left"``.
    code : int, optional
        errno of the cause: EDQUOT is kept, anything else becomes ENOSPC.
    """
    directory = Path(path).parent
    free = free_bytes(directory)
    free_text = "unknown space" if free is None else human_bytes(free)
    error = OSError(f"{path}: disk full or quota exceeded: needs {human_bytes(needed_bytes)}, {free_text} free in "
                    f"{directory}; {kept}")
    error.errno = code if code in FULL_ERRNOS else errno.ENOSPC  # set after: OSError(code, text) prints "[Errno 28] text"
    return error


@contextlib.contextmanager
def reporting_disk_full(path, *, needed_bytes: int, kept: str):
    """Raise :func:`disk_full_error` in place of any full-disk error (:func:`is_disk_full`) raised inside."""
    try:
        yield
    except Exception as error:
        if not is_disk_full(error, directory=Path(path).parent, needed_bytes=needed_bytes):
            raise
        raise disk_full_error(path, needed_bytes=needed_bytes, kept=kept, code=getattr(error, "errno", None)) from None
