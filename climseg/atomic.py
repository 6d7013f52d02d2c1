"""Write files so that a killed job never leaves one that looks finished.

Every output of climseg is written to a temporary name in the same directory and renamed into place
only when complete (``os.replace`` is atomic on POSIX file systems).
"""

import contextlib
import os
import tempfile
from pathlib import Path


def _current_umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path, *, suffix: str = ".tmp"):
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds.

    The temporary file is removed if the block raises. Parent directories are created. The finished file
    gets the permissions of a plain ``open(path, "w")`` (0666 less the umask), not ``mkstemp``'s 0600.

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
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
