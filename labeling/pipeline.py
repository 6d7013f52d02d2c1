"""Label netCDF files: read -> label each time step -> write one sample file per time step.

One input file is the unit of work and of failure. A file that fails (unreadable, missing variable,
all-missing field, disk full, ...) loses only its own samples: those it wrote in this run are removed
again, so a rerun starts clean, and the other files' samples stay. Every sample file is written to a
temporary name and renamed when complete, so nothing half-written is ever left in the output directory.
With ``skip_done`` a rerun labels only the files whose samples are not all there yet (:func:`done_samples`).

With ``workers > 1`` files are labelled in parallel processes (``spawn``: each worker imports numpy,
xarray and the labelling code, never TensorFlow).
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import queue
from pathlib import Path
from typing import NamedTuple

from climseg.contract import sample_file_name


class FileResult(NamedTuple):
    """What labelling one input file gave."""

    source: Path
    written: list
    """Sample files written (Paths), in time order."""
    error: str | None
    """One-line error naming the file, or None."""
    skipped: bool = False
    """True when its samples were all there already (``skip_done``) and it was not labelled again."""


def done_samples(path, out_dir, *, config, run: int = 1) -> list[Path] | None:
    """The samples of ``path`` in ``out_dir`` when every time step has one, labelled from this file with
    this configuration (their provenance says so: source file, time index, ``labeling_config``); else None.

    An input that cannot be opened is not done (labelling it reports why). The code revision is not
    compared: after changing the code, relabel without ``skip_done``.
    """
    import h5py

    from labeling.reading import open_model_output

    path, out_dir = Path(path), Path(out_dir)
    wanted = json.dumps(config.to_dict(), sort_keys=True)
    try:
        with open_model_output(path) as model:
            targets = [out_dir / sample_file_name(*model.sample_time(step), run) for step in range(len(model))]
    except (OSError, ValueError):
        return None
    source = str(path.resolve())
    for step, target in enumerate(targets):
        try:
            with h5py.File(target, "r") as f:
                attrs = f.attrs
                same = (attrs.get("source_file") == source and attrs.get("source_time_index") == step
                        and attrs.get("labeling_config") == wanted)
        except OSError:
            return None
        if not same:
            return None
    return targets


def label_file(path, out_dir, *, config, run: int = 1, on_step=None) -> list[Path]:
    """Label every time step of one netCDF file into ``out_dir``; return the sample paths.

    Raises ValueError / OSError naming the file (after removing the samples it wrote in this call).
    """
    from labeling.labels import ivt_source, label_model_steps
    from labeling.reading import open_model_output
    from labeling.sample import provenance, stack_channels, write_sample

    path, out_dir = Path(path), Path(out_dir)
    written = []
    try:
        with open_model_output(path) as model:
            for step, fields, levels, result in label_model_steps(model, config=config):
                date, step_of_day = model.sample_time(step)
                attrs = provenance(source_file=path.resolve(), time_index=step, time=model.time_label(step),
                                   calendar=model.calendar, config=config, orientation=model.orientation,
                                   ivt_source=ivt_source(config.ivt.source, levels), lat_deg=model.lat_deg,
                                   lon_deg=model.lon_deg, thresholds=result.thresholds, tc_centres=result.tc_centres)
                target = out_dir / sample_file_name(date, step_of_day, run)
                write_sample(target, stack_channels(fields), result.labels, model.lat_deg, model.lon_deg, attrs=attrs)
                written.append(target)
                if on_step is not None:
                    on_step()
    except BaseException:
        for sample in written:
            sample.unlink(missing_ok=True)
        raise
    return written


def _label_file_caught(path, out_dir, config, run, on_step=None) -> FileResult:
    """Run :func:`label_file`, turning an error into a one-line message naming the file."""
    try:
        return FileResult(Path(path), label_file(path, out_dir, config=config, run=run, on_step=on_step), None)
    except (ValueError, OSError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
    except Exception as error:  # a bug, but still one line, and the other files go on
        message = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    if not message.startswith(str(path)):
        message = f"{path}: {message}"
    return FileResult(Path(path), [], message)


_step_queue = None
"""In a worker process: where each labelled time step is reported to the parent."""


def _init_worker(step_queue):
    global _step_queue
    _step_queue = step_queue


def _label_file_in_worker(path, out_dir, config, run) -> FileResult:
    return _label_file_caught(path, out_dir, config, run, on_step=lambda: _step_queue.put(1))


def label_files(paths, out_dir, *, config, run: int = 1, workers: int = 1, on_step=None, on_file=None,
                skip_done: bool = False):
    """Label many netCDF files, ``workers`` at a time; return one :class:`FileResult` per input, in order.

    ``on_step()`` is called after each labelled time step, ``on_file(result)`` after each file. With
    ``skip_done`` a file whose samples are all there (:func:`done_samples`) is not labelled again.
    Raises ValueError for an empty list of inputs.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("no input files to label")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    results = {}
    if skip_done:
        for path in paths:
            done = done_samples(path, out_dir, config=config, run=run)
            if done is not None:
                results[path] = FileResult(path, done, None, skipped=True)
                if on_file is not None:
                    on_file(results[path])
        paths_to_label = [p for p in paths if p not in results]
        if not paths_to_label:
            return [results[p] for p in paths]
        labelled = label_files(paths_to_label, out_dir, config=config, run=run, workers=workers, on_step=on_step,
                               on_file=on_file)
        results.update(zip(paths_to_label, labelled))
        return [results[p] for p in paths]
    if workers <= 1 or len(paths) == 1:
        for path in paths:
            result = _label_file_caught(path, out_dir, config, run, on_step=on_step)
            results[path] = result
            if on_file is not None:
                on_file(result)
        return [results[p] for p in paths]

    context = multiprocessing.get_context("spawn")
    step_queue = context.Queue()
    with concurrent.futures.ProcessPoolExecutor(max_workers=min(workers, len(paths)), mp_context=context,
                                                initializer=_init_worker, initargs=(step_queue,)) as pool:
        pending = {pool.submit(_label_file_in_worker, path, out_dir, config, run): path for path in paths}
        while pending:
            done, _ = concurrent.futures.wait(pending, timeout=0.2, return_when=concurrent.futures.FIRST_COMPLETED)
            _drain(step_queue, on_step)
            for future in done:
                path = pending.pop(future)
                try:
                    result = future.result()
                except Exception as error:  # the worker process died
                    result = FileResult(path, [], f"{path}: worker failed ({type(error).__name__}: {error})")
                results[path] = result
                if on_file is not None:
                    on_file(result)
        _drain(step_queue, on_step)
    return [results[p] for p in paths]


def _drain(step_queue, on_step):
    while True:
        try:
            step_queue.get_nowait()
        except queue.Empty:
            return
        if on_step is not None:
            on_step()
