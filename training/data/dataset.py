"""``make_dataset``: the ``tf.data.Dataset`` over the reader processes, and its one-line error messages."""

import itertools
import os

from climseg.contract import CHANNELS

from .normalize import normalization_coefficients
from .order import sample_tasks
from .readers import READ_TIMEOUT_S, BatchStream
from .sample import sample_grid
from .stats import ChannelStats

_streams: dict[int, BatchStream] = {}
"""Open batch streams by id, for the ``py_function`` that fetches their batches."""


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
                 prefetch: int = 2, repeat: bool = True, drop_remainder: bool = True,
                 read_timeout: float = READ_TIMEOUT_S):
    """A ``tf.data.Dataset`` of normalized, batched samples read in parallel processes.

    Parameters
    ----------
    files : list of str
        Sample files (see :func:`climseg.samples.rank_samples`), all on the same grid.
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
    normalization : str, one of :data:`climseg.contract.NORMALIZATIONS` ("minmax" or "zscore")
        See :func:`normalization_coefficients`.
    crop : (int, int) or None
        (lat, lon) size of a random crop of each sample; None: the whole grid.
    flips : bool
        Mirror north-south with probability 1/2, negating V850 and VBOT (see the module notes).
    read_workers : int
        Reader processes.
    prefetch : int
        Batches read ahead (by the reader processes) beyond one per reader.
    repeat : bool
        True: epoch after epoch without end (batches may span two epochs); False: one epoch.
    drop_remainder : bool
        Must be True (every batch is full: static shapes; a single epoch drops its last partial batch).
    read_timeout : float
        Longest wait for the reads of one batch, s; longer (a hung file system) raises an error naming the
        batch's files, as does a reader process that dies (killed). Reading never waits forever.

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
    >>> files = rank_samples("staged/manifest.json", rank=rank, size=size)      # doctest: +SKIP
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
        tasks = sample_tasks(files, seed=seed, epoch=epoch, skip_samples=skip_samples, repeat=repeat,
                              shuffle=shuffle, grid=grid, crop=crop, flips=flips, read_kwargs=read_kwargs)
        return BatchStream(tasks, batch_size=batch_size, shape=shape, read_workers=read_workers,
                           prefetch=prefetch, read_timeout=read_timeout)

    x_shape, y_shape = (batch_size, *shape, len(CHANNELS)), (batch_size, *shape)

    @tf.autograph.experimental.do_not_convert
    def fetch(stream_id):
        x, y = tf.py_function(_next_batch, [stream_id], (tf.float32, tf.int32))
        return tf.ensure_shape(x, x_shape), tf.ensure_shape(y, y_shape)

    dataset = tf.data.Dataset.from_generator(lambda: _stream_ids(num_batches, open_stream),
                                             output_signature=tf.TensorSpec((), tf.int64)).map(fetch)
    # No tf.data prefetch, neither ours nor the one tf.data injects by default: its thread calls the
    # py_function, and deleting an iterator while that thread waits for the GIL deadlocks (the deleting
    # thread holds the GIL and waits for it; seen as a process hanging at exit after a reader error). The
    # reader processes read `prefetch` batches ahead instead, into shared memory: taking a batch is cheap.
    options = tf.data.Options()
    options.experimental_optimization.inject_prefetch = False
    return dataset.with_options(options)


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
