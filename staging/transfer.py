"""Copy the files of a staging plan to node-local storage over MPI, each read once from the source.

Every rank plays two roles of its part of the plan, a :class:`~staging.plan.RankPlan`:

- *owner*: a reader thread reads each of its files from the shared file system once, in chunks, into
  a short queue (bounded memory); the main thread sends every chunk with non-blocking sends to the
  one writing rank of each node that needs a new copy, at most a few chunks in flight, while the
  thread reads the next ones. On its own node the owner writes the file itself.
- *writer*: writes the files it is given to the node-local directory under a temporary name,
  checks size and CRC-32C against the owner's, records the source's size, modification time and
  checksum in ``.climseg-stage/NAME.json`` and renames the file into place.

Each chunk is read once into one of a few reused buffers (no fresh memory per chunk), checksummed
there (CRC-32C, hardware-accelerated: 5 GB/s here against zlib's CRC-32 at 2.2 GB/s), sent from there
and written from there: one copy into user space and one out, as few as a checksummed copy allows
(``bench/stage.py`` measures the alternatives, ``copy_file_range`` among them).

Before anything moves, writers verify what is already staged (size and checksum against the record)
and owners compare the records with the source (size, modification time): only missing, partial,
corrupt or outdated copies are sent, and a file is read from the source only if some node needs it.
So a killed run resumes where it stopped.

Messages (on a private duplicate of the communicator), from an owner to a writer, in order:
``BEGIN`` (pickled source index), ``CHUNK`` (raw bytes, ``chunk_bytes`` at most) ..., ``END``
(pickled size and CRC-32C). MPI keeps messages between two ranks in order, so a writer needs only one
open file per sending rank. Every rank also sends ``PROGRESS`` (bytes written so far, at most every
half second per 1000 ranks) and ``DONE`` to rank 0, which draws the progress bar.
"""

import contextlib
import errno
import json
import os
import queue
import resource
import shutil
import stat
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from crc32c import crc32c

from climseg.atomic import atomic_output
from climseg.disk import disk_full_error, human_bytes, is_disk_full

RECORD_DIR = ".climseg-stage"
"""Sub-directory of the node-local directory holding one record per staged file."""
READ_AHEAD_CHUNKS = 2
"""Chunks the reader thread may hold ready beyond those in flight."""
MAX_CHUNKS_IN_FLIGHT = 4
"""Chunks an owner may have in flight (sent, not yet received by every writer)."""
READ_BUFFERS = READ_AHEAD_CHUNKS + MAX_CHUNKS_IN_FLIGHT + 2
"""Chunk buffers of an owner, reused: read ahead, in flight, being written, being read. Memory is bounded by
about (READ_BUFFERS + 1) * chunk_bytes per rank (the last one receives)."""
TAG_BEGIN, TAG_CHUNK, TAG_END, TAG_PROGRESS, TAG_DONE = 11, 12, 13, 14, 15
PROGRESS_INTERVAL_S = 0.5
"""Seconds between progress reports of a rank to rank 0, per 1000 ranks (at least this)."""
PAUSE_HOOK_ENV = "CLIMSEG_STAGE_TEST_PAUSE"
"""Testing aid: ``RANK:K`` makes rank RANK stop (sleep) after writing K files, for a test to kill it from outside
at a known moment."""
READ_LOG_ENV = "CLIMSEG_STAGE_READ_LOG"
"""Testing and auditing aid: a file to which every source read appends a line ``RANK PATH``."""


