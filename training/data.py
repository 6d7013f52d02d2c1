"""The input pipeline: sample files -> shuffle -> parallel HDF5 reads -> normalization -> crop/flip -> batches.

Reading
-------
A sample file holds one (lat, lon, 16) float32 field and its (lat, lon) labels (the data contract in
:mod:`climseg.contract`); our files store labels as uint8, the public DeepCAM files as float32 without
attributes. Both are read alike.

h5py holds one global lock around every call into the HDF5 library, so reads in threads run one at a
time. Reads run in a pool of ``read_workers`` *processes* instead (as in Kurth et al. 2018), which write
each sample straight into its place in a batch buffer in shared memory (``multiprocessing.RawArray``),
reading and normalizing it in blocks of rows while the block is in the CPU cache. A finished batch is
handed to TensorFlow as a tensor aliasing the buffer (DLPack): only file names and buffer numbers cross
the process boundary, and the ~57 MB of a full 768 x 1152 x 16 sample are never pickled or copied. A
buffer is refilled once TensorFlow has freed the tensor. Readers are started with the ``forkserver``
method (never ``fork``: the parent runs TensorFlow's threads), without re-importing the ``__main__``
script, and import only numpy and h5py (this module imports TensorFlow inside :func:`make_dataset`).

Measured with ``bench/pipeline.py`` (24 full-size files in the page cache, 4 readers, batch 2, medians
of 5 rounds, on the 2-core development machine shared with other jobs at a load average of 4 to 13):

=================================================  =========  =============
reader                                             samples/s  CPU ms/sample
=================================================  =========  =============
raw h5py reads, 4 processes (baseline)                  14.6           38.6
tf.data map over py_function, 4 threads                  7.9           75.9
this pipeline, 4 processes                              28.3           31.3
=================================================  =========  =============

Threads cost twice the CPU per sample of processes (h5py's lock, and copies into tensors) and were the
slowest in every round. On that busy machine samples/s swing by 2-5x from round to round, and the
pipeline / raw ratio of medians came out at 0.55, 0.81, 0.98 (batch 4) and 1.94 in four runs. The CPU
time per sample is steadier: the pipeline needed 0.81-1.08 of the raw reads' (which allocate, and
page-fault, fresh arrays for every sample; its buffers are mapped once, when a reader starts). It adds
no cost over the reads themselves; its samples/s follow the CPU share it gets.

Order and resuming
------------------
The stream of samples is epoch 0, epoch 1, ... (``repeat=True``) or one epoch (``repeat=False``). Each
epoch visits every file once, in an order (and with crop origins and flips) drawn from
``numpy.random.default_rng([seed, epoch])`` only: the same ``seed`` gives the same batches, whatever the
number of workers or the timing of reads. A resumed run passes ``skip_batches`` (the steps already taken)
and sees exactly the batches an uninterrupted run would have seen next; ``epoch`` starts the stream at a
given epoch.

Flips
-----
``flips=True`` mirrors a sample north-south with probability 1/2, and negates the meridional wind
channels (V850, VBOT) so the mirrored field is still a physically consistent flow: a northern-hemisphere
cyclone (counter-clockwise) becomes a clockwise, i.e. southern-hemisphere, cyclone, as the labels say
(the TC criteria flip the sign of vorticity south of the equator), and atmospheric rivers keep their
poleward, eastward orientation. An east-west mirror has no such reading (it would make northern
cyclones turn clockwise) and is not offered. Flips are off by default: the climate of the two
hemispheres is not symmetric (land, seasons), so a mirrored sample is plausible, not exact.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import math
import multiprocessing
import os
import sys
import threading
import types
import weakref
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from climseg.contract import CHANNELS, DATA_KEY, LABELS_KEY, NUM_CLASSES

NORMALIZATIONS = ("minmax", "zscore")
CLASS_FREQUENCIES_KEY = "climate/class_frequencies"
"""Optional (3,) data set of ``stats.h5``: pixel frequencies of background, TC, AR."""
MERIDIONAL_WIND_CHANNELS = tuple(CHANNELS.index(name) for name in ("V850", "VBOT"))
"""Channels whose sign flips when a sample is mirrored north-south."""
_ROWS_PER_BLOCK = 32
"""Rows of a sample read and normalized at a time (1152 x 16 x 4 B x 32 = 2.4 MB, cache-sized)."""


# --------------------------------------------------------------------------------------------------
# Which files


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
        content = json.loads(manifest.read_text())
        ranks = content["ranks"]  # a node's manifest lists its own ranks; "n_ranks" counts all of them
        n_ranks = content.get("n_ranks", len(ranks))
        entry = ranks[str(rank)]
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError(f"{manifest}: not a JSON staging manifest")
    except (KeyError, TypeError):
        raise ValueError(f"{manifest}: no entry for rank {rank} under 'ranks'")
    if n_ranks != size:
        raise ValueError(f"{manifest}: staged for {n_ranks} ranks, but this job has {size}")
    if split not in entry:
        raise ValueError(f"{manifest}: rank {rank} has no '{split}' list")
    return [manifest.parent / name for name in entry[split]]


# --------------------------------------------------------------------------------------------------
# Statistics and normalization


@dataclass(frozen=True)
class ChannelStats:
    """Per-channel statistics of the training samples, from ``stats.h5``; all (16,) float64 in channel units."""

    mean: np.ndarray
    std: np.ndarray
    """sqrt(sqmean - mean**2), 0 where rounding makes that negative."""
    minval: np.ndarray
    maxval: np.ndarray
    count: np.ndarray
    class_frequencies: np.ndarray | None = None
    """(3,) pixel frequencies of background, TC, AR (sum 1), or None when ``stats.h5`` has none."""


def read_stats(path) -> ChannelStats:
    """Read ``stats.h5`` (``climate/mean``, ``sqmean``, ``minval``, ``maxval``, ``count``, each (16,)).

    The optional data set ``climate/class_frequencies`` (3,) becomes ``class_frequencies``
    (normalized to sum 1; all zeros, as written for samples without labels, count as absent). Raises OSError or ValueError naming the file when it cannot be read, a data set
    is missing, or one does not have one value per channel.
    """
    names = ("mean", "sqmean", "minval", "maxval", "count")
    try:
        with h5py.File(path, "r") as f:
            missing = [f"climate/{name}" for name in names if f"climate/{name}" not in f]
            if missing:
                raise ValueError(f"{path}: not a stats file: missing {', '.join(missing)}")
            values = {name: np.asarray(f[f"climate/{name}"][()], dtype=np.float64) for name in names}
            frequencies = f[CLASS_FREQUENCIES_KEY][()] if CLASS_FREQUENCIES_KEY in f else None
    except OSError as error:
        raise OSError(f"{path}: cannot read stats file ({error})") from None
    for name, value in values.items():
        if value.shape != (len(CHANNELS),):
            raise ValueError(f"{path}: climate/{name} has shape {value.shape}, expected ({len(CHANNELS)},)")
    if frequencies is not None:
        frequencies = np.asarray(frequencies, dtype=np.float64)
        if frequencies.shape == (NUM_CLASSES,) and np.all(frequencies == 0):
            frequencies = None  # statistics of samples without labels
    if frequencies is not None:
        if frequencies.shape != (NUM_CLASSES,) or np.any(frequencies < 0) or not frequencies.sum() > 0:
            raise ValueError(f"{path}: {CLASS_FREQUENCIES_KEY} must be {NUM_CLASSES} non-negative values, "
                             f"got {frequencies}")
        frequencies = frequencies / frequencies.sum()
    variance = values["sqmean"] - values["mean"] ** 2
    return ChannelStats(mean=values["mean"], std=np.sqrt(np.maximum(variance, 0.0)), minval=values["minval"],
                        maxval=values["maxval"], count=values["count"], class_frequencies=frequencies)


def normalization_coefficients(stats: ChannelStats, *, method: str = "zscore") -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``offset`` and ``scale`` with ``normalized = (x - offset) * scale``.

    Parameters
    ----------
    stats : ChannelStats
    method : {"minmax", "zscore"}
        ``minmax``: ``(x - minval) / (maxval - minval)``, in [0, 1] on the samples of the statistics (as
        MLPerf DeepCAM); ``zscore``: ``(x - mean) / std``.

    Returns
    -------
    offset, scale : ndarray (16,), float32
        A channel with zero (or non-finite) range or standard deviation gets ``scale = 0``: it becomes
        all zeros instead of NaN or infinity.
    """
    if method == "minmax":
        offset, spread = stats.minval, stats.maxval - stats.minval
    elif method == "zscore":
        offset, spread = stats.mean, stats.std
    else:
        raise ValueError(f"normalization must be one of {', '.join(NORMALIZATIONS)}, got {method!r}")
    usable = np.isfinite(spread) & (spread > 0)
    scale = np.where(usable, 1.0 / np.where(usable, spread, 1.0), 0.0)
    offset = np.where(np.isfinite(offset), offset, 0.0)
    return offset.astype(np.float32), scale.astype(np.float32)


