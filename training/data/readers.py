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
import multiprocessing.util
import os
import select
import signal
import sys
import threading
import time
import types
import weakref

import numpy as np

from climseg.contract import CHANNELS

from .sample import read_sample

READ_TIMEOUT_S = 600.0
"""Longest wait for the reads of one batch, s (a full-size sample reads in well under a second)."""

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)
"""Signals a reader ignores: the training process decides when the readers stop."""

_worker_buffers: dict = {}


def _aligned_view(raw, dtype, shape) -> np.ndarray:
    """View a shared ``RawArray`` (allocated 64 bytes too long) as ``shape`` starting 64-byte aligned.

    TensorFlow wraps 64-byte aligned memory without copying it (and copies anything else).
    """
    flat = np.frombuffer(raw, np.uint8)
    start = -flat.ctypes.data % 64
    count = int(np.prod(shape)) * np.dtype(dtype).itemsize
    return flat[start:start + count].view(dtype).reshape(shape)


def _reader_main(connection, data_raw, labels_raw, shape, trainer_pid: int) -> None:
    """A reader process: read the samples named on ``connection`` into the batch buffers, reply to each.

    Parameters
    ----------
    connection : multiprocessing.connection.Connection
        Tasks ``(buffer, position, path, read_sample keyword arguments)`` come in; ``None`` (done) or the
        exception raised (naming the file) goes back for each, in order. End of file: stop.
    data_raw, labels_raw : RawArray
        The batch buffers, (buffers, batch, lat, lon, 16) float32 and (buffers, batch, lat, lon) int32.
    shape : tuple of int
        (buffers, batch, lat, lon).
    trainer_pid : int
        The process that reads the batches; the reader exits when it does.

    Notes
    -----
    A batch system ends a job by signalling every process of the job step (Slurm at the time limit,
    ``scancel --signal``, LSF's ``bkill -s``), readers included. The training process then saves a
    checkpoint and may need its readers to reach the next step, so a reader ignores SIGTERM, SIGUSR1 and
    SIGINT: the training process decides, by closing the connection. When the training process ends,
    however it ends (SIGKILL too), the reader exits within milliseconds: a thread waits on a pidfd of the
    training process. (``PR_SET_PDEATHSIG`` would follow the wrong process: a reader's parent is the
    ``forkserver``, which a stop signal to the job kills.) Each reader has its own pipe, so no lock is
    shared between processes: a reader that dies cannot leave the others waiting on a lock it held.

    Reading one byte of every page maps the whole buffer into this process now (16 pages per fault),
    instead of one 4 KiB page fault at a time while writing samples: a first write to shared memory costs
    about as much as reading the sample.
    """
    for ignored in STOP_SIGNALS:
        signal.signal(ignored, signal.SIG_IGN)
    if not _alive(trainer_pid):  # it ended while this reader was starting
        os._exit(1)
    threading.Thread(target=_exit_with, args=(trainer_pid,), daemon=True, name="exit-with-trainer").start()
    data = _aligned_view(data_raw, np.float32, (*shape, len(CHANNELS)))
    labels = _aligned_view(labels_raw, np.int32, shape)
    for raw in (data_raw, labels_raw):
        int(np.frombuffer(raw, np.uint8)[::4096].sum())
    while True:
        try:
            task = connection.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        buffer, position, path, kwargs = task
        try:
            read_sample(path, out_data=data[buffer, position], out_labels=labels[buffer, position], **kwargs)
            reply = None
        except Exception as error:  # noqa: BLE001 (sent to the training process, which raises it)
            reply = error if isinstance(error, (OSError, ValueError)) else RuntimeError(f"{path}: {error!r}")
        try:
            connection.send(reply)
        except (OSError, ValueError):
            return


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _exit_with(pid: int) -> None:
    """Exit this process (status 1) as soon as process ``pid`` ends (a pidfd; polled once a second where
    the kernel has no pidfd)."""
    try:
        descriptor = os.pidfd_open(pid)
    except (AttributeError, OSError):
        while _alive(pid):
            time.sleep(1.0)
    else:
        select.select([descriptor], [], [])
    os._exit(1)


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


def _stop_readers(connections, readers, *, grace: float = 5.0) -> None:
    """Close the readers' connections (each exits after its current read), wait ``grace`` s, then SIGKILL."""
    for connection in connections:
        connection.close()
    deadline = time.monotonic() + grace
    for reader in readers:
        reader.join(max(0.0, deadline - time.monotonic()))
        if reader.exitcode is None:
            reader.kill()
            reader.join()