class SourceReader:
    """Reads source files in chunks and counts what it read (files, bytes); the only reader of the source.

    Parameters
    ----------
    chunk_bytes : int
        Size of the chunks yielded, bytes.
    rank : int
        Written to the read log.
    read_log : path, optional
        Each :meth:`chunks` call appends ``RANK PATH`` to it.
    """

    def __init__(self, *, chunk_bytes: int, rank: int = 0, read_log=None):
        self.chunk_bytes = chunk_bytes
        self.rank = rank
        self.read_log = read_log
        self.files_read = 0
        self.bytes_read = 0

    def chunks(self, path, take_buffer=None):
        """Yield the bytes of ``path`` in chunks, as memoryviews of buffers; OSError naming the file when it
        cannot be read.

        ``take_buffer()`` returns a free bytearray of at least ``chunk_bytes`` for each chunk (the caller
        gives it back when done with the chunk); default: one buffer, reused for every chunk, so a chunk is
        valid until the next one is asked for.
        """
        self.files_read += 1
        if self.read_log:
            with open(self.read_log, "a") as log:
                log.write(f"{self.rank} {path}\n")
        if take_buffer is None:
            buffer = bytearray(self.chunk_bytes)
            take_buffer = lambda: buffer  # noqa: E731
        try:
            with open(path, "rb", buffering=0) as source:
                while True:
                    buffer = take_buffer()
                    size = source.readinto(memoryview(buffer)[:self.chunk_bytes])
                    if not size:
                        break
                    self.bytes_read += size
                    yield memoryview(buffer)[:size]
        except OSError as error:
            raise OSError(error.errno, f"{path}: cannot read the source file ({error.strerror})") from None


def file_checksum(path, *, chunk_bytes: int = 16 << 20) -> tuple[int, int]:
    """Return (size in bytes, CRC-32C) of the file at ``path``."""
    crc, size = 0, 0
    buffer = memoryview(bytearray(chunk_bytes))
    with open(path, "rb", buffering=0) as f:
        while count := f.readinto(buffer):
            crc = crc32c(buffer[:count], crc)
            size += count
    return size, crc


def record_path(node_dir, name) -> Path:
    return Path(node_dir) / RECORD_DIR / f"{name}.json"


def verified_record(node_dir, name) -> dict | None:
    """The record of staged file ``name`` if the file is there, complete and intact, else None.

    Recomputes the CRC-32C of the staged file and compares size and checksum with its record.
    """
    try:
        record = json.loads(record_path(node_dir, name).read_text())
        size, crc = file_checksum(Path(node_dir) / name)
    except (OSError, ValueError):
        return None
    if (size, crc) != (record.get("size"), record.get("crc32c")):
        return None
    return record


def write_error(path, error: OSError, *, needed_bytes: int) -> OSError:
    """The one-line error of a failed write of ``path`` (a staged file or its record, the partial copy
    already removed); for a full disk or quota :func:`climseg.disk.disk_full_error`."""
    if is_disk_full(error):
        return disk_full_error(path, needed_bytes=needed_bytes, kept="the partial copy was removed", code=error.errno)
    return OSError(error.errno, f"{path}: cannot write the staged file ({error.strerror})")