# --------------------------------------------------------------------------------------------------
# One sample


def sample_grid(path) -> tuple[int, int]:
    """(lat, lon) points of a sample file, after checking its data sets; errors name the file."""
    with _open_sample(path) as f:
        return _checked_grid(path, f)


def read_sample(path, *, offset: np.ndarray, scale: np.ndarray, crop_origin: tuple[int, int] = (0, 0),
                crop_shape: tuple[int, int] | None = None, flip_latitude: bool = False,
                expected_grid: tuple[int, int] | None = None, out_data: np.ndarray | None = None,
                out_labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read, crop, flip and normalize one sample file.

    Parameters
    ----------
    path : str
    offset, scale : ndarray (16,), float32
        From :func:`normalization_coefficients`: the result is ``(x - offset) * scale``.
    crop_origin : (int, int)
        First (lat, lon) index of the crop.
    crop_shape : (int, int) or None
        (lat, lon) points of the crop; None: the whole grid.
    flip_latitude : bool
        Mirror north-south and negate V850 and VBOT (see the module notes on flips).
    expected_grid : (int, int) or None
        The (lat, lon) grid every file of the data set must have.
    out_data : ndarray (lat, lon, 16), float32, optional
    out_labels : ndarray (lat, lon), int32, optional
        Where to write the result (shared memory in the reader processes); allocated when None.

    Returns
    -------
    data : ndarray (lat, lon, 16), float32, normalized
    labels : ndarray (lat, lon), int32, class ids 0..2

    Raises
    ------
    OSError
        The file is missing, not HDF5, or truncated.
    ValueError
        A data set is missing or has the wrong shape, the grid differs from ``expected_grid``, or the
        labels are not class ids.
    """
    with _open_sample(path) as f:
        grid = _checked_grid(path, f)
        if expected_grid is not None and grid != tuple(expected_grid):
            raise ValueError(f"{path}: grid {grid[0]} x {grid[1]} differs from {expected_grid[0]} x "
                             f"{expected_grid[1]} of the other samples")
        rows, cols = crop_shape or grid
        row0, col0 = crop_origin
        if row0 < 0 or col0 < 0 or row0 + rows > grid[0] or col0 + cols > grid[1]:
            raise ValueError(f"{path}: crop {rows} x {cols} at ({row0}, {col0}) does not fit the grid "
                             f"{grid[0]} x {grid[1]}")
        data = np.empty((rows, cols, len(CHANNELS)), np.float32) if out_data is None else out_data
        labels = np.empty((rows, cols), np.int32) if out_labels is None else out_labels
        offset_row, scale_row = _row_coefficients(offset, scale, cols=cols, flip_latitude=flip_latitude)
        try:
            raw_labels = f[LABELS_KEY][row0:row0 + rows, col0:col0 + cols]
            for start in range(0, rows, _ROWS_PER_BLOCK):  # read and normalize while in the cache
                stop = min(start + _ROWS_PER_BLOCK, rows)
                block = data[rows - stop:rows - start] if flip_latitude else data[start:stop]
                f[DATA_KEY].read_direct(block, np.s_[row0 + start:row0 + stop, col0:col0 + cols, :])
                if flip_latitude:
                    block[:] = block[::-1]
                flat = block.reshape(len(block), cols * len(CHANNELS))
                np.subtract(flat, offset_row, out=flat)
                np.multiply(flat, scale_row, out=flat)
        except OSError as error:
            raise OSError(f"{path}: cannot read sample data, truncated or corrupt? ({error})") from None
    _store_labels(path, raw_labels[::-1] if flip_latitude else raw_labels, labels)
    return data, labels


def _row_coefficients(offset, scale, *, cols: int, flip_latitude: bool) -> tuple[np.ndarray, np.ndarray]:
    """``offset`` and ``scale`` repeated over a row of ``cols`` points, (cols * 16,) float32.

    Normalizing rows against these long vectors runs about twice as fast as broadcasting (16,) vectors.
    A north-south flip negates V850 and VBOT: ``(-x - o) * s == (x + o) * -s``, folded in here.
    """
    offset, scale = np.array(offset, np.float32), np.array(scale, np.float32)
    if flip_latitude:
        offset[list(MERIDIONAL_WIND_CHANNELS)] *= -1
        scale[list(MERIDIONAL_WIND_CHANNELS)] *= -1
    return np.tile(offset, cols), np.tile(scale, cols)


def _open_sample(path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except FileNotFoundError:
        raise OSError(f"{path}: no such sample file") from None
    except OSError as error:
        raise OSError(f"{path}: not a readable HDF5 sample file ({error})") from None


def _checked_grid(path, f: h5py.File) -> tuple[int, int]:
    for key in (DATA_KEY, LABELS_KEY):
        if not isinstance(f.get(key), h5py.Dataset):
            raise ValueError(f"{path}: no data set {key}; not a climseg/DeepCAM sample file")
    shape, label_shape = f[DATA_KEY].shape, f[LABELS_KEY].shape
    if len(shape) != 3 or shape[2] != len(CHANNELS):
        raise ValueError(f"{path}: {DATA_KEY} has shape {shape}, expected (lat, lon, {len(CHANNELS)})")
    if label_shape != shape[:2]:
        raise ValueError(f"{path}: {LABELS_KEY} has shape {label_shape}, expected {shape[:2]} like {DATA_KEY}")
    return shape[0], shape[1]


def _store_labels(path, raw: np.ndarray, out: np.ndarray) -> None:
    """Check that ``raw`` (any numeric dtype) holds class ids and write them to ``out`` (int32)."""
    if raw.dtype.kind == "f":
        if not np.all(np.isfinite(raw)) or not np.array_equal(raw, np.round(raw)):
            raise ValueError(f"{path}: {LABELS_KEY} holds values that are not class ids (non-integer or NaN)")
    elif raw.dtype.kind not in "iu":
        raise ValueError(f"{path}: {LABELS_KEY} has dtype {raw.dtype}, expected integers")
    if raw.size and (raw.min() < 0 or raw.max() >= NUM_CLASSES):
        raise ValueError(f"{path}: {LABELS_KEY} holds values in {raw.min():g}..{raw.max():g}, "
                         f"expected class ids 0..{NUM_CLASSES - 1}")
    np.copyto(out, raw, casting="unsafe")


# --------------------------------------------------------------------------------------------------
# The order of samples


@dataclass(frozen=True)
class EpochPlan:
    """What one epoch reads: file indices in order, crop origins (n, 2) and north-south flips (n,)."""

    order: np.ndarray
    crop_origins: np.ndarray
    flips: np.ndarray


def epoch_plan(num_files: int, *, seed: int, epoch: int, shuffle: bool, grid: tuple[int, int],
               crop: tuple[int, int] | None, flips: bool) -> EpochPlan:
    """The file order, crop origins and flips of one epoch, a function of ``(seed, epoch)`` only."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(num_files) if shuffle else np.arange(num_files)
    rows, cols = crop or grid
    origins = np.stack([rng.integers(0, grid[0] - rows + 1, num_files),
                        rng.integers(0, grid[1] - cols + 1, num_files)], axis=1)
    flipped = (rng.random(num_files) < 0.5) if flips else np.zeros(num_files, bool)
    return EpochPlan(order=order, crop_origins=origins, flips=flipped)


# --------------------------------------------------------------------------------------------------
# Reader processes


_worker_buffers: dict = {}


def _aligned_view(raw, dtype, shape) -> np.ndarray:
    """View a shared ``RawArray`` (allocated 64 bytes too long) as ``shape`` starting 64-byte aligned.

    TensorFlow wraps 64-byte aligned memory without copying it (and copies anything else).
    """
    flat = np.frombuffer(raw, np.uint8)
    start = -flat.ctypes.data % 64
    count = int(np.prod(shape)) * np.dtype(dtype).itemsize
    return flat[start:start + count].view(dtype).reshape(shape)


def _attach_buffers(data_raw, labels_raw, shape) -> None:
    """Reader-process initializer: the batch buffers, (buffers, batch, lat, lon, 16) and (buffers, batch, lat, lon).

    Reading one byte of every page maps the whole buffer into this process now (16 pages per fault),
    instead of one 4 KiB page fault at a time while writing samples: a first write to shared memory costs
    about as much as reading the sample.
    """
    _worker_buffers["data"] = _aligned_view(data_raw, np.float32, (*shape, len(CHANNELS)))
    _worker_buffers["labels"] = _aligned_view(labels_raw, np.int32, shape)
    for raw in (data_raw, labels_raw):
        int(np.frombuffer(raw, np.uint8)[::4096].sum())


def _read_into_buffer(buffer: int, position: int, path: str, kwargs: dict) -> None:
    read_sample(path, out_data=_worker_buffers["data"][buffer, position],
                out_labels=_worker_buffers["labels"][buffer, position], **kwargs)


@contextlib.contextmanager
def _main_module_hidden():
    """Start processes without re-importing the ``__main__`` script in them.

    multiprocessing imports the parent's main script in every process it starts (``forkserver`` and
    ``spawn``); a training script importing TensorFlow at the top would cost each reader seconds and
    hundreds of MB. The readers need nothing from it, so it is swapped for an empty module meanwhile.
    """
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


class _BatchStream:
    """Batches read by a pool of processes into shared memory and handed to TensorFlow without a copy.

    There are ``fill_ahead + prefetch + 2`` batch buffers. ``fill_ahead`` of them are being filled by the
    readers at any time; a finished buffer is given to TensorFlow as a tensor aliasing it (DLPack) and
    comes back for filling when TensorFlow frees that tensor (a ``weakref.finalize`` on the numpy view
    the tensor holds). Should the consumer hold on to so many batches that fewer than ``fill_ahead``
    buffers would be left for filling, batches are copied instead, so reading never stalls.
    """

    def __init__(self, tasks, *, batch_size, shape, read_workers, prefetch):
        self.tasks, self.batch_size = tasks, batch_size
        self.fill_ahead = math.ceil(read_workers / batch_size) + 1  # every reader busy, the next batch queued
        self.num_buffers = self.fill_ahead + prefetch + 2
        buffers_shape = (self.num_buffers, batch_size, *shape)
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])  # readers start with numpy and h5py already imported
        data_raw = context.RawArray("b", int(np.prod(buffers_shape)) * len(CHANNELS) * 4 + 64)
        labels_raw = context.RawArray("b", int(np.prod(buffers_shape)) * 4 + 64)
        self.data = _aligned_view(data_raw, np.float32, (*buffers_shape, len(CHANNELS)))
        self.labels = _aligned_view(labels_raw, np.int32, buffers_shape)
        with _main_module_hidden():
            self.pool = context.Pool(read_workers, initializer=_attach_buffers,
                                     initargs=(data_raw, labels_raw, buffers_shape))
        self.lock = threading.Lock()
        self.free, self.held = set(range(self.num_buffers)), set()
        self.filling = collections.deque()  # (buffer, [AsyncResult per sample])
        self._fill()

    def _fill(self) -> None:
        while len(self.filling) < self.fill_ahead:
            samples = list(itertools.islice(self.tasks, self.batch_size))
            if len(samples) < self.batch_size:
                return
            with self.lock:
                buffer = self.free.pop()
            self.filling.append((buffer, [self.pool.apply_async(_read_into_buffer, (buffer, j, path, kwargs))
                                          for j, (path, kwargs) in enumerate(samples)]))

    def _release(self, buffer: int) -> None:
        with self.lock:
            self.held.discard(buffer)
            self.free.add(buffer)

    def next_batch(self):
        """The next batch as tensors: x float32 (batch, lat, lon, 16), y int32 (batch, lat, lon)."""
        import tensorflow as tf

        buffer, results = self.filling.popleft()
        for result in results:
            result.get()  # re-raises a reader's error (naming the file) here
        labels = tf.constant(self.labels[buffer])
        with self.lock:
            alias = len(self.held) + 1 <= self.num_buffers - self.fill_ahead
            (self.held if alias else self.free).add(buffer)
        if alias:
            view = self.data[buffer][...]  # a fresh view object: freed when TensorFlow frees the tensor
            weakref.finalize(view, self._release, buffer)
            data = tf.experimental.dlpack.from_dlpack(view.__dlpack__())
        else:
            data = tf.constant(self.data[buffer])
        self._fill()
        return data, labels

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()