class BatchStream:
    """Batches read by reader processes into shared memory and handed to TensorFlow without a copy.

    There are ``fill_ahead + 2`` batch buffers. ``fill_ahead`` of them (every reader busy, the next batch
    queued, and ``prefetch`` more) are being filled by the readers at any time; a finished buffer is given to TensorFlow as a tensor aliasing it (DLPack) and
    comes back for filling when TensorFlow frees that tensor (a ``weakref.finalize`` on the numpy view
    the tensor holds). Should the consumer hold on to so many batches that fewer than ``fill_ahead``
    buffers would be left for filling, batches are copied instead, so reading never stalls.

    Samples go to the readers in turn, each over its own pipe, and each reader answers in order, so the
    answers of a batch are the next ones on its readers' pipes. Waiting never lasts forever: a reader that
    dies (killed) or reads for longer than ``read_timeout`` seconds raises an error naming the files.
    """

    def __init__(self, tasks, *, batch_size, shape, read_workers, prefetch, read_timeout=READ_TIMEOUT_S):
        self.tasks, self.batch_size, self.read_timeout = tasks, batch_size, read_timeout
        self.fill_ahead = math.ceil(read_workers / batch_size) + 1 + prefetch  # every reader busy, and more
        self.num_buffers = self.fill_ahead + 2
        buffers_shape = (self.num_buffers, batch_size, *shape)
        context = multiprocessing.get_context("forkserver")
        # Readers start with numpy and h5py already imported, and with the stop signals ignored.
        context.set_forkserver_preload([__name__, f"{__package__}.forkserver_signals"])
        data_raw = context.RawArray("b", int(np.prod(buffers_shape)) * len(CHANNELS) * 4 + 64)
        labels_raw = context.RawArray("b", int(np.prod(buffers_shape)) * 4 + 64)
        self.data = _aligned_view(data_raw, np.float32, (*buffers_shape, len(CHANNELS)))
        self.labels = _aligned_view(labels_raw, np.int32, buffers_shape)
        self.readers, self.connections = [], []
        with _main_module_hidden():
            for number in range(read_workers):
                ours, theirs = context.Pipe()
                reader = context.Process(target=_reader_main, name=f"climseg-reader-{number}", daemon=True,
                                         args=(theirs, data_raw, labels_raw, buffers_shape, os.getpid()))
                reader.start()
                theirs.close()
                self.readers.append(reader)
                self.connections.append(ours)
        # Also at interpreter exit, before multiprocessing's own exit handler SIGTERMs (which readers ignore)
        # and joins its daemon processes.
        self._stop = multiprocessing.util.Finalize(self, _stop_readers, args=(self.connections, self.readers),
                                                   exitpriority=16)
        self.next_reader = 0
        self.lock = threading.Lock()
        self.free, self.held = set(range(self.num_buffers)), set()
        self.filling = collections.deque()  # (buffer, [reader of each sample], [path of each sample])
        self._fill()

    def _fill(self) -> None:
        while len(self.filling) < self.fill_ahead:
            samples = list(itertools.islice(self.tasks, self.batch_size))
            if len(samples) < self.batch_size:
                return
            with self.lock:
                buffer = self.free.pop()
            assigned = []
            for position, (path, kwargs) in enumerate(samples):
                try:
                    self.connections[self.next_reader].send((buffer, position, path, kwargs))
                except OSError:  # BrokenPipeError: the reader is gone
                    raise self._reader_lost(self.next_reader, path) from None
                assigned.append(self.next_reader)
                self.next_reader = (self.next_reader + 1) % len(self.readers)
            self.filling.append((buffer, assigned, [path for path, _ in samples]))

    def _release(self, buffer: int) -> None:
        with self.lock:
            self.held.discard(buffer)
            self.free.add(buffer)

    def next_batch(self):
        """The next batch as tensors: x float32 (batch, lat, lon, 16), y int32 (batch, lat, lon)."""
        import tensorflow as tf

        buffer, assigned, paths = self.filling.popleft()
        self._wait(assigned, paths)
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

    def _wait(self, assigned, paths) -> None:
        """Take the answers of a batch's reads: re-raise a reader's error (naming the file); raise OSError
        naming the file when its reader died or the batch took longer than ``read_timeout`` s."""
        deadline = time.monotonic() + self.read_timeout
        for number, path in zip(assigned, paths):
            connection, reader = self.connections[number], self.readers[number]
            while not connection.poll(max(0.0, min(1.0, deadline - time.monotonic()))):
                if reader.exitcode is not None:
                    raise OSError(f"{path}: reader process {reader.pid} {_exit_reason(reader.exitcode)} while "
                                  "reading it (killed, e.g. out of memory?)")
                if time.monotonic() >= deadline:
                    raise OSError(f"{path}: not read after {self.read_timeout:g} s (read_timeout); a hung file "
                                  "system, or a file still being written?")
            try:
                reply = connection.recv()
            except (EOFError, OSError):
                raise self._reader_lost(number, path) from None
            if reply is not None:
                raise reply  # the reader's error, naming the file

    def _reader_lost(self, number: int, path) -> OSError:
        """The error for reader ``number`` found gone (closed pipe) while it had ``path`` to read."""
        reader = self.readers[number]
        reader.join(1.0)
        how = "ended" if reader.exitcode is None else _exit_reason(reader.exitcode)
        return OSError(f"{path}: reader process {reader.pid} {how} while reading it (killed, e.g. out of memory?)")

    def close(self) -> None:
        self._stop()


def _exit_reason(exitcode: int) -> str:
    """``exitcode`` of a ``multiprocessing.Process`` in words: "killed by SIGKILL" or "exited with status 1"."""
    if exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}"
    return f"exited with status {exitcode}"