class StagedFileWriter:
    """One file being staged: written under a temporary name, renamed into place by :meth:`commit`.

    A file has its name only once it is complete, verified and recorded: any failure (a full disk, a
    mismatch, a killed rank) leaves at most a hidden temporary file, removed by the next run.
    The temporary file is opened for each chunk, not held open: a writer may receive files from
    hundreds of owners at once without running out of file descriptors.

    Parameters
    ----------
    node_dir : path
        The node-local directory.
    name : str
        Staged file name (the source's base name).
    source : dict
        ``{"source": path, "size": bytes, "mtime_ns": int}`` of the source, kept in the record.
    """

    def __init__(self, node_dir, name, *, source: dict):
        self.node_dir, self.name, self.source = Path(node_dir), name, source
        self.size, self.crc = 0, 0
        self._output = contextlib.ExitStack()
        try:
            self._tmp = self._output.enter_context(atomic_output(self.node_dir / name))
        except OSError as error:
            self.discard()
            raise write_error(self.node_dir / name, error, needed_bytes=source.get("size", 0)) from None

    def write(self, chunk, *, crc: int | None = None) -> None:
        """Append ``chunk`` (bytes-like); pass the CRC-32C of everything so far as ``crc`` when known, else it
        is computed."""
        try:
            descriptor = os.open(self._tmp, os.O_WRONLY | os.O_APPEND)
            try:
                view, written = memoryview(chunk), 0
                while written < len(view):
                    written += os.write(descriptor, view[written:])
            finally:
                os.close(descriptor)
        except OSError as error:
            self.discard()
            raise write_error(self.node_dir / self.name, error,
                              needed_bytes=max(self.source.get("size", 0), self.size + len(chunk))) from None
        self.crc = crc32c(chunk, self.crc) if crc is None else crc
        self.size += len(chunk)

    def commit(self, size: int, crc: int) -> None:
        """Check size and CRC-32C against the owner's, write the record, rename the file into place.

        Raises OSError naming the file when the copy does not match or the record cannot be written; the
        partial copy is removed.
        """
        if (self.size, self.crc, os.path.getsize(self._tmp)) != (size, crc, size):
            self.discard()
            raise OSError(errno.EIO, f"{self.node_dir / self.name}: staged copy does not match the source "
                                     f"({self.size} bytes, CRC-32C {self.crc:08x}; source {size} bytes, {crc:08x})")
        record = json.dumps({**self.source, "size": size, "crc32c": crc})
        try:
            with atomic_output(record_path(self.node_dir, self.name)) as tmp:
                Path(tmp).write_text(record)
        except OSError as error:
            self.discard()
            raise write_error(record_path(self.node_dir, self.name), error, needed_bytes=len(record)) from None
        self._output.close()  # renames into place: a named file always has its record

    def discard(self) -> None:
        """Remove the temporary file."""
        self._output.__exit__(OSError, OSError("discarded"), None)


def remove_leftovers(node_dir) -> int:
    """Remove temporary files a killed run left in ``node_dir``; return how many."""
    node_dir = Path(node_dir)
    leftovers = [*node_dir.glob(".*.tmp"), *(node_dir / RECORD_DIR).glob(".*.tmp")]
    for path in leftovers:
        path.unlink(missing_ok=True)
    return len(leftovers)


def node_layout(comm, *, node_id=None):
    """Split ``comm`` by node; return (node communicator, node of every rank numbered 0, 1, ...).

    Ranks sharing memory share a node (``MPI_COMM_TYPE_SHARED``); ``node_id`` (any string, the same
    on the ranks of one node) overrides that, e.g. to simulate several nodes on one machine.
    """
    from mpi4py import MPI

    if node_id is None:
        node_comm = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.rank)
        first_rank = node_comm.bcast(comm.rank, root=0)
        ids = comm.allgather(first_rank)
    else:
        ids = comm.allgather(str(node_id))
    number = {node: k for k, node in enumerate(dict.fromkeys(ids))}
    node_of_rank = [number[node] for node in ids]
    if node_id is not None:
        node_comm = comm.Split(color=node_of_rank[comm.rank], key=comm.rank)
    return node_comm, node_of_rank


