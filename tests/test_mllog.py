"""climseg.mllog: MLPerf-style :::MLLOG lines, written and read back."""

import json

import pytest

from climseg.mllog import MLLogger, read_mllog


def test_events_round_trip_in_order_with_caller_and_metadata(tmp_path):
    path = tmp_path / "run" / "mllog.txt"
    log = MLLogger(path)
    log.start("run_start")
    log.event("global_batch_size", 8)
    log.end("run_stop", status="success")
    lines = path.read_text().splitlines()
    assert all(line.startswith(":::MLLOG {") for line in lines)
    records = [json.loads(line.split(" ", 1)[1]) for line in lines]
    assert records == read_mllog(path)
    assert [(r["event_type"], r["key"], r["value"]) for r in records] == [
        ("INTERVAL_START", "run_start", None), ("POINT_IN_TIME", "global_batch_size", 8),
        ("INTERVAL_END", "run_stop", None)]
    assert records[2]["metadata"]["status"] == "success"
    assert records[0]["metadata"]["file"] == __file__  # the caller, not the logger module
    assert records[0]["time_ms"] <= records[2]["time_ms"]


def test_disabled_logger_writes_nothing(tmp_path):
    MLLogger(tmp_path / "mllog.txt", enabled=False).event("seed", 1)
    assert not (tmp_path / "mllog.txt").exists()


def test_a_broken_line_is_named(tmp_path):
    path = tmp_path / "mllog.txt"
    path.write_text('other output\n:::MLLOG {"key": "run_start"}\n:::MLLOG {broken\n')
    with pytest.raises(ValueError, match="line 3"):
        read_mllog(path)
