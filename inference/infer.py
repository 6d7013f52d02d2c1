"""``climseg infer``: raw netCDF model output -> a trained network -> one mask file per input file.

    climseg infer cam5/*.nc --run runs/tiramisu --out masks/ [--checkpoint best|latest] [--batch-size 4]
    mpirun -np 8 climseg infer cam5/*.nc --run runs/tiramisu --out masks/       # each rank its share of files

For each input ``X.nc`` it writes ``OUT/X.climseg.nc`` (:mod:`inference.masks`), in this order:

1. the file is opened and validated by the reader of ``climseg label`` (:mod:`labeling.reading`: the 16
   channels, their units, dimensions, coordinates, calendar), which hands out every time step on the
   canonical grid (latitude ascending, longitude 0..360), the grid the network was trained on;
2. batches of time steps are normalized with the run's ``stats.h5`` and normalization, missing values (NaN)
   filled with the channel's training mean and counted (:meth:`training.run.TrainedRun.normalize`);
3. the network infers the whole grid, padded to its divisor and cropped back (:mod:`training.run`): any
   grid works, nothing is resampled; a grid spacing more than 2x away from the training samples' gives a
   warning, and both spacings are recorded in the output;
4. the masks are put back into the input's own orientation (latitude descending, longitude -180..180
   stay so) and written with the input's ``time``, ``lat``, ``lon``.

While the network runs on one batch, reader threads (``--read-workers``) read and normalize the next ones
(netCDF and numpy release the GIL; TensorFlow runs its own threads), so reading does not idle the network.

Under an MPI launcher each rank takes every size-th file (``files[rank::size]``) with its own copy of the
network; a failing rank aborts the whole job with its message (:func:`training.distributed.fail_fast`), and
the launcher ends the job when a rank is killed. Outputs are written atomically, and an output that exists
and was made by the same run and checkpoint (its ``source`` attribute) is skipped, so a rerun redoes only
the missing files (``--overwrite`` redoes all).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from climseg import __version__
from climseg.contract import CHANNELS
from inference.masks import NETWORK, mask_file, mask_file_name, netcdf_lock, read_source_coordinates
from labeling.reading import canonical_grid, open_model_output

ROWS_PER_BLOCK = 32
"""Rows of a time step interleaved and normalized at a time (1152 x 16 x 4 B x 32 = 2.4 MB, cache-sized)."""
SPACING_WARNING_FACTOR = 2.0
"""A grid spacing more than this factor finer or coarser than the training samples' gets a warning."""


class FileResult(NamedTuple):
    """What inferring one input file gave."""

    source: Path
    output: Path
    steps: int
    """Time steps written (0 when skipped)."""
    filled: int
    """Missing input values (NaN) filled with the training mean."""
    skipped: bool
    """The output existed, made by the same run and checkpoint."""
    warnings: tuple
    """One-line warnings naming the file (grid spacing, missing values)."""