_streams: dict[int, _BatchStream] = {}
"""Open batch streams by id, for the ``py_function`` that fetches their batches."""


def _sample_tasks(files, *, seed, epoch, skip_samples, repeat, shuffle, grid, crop, flips, read_kwargs):
    """(path, keyword arguments of :func:`read_sample`) of every sample of the stream, in order."""
    epoch, position = epoch + skip_samples // len(files), skip_samples % len(files)
    while True:
        plan = epoch_plan(len(files), seed=seed, epoch=epoch, shuffle=shuffle, grid=grid, crop=crop, flips=flips)
        for i in range(position, len(files)):
            yield files[plan.order[i]], dict(read_kwargs, crop_origin=tuple(int(v) for v in plan.crop_origins[i]),
                                             flip_latitude=bool(plan.flips[i]))
        if not repeat:
            return
        epoch, position = epoch + 1, 0


def _stream_ids(num_batches, open_stream):
    """Generator behind the dataset: opens a stream per iterator, yields its id once per batch, closes it."""
    stream = open_stream()
    _streams[id(stream)] = stream
    try:
        for _ in itertools.count() if num_batches is None else range(num_batches):
            yield id(stream)
    finally:
        del _streams[id(stream)]
        stream.close()


def _next_batch(stream_id):
    return _streams[int(stream_id)].next_batch()


