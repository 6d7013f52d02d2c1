"""MLPerf-style run log: one ``:::MLLOG {json}`` line per event, as the MLPerf HPC benchmarks write.

Each line is ``:::MLLOG `` followed by one JSON object::

    :::MLLOG {"namespace": "", "time_ms": 1764646457123, "event_type": "INTERVAL_START",
              "key": "run_start", "value": null, "metadata": {"file": "training/loop.py", "lineno": 88}}

- ``time_ms``: wall-clock milliseconds since the Unix epoch (``time.time()``), so the logs of stage
  and train, two processes, share one clock;
- ``event_type``: ``POINT_IN_TIME`` (a value such as ``eval_accuracy`` or ``global_batch_size``),
  ``INTERVAL_START`` / ``INTERVAL_END`` (``*_start`` / ``*_stop`` keys);
- ``metadata``: the caller's file and line, plus any keyword the caller adds (``epoch_num``,
  ``status`` of ``run_stop``, ...).

Keys used by climseg (those of the MLPerf HPC DeepCAM benchmark, plus ``number_of_ranks``):
``init_start``, ``init_stop``, ``staging_start``, ``staging_stop``, ``run_start``, ``epoch_start``,
``epoch_stop``, ``eval_start``, ``eval_stop``, ``eval_accuracy``, ``run_stop``, ``global_batch_size``,
``opt_name``, ``opt_base_learning_rate``, ``opt_learning_rate_warmup_steps``, ``train_samples``,
``eval_samples``, ``number_of_ranks``, ``seed``.

One file per run, written by rank 0 only (other ranks make a disabled logger). Lines are appended and
flushed one at a time, so a killed run keeps every event it logged; ``read_mllog`` parses a file back.
"""

import json
import sys
import time
from pathlib import Path

PREFIX = ":::MLLOG "
POINT_IN_TIME, INTERVAL_START, INTERVAL_END = "POINT_IN_TIME", "INTERVAL_START", "INTERVAL_END"


class MLLogger:
    """Appends MLLOG lines to ``path``; with ``enabled=False`` (ranks other than 0) does nothing."""

    def __init__(self, path, *, enabled: bool = True, namespace: str = ""):
        self.path = Path(path) if enabled else None
        self.namespace = namespace
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def event(self, key: str, value=None, **metadata) -> None:
        """Log a ``POINT_IN_TIME`` event (a setting or a measured value)."""
        self._write(POINT_IN_TIME, key, value, metadata)

    def start(self, key: str, value=None, **metadata) -> None:
        """Log an ``INTERVAL_START`` event (``init_start``, ``epoch_start``, ...)."""
        self._write(INTERVAL_START, key, value, metadata)

    def end(self, key: str, value=None, **metadata) -> None:
        """Log an ``INTERVAL_END`` event (``init_stop``, ``run_stop``, ...)."""
        self._write(INTERVAL_END, key, value, metadata)

    def _write(self, event_type: str, key: str, value, metadata: dict) -> None:
        if self.path is None:
            return
        caller = sys._getframe(2)  # the code that called event/start/end
        record = {"namespace": self.namespace, "time_ms": int(time.time() * 1000), "event_type": event_type,
                  "key": key, "value": value,
                  "metadata": {"file": caller.f_code.co_filename, "lineno": caller.f_lineno, **metadata}}
        with open(self.path, "a") as log:
            log.write(PREFIX + json.dumps(record) + "\n")


def read_mllog(path) -> list[dict]:
    """The events of an MLLOG file, in order; lines without the ``:::MLLOG`` prefix are skipped.

    Raises ValueError naming the file and line when a prefixed line is not one JSON object.
    """
    events = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.startswith(PREFIX):
            continue
        try:
            record = json.loads(line[len(PREFIX):])
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} line {number}: not a JSON MLLOG record ({error})") from None
        if not isinstance(record, dict):
            raise ValueError(f"{path} line {number}: not a JSON MLLOG record (got {type(record).__name__})")
        events.append(record)
    return events
