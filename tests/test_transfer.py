"""Staging for real: sample files written with h5py, `climseg stage` under mpirun with 1, 2 and 4 ranks.

The 4-rank runs simulate 2 nodes of 2 ranks on this machine: each rank takes its node from an
environment variable (``--node-id-from-env NODE``) and its node-local directory from it
(``--node-local-dir .../node$NODE``).
"""

import datetime as dt
import errno
import filecmp
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest
from crc32c import crc32c

from climseg.contract import DATA_KEY, LABELS_KEY, STATS_KEYS, sample_file_name
from climseg.samples import resolve_samples
from staging.plan import RankPlan, make_plan
from climseg.disk import human_bytes
from staging.transfer import (PAUSE_HOOK_ENV, READ_LOG_ENV, RECORD_DIR, SourceReader, StagedFileWriter, file_checksum,
                              remove_leftovers, source_signature, verified_record)

MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe"]
CLIMSEG = [str(Path(sys.executable).parent / "climseg")]  # the installed entry point, as users run it
TIMEOUT_S = 60


def write_samples(folder: Path, n: int, *, seed: int = 0, year: int = 2000) -> list[Path]:
    """``n`` sample files of the data contract on a 16 x 24 grid, all different."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for k in range(n):
        path = folder / sample_file_name(dt.date(year, 1, 1) + dt.timedelta(days=k // 8), k % 8)
        with h5py.File(path, "w") as f:
            f[DATA_KEY] = rng.standard_normal((16, 24, 16), dtype=np.float32)
            f[LABELS_KEY] = rng.integers(0, 3, (16, 24), dtype=np.uint8)
            f.attrs["source_file"] = "test"
        paths.append(path)
    return paths


def write_stats(path: Path) -> Path:
    with h5py.File(path, "w") as f:
        for key in STATS_KEYS:
            f[key] = np.arange(16, dtype=np.float64)
    return path


def stage_args(src, node_dir, *extra, samples=12, seed=4):
    return ["stage", "--train", str(src), "--samples-per-rank", str(samples), "--seed", str(seed),
            "--node-local-dir", str(node_dir), "--chunk-mib", "0.01", *extra]  # 10 KiB chunks: 3 per file


def run_stage(n_ranks, args, *, nodes_of_two=False, env=None, timeout=TIMEOUT_S):
    """Run ``climseg stage`` under mpirun; with ``nodes_of_two``, ranks 2k and 2k+1 form node k."""
    if nodes_of_two:
        script = 'export NODE=$((OMPI_COMM_WORLD_RANK / 2)); exec "$@"'
        command = [*MPIRUN, "-np", str(n_ranks), "sh", "-c", script, "sh", *CLIMSEG, *args,
                   "--node-id-from-env", "NODE"]
    else:
        command = [*MPIRUN, "-np", str(n_ranks), *CLIMSEG, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def staged_samples(node_dir: Path) -> set[str]:
    return {p.name for p in node_dir.glob("data-*.h5")}


def assert_node_holds_exactly_its_files(plan, node: int, node_dir: Path):
    expected = {plan.names[i] for rank in plan.ranks_on_node(node) for i in plan.needed_by_rank(rank)}
    assert staged_samples(node_dir) == expected
    for i, name in enumerate(plan.names):
        if name in expected:
            assert filecmp.cmp(plan.sources[i], node_dir / name, shallow=False), name
    assert not list(node_dir.glob(".*.tmp"))
    manifest = json.loads((node_dir / "manifest.json").read_text())
    ranks = plan.ranks_on_node(node)
    assert manifest["ranks"] == {str(r): plan.manifest()["ranks"][str(r)] for r in ranks}  # this node's ranks only
    assert manifest["node"] == node and manifest["n_ranks"] == plan.n_ranks
    assert RankPlan.load(node_dir / "plan.json") == plan.for_rank(ranks[0])  # the plan of the node's first rank


def sample_list(source) -> list[str]:
    """The sample paths ``climseg stage`` resolves from ``source``, as the plan takes them."""
    return [str(path) for path in resolve_samples(source)]


def read_log(path: Path) -> Counter:
    return Counter(line.split(" ", 1)[1] for line in path.read_text().splitlines())


# ---------------------------------------------------------------- without MPI

def test_source_reader_counts_files_and_bytes_and_names_unreadable_files(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 2500)
    reader = SourceReader(chunk_bytes=1000, read_log=tmp_path / "log")
    assert [len(c) for c in reader.chunks(tmp_path / "a")] == [1000, 1000, 500]
    assert (reader.files_read, reader.bytes_read) == (1, 2500)
    assert (tmp_path / "log").read_text() == f"0 {tmp_path / 'a'}\n"
    with pytest.raises(OSError, match="missing.h5: cannot read the source file"):
        list(reader.chunks(tmp_path / "missing.h5"))


def test_source_reader_fills_the_buffers_it_is_given_and_the_checksum_is_crc32c(tmp_path):
    data = os.urandom(2500)
    (tmp_path / "a").write_bytes(data)
    pool = [bytearray(1000) for _ in range(4)]
    taken = []
    reader = SourceReader(chunk_bytes=1000)
    chunks = [bytes(chunk) for chunk in reader.chunks(tmp_path / "a", lambda: taken.append(pool[len(taken)]) or taken[-1])]
    assert b"".join(chunks) == data and len(taken) == 4  # 3 chunks and the empty read at the end
    assert bytes(pool[2][:500]) == data[2000:]  # read straight into the caller's buffers
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C (Castagnoli) check value, not zlib's CRC-32
    assert file_checksum(tmp_path / "a", chunk_bytes=1000) == (2500, crc32c(data))


def test_source_signature_names_missing_and_irregular_sources(tmp_path):
    (tmp_path / "a.h5").write_bytes(b"abc")
    assert source_signature(tmp_path / "a.h5") == {"source": str(tmp_path / "a.h5"), "size": 3,
                                                    "mtime_ns": os.stat(tmp_path / "a.h5").st_mtime_ns}
    with pytest.raises(OSError, match="b.h5: cannot read the source file \\(No such file"):
        source_signature(tmp_path / "b.h5")
    (tmp_path / "c.h5").mkdir()
    with pytest.raises(OSError, match="c.h5: cannot read the source file \\(not a regular file"):
        source_signature(tmp_path / "c.h5")


def test_staged_file_is_renamed_into_place_only_when_it_matches(tmp_path):
    source = {"source": "/pfs/x.h5", "size": 6, "mtime_ns": 1}
    writer = StagedFileWriter(tmp_path, "x.h5", source=source)
    writer.write(b"abc")
    assert not (tmp_path / "x.h5").exists()
    writer.write(b"def")
    writer.commit(6, crc32c(b"abcdef"))
    assert (tmp_path / "x.h5").read_bytes() == b"abcdef"
    assert verified_record(tmp_path, "x.h5") == {**source, "crc32c": crc32c(b"abcdef")}

    writer = StagedFileWriter(tmp_path, "y.h5", source=source)
    writer.write(b"abcdeX")
    with pytest.raises(OSError, match="y.h5: staged copy does not match the source"):
        writer.commit(6, crc32c(b"abcdef"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [RECORD_DIR, "x.h5"]


def test_verified_record_rejects_corrupt_partial_and_unrecorded_files(tmp_path):
    for name in ("good.h5", "flipped.h5", "short.h5", "unrecorded.h5"):
        writer = StagedFileWriter(tmp_path, name, source={"source": name, "size": 8, "mtime_ns": 0})
        writer.write(b"12345678")
        writer.commit(8, crc32c(b"12345678"))
    (tmp_path / "flipped.h5").write_bytes(b"12345679")
    (tmp_path / "short.h5").write_bytes(b"1234")
    (tmp_path / RECORD_DIR / "unrecorded.h5.json").unlink()
    assert verified_record(tmp_path, "good.h5") is not None
    for name in ("flipped.h5", "short.h5", "unrecorded.h5", "absent.h5"):
        assert verified_record(tmp_path, name) is None, name
    assert file_checksum(tmp_path / "good.h5") == (8, crc32c(b"12345678"))


def test_leftovers_of_a_killed_run_are_removed(tmp_path):
    (tmp_path / RECORD_DIR).mkdir()
    for name in (".data-2000-01-01-00-1.h5.abc.tmp", f"{RECORD_DIR}/.x.json.def.tmp", "data-2000-01-01-00-1.h5"):
        (tmp_path / name).write_bytes(b"")
    assert remove_leftovers(tmp_path) == 2
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["data-2000-01-01-00-1.h5"]


@pytest.fixture
def tiny_disk(small_tmpfs):
    """The 64 KiB tmpfs of ``small_tmpfs``, for the tests that need a real small disk."""
    if small_tmpfs is None:
        pytest.skip("cannot mount a small tmpfs here (needs root); "
                    "test_full_disk_while_writing_a_staged_file_is_one_line_and_leaves_nothing_named covers it")
    return small_tmpfs


def test_full_disk_while_writing_a_staged_file_is_one_line_and_leaves_nothing_named(small_tmpfs, tmp_path,
                                                                                  monkeypatch):
    """A real full disk (64 KiB tmpfs) where the machine allows mounting one, else ENOSPC injected at the write."""
    node_dir = small_tmpfs
    if node_dir is None:
        node_dir = tmp_path / "local"
        node_dir.mkdir()
        real_open = open

        def full_after_32_kib(path, mode="r", *args, **kwargs):
            if "a" in mode and os.path.exists(path) and os.path.getsize(path) >= 32 << 10:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_open(path, mode, *args, **kwargs)
        monkeypatch.setattr("builtins.open", full_after_32_kib)
    size = 400 << 10
    writer = StagedFileWriter(node_dir, "big.h5", source={"source": "/pfs/big.h5", "size": size, "mtime_ns": 0})
    with pytest.raises(OSError) as error:
        for _ in range(size // 4096):
            writer.write(b"x" * 4096)
    message = str(error.value)  # what `climseg stage` prints after "error: rank R: "
    assert error.value.errno == errno.ENOSPC and "\n" not in message
    assert message.startswith(f"{node_dir / 'big.h5'}: disk full or quota exceeded: needs {human_bytes(size)}, ")
    assert message.endswith(f" free in {node_dir}; the partial copy was removed") and 0 < writer.size < size
    if small_tmpfs is not None:  # the free space of the real disk, the partial copy removed: 64 KiB
        assert f", {human_bytes(64 << 10)} free in " in message
    assert not [p for p in node_dir.rglob("*") if p.is_file()]  # no temporary file left, nothing named


def test_full_disk_for_the_record_removes_the_verified_copy_too(tmp_path, monkeypatch):
    """The record is written before the file is renamed into place: a named file always has its record."""
    import staging.transfer as transfer

    writer = StagedFileWriter(tmp_path, "x.h5", source={"source": "/pfs/x.h5", "size": 6, "mtime_ns": 1})
    writer.write(b"abcdef")

    class FullDisk:
        def __init__(self, path):
            pass

        def __enter__(self):
            raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))

        def __exit__(self, *exc):
            return False
    monkeypatch.setattr(transfer, "atomic_output", FullDisk)
    with pytest.raises(OSError, match=f"{RECORD_DIR}/x.h5.json: disk full or quota exceeded: needs [0-9]+ B, .* free "
                                      f"in .*{RECORD_DIR}; the partial copy was removed") as error:
        writer.commit(6, crc32c(b"abcdef"))
    assert error.value.errno == errno.EDQUOT
    assert not (tmp_path / "x.h5").exists() and not list(tmp_path.glob(".*.tmp"))


# ---------------------------------------------------------------- under MPI

@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("pfs")
    write_samples(root / "train", 40)
    write_samples(root / "validation", 6, seed=1, year=2010)
    return root


@pytest.mark.mpi
def test_single_process_without_mpirun_stages_and_reports_bad_input(sources, tmp_path):
    result = subprocess.run([*CLIMSEG, *stage_args(sources / "train", tmp_path / "local", "--no-progress")],
                            capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    plan = make_plan(sample_list(sources / "train"), n_ranks=1, samples_per_rank=12, seed=4)
    assert_node_holds_exactly_its_files(plan, 0, tmp_path / "local")
    assert "climseg stage: staged" in result.stdout

    result = subprocess.run([*CLIMSEG, *stage_args(tmp_path / "nowhere", tmp_path / "local")],
                            capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 2
    assert "nowhere: no such directory, sample file or file list" in result.stderr


@pytest.mark.mpi
def test_two_ranks_on_one_node_with_validation_and_stats(sources, tmp_path):
    node_dir, log = tmp_path / "local", tmp_path / "reads.log"
    stats = write_stats(tmp_path / "stats.h5")
    args = stage_args(sources / "train", node_dir, "--validation", str(sources / "validation"),
                      "--validation-samples-per-rank", "2", "--stats", str(stats))
    result = run_stage(2, args, env={READ_LOG_ENV: str(log)})
    assert result.returncode == 0, result.stderr
    plan = make_plan(sample_list(sources / "train"), n_ranks=2, samples_per_rank=12, seed=4,
                     validation_files=sample_list(sources / "validation"), validation_samples_per_rank=2,
                     node_of_rank=[0, 0])
    assert_node_holds_exactly_its_files(plan, 0, node_dir)
    assert read_log(log) == Counter(plan.sources)  # every needed file read once
    assert filecmp.cmp(stats, node_dir / "stats.h5", shallow=False)
    validation = [set(plan.validation[r]) for r in range(2)]
    assert len(validation[0]) == 2 and not validation[0] & validation[1]
    assert "staging: 100%" in result.stderr  # progress bar of rank 0
    summary = json.loads((node_dir / "stage_summary.json").read_text())
    assert summary["source_files_read"] == len(plan.sources)
    assert summary["source_bytes_read"] == summary["bytes_written"] == summary["bytes_needed"]


@pytest.fixture(scope="module")
def two_nodes(sources, tmp_path_factory):
    """A first 4-rank run on 2 simulated nodes; yields what later tests need to re-run it."""
    root = tmp_path_factory.mktemp("two_nodes")
    args = stage_args(sources / "train", str(root / "node$NODE"), "--no-progress")
    log = root / "reads.log"
    first = run_stage(4, args, nodes_of_two=True, env={READ_LOG_ENV: str(log)})
    plan = make_plan(sample_list(sources / "train"), n_ranks=4, samples_per_rank=12, seed=4,
                     node_of_rank=[0, 0, 1, 1])
    return {"root": root, "args": args, "log": log, "first": first, "plan": plan}


@pytest.mark.mpi
def test_four_ranks_on_two_nodes_read_each_file_once_and_write_it_once_per_node(two_nodes):
    root, plan, first = two_nodes["root"], two_nodes["plan"], two_nodes["first"]
    assert first.returncode == 0, first.stderr
    for node in (0, 1):
        assert_node_holds_exactly_its_files(plan, node, root / f"node{node}")
    assert read_log(two_nodes["log"]) == Counter(plan.sources)
    summary = json.loads((root / "node1" / "stage_summary.json").read_text())
    assert summary["source_files_read"] == len(plan.sources)
    assert summary["files_written"] == summary["copies_needed"] == sum(len(w) for w in plan.writers)
    # files needed on both nodes travelled over MPI, once per other node
    shared = [i for i, w in enumerate(plan.writers) if len(w) == 2]
    assert shared and summary["bytes_sent"] == sum(os.path.getsize(plan.sources[i]) for i in shared)


@pytest.mark.mpi
def test_rerun_skips_verified_files_and_replaces_corrupt_partial_and_outdated_ones(two_nodes):
    root, plan, args = two_nodes["root"], two_nodes["plan"], two_nodes["args"]
    assert two_nodes["first"].returncode == 0
    log = root / "rerun.log"
    again = run_stage(4, args, nodes_of_two=True, env={READ_LOG_ENV: str(log)})
    assert again.returncode == 0, again.stderr
    summary = json.loads((root / "node0" / "stage_summary.json").read_text())
    assert summary["source_files_read"] == 0 and summary["copies_already_staged"] == summary["copies_needed"]
    assert not log.exists()

    flipped = sorted(staged_samples(root / "node1"))[0]
    truncated = sorted(staged_samples(root / "node0") - {flipped})[-1]
    touched = sorted(set(plan.names) - {flipped, truncated})[0]
    with open(root / "node1" / flipped, "r+b") as f:  # same size, one byte changed
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 0xFF]))
    with open(root / "node0" / truncated, "r+b") as f:
        f.truncate(1000)
    source = Path(plan.sources[plan.names.index(touched)])  # the source changed since it was staged
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
    repaired = run_stage(4, args, nodes_of_two=True, env={READ_LOG_ENV: str(log)})
    assert repaired.returncode == 0, repaired.stderr
    for node in (0, 1):
        assert_node_holds_exactly_its_files(plan, node, root / f"node{node}")
    assert Counter(Path(p).name for p in read_log(log)) == Counter([flipped, truncated, touched])
    summary = json.loads((root / "node0" / "stage_summary.json").read_text())
    rewritten = 2 + len(plan.writers[plan.names.index(touched)])
    assert summary["files_written"] == rewritten
    assert summary["copies_already_staged"] == summary["copies_needed"] - rewritten


@pytest.mark.mpi
def test_a_rank_killed_outright_ends_the_job_naming_it_and_a_rerun_resumes_from_what_is_verified(
        sources, tmp_path, mpi_rank_pid):
    """SIGKILL from outside (as the OOM killer or a node failure does) to rank 1 of 4 on 2 simulated nodes,
    while it holds files half sent and half received (it stops after writing 2 files; the others wait)."""
    args = stage_args(sources / "train", str(tmp_path / "node$NODE"), "--no-progress")
    marker = os.getpid()
    script = 'export NODE=$((OMPI_COMM_WORLD_RANK / 2)); exec "$@"'
    command = [*MPIRUN, "-x", "CLIMSEG_TEST_JOB", "-np", "4", "sh", "-c", script, "sh", *CLIMSEG, *args,
               "--node-id-from-env", "NODE"]
    job = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "CLIMSEG_TEST_JOB": str(marker), PAUSE_HOOK_ENV: "1:2"})
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while len(staged_samples(tmp_path / "node0")) < 2 and time.monotonic() < deadline and job.poll() is None:
            time.sleep(0.05)
        time.sleep(0.5)  # rank 1 is now stopped after its second file
        victim = mpi_rank_pid(marker, 1)
        assert victim is not None and job.poll() is None, "the job ended before a rank could be killed"
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        _, stderr = job.communicate(timeout=TIMEOUT_S)
        seconds_to_exit = time.monotonic() - killed
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode != 0
    assert seconds_to_exit < 10, seconds_to_exit  # measured: 0.28 s here
    assert "rank 1" in stderr and ("signal 9" in stderr or "Killed" in stderr), stderr[-2000:]
    for node in (0, 1):  # an unfinished staging is never advertised, and nothing half-written has a name
        assert not (tmp_path / f"node{node}" / "manifest.json").exists()
        for name in staged_samples(tmp_path / f"node{node}"):
            assert verified_record(tmp_path / f"node{node}", name) is not None, name
    kept = sum(len(staged_samples(tmp_path / f"node{node}")) for node in (0, 1))
    assert kept >= 2

    log = tmp_path / "reads.log"
    resumed = run_stage(4, args, nodes_of_two=True, env={READ_LOG_ENV: str(log)})
    assert resumed.returncode == 0, resumed.stderr
    plan = make_plan(sample_list(sources / "train"), n_ranks=4, samples_per_rank=12, seed=4,
                     node_of_rank=[0, 0, 1, 1])
    for node in (0, 1):
        assert_node_holds_exactly_its_files(plan, node, tmp_path / f"node{node}")
    reads = read_log(log)
    assert max(reads.values()) == 1 and set(reads) <= set(plan.sources)
    summary = json.loads((tmp_path / "node0" / "stage_summary.json").read_text())
    assert summary["copies_already_staged"] == kept  # what the killed run finished was kept, not copied again
    assert summary["files_written"] + summary["copies_already_staged"] == summary["copies_needed"]


@pytest.mark.mpi
def test_unreadable_source_file_aborts_the_job_naming_the_file(tmp_path, mpi_output):
    src = tmp_path / "src"
    write_samples(src, 3)
    (src / "data-2000-01-01-03-1.h5").symlink_to(tmp_path / "gone.h5")  # found, but cannot be read
    broken = tmp_path / "gone.h5"  # sample paths are resolved: the error names the link's target
    started = time.monotonic()
    result = run_stage(2, stage_args(src, tmp_path / "local", samples=20))
    assert result.returncode != 0
    assert time.monotonic() - started < 30
    assert f"{broken}: cannot read the source file (No such file or directory)" in mpi_output(result)


@pytest.mark.mpi
def test_source_file_failing_while_it_is_read_aborts_the_job_naming_the_file(tmp_path, mpi_output):
    """A source that passes the check before the transfer (a regular file) but fails when the owner's
    reader thread reads it: a process's memory (/proc/PID/mem, listed through a link named like a sample)
    reads as EIO at offset 0. The error crosses from the reader thread to the main thread and aborts the
    job; no rank waits for the file forever."""
    memory = Path(f"/proc/{os.getpid()}/mem")  # this test's process: alive while the job runs
    (tmp_path / "memory.h5").symlink_to(memory)
    listing = tmp_path / "train.txt"
    listing.write_text("".join(f"{path}\n" for path in [*write_samples(tmp_path / "src", 3), "memory.h5"]))
    plan = make_plan(sample_list(listing), n_ranks=2, samples_per_rank=20, seed=4, node_of_rank=[0, 0])
    assert str(memory) in plan.sources
    started = time.monotonic()
    result = run_stage(2, stage_args(listing, tmp_path / "local", samples=20))
    assert result.returncode != 0
    assert time.monotonic() - started < 30
    assert f"{memory}: cannot read the source file" in mpi_output(result)
    assert not (tmp_path / "local" / "manifest.json").exists()


@pytest.mark.mpi
def test_node_local_disk_too_small_is_reported_before_copying(sources, tiny_disk, mpi_output):
    result = run_stage(2, stage_args(sources / "train", tiny_disk / "stage"))
    assert result.returncode != 0
    assert f"{tiny_disk / 'stage'}: node-local disk too small: this node needs" in mpi_output(result)
    assert not staged_samples(tiny_disk / "stage")


@pytest.mark.mpi
def test_disk_filling_up_during_staging_ends_the_job_with_one_line_and_nothing_half_written(tiny_disk, tmp_path):
    """The free-space check passes (the sources' bytes fit), but tmpfs rounds every file up to 4 KiB pages:
    the disk fills up while staged files are written, as when another job writes to the same disk."""
    src = tmp_path / "src"
    src.mkdir()
    for k in range(12):
        (src / f"data-2000-01-0{1 + k // 8}-0{k % 8}-1.h5").write_bytes(os.urandom(4097))  # 2 pages each
    node_dir = tiny_disk / "stage"
    result = subprocess.run([*CLIMSEG, *stage_args(src, node_dir, samples=200, seed=1), "--no-progress"],
                            capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith(f"climseg stage: error: {node_dir}/"), result.stderr
    assert ": disk full or quota exceeded: needs " in errors[0]
    assert errors[0].endswith("; the partial copy was removed")
    assert not (node_dir / "manifest.json").exists()
    assert not list(node_dir.rglob(".*.tmp"))
    staged = staged_samples(node_dir)
    assert 0 < len(staged) < 12
    for name in staged:  # every named file is complete and recorded
        assert verified_record(node_dir, name) is not None and (node_dir / name).read_bytes() == (src / name).read_bytes()
