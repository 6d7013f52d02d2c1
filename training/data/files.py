"""Which sample files a rank reads: a directory, a text list, one ``.h5`` file or a staging ``manifest.json``."""

import json
from pathlib import Path


def resolve_sample_files(path, *, rank: int = 0, size: int = 1, split: str = "train") -> list[str]:
    """Return the sample files of this rank named by ``path``.

    Parameters
    ----------
    path : str or Path
        A directory of ``data-*.h5`` files (sorted by name), a text file with one sample path per line
        (relative paths are relative to the list; blank lines and ``#`` comments are skipped), a single
        sample ``.h5`` file, or a staging ``manifest.json``
        (``{"ranks": {"0": {"train": [names], "validation": [names]}, ...}}``, names relative to the
        manifest's directory).
    rank, size : int, keyword-only
        This process and the number of processes. A manifest gives each rank its own entry (and must
        list exactly ``size`` ranks); a directory or list is dealt out round-robin, ``files[rank::size]``.
    split : {"train", "validation"}, keyword-only
        Which list of a manifest entry to use (ignored for the other forms).

    Returns
    -------
    list of str
        Absolute paths, in a fixed order.

    Raises
    ------
    OSError
        ``path`` or a listed file does not exist.
    ValueError
        No sample files for this rank, or a malformed manifest.
    """
    path = Path(path)
    if not 0 <= rank < size:
        raise ValueError(f"rank {rank} is outside 0..{size - 1}")
    if not path.exists():
        raise OSError(f"{path}: no such file or directory")
    if path.suffix == ".json":
        files = _manifest_files(path, rank=rank, size=size, split=split)
        if not files:
            raise ValueError(f"{path}: manifest lists no {split} files for rank {rank}")
    else:
        if path.is_dir():
            files, empty = sorted(path.glob("data-*.h5")), "directory has no data-*.h5 files"
        elif path.suffix in (".h5", ".hdf5"):
            files, empty = [path], ""
        else:
            files, empty = _listed_files(path), "file list names no files"
        if not files:
            raise ValueError(f"{path}: {empty}")
        if len(files) < size:
            raise ValueError(f"{path}: no files for rank {rank} of {size} ({len(files)} in all)")
        files = files[rank::size]
    for file in files:
        if not file.is_file():
            raise OSError(f"{path}: lists {file}, which does not exist")
    return [str(file.resolve()) for file in files]


def _listed_files(list_path: Path) -> list[Path]:
    try:
        lines = list_path.read_text().splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{list_path}: not a text file list of sample paths (nor a directory, .h5 or .json)")
    names = (line.split("#", 1)[0].strip() for line in lines)
    return [list_path.parent / name for name in names if name]


def _manifest_files(manifest: Path, *, rank: int, size: int, split: str) -> list[Path]:
    if split not in ("train", "validation"):
        raise ValueError(f"split must be 'train' or 'validation', got {split!r}")
    try:
        ranks = json.loads(manifest.read_text())["ranks"]
        entry = ranks[str(rank)]
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError(f"{manifest}: not a JSON staging manifest")
    except (KeyError, TypeError):
        raise ValueError(f"{manifest}: no entry for rank {rank} under 'ranks'")
    if len(ranks) != size:
        raise ValueError(f"{manifest}: staged for {len(ranks)} ranks, but this job has {size}")
    if split not in entry:
        raise ValueError(f"{manifest}: rank {rank} has no '{split}' list")
    return [manifest.parent / name for name in entry[split]]
