"""Which sample files a command line names: the one resolver every command uses.

A *sample source* is one of

- a directory: every ``data-*.h5`` below it, searched recursively, sorted by path;
- a sample file ``data-YYYY-MM-DD-TT-R.h5`` (or any ``.h5`` / ``.hdf5``: the public DeepCAM set is named so);
- a text file with one sample path per line: relative paths are relative to the list's own folder
  (not the working directory), blank lines are skipped and ``#`` starts a comment.

Commands that read samples on many ranks (``climseg train``, ``climseg evaluate``) also take a staging
``manifest.json`` written by ``climseg stage``; :func:`rank_samples` gives each rank its share.

:func:`resolve_samples` turns any number of sources into one list and refuses what would silently
train or stage on the wrong data: a missing source, a source naming no samples, a listed file that
does not exist or is not an HDF5 sample, and the same file named twice.
"""

import json
from pathlib import Path

SAMPLE_GLOB = "data-*.h5"
SAMPLE_SUFFIXES = (".h5", ".hdf5")

SOURCES_HELP = ("a directory (every data-*.h5 below it, recursively), a sample .h5 file, or a text file "
                "listing one sample per line (paths relative to the list's folder; blank lines and # "
                "comments allowed)")
"""The forms of a sample source, for every command's ``--help``."""

RANK_SOURCES_HELP = SOURCES_HELP + ", or a staging manifest.json (each rank takes its own entry)"
"""The forms of a sample source of a multi-rank reader (train, evaluate), for ``--help``."""


def resolve_samples(sources) -> list[Path]:
    """Return the sample files named by ``sources``, in order, each once.

    Parameters
    ----------
    sources : str, Path, or iterable of them
        Directories, sample files and text lists (see the module docstring).

    Returns
    -------
    list of Path
        Absolute paths: each directory's files sorted by path, each list's in its own order,
        sources one after another.

    Raises
    ------
    ValueError
        Naming the source and the problem: no such file or directory, a directory or list with no
        samples, a listed file that does not exist, a file that is not a ``.h5``/``.hdf5`` sample,
        a text file that is not text, or a sample named twice (with both places that name it).
    """
    if isinstance(sources, (str, Path)):
        sources = [sources]
    files: list[Path] = []
    named_by: dict[Path, str] = {}
    for source in map(Path, sources):
        for file, origin in _source_files(source):
            resolved = file.resolve()
            if resolved in named_by:
                raise ValueError(f"{origin}: names {file} again (already named by {named_by[resolved]})")
            named_by[resolved] = origin
            files.append(resolved)
    return files


def rank_samples(source, *, rank: int = 0, size: int = 1, split: str = "train") -> list[Path]:
    """Return the sample files of rank ``rank`` of ``size`` named by ``source``.

    Parameters
    ----------
    source : str or Path
        A staging ``manifest.json`` (``{"ranks": {"0": {"train": [names], "validation": [names]}, ...}}``,
        names relative to the manifest's folder; its ``n_ranks``, or the number of ranks it lists, must be ``size``: a node's
        manifest lists only that node's ranks), or any source of
        :func:`resolve_samples`, whose files are dealt out round-robin, ``files[rank::size]``.
    rank, size : int, keyword-only
        This process and the number of processes.
    split : {"train", "validation"}, keyword-only
        Which list of a manifest entry to use (ignored for the other forms).

    Returns
    -------
    list of Path
        Absolute paths, in a fixed order.

    Raises
    ------
    ValueError
        Naming the source: any error of :func:`resolve_samples`, fewer files than ranks, a malformed
        manifest, or a manifest entry naming no files or a missing file.
    """
    source = Path(source)
    if not 0 <= rank < size:
        raise ValueError(f"rank {rank} is outside 0..{size - 1}")
    if source.suffix != ".json":
        files = resolve_samples(source)
        if len(files) < size:
            raise ValueError(f"{source}: no files for rank {rank} of {size} ({len(files)} in all)")
        return files[rank::size]
    files = _manifest_files(source, rank=rank, size=size, split=split)
    if not files:
        raise ValueError(f"{source}: manifest lists no {split} files for rank {rank}")
    for file in files:
        if not file.is_file():
            raise ValueError(f"{source}: lists {file}, which does not exist")
    return [file.resolve() for file in files]


def _manifest_files(manifest: Path, *, rank: int, size: int, split: str) -> list[Path]:
    """The files of one rank's ``split`` list in a staging manifest, not yet checked to exist."""
    if split not in ("train", "validation"):
        raise ValueError(f"split must be 'train' or 'validation', got {split!r}")
    if not manifest.is_file():
        raise ValueError(f"{manifest}: no such staging manifest")
    try:
        content = json.loads(manifest.read_text())
        ranks = content["ranks"]  # a node's manifest lists its own ranks; "n_ranks" counts all of them
        n_ranks = content.get("n_ranks", len(ranks))
        entry = ranks[str(rank)]
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError(f"{manifest}: not a JSON staging manifest") from None
    except (KeyError, TypeError):
        raise ValueError(f"{manifest}: no entry for rank {rank} under 'ranks'") from None
    if n_ranks != size:
        raise ValueError(f"{manifest}: staged for {n_ranks} ranks, but this job has {size}")
    if split not in entry:
        raise ValueError(f"{manifest}: rank {rank} has no '{split}' list")
    return [manifest.parent / name for name in entry[split]]


def _source_files(source: Path) -> list[tuple[Path, str]]:
    """The (file, where it was named) pairs of one source, checked to exist and to be samples."""
    if source.is_dir():
        found = sorted(source.rglob(SAMPLE_GLOB))
        if not found:
            raise ValueError(f"{source}: no {SAMPLE_GLOB} sample files in this directory or below it")
        return [(file, str(source)) for file in found]
    if not source.exists():
        raise ValueError(f"{source}: no such directory, sample file or file list")
    if source.suffix in SAMPLE_SUFFIXES:
        return [(source, str(source))]
    pairs = [(file, f"{source} line {number}") for number, file in _listed(source)]
    if not pairs:
        raise ValueError(f"{source}: the file list names no sample files")
    for file, origin in pairs:
        if file.suffix not in SAMPLE_SUFFIXES:
            raise ValueError(f"{origin}: {file} is not a sample file (.h5 or .hdf5)")
        if not file.is_file():
            raise ValueError(f"{origin}: {file} does not exist")
    return pairs


def _listed(list_path: Path) -> list[tuple[int, Path]]:
    """(line number, path) of each entry of a text list, relative paths taken from the list's folder."""
    try:
        lines = list_path.read_text().splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{list_path}: not a text file with one sample path per line "
                         f"(nor a directory or a .h5 sample)") from None
    entries = ((number, line.split("#", 1)[0].strip()) for number, line in enumerate(lines, start=1))
    return [(number, list_path.parent / name) for number, name in entries if name]