def source_signature(path) -> dict:
    """``{"source": path, "size": bytes, "mtime_ns": int}`` of a source file; OSError naming it if unusable."""
    try:
        info = os.stat(path)
    except OSError as error:
        raise OSError(error.errno, f"{path}: cannot read the source file ({error.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise OSError(errno.EISDIR, f"{path}: cannot read the source file (not a regular file)")
    return {"source": str(path), "size": info.st_size, "mtime_ns": info.st_mtime_ns}


@dataclass
class Transfers:
    """What one rank moves in this run, agreed by :func:`agree_on_transfers`."""

    sends: dict
    """For each source index this rank owns and must read: the ranks to send it to (this rank
    itself when it writes the file on its own node)."""
    receives: dict
    """For each source index this rank must write: ``(owner rank, source signature)``, where a
    signature is ``{"source": path, "size": bytes, "mtime_ns": int}``."""
    already_staged: int
    """Copies of files this rank owns that are already staged, intact and up to date."""
    owned_bytes: int
    """Size of the source files this rank owns, bytes."""
    largest_read_bytes: int = 0
    """Size of the largest source file this rank reads in this run, bytes."""


def agree_on_transfers(comm, plan, node_dir) -> Transfers:
    """Find the copies that are missing, partial, corrupt or outdated, in two all-to-all exchanges.

    Each writer verifies its staged copies (size and CRC-32C against their records) and reports to the
    owners; each owner compares the reports with its source files' size and modification time and
    tells the writers which files they will receive.
    """
    me = comm.rank
    signatures = {i: source_signature(plan.sources[i]) for i in plan.owned}
    reports = [[] for _ in range(comm.size)]
    names = plan.names
    for i, writer in sorted(plan.writer.items()):
        if writer == me:
            record = verified_record(node_dir, names[i])
            staged = None if record is None else {k: record.get(k) for k in ("source", "size", "mtime_ns")}
            reports[plan.owner[i]].append((i, staged))
    sends, replies, already_staged = {}, [[] for _ in range(comm.size)], 0
    for writer, reported in enumerate(comm.alltoall(reports)):
        for i, staged in reported:
            if staged == signatures[i]:
                already_staged += 1
            else:
                sends.setdefault(i, []).append(writer)
                replies[writer].append((i, signatures[i]))
    receives = {i: (owner, signature) for owner, replied in enumerate(comm.alltoall(replies))
                for i, signature in replied}
    return Transfers(sends, receives, already_staged, sum(sig["size"] for sig in signatures.values()),
                     max((signatures[i]["size"] for i in sends), default=0))


def check_free_space(node_comm, node_dir, bytes_to_write: int) -> None:
    """Raise OSError (ENOSPC) on the node's first rank when the node's copies do not fit in ``node_dir``."""
    needed = node_comm.reduce(bytes_to_write, root=0)
    if node_comm.rank == 0:
        free = shutil.disk_usage(node_dir).free
        if needed > free:
            raise OSError(errno.ENOSPC, f"{node_dir}: node-local disk too small: this node needs "
                                        f"{human_bytes(needed)} more, {human_bytes(free)} free")


class BufferPool:
    """At most ``count`` reusable buffers of ``size`` bytes, each made when first needed: one thread takes,
    another gives back."""

    def __init__(self, count: int, size: int):
        self.free: queue.Queue = queue.Queue()
        self.left, self.size = count, size

    def take(self) -> bytearray:
        """A free buffer; waits for one to be given back when all ``count`` are in use."""
        try:
            return self.free.get_nowait()
        except queue.Empty:
            if self.left > 0:
                self.left -= 1
                return bytearray(self.size)
            return self.free.get()

    def give(self, buffer: bytearray) -> None:
        self.free.put(buffer)


def _read_ahead(reader, plan, jobs, items: queue.Queue, pool: BufferPool) -> None:
    """Reader thread: put ("begin", i), ("chunk", i, memoryview, crc so far, its buffer), ("end", i, size, crc),
    ("done",); takes each chunk's buffer from ``pool``, to which the main thread gives it back."""
    try:
        for i in jobs:
            items.put(("begin", i))
            crc, size = 0, 0
            buffers = []
            for chunk in reader.chunks(plan.sources[i], lambda: buffers.append(pool.take()) or buffers[-1]):
                crc = crc32c(chunk, crc)
                size += len(chunk)
                items.put(("chunk", i, chunk, crc, buffers.pop()))
            for buffer in buffers:  # the one taken for the empty read at the end of the file
                pool.give(buffer)
            items.put(("end", i, size, crc))
        items.put(("done",))
    except BaseException as error:  # handed to the main thread, which aborts the job
        items.put(("error", error))


def _pause_hook(rank: int):
    spec = os.environ.get(PAUSE_HOOK_ENV, "")
    if spec and int(spec.split(":")[0]) == rank:
        return int(spec.split(":")[1])
    return None


class _Mover:
    """One rank's side of the transfer: owner (reads, sends, writes locally) and writer (receives, writes)."""

    def __init__(self, comm, plan, node_dir, sends, receives, *, reader, total_bytes, show_progress,
                 largest_read_bytes=None):
        self.comm = comm.Dup()  # private message space
        self.me, self.names, self.node_dir = self.comm.rank, plan.names, node_dir
        self.sends, self.receives = sends, receives
        self.items: queue.Queue = queue.Queue(maxsize=READ_AHEAD_CHUNKS)
        # buffers no larger than the largest file read (+1 for the empty read at its end): small files, small buffers
        buffer_bytes = reader.chunk_bytes if largest_read_bytes is None else min(reader.chunk_bytes,
                                                                                 largest_read_bytes + 1)
        self.buffers = BufferPool(READ_BUFFERS, buffer_bytes)
        self.reading_done = not sends
        if sends:
            threading.Thread(target=_read_ahead, args=(reader, plan, sorted(sends), self.items, self.buffers),
                             daemon=True).start()
        self.in_flight: deque = deque()  # (requests, buffer of the chunk, given back when they complete)
        self.small_sends: list = []
        self.local_file: StagedFileWriter | None = None
        self.open_from: dict[int, StagedFileWriter] = {}  # sending rank -> its file being written here
        self.receive_buffer = bytearray()
        self.counts = {"files_written": 0, "bytes_written": 0, "bytes_sent": 0}
        self.to_receive = sum(1 for owner, _ in receives.values() if owner != self.me)
        self.pause_after = _pause_hook(self.me)
        # progress: rank 0 draws the bar from the other ranks' reports
        self.bar = None
        self.ranks_done, self.written_by_rank, self.written_elsewhere = 1, [0] * self.comm.size, 0
        self.last_report, self.reported = time.monotonic(), 0
        self.report_interval_s = PROGRESS_INTERVAL_S * max(1.0, self.comm.size / 1000)  # rank 0 keeps up
        if self.me == 0 and show_progress:
            from tqdm import tqdm
            self.bar = tqdm(total=total_bytes, unit="B", unit_scale=True, desc="staging", file=sys.stderr,
                            mininterval=PROGRESS_INTERVAL_S, disable=total_bytes == 0)

    def run(self) -> dict:
        from mpi4py import MPI

        status = MPI.Status()
        while True:
            busy = waited = False
            while self.in_flight and MPI.Request.Testall(self.in_flight[0][0]):
                self.buffers.give(self.in_flight.popleft()[1])
                busy = True
            if not self.reading_done and len(self.in_flight) < MAX_CHUNKS_IN_FLIGHT:
                try:
                    item = self.items.get(timeout=self._patience())  # wakes as soon as the reader has one
                except queue.Empty:
                    waited = True
                else:
                    self._forward(*item)
                    busy = True
            message = self.comm.improbe(MPI.ANY_SOURCE, MPI.ANY_TAG, status)
            if message is not None:
                self._receive(message, status)
                busy = True
            self._report_progress()
            if self._finished():
                break
            if not (busy or waited):
                time.sleep(0.0005)
        if self.me != 0:
            self.small_sends.append(self.comm.isend(self.counts["bytes_written"], dest=0, tag=TAG_DONE))
        MPI.Request.Waitall(self.small_sends)
        if self.bar is not None:
            self.bar.close()
        self.comm.Free()
        return self.counts

    def _patience(self) -> float:
        """Seconds to wait for the reader: long when no message can arrive, short otherwise."""
        waiting_for_messages = self.to_receive > 0 or (self.me == 0 and self.ranks_done < self.comm.size)
        return 0.001 if waiting_for_messages or self.in_flight else 0.1

    def _finished(self) -> bool:
        own_work_done = self.reading_done and not self.in_flight and self.to_receive == 0
        return own_work_done and (self.me != 0 or self.ranks_done == self.comm.size)

    def _forward(self, kind, *rest) -> None:
        """Send (and write locally) one item of the reader thread: begin, chunk or end of file ``i``."""
        if kind == "error":
            raise rest[0]
        if kind == "done":
            self.reading_done = True
            return
        from mpi4py import MPI

        i = rest[0]
        remote = [dest for dest in self.sends[i] if dest != self.me]
        if kind == "begin":
            self.small_sends += [self.comm.isend(i, dest=dest, tag=TAG_BEGIN) for dest in remote]
            if self.me in self.sends[i]:
                self.local_file = StagedFileWriter(self.node_dir, self.names[i], source=self.receives[i][1])
        elif kind == "chunk":
            chunk, crc, buffer = rest[1], rest[2], rest[3]
            if remote:
                # synchronous mode: complete only once the writer receives, also for chunks small
                # enough to go eagerly, so they cannot pile up in a slow writer's memory
                requests = [self.comm.Issend([chunk, MPI.BYTE], dest=dest, tag=TAG_CHUNK) for dest in remote]
                self.counts["bytes_sent"] += len(chunk) * len(remote)
            if self.local_file is not None:
                self.local_file.write(chunk, crc=crc)  # while the chunk travels
            if remote:
                self.in_flight.append((requests, buffer))  # the buffer is reused once every writer has it
            else:
                self.buffers.give(buffer)
        else:  # end
            size, crc = rest[1], rest[2]
            self.small_sends += [self.comm.isend((i, size, crc), dest=dest, tag=TAG_END) for dest in remote]
            if self.local_file is not None:
                self.local_file.commit(size, crc)
                self.local_file = None
                self._file_written(size)

    def _receive(self, message, status) -> None:
        from mpi4py import MPI

        source, tag = status.Get_source(), status.Get_tag()
        if tag == TAG_CHUNK:
            size = status.Get_count(MPI.BYTE)
            if len(self.receive_buffer) < size:
                self.receive_buffer = bytearray(size)
            chunk = memoryview(self.receive_buffer)[:size]  # one buffer for all chunks: written at once
            message.Recv([chunk, MPI.BYTE])
            self.open_from[source].write(chunk)
        elif tag == TAG_BEGIN:
            i = message.recv()
            self.open_from[source] = StagedFileWriter(self.node_dir, self.names[i], source=self.receives[i][1])
        elif tag == TAG_END:
            i, size, crc = message.recv()
            self.open_from.pop(source).commit(size, crc)
            self.to_receive -= 1
            self._file_written(size)
        elif tag in (TAG_PROGRESS, TAG_DONE):
            written = message.recv()
            self.written_elsewhere += written - self.written_by_rank[source]
            self.written_by_rank[source] = written
            self.ranks_done += tag == TAG_DONE

    def _file_written(self, size: int) -> None:
        self.counts["files_written"] += 1
        self.counts["bytes_written"] += size
        if self.pause_after is not None and self.counts["files_written"] >= self.pause_after:
            time.sleep(3600)  # until the test kills this rank

    def _report_progress(self) -> None:
        written = self.counts["bytes_written"]
        if self.bar is not None:
            self.bar.update(self.written_elsewhere + written - self.bar.n)
        elif (self.me != 0 and written != self.reported
              and time.monotonic() - self.last_report > self.report_interval_s):
            self.reported, self.last_report = written, time.monotonic()
            self.small_sends.append(self.comm.isend(written, dest=0, tag=TAG_PROGRESS))


def transfer(comm, plan, node_dir, sends, receives, *, reader: SourceReader, total_bytes: int,
             show_progress: bool = True, largest_read_bytes: int | None = None) -> dict:
    """Move the files: read and send what this rank owns, write what it is given; see the module doc.

    Parameters
    ----------
    sends, receives : dict
        As agreed by :func:`agree_on_transfers`.
    total_bytes : int
        Bytes all ranks write, for rank 0's progress bar.
    largest_read_bytes : int, optional
        Size of the largest file this rank reads: chunk buffers are no larger.

    Returns this rank's counts: ``files_written``, ``bytes_written``, ``bytes_sent``.
    """
    return _Mover(comm, plan, node_dir, sends, receives, reader=reader, total_bytes=total_bytes,
                  show_progress=show_progress, largest_read_bytes=largest_read_bytes).run()


def quiet_barrier(comm, *, poll_s: float = 0.001) -> None:
    """A barrier that sleeps while it waits: MPI's own collectives spin, and a rank done early would take
    the CPU from the ranks still copying where ranks share cores."""
    request = comm.Ibarrier()
    while not request.Test():
        time.sleep(poll_s)


def stage(comm, plan, node_dir, *, node_comm, stats: bytes | None = None, chunk_bytes: int = 16 << 20,
          show_progress: bool = True) -> dict:
    """Stage ``plan`` into ``node_dir`` (this node's directory); return the job's summary (all ranks).

    Writes, on each node: the staged files, ``plan.json``, ``stats.h5`` (the bytes ``stats``),
    ``manifest.json`` last, when every rank has finished, and ``stage_summary.json``.
    """
    from mpi4py import MPI

    start = MPI.Wtime()
    node_dir = Path(node_dir)
    leader = node_comm.rank == 0
    if leader:
        (node_dir / RECORD_DIR).mkdir(parents=True, exist_ok=True)
        (node_dir / "manifest.json").unlink(missing_ok=True)  # not complete until this run says so
        remove_leftovers(node_dir)
        plan.save(node_dir / "plan.json")
        if stats is not None:
            with atomic_output(node_dir / "stats.h5") as tmp:
                Path(tmp).write_bytes(stats)
    node_comm.Barrier()

    agreed = agree_on_transfers(comm, plan, node_dir)
    bytes_to_write = sum(signature["size"] for _, signature in agreed.receives.values())
    check_free_space(node_comm, node_dir, bytes_to_write)
    reader = SourceReader(chunk_bytes=chunk_bytes, rank=comm.rank, read_log=os.environ.get(READ_LOG_ENV))
    counts = transfer(comm, plan, node_dir, agreed.sends, agreed.receives, reader=reader,
                      total_bytes=comm.allreduce(bytes_to_write), show_progress=show_progress,
                      largest_read_bytes=agreed.largest_read_bytes)
    quiet_barrier(comm)  # the collectives below spin
    mine = {**counts, "source_files_read": reader.files_read, "source_bytes_read": reader.bytes_read,
            "copies_already_staged": agreed.already_staged, "bytes_needed": agreed.owned_bytes}
    totals = {key: comm.allreduce(value) for key, value in mine.items()}
    seconds = comm.allreduce(MPI.Wtime() - start, op=MPI.MAX)
    peak_memory = comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, op=MPI.MAX)
    summary = {
        "n_ranks": plan.n_ranks,
        "n_nodes": plan.n_nodes,
        "files_needed": plan.n_sources,
        "copies_needed": comm.allreduce(len(plan.writer) if leader else 0),
        **totals,
        "seconds": seconds,
        "peak_memory_bytes_per_rank": peak_memory,
        "write_gb_per_s": totals["bytes_written"] / max(seconds, 1e-9) / 1e9,
    }
    if leader:
        manifest = {**plan.manifest(), "node": plan.node, "ranks_on_node": list(plan.ranks_on_node),
                    "plan": "plan.json", "stats": "stats.h5" if stats is not None else None}
        with atomic_output(node_dir / "stage_summary.json") as tmp:
            Path(tmp).write_text(json.dumps(summary, indent=1))
        with atomic_output(node_dir / "manifest.json") as tmp:
            Path(tmp).write_text(json.dumps(manifest))
    return summary


def summary_line(summary: dict) -> str:
    """One line for the log: files, bytes read from the source, bytes written locally, seconds, GB/s."""
    s = summary
    return (f"staged {s['files_needed']} files ({s['copies_needed']} copies on {s['n_nodes']} nodes: "
            f"{s['files_written']} written, {s['copies_already_staged']} already in place) for {s['n_ranks']} ranks; "
            f"read {human_bytes(s['source_bytes_read'])} ({s['source_files_read']} files) from the source, "
            f"wrote {human_bytes(s['bytes_written'])} locally, sent {human_bytes(s['bytes_sent'])} over MPI "
            f"in {s['seconds']:.2f} s: {s['write_gb_per_s']:.2f} GB/s written; "
            f"at most {human_bytes(s['peak_memory_bytes_per_rank'])} of memory per rank")
