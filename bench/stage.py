"""Staging benchmark: bytes read from the source and wall time of `climseg stage` against baselines.

One node, 4 ranks (all ranks share one node-local directory), a few hundred generated sample files:

- read amplification: bytes read from the source / bytes of the distinct needed files (goal 1.00),
  beside the naive scheme in which every rank reads its own sample (each distinct file of it once);
- wall time: `climseg stage` against a plain copy (``shutil.copy``) of the same distinct files into
  a directory on the same file system, measured in the same run (goal: within 1.5x). The staging time
  is the one measured inside the job (plan broadcast to the end, as in its summary); the time of the
  whole ``mpirun`` command, which adds launching 4 Python processes, is printed beside it.

Both read the source files from the page cache (they were just written): this measures the staging
machinery, not the shared file system. Runs alternate (copy first, then staging first) and start with
no dirty pages (``os.sync``); the best of ``--repeats`` of each is reported.

Before / after in one sitting: ``--baseline-rev REV`` (default: where this branch left main) also runs the
staging code of git revision REV (its ``staging/`` package, extracted to a temporary directory and put first
on PYTHONPATH) in the same alternation, and prints its ratio beside the current one.

The data path of one chunk, measured alone on the same files (CPU seconds per GB, one process): the old
path (``read`` into fresh memory, zlib CRC-32, buffered append), the current one (``readinto`` a reused
buffer, CRC-32C, ``os.write``), the current checksum with ``os.copy_file_range`` for the data, and
``shutil.copy`` (``sendfile``, no checksum); and the checksums alone: zlib CRC-32, CRC-32C, xxHash (XXH3,
when the ``xxhash`` package is importable). Run from the repository root::

    .venv/bin/python bench/stage.py                    # 300 files of 3.5 MB (192 x 288 x 16 float32)
    .venv/bin/python bench/stage.py --lat 768 --lon 1152 --files 100    # full-size samples (57 MB)
"""

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import h5py
import numpy as np
from crc32c import crc32c

from climseg.contract import DATA_KEY, LABELS_KEY, sample_file_name
from staging.plan import make_plan


