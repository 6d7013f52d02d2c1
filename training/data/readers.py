"""The reader processes: batches read in parallel processes into shared memory, handed to TensorFlow without a copy.

h5py holds one global lock around every call into the HDF5 library, so reads in threads run one at a
time. Reads run in a pool of ``read_workers`` *processes* instead (as in Kurth et al. 2018), which write
each sample straight into its place in a batch buffer in shared memory (``multiprocessing.RawArray``),
reading and normalizing it in blocks of rows while the block is in the CPU cache. A finished batch is
handed to TensorFlow as a tensor aliasing the buffer (DLPack): only file names and buffer numbers cross
the process boundary, and the ~57 MB of a full 768 x 1152 x 16 sample are never pickled or copied. A
buffer is refilled once TensorFlow has freed the tensor. Readers are started with the ``forkserver``
method (never ``fork``: the parent runs TensorFlow's threads), without re-importing the ``__main__``
script, and import only numpy and h5py (TensorFlow is imported only by :mod:`training.data.dataset`, inside ``make_dataset``).

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
"""

import collections
import contextlib
import itertools
import math
import multiprocessing
import sys
import threading
import types
import weakref

import numpy as np

from climseg.contract import CHANNELS

from .sample import read_sample


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


class BatchStream:
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
