"""Write files so that a killed job never leaves one that looks finished.

Every output of climseg is written to a temporary name in the same directory and renamed into place
only when complete (``os.replace`` is atomic on POSIX file systems).
"""

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_output(path, *, suffix: str = ".tmp"):
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds.

    The temporary file is removed if the block raises. Parent directories are created.

    Examples
    --------
    >>> with atomic_output("out/data.h5") as tmp:          # doctest: +SKIP
    ...     with h5py.File(tmp, "w") as f: ...
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