def make_dataset(files, stats: ChannelStats, *, batch_size: int, shuffle: bool = True, seed: int = 0,
                 epoch: int = 0, skip_batches: int = 0, normalization: str = "zscore",
                 crop: tuple[int, int] | None = None, flips: bool = False, read_workers: int = 4,
                 prefetch: int = 2, repeat: bool = True, drop_remainder: bool = True):
    """A ``tf.data.Dataset`` of normalized, batched samples read in parallel processes.

    Parameters
    ----------
    files : list of str
        Sample files (see :func:`resolve_sample_files`), all on the same grid.
    stats : ChannelStats
        Statistics for the normalization (:func:`read_stats`).
    batch_size : int, keyword-only
    shuffle : bool
        Visit the files of each epoch in a random order (otherwise in the order given).
    seed : int
        Order, crops and flips are a function of ``(seed, epoch)`` only.
    epoch : int
        The epoch the stream starts with.
    skip_batches : int
        Batches of the stream to skip without reading them (resume after this many steps).
    normalization : {"minmax", "zscore"}
        See :func:`normalization_coefficients`.
    crop : (int, int) or None
        (lat, lon) size of a random crop of each sample; None: the whole grid.
    flips : bool
        Mirror north-south with probability 1/2, negating V850 and VBOT (see the module notes).
    read_workers : int
        Reader processes.
    prefetch : int
        Batches prepared ahead.
    repeat : bool
        True: epoch after epoch without end (batches may span two epochs); False: one epoch.
    drop_remainder : bool
        Must be True (every batch is full: static shapes; a single epoch drops its last partial batch).

    Returns
    -------
    tf.data.Dataset
        Elements ``(x, y)``: x float32 (batch, lat, lon, 16), y int32 (batch, lat, lon).

    Raises
    ------
    ValueError, OSError
        Bad arguments, or a bad first file, raised here naming the file. A bad file met later while
        iterating raises a ``tf.errors.OpError`` whose message holds the ``ValueError`` or ``OSError``
        naming the file; :func:`pipeline_error_message` extracts that line.

    Notes
    -----
    Each iterator of the dataset starts its own ``read_workers`` processes and allocates shared memory
    for ``ceil(read_workers / batch_size) + prefetch + 3`` batches (batch 2, full 768 x 1152 grid, 4
    readers, prefetch 2: 7 batches, 0.85 GB); both go when the iterator is deleted.

    Examples
    --------
    >>> files = resolve_sample_files("staged/manifest.json", rank=rank, size=size)      # doctest: +SKIP
    >>> stats = read_stats("staged/stats.h5")                                           # doctest: +SKIP
    >>> dataset = make_dataset(files, stats, batch_size=2, seed=0, skip_batches=step)   # doctest: +SKIP
    >>> for x, y in dataset.take(steps - step): ...                                     # doctest: +SKIP
    """
    import tensorflow as tf

    if not files:
        raise ValueError("make_dataset: no sample files")
    if batch_size < 1 or read_workers < 1 or prefetch < 0 or skip_batches < 0 or epoch < 0:
        raise ValueError(f"make_dataset: batch_size ({batch_size}) and read_workers ({read_workers}) must be "
                         f">= 1, prefetch ({prefetch}), skip_batches ({skip_batches}) and epoch ({epoch}) >= 0")
    if not drop_remainder:
        raise ValueError("make_dataset: drop_remainder=False is not supported (batches have a static size)")
    if not repeat and len(files) < batch_size:
        raise ValueError(f"{files[0]} ...: {len(files)} files give no full batch of {batch_size}")
    offset, scale = normalization_coefficients(stats, method=normalization)
    grid = sample_grid(files[0])
    if crop is not None:
        crop = (int(crop[0]), int(crop[1]))
        if not (0 < crop[0] <= grid[0] and 0 < crop[1] <= grid[1]):
            raise ValueError(f"{files[0]}: crop {crop[0]} x {crop[1]} does not fit the grid {grid[0]} x {grid[1]}")
    shape = crop or grid
    files = [os.fspath(file) for file in files]
    read_kwargs = dict(offset=offset, scale=scale, crop_shape=crop, expected_grid=grid)
    skip_samples = skip_batches * batch_size
    num_batches = None if repeat else max(0, len(files) - skip_samples) // batch_size

    def open_stream():
        tasks = _sample_tasks(files, seed=seed, epoch=epoch, skip_samples=skip_samples, repeat=repeat,
                              shuffle=shuffle, grid=grid, crop=crop, flips=flips, read_kwargs=read_kwargs)
        return _BatchStream(tasks, batch_size=batch_size, shape=shape, read_workers=read_workers,
                            prefetch=prefetch)

    x_shape, y_shape = (batch_size, *shape, len(CHANNELS)), (batch_size, *shape)

    @tf.autograph.experimental.do_not_convert
    def fetch(stream_id):
        x, y = tf.py_function(_next_batch, [stream_id], (tf.float32, tf.int32))
        return tf.ensure_shape(x, x_shape), tf.ensure_shape(y, y_shape)

    dataset = tf.data.Dataset.from_generator(lambda: _stream_ids(num_batches, open_stream),
                                             output_signature=tf.TensorSpec((), tf.int64)).map(fetch)
    return dataset.prefetch(prefetch) if prefetch else dataset


def pipeline_error_message(error: BaseException) -> str:
    """The one-line ``FILE: problem`` of an error raised while iterating a dataset of :func:`make_dataset`.

    TensorFlow wraps exceptions of the reading generator in a ``tf.errors.OpError`` with a traceback;
    this returns the line of the original ``ValueError``/``OSError`` (or ``str(error)`` otherwise).
    """
    text = str(getattr(error, "message", error))
    for line in text.splitlines():
        for kind in ("ValueError: ", "OSError: "):
            if kind in line:
                return line.split(kind, 1)[1].strip()
    return text.strip().splitlines()[0] if text.strip() else repr(error)
