"""A full disk while writing an output: one line naming the file, the space it needs and the space left."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

MIB = 1024 ** 2


def human_bytes(size: int) -> str:
    """``size`` bytes as text in KiB below 1 MiB, else in MiB (``'64.0 KiB'``, ``'12.3 MiB'``)."""
    return f"{size / 1024:.1f} KiB" if size < MIB else f"{size / MIB:.1f} MiB"


def disk_full_error(path, error: BaseException, *, needed_bytes: int) -> OSError | None:
    """The error to report if ``error`` (raised while writing ``path``) came from a full disk, else None.

    h5py raises ``OSError(ENOSPC)``; netCDF4 raises ``RuntimeError("NetCDF: HDF error")`` without an
    errno, so a write that fails while the file system has less than ``needed_bytes`` free counts as
    full too.

    Parameters
    ----------
    path : path of the output file
    error : the exception raised by the write
    needed_bytes : int
        Upper bound of the file's size (its uncompressed data), bytes.
    """
    directory = Path(path).parent
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        free = None
    full = getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or (free is not None and free < needed_bytes)
    if not full:
        return None
    free_text = "unknown" if free is None else human_bytes(free)
    full_error = OSError(f"{path}: disk full or quota exceeded while writing (needs up to {human_bytes(needed_bytes)}, "
                         f"{free_text} free in {directory}); no file was left")
    full_error.errno = errno.ENOSPC
    return full_error