def source_order(lat_deg, lon_deg) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays that put (..., lat, lon) arrays on the canonical grid back into the file's orientation.

    ``canonical[..., lat_back, :][..., lon_back]`` is in the order of the file's ``lat_deg``, ``lon_deg``.
    """
    _, _, lat_order, lon_order = canonical_grid(lat_deg, lon_deg)
    return np.argsort(lat_order), np.argsort(lon_order)


def to_source(canonical: np.ndarray, lat_back: np.ndarray, lon_back: np.ndarray) -> np.ndarray:
    """(steps, lat, lon, ...) on the canonical grid -> the file's orientation (:func:`source_order`); no copy
    when the file is already canonical."""
    if not np.array_equal(lat_back, np.arange(len(lat_back))):
        canonical = canonical[:, lat_back]
    if not np.array_equal(lon_back, np.arange(len(lon_back))):
        canonical = canonical[:, :, lon_back]
    return canonical


def spacing_warning(path, input_spacing_deg, training_spacing_deg) -> str | None:
    """A warning line when the input's grid spacing is more than 2x away from the training grid's."""
    if training_spacing_deg is None:
        return None
    ratios = np.asarray(input_spacing_deg) / np.asarray(training_spacing_deg)
    if np.all((ratios <= SPACING_WARNING_FACTOR) & (ratios >= 1 / SPACING_WARNING_FACTOR)):
        return None
    return (f"{path}: grid spacing {input_spacing_deg[0]:.3g} x {input_spacing_deg[1]:.3g} degrees (lat x lon) is "
            f"more than {SPACING_WARNING_FACTOR:g}x away from the training samples' {training_spacing_deg[0]:.3g} x "
            f"{training_spacing_deg[1]:.3g} degrees: the network sees features at another scale than it learned")


def missing_value_warning(path, filled: int, channels) -> str:
    return (f"{path}: {filled} missing input value(s) (NaN/_FillValue) in {', '.join(channels)} filled with the "
            "channel's training mean")


def run_source(run) -> str:
    """The ``source`` attribute of the mask files of ``run`` (version, model, run directory, checkpoint)."""
    return f"climseg {__version__}: {run.describe()}"


def output_is_current(path, source: str) -> bool:
    """Whether mask file ``path`` exists and was made by ``source`` (the run and checkpoint)."""
    import netCDF4

    if not Path(path).is_file():
        return False
    try:
        with netcdf_lock(), netCDF4.Dataset(path, "r") as existing:
            return getattr(existing, "source", None) == source
    except (OSError, RuntimeError):
        return False


def _read_batch(model, start: int, stop: int, normalize) -> tuple[np.ndarray, np.ndarray]:
    """Normalized fields (steps, lat, lon, 16) float32 of time steps ``start:stop``, and the values filled (16,).

    Channels are interleaved and normalized in blocks of rows while the block is in the CPU cache (a 768 x
    1152 step in about a quarter of the time of whole-field copies).
    """
    rows, cols = len(model.lat_deg), len(model.lon_deg)
    out = np.empty((stop - start, rows, cols, len(CHANNELS)), np.float32)
    filled = np.zeros(len(CHANNELS), np.int64)
    for index, step in enumerate(range(start, stop)):
        fields, _ = model.read_step(step)
        for row in range(0, rows, ROWS_PER_BLOCK):
            block = out[index, row:row + ROWS_PER_BLOCK]
            np.stack([fields[name][row:row + ROWS_PER_BLOCK] for name in CHANNELS], axis=-1, out=block)
            filled += normalize(block, in_place=True)[1]
    return out, filled


def read_batches(model, batch_size: int, normalize, *, workers: int = 1):
    """Yield ``(start, normalized fields, filled per channel)`` per batch, read ahead by ``workers`` threads.

    ``workers + 1`` batches are in flight, so the next is ready when the network asks for it.
    """
    starts = list(range(0, len(model), batch_size))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="climseg-infer-reader") as pool:
        pending = []
        try:
            for start in starts:
                pending.append((start, pool.submit(_read_batch, model, start, min(start + batch_size, len(model)),
                                                   normalize)))
                if len(pending) > workers:
                    start, future = pending.pop(0)
                    yield (start, *future.result())
            for start, future in pending:
                yield (start, *future.result())
        finally:
            for _, future in pending:
                future.cancel()


def infer_file(run, path, out_path, *, batch_size: int = 1, probabilities: bool = False, history: str = "",
               workers: int = 1, training_spacing_deg=None, on_steps=None) -> FileResult:
    """Infer every time step of one raw netCDF file and write its mask file ``out_path`` atomically.

    Parameters
    ----------
    run : training.run.TrainedRun
    path : path of a CAM5-style netCDF file
    out_path : path of the mask file
    batch_size : int
        Time steps per forward pass.
    probabilities : bool
        Also write the per-class probabilities.
    history : str
        The ``history`` attribute (:func:`inference.masks.history_line`).
    workers : int
        Reader threads.
    training_spacing_deg : (float, float) or None
        (lat, lon) spacing of the training samples, degrees.
    on_steps : callable(int) or None
        Called with the number of time steps after each batch.

    Raises
    ------
    ValueError, OSError
        One line naming the file (bad input, disk full); no output file is left.
    """
    from training.run import grid_spacing_deg, is_global_longitude

    path, out_path = Path(path), Path(out_path)
    with open_model_output(path) as model:  # validates the file first: its errors are the ones of climseg label
        coordinates = read_source_coordinates(path)
        lat_back, lon_back = source_order(coordinates["lat"].values, coordinates["lon"].values)
        periodic_lon = is_global_longitude(model.lon_deg)
        input_spacing = grid_spacing_deg(model.lat_deg, model.lon_deg)
        warnings = [w for w in [spacing_warning(path, input_spacing, training_spacing_deg)] if w]
        attrs = {"climseg_input_grid_spacing_deg": np.asarray(input_spacing)}
        if training_spacing_deg is not None:
            attrs["climseg_training_grid_spacing_deg"] = np.asarray(training_spacing_deg)
        source = run_source(run)
        title = f"Tropical cyclone and atmospheric river masks of {path.name} by the climseg {run.config.model} network"
        filled = np.zeros(len(CHANNELS), np.int64)
        with mask_file(out_path, coordinates, mask_source=NETWORK, source=source, history=history, title=title,
                       input_file=path, probabilities=probabilities, attrs=attrs) as masks:
            batches = contextlib.closing(read_batches(model, batch_size, run.normalize, workers=workers))
            with batches as batch_iterator:  # the readers stop before the file is closed, also on errors
                for start, fields, filled_now in batch_iterator:
                    probability = run.class_probabilities(fields, periodic_lon=periodic_lon)  # (steps, lat, lon, 3)
                    classes = to_source(probability.argmax(axis=-1).astype(np.int8), lat_back, lon_back)
                    masks.write(start, classes, to_source(probability, lat_back, lon_back) if probabilities else None)
                    filled += filled_now
                    if on_steps is not None:
                        on_steps(len(fields))
            masks.set_attributes(climseg_missing_values_filled=np.int64(filled.sum()))
        if filled.any():
            warnings.append(missing_value_warning(path, int(filled.sum()), [c for c, n in zip(CHANNELS, filled) if n]))
        return FileResult(path, out_path, len(model), int(filled.sum()), False, tuple(warnings))


def infer_files(run_dir, paths, out_dir, *, which: str = "best", batch_size: int = 1, probabilities: bool = False,
                workers: int = 1, history: str = "", overwrite: bool = False, progress: bool = True,
                on_result=None) -> tuple[list[FileResult], int]:
    """Infer many files, each rank of an MPI job its share; call inside :func:`training.distributed.fail_fast`.

    Returns this rank's results (in input order) and the number of files written on all ranks together.
    ``on_result(result)`` is called after each file (to print its warnings at once).
    """
    from tqdm import tqdm

    from training import distributed
    from training.run import TrainedRun, training_grid_spacing_deg

    distributed.init()
    paths = [Path(p) for p in paths]
    mine = paths[distributed.rank()::distributed.size()]
    run = TrainedRun(run_dir, which=which)
    training_spacing = training_grid_spacing_deg(run.config)
    source = run_source(run)
    results = []
    with tqdm(unit="step", desc=f"infer (rank {distributed.rank()})", disable=not progress) as bar:
        for path in mine:
            out_path = Path(out_dir) / mask_file_name(path, NETWORK)
            if not overwrite and output_is_current(out_path, source):
                result = FileResult(path, out_path, 0, 0, True, ())
            else:
                result = infer_file(run, path, out_path, batch_size=batch_size, probabilities=probabilities,
                                    history=history, workers=workers, training_spacing_deg=training_spacing,
                                    on_steps=bar.update)
            results.append(result)
            if on_result is not None:
                on_result(result)
    written = int(distributed.allreduce_sum(np.array(sum(not r.skipped for r in results), np.int64)))
    return results, written