def write_samples(folder: Path, n: int, lat: int, lon: int) -> list[Path]:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    paths = []
    for k in range(n):
        path = folder / sample_file_name(dt.date(2000, 1, 1) + dt.timedelta(days=k // 8), k % 8)
        with h5py.File(path, "w") as f:
            f[DATA_KEY] = rng.random((lat, lon, 16), dtype=np.float32)
            f[LABELS_KEY] = rng.integers(0, 3, (lat, lon), dtype=np.uint8)
        paths.append(path)
    return paths


def cpu_seconds(who) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def plain_copy(files, target: Path) -> tuple[float, float]:
    """Copy ``files`` into ``target``; return (wall seconds, CPU seconds)."""
    target.mkdir()
    start, cpu = time.perf_counter(), cpu_seconds(resource.RUSAGE_SELF)
    for path in files:
        shutil.copy(path, target)
    return time.perf_counter() - start, cpu_seconds(resource.RUSAGE_SELF) - cpu


def staging_run(src: Path, target: Path, args, *, code: Path | None = None) -> tuple[float, float, dict]:
    """Run ``climseg stage`` under mpirun, with the ``staging`` package found in ``code`` when given; return
    (wall seconds, CPU seconds of all ranks, summary)."""
    bin_dir = Path(sys.executable).parent
    command = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", str(args.ranks),
               str(bin_dir / "climseg"), "stage", "--train", str(src), "--samples-per-rank", str(args.samples_per_rank),
               "--seed", "0", "--node-local-dir", str(target), "--no-progress"]
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    repo = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([*([str(code)] if code else []), repo, env.get("PYTHONPATH", "")])
    start, cpu = time.perf_counter(), cpu_seconds(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    return wall, cpu_seconds(resource.RUSAGE_CHILDREN) - cpu, json.loads((target / "stage_summary.json").read_text())


def old_chunk_path(source, target, chunk_bytes: int) -> int:
    """The data path before: ``read`` into fresh memory, zlib CRC-32, buffered append per chunk."""
    crc = 0
    with open(source, "rb", buffering=0) as f:
        while chunk := f.read(chunk_bytes):
            crc = zlib.crc32(chunk, crc)
            with open(target, "ab") as out:
                out.write(chunk)
    return crc


def new_chunk_path(source, target, chunk_bytes: int, *, buffer=None) -> int:
    """The data path now: ``readinto`` a reused buffer, CRC-32C, ``os.write`` from the buffer."""
    buffer = memoryview(buffer if buffer is not None else bytearray(chunk_bytes))
    crc = 0
    with open(source, "rb", buffering=0) as f, open(target, "wb", buffering=0) as out:
        while count := f.readinto(buffer):
            crc = crc32c(buffer[:count], crc)
            out.write(buffer[:count])
    return crc


def copy_file_range_path(source, target, chunk_bytes: int, *, buffer=None) -> int:
    """CRC-32C from a reused buffer, the data copied by the kernel (``os.copy_file_range``)."""
    buffer = memoryview(buffer if buffer is not None else bytearray(chunk_bytes))
    crc, offset = 0, 0
    with open(source, "rb", buffering=0) as f, open(target, "wb", buffering=0) as out:
        while count := f.readinto(buffer):
            crc = crc32c(buffer[:count], crc)
            done = 0
            while done < count:
                done += os.copy_file_range(f.fileno(), out.fileno(), count - done, offset + done)
            offset += count
    return crc


def data_paths(files, workdir: Path, repeats: int) -> dict[str, float]:
    """Best CPU seconds per GB of each way to copy ``files`` into ``workdir`` (one process)."""
    chunk_bytes, buffer = 16 << 20, bytearray(16 << 20)
    ways = {"read, zlib CRC-32, append (before)": lambda s, t: old_chunk_path(s, t, chunk_bytes),
            "readinto, CRC-32C, os.write (now)": lambda s, t: new_chunk_path(s, t, chunk_bytes, buffer=buffer),
            "readinto, CRC-32C, copy_file_range": lambda s, t: copy_file_range_path(s, t, chunk_bytes, buffer=buffer),
            "shutil.copy (sendfile, no checksum)": lambda s, t: shutil.copy(s, t)}
    gigabytes = sum(os.path.getsize(path) for path in files) / 1e9
    best = {}
    for _ in range(repeats):
        for name, copy in ways.items():
            target = workdir / "data-path"
            target.mkdir()
            os.sync()
            cpu = cpu_seconds(resource.RUSAGE_SELF)
            for path in files:
                copy(path, target / Path(path).name)
            best[name] = min(best.get(name, float("inf")), (cpu_seconds(resource.RUSAGE_SELF) - cpu) / gigabytes)
            shutil.rmtree(target)
    return best


def checksum_speeds(files) -> dict[str, float]:
    """GB/s of each checksum over the bytes of ``files`` (best of 3)."""
    data = b"".join(Path(path).read_bytes() for path in files[:8])
    checksums = {"zlib.crc32": zlib.crc32, "crc32c.crc32c": crc32c}
    try:
        import xxhash
        checksums["xxhash.xxh3_64"] = xxhash.xxh3_64_intdigest
    except ImportError:
        pass
    speeds = {}
    for name, checksum in checksums.items():
        seconds = []
        for _ in range(3):
            start = time.perf_counter()
            checksum(data)
            seconds.append(time.perf_counter() - start)
        speeds[name] = len(data) / min(seconds) / 1e9
    return speeds


def baseline_code(rev: str, workdir: Path) -> Path:
    """The ``staging`` package of git revision ``rev``, extracted into ``workdir``/code."""
    repo = Path(__file__).resolve().parents[1]
    code = workdir / "code"
    code.mkdir()
    archive = subprocess.run(["git", "-C", str(repo), "archive", rev, "staging"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(code)], input=archive.stdout, check=True)
    return code


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--files", type=int, default=300, help="sample files to generate")
    parser.add_argument("--lat", type=int, default=192)
    parser.add_argument("--lon", type=int, default=288)
    parser.add_argument("--ranks", type=int, default=4)
    parser.add_argument("--samples-per-rank", type=int, default=250, help="the paper's 250")
    parser.add_argument("--repeats", type=int, default=2, help="best of this many runs of each")
    parser.add_argument("--workdir", default=None, help="where to generate (default: a temporary directory)")
    parser.add_argument("--baseline-rev", default="36a8afad1e65",
                        help="git revision whose staging code runs beside the current one ('' for none); "
                             "default: main where this code left it")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="bench-stage-") as tmp:
        tmp = Path(tmp)
        files = write_samples(tmp / "source", args.files, args.lat, args.lon)
        plan = make_plan(files, n_ranks=args.ranks, samples_per_rank=args.samples_per_rank, seed=0,
                         node_of_rank=[0] * args.ranks)
        size = {i: os.path.getsize(path) for i, path in enumerate(plan.sources)}
        distinct_bytes = sum(size.values())
        naive_bytes = sum(size[i] for rank in range(args.ranks) for i in plan.needed_by_rank(rank))

        old_code = baseline_code(args.baseline_rev, tmp) if args.baseline_rev else None
        copy_s, copy_cpu_s, stage_s, stage_wall_s, stage_cpu_s, summary = [], [], [], [], [], None
        old_s, old_summary = [], None
        order = ["copy", "stage", *(["old"] if old_code else [])]
        for repeat in range(args.repeats):
            for which in order if repeat % 2 == 0 else order[::-1]:
                os.sync()  # no dirty pages of the previous run left to slow this one down
                if which == "copy":
                    wall, cpu = plain_copy(plan.sources, tmp / "copy")
                    copy_s.append(wall)
                    copy_cpu_s.append(cpu)
                    shutil.rmtree(tmp / "copy")
                elif which == "old":
                    _, _, old_summary = staging_run(tmp / "source", tmp / "stage", args, code=old_code)
                    old_s.append(old_summary["seconds"])
                    shutil.rmtree(tmp / "stage")
                else:
                    wall, cpu, summary = staging_run(tmp / "source", tmp / "stage", args)
                    stage_wall_s.append(wall)
                    stage_cpu_s.append(cpu)
                    stage_s.append(summary["seconds"])
                    assert all(os.path.getsize(tmp / "stage" / name) == size[i] for i, name in enumerate(plan.names))
                    shutil.rmtree(tmp / "stage")
        paths = data_paths(plan.sources[:40], tmp, args.repeats)
        checksums = checksum_speeds(plan.sources)

    copy, stage, wall = min(copy_s), min(stage_s), min(stage_wall_s)
    read_ratio = summary["source_bytes_read"] / distinct_bytes
    print(f"{args.files} files of {args.lat} x {args.lon} x 16 float32 ({size[0] / 1e6:.1f} MB each), "
          f"{args.ranks} ranks on one node, {args.samples_per_rank} samples per rank, best of {args.repeats}; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"{'distinct files needed':<44}{len(plan.sources):>10}  ({distinct_bytes / 1e9:.3f} GB)")
    print(f"{'bytes read from the source, staging':<44}{summary['source_bytes_read'] / 1e9:>10.3f} GB")
    print(f"{'bytes read from the source, naive per rank':<44}{naive_bytes / 1e9:>10.3f} GB")
    print(f"{'read amplification, staging':<44}{read_ratio:>10.2f}  (goal: 1.00)")
    print(f"{'read amplification, naive per rank':<44}{naive_bytes / distinct_bytes:>10.2f}")
    print(f"{'plain copy of the distinct files':<44}{copy:>10.2f} s  ({distinct_bytes / copy / 1e9:.2f} GB/s)")
    print(f"{'climseg stage, inside the job':<44}{stage:>10.2f} s  ({distinct_bytes / stage / 1e9:.2f} GB/s)")
    print(f"{'climseg stage, whole mpirun command':<44}{wall:>10.2f} s  (ratio to copy {wall / copy:.2f})")
    print(f"{'peak memory of a staging rank':<44}{summary['peak_memory_bytes_per_rank'] / 1e6:>10.0f} MB")
    print(f"{'runs, copy / staging inside the job':<44}{' '.join(f'{t:.2f}' for t in copy_s)} s / "
          f"{' '.join(f'{t:.2f}' for t in stage_s)} s")
    print(f"{'CPU time, copy / whole mpirun (all ranks)':<44}{min(copy_cpu_s):>10.2f} s / {min(stage_cpu_s):.2f} s "
          f"(includes starting {args.ranks} Python processes)")
    print(f"{'data path, one process, CPU s per GB':<44}")
    for name, seconds in paths.items():
        print(f"  {name:<42}{seconds:>10.2f} s/GB")
    print(f"{'checksums':<44}" + ", ".join(f"{name} {speed:.2f} GB/s" for name, speed in checksums.items()))
    if old_s:
        old = min(old_s)
        print(f"{'climseg stage of ' + args.baseline_rev + ', inside the job':<44}{old:>10.2f} s  "
              f"(ratio to copy {old / copy:.2f}; read amplification "
              f"{old_summary['source_bytes_read'] / distinct_bytes:.2f})")
        print(f"{'runs, staging of ' + args.baseline_rev:<44}{' '.join(f'{t:.2f}' for t in old_s)} s")
    before = f"; before ({args.baseline_rev}): {min(old_s) / copy:.2f}" if old_s else ""
    print(f"ratio: {stage / copy:.2f} (staging time inside the job / plain copy time{before}; goal: <= 1.5)")


if __name__ == "__main__":
    main()
