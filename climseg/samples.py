"""Which sample files a command line names: the one resolver every command uses.

A *sample source* is one of

- a directory: every ``data-*.h5`` below it, searched recursively, sorted by path;
- a sample file ``data-YYYY-MM-DD-TT-R.h5`` (or any ``.h5`` / ``.hdf5``: the public DeepCAM set is named so);
- a text file with one sample path per line: relative paths are relative to the list's own folder
  (not the working directory), blank lines are skipped and ``#`` starts a comment.

:func:`resolve_samples` turns any number of sources into one list and refuses what would silently
train or stage on the wrong data: a missing source, a source naming no samples, a listed file that
does not exist or is not an HDF5 sample, and the same file named twice.
"""

from pathlib import Path

SAMPLE_GLOB = "data-*.h5"
SAMPLE_SUFFIXES = (".h5", ".hdf5")

SOURCES_HELP = ("a directory (every data-*.h5 below it, recursively), a sample .h5 file, or a text file "
                "listing one sample per line (paths relative to the list's folder; blank lines and # "
                "comments allowed)")
"""The forms of a sample source, for every command's ``--help``."""


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
