"""Heuristic vs network scores: TC tracks matched / missed / false, AR objects by footprint IoU, mask files."""

import json

import numpy as np
import pandas as pd
import pytest

from climseg.contract import AR, BACKGROUND, TC
from events.compare import (MaskComparison, ObjectOverlap, compare_mask_files, drop_small_regions, flat_rows,
                            match_objects,
                            match_tracks, track_hours, write_report)
from climseg.sphere import great_circle_km
from labeling.grid import cell_area_km2, destination_point


def track(track_id, lat0, lon0, *, start_hour=0, steps=16, step_h=6, day0=1, bearing=300.0, speed_km_h=20.0):
    """A straight track: one point every ``step_h`` hours from (lat0, lon0) at ``speed_km_h``."""
    rows = []
    for k in range(steps):
        hours = start_hour + k * step_h
        lat, lon = destination_point(lat0, lon0, bearing, speed_km_h * k * step_h)
        rows.append({"track_id": track_id, "year": 2106, "month": 8, "day": day0 + hours // 24, "hour": hours % 24,
                     "i": 0, "j": 0, "lon": float(lon), "lat": float(lat), "psl": 99000.0, "wind": 30.0})
    return pd.DataFrame(rows)


def shifted(frame, *, km, bearing=0.0, new_id=None):
    out = frame.copy()
    lat, lon = destination_point(out["lat"].to_numpy(), out["lon"].to_numpy(), bearing, km)
    out["lat"], out["lon"] = lat, lon
    if new_id is not None:
        out["track_id"] = new_id
    return out


@pytest.fixture
def reference():
    return pd.concat([track(0, 15.0, 300.0), track(1, 12.0, 140.0), track(2, -15.0, 60.0, bearing=230.0),
                      track(3, 18.0, 359.0, bearing=90.0)], ignore_index=True)  # 3 crosses 0/360


def test_identical_tracks_all_match_with_zero_error(reference):
    result = match_tracks(reference, reference)
    assert result.matched == 4 and result.missed == [] and result.false == []
    assert {(p["reference_id"], p["candidate_id"]) for p in result.pairs} == {(0, 0), (1, 1), (2, 2), (3, 3)}
    assert all(p["close_steps"] == 16 and p["mean_distance_km"] < 1e-6 for p in result.pairs)
    assert result.detection_rate == 1.0 and result.false_alarm_ratio == 0.0


def test_shifted_dropped_and_false_tracks_are_counted(reference):
    candidate = pd.concat([
        shifted(reference[reference.track_id == 0], km=150.0, new_id=10),         # shifted 150 km: a match
        shifted(reference[reference.track_id == 1], km=500.0, new_id=11),         # 500 km away: false + missed
        reference[reference.track_id == 3].assign(track_id=13),                   # the seam-crossing one
        track(14, -30.0, 200.0),                                                  # nowhere near anything: false
    ], ignore_index=True)                                                         # track 2 dropped: missed
    result = match_tracks(reference, candidate, max_distance_km=300.0)
    assert sorted((p["reference_id"], p["candidate_id"]) for p in result.pairs) == [(0, 10), (3, 13)]
    assert sorted(result.missed) == [1, 2] and sorted(result.false) == [11, 14]
    pair = next(p for p in result.pairs if p["reference_id"] == 0)
    assert pair["mean_distance_km"] == pytest.approx(150.0, abs=1.0)
    summary = result.summary()
    assert summary["detection_rate"] == 0.5 and summary["false_alarm_ratio"] == 0.5
    assert (summary["matched"], summary["missed"], summary["false"]) == (2, 2, 2)
    # with a 600 km radius the 500 km shift matches too
    assert match_tracks(reference, candidate, max_distance_km=600.0).matched == 3


def test_genesis_offset_and_lifetime_difference_in_hours(reference):
    late = track(0, 15.0, 300.0)
    late = late.iloc[2:].reset_index(drop=True)        # starts 12 h later, same end: 12 h shorter
    result = match_tracks(reference[reference.track_id == 0], late)
    (pair,) = result.pairs
    assert pair["genesis_offset_h"] == pytest.approx(12.0)
    assert pair["lifetime_difference_h"] == pytest.approx(-12.0)
    assert pair["close_steps"] == 14


def test_tracks_at_other_times_do_not_match(reference):
    # same path, 4 days later: never at the same place at the same time
    later = track(0, 15.0, 300.0, day0=5)
    assert match_tracks(reference[reference.track_id == 0], later).matched == 0


def test_min_common_steps():
    ref = track(0, 15.0, 300.0, steps=4)
    brief = ref.iloc[:1]                               # one common time only
    assert match_tracks(ref, brief, min_common_steps=2).matched == 0
    assert match_tracks(ref, brief, min_common_steps=1).matched == 1


def test_matching_is_one_to_one_and_prefers_the_longer_overlap():
    ref = track(0, 15.0, 300.0, steps=10)
    whole = shifted(ref, km=100.0, new_id=1)
    part = shifted(ref.iloc[:4], km=10.0, new_id=2)   # nearer, but shorter
    result = match_tracks(ref, pd.concat([whole, part], ignore_index=True))
    assert [(p["reference_id"], p["candidate_id"]) for p in result.pairs] == [(0, 1)]
    assert result.false == [2]


def test_empty_track_sets(reference):
    empty = reference.iloc[:0]
    result = match_tracks(reference, empty)
    assert result.matched == 0 and sorted(result.missed) == [0, 1, 2, 3] and np.isnan(result.false_alarm_ratio)
    result = match_tracks(empty, empty)
    assert result.matched == 0 and np.isnan(result.detection_rate)


def test_track_hours_use_the_model_calendar():
    frame = pd.DataFrame({"year": [2106, 2106], "month": [2, 3], "day": [28, 1], "hour": [0, 0]})
    assert np.diff(track_hours(frame, calendar="noleap"))[0] == 24.0
    frame = pd.DataFrame({"year": [2104, 2104], "month": [2, 3], "day": [28, 1], "hour": [0, 0]})
    assert np.diff(track_hours(frame, calendar="standard"))[0] == 48.0   # 2104 is a leap year


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="track_id"):
        match_tracks(pd.DataFrame({"year": [1], "month": [1], "day": [1], "hour": [0], "lat": [0], "lon": [0]}),
                     track(0, 0.0, 0.0))
    with pytest.raises(ValueError, match="time column"):
        track_hours(pd.DataFrame({"year": [1], "lat": [0]}))
    with pytest.raises(ValueError, match="max_distance_km"):
        match_tracks(track(0, 0.0, 0.0), track(0, 0.0, 0.0), max_distance_km=0)


# -- AR objects ---------------------------------------------------------------------------------------

LAT = np.linspace(-88.125, 88.125, 48)
LON = np.arange(72) * 5.0
AREA = cell_area_km2(LAT, LON)


def test_object_iou_is_area_weighted_and_one_to_one():
    a = np.zeros((48, 72), int)
    b = np.zeros((48, 72), int)
    a[30:34, 10:30] = 1          # a river
    b[30:34, 10:20] = 5          # the candidate catches half of it ...
    b[30:34, 20:30] = 6          # ... and the other half as a second object
    a[5:8, 40:50] = 2            # a river the candidate misses
    b[40:42, 60:70] = 7          # a false one
    result = match_objects(a, b, AREA, min_iou=0.3)
    assert len(result.pairs) == 1 and result.pairs[0][0] == 1 and result.pairs[0][1] in (5, 6)
    assert result.pairs[0][2] == pytest.approx(0.5, abs=1e-9)     # same rows: area-weighted IoU is 1/2
    assert result.missed == [2] and sorted(result.false) == sorted({5, 6, 7} - {result.pairs[0][1]})
    assert match_objects(a, b, AREA, min_iou=0.6).pairs == []


def test_object_iou_weights_cells_by_their_area():
    a = np.zeros((48, 72), int)
    b = np.zeros((48, 72), int)
    a[24:26, 0:4] = 1            # rows 24 (near the equator) and 25
    b[24:25, 0:4] = 1            # only row 24
    overlap = ObjectOverlap()
    overlap.add(a, b, AREA)
    expected = AREA[24, 0] / (AREA[24, 0] + AREA[25, 0])
    assert overlap.iou(1, 1) == pytest.approx(expected)
    assert expected != pytest.approx(0.5)   # pixel counting would say 1/2


def test_tracked_objects_accumulate_over_time():
    overlap = ObjectOverlap()
    a = np.zeros((48, 72), int)
    a[30:32, 10:20] = 1
    for step in range(4):
        b = np.zeros_like(a)
        if step < 2:
            b[30:32, 10:20] = 9  # the candidate sees the river on 2 of its 4 steps
        overlap.add(a, b, AREA)
    assert overlap.iou(1, 9) == pytest.approx(0.5)
    assert overlap.match(min_iou=0.4).pairs == [(1, 9, pytest.approx(0.5))]


def test_mask_comparison_counts_objects_and_pixel_iou():
    ref = np.zeros((48, 72), np.int8)
    ref[30:34, 60:72] = AR
    ref[30:34, 0:10] = AR        # one river across the seam
    ref[20:23, 20:23] = TC
    cand = ref.copy()
    cand[20:23, 20:23] = BACKGROUND      # the TC missed
    cand[10:12, 30:40] = AR              # a false river
    comparison = MaskComparison(min_iou=0.3)
    matches = comparison.add(ref, cand, AREA, periodic=True)
    assert len(matches.pairs) == 1 and matches.pairs[0][2] == pytest.approx(1.0)
    summary = comparison.summary()
    assert (summary["ar_reference_objects"], summary["ar_candidate_objects"], summary["ar_matched"]) == (1, 2, 1)
    assert summary["ar_false"] == 1 and summary["ar_missed"] == 0
    assert summary["tc_pixel_iou"] == 0.0
    expected = AREA[30:34, 0].sum() * 22 / (AREA[30:34, 0].sum() * 22 + AREA[10:12, 0].sum() * 10)
    assert summary["ar_pixel_iou"] == pytest.approx(expected)
    # without periodicity the seam river is two objects
    comparison = MaskComparison()
    comparison.add(ref, ref, AREA, periodic=False)
    assert comparison.summary()["ar_reference_objects"] == 2


def write_masks(path, classes, *, descending=False, source="heuristic"):
    import xarray as xr

    lat = LAT[::-1] if descending else LAT
    data = classes[:, ::-1] if descending else classes
    ds = xr.Dataset({"class": (("time", "lat", "lon"), data.astype(np.int8))},
                    coords={"time": ("time", np.arange(len(classes)) * 0.125,
                                     {"units": "days since 2106-01-01", "calendar": "noleap"}),
                            "lat": lat, "lon": LON}, attrs={"climseg_mask_source": source})
    ds.to_netcdf(path)
    return path


def test_compare_mask_files_reads_either_orientation(tmp_path):
    classes = np.zeros((3, 48, 72), np.int8)
    classes[:, 30:34, 10:30] = AR
    ref = write_masks(tmp_path / "a.labels.nc", classes)
    cand = write_masks(tmp_path / "a.climseg.nc", classes, descending=True, source="network")
    summary = compare_mask_files([ref], [cand])
    assert summary["time_steps"] == 3 and summary["ar_matched"] == 3 and summary["ar_pixel_iou"] == 1.0
    other = write_masks(tmp_path / "b.climseg.nc", classes[:2])
    with pytest.raises(ValueError, match="b.climseg.nc"):
        compare_mask_files([ref], [other])
    with pytest.raises(ValueError, match="reference mask files"):
        compare_mask_files([ref], [])


def test_write_report_json_and_flat_csv(tmp_path):
    report = {"tc_tracks": {"matched": 2, "detection_rate": 0.5, "pairs": [{"x": 1}]}, "ar": {"ar_matched": 3}}
    out_json, out_csv = write_report(report, tmp_path / "compare.json")
    assert json.loads(out_json.read_text()) == report
    table = pd.read_csv(out_csv)
    assert list(table.columns) == ["quantity", "value"]
    assert dict(zip(table.quantity, table.value)) == {"tc_tracks.matched": 2, "tc_tracks.detection_rate": 0.5,
                                                      "ar.ar_matched": 3}
    assert flat_rows({"a": [1, 2]}) == []



def test_compare_command_writes_scores_of_masks_and_tracks(tmp_path, reference, capsys):
    from climseg.cli import main

    classes = np.zeros((2, 48, 72), np.int8)
    classes[:, 30:34, 10:30] = AR
    write_masks(tmp_path / "d1.labels.nc", classes)
    cand = classes.copy()
    cand[1] = 0                                                   # the network misses the river at step 1
    (tmp_path / "net").mkdir()
    write_masks(tmp_path / "net" / "d1.climseg.nc", cand, source="network")
    reference.to_csv(tmp_path / "ref.csv", index=False, sep=",")
    candidate = reference[reference.track_id != 2]
    candidate.to_csv(tmp_path / "cand.csv", index=False, sep=",")
    code = main(["compare", "--reference-masks", str(tmp_path / "d1.labels.nc"), "--candidate-masks",
                 str(tmp_path / "net"), "--reference-tracks", str(tmp_path / "ref.csv"), "--candidate-tracks",
                 str(tmp_path / "cand.csv"), "--out", str(tmp_path / "out" / "compare.json"), "--no-progress"])
    assert code == 0
    report = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert report["masks"]["ar_reference_objects"] == 2 and report["masks"]["ar_matched"] == 1
    assert report["masks"]["ar_pixel_iou"] == pytest.approx(0.5)
    assert report["tc_tracks"]["matched"] == 3 and report["tc_tracks"]["missed_ids"] == [2]
    table = pd.read_csv(tmp_path / "out" / "compare.csv")
    assert dict(zip(table.quantity, table.value))["tc_tracks.detection_rate"] == pytest.approx(0.75)


def test_compare_command_errors_name_the_problem(tmp_path, capsys):
    from climseg.cli import main

    classes = np.zeros((1, 48, 72), np.int8)
    write_masks(tmp_path / "d1.labels.nc", classes)
    write_masks(tmp_path / "d2.climseg.nc", classes)
    assert main(["compare", "--reference-masks", str(tmp_path / "d1.labels.nc"), "--candidate-masks",
                 str(tmp_path / "d2.climseg.nc"), "--out", str(tmp_path / "c.json")]) == 2
    assert "without a partner for input(s) d1, d2" in capsys.readouterr().err
    assert main(["compare", "--reference-masks", str(tmp_path / "d1.labels.nc"), "--candidate-masks",
                 str(tmp_path / "d1.labels.nc"), "--reference-tracks", "x.csv", "--out", str(tmp_path / "c.json")]) == 2
    assert "give both --reference-tracks and --candidate-tracks" in capsys.readouterr().err
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    assert main(["compare", "--reference-masks", str(tmp_path / "d1.labels.nc"), "--candidate-masks",
                 str(tmp_path / "d1.labels.nc"), "--reference-tracks", str(tmp_path / "bad.csv"),
                 "--candidate-tracks", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "c.json")]) == 2
    assert "bad.csv: not a StitchNodes CSV track file (missing column(s) track_id" in capsys.readouterr().err
    assert not (tmp_path / "c.json").exists()


def test_small_regions_are_not_objects_but_count_in_the_pixel_iou():
    ref = np.zeros((48, 72), np.int8)
    ref[30:34, 10:30] = AR
    cand = ref.copy()
    cand[10, 40] = AR                       # a one-cell speck
    big, small = AREA[30:34, 10:30].sum(), AREA[10, 40]
    for min_area, candidates in ((0.0, 2), (small * 1.01, 1), (big * 1.01, 0)):
        comparison = MaskComparison(min_area_km2=min_area)
        comparison.add(ref, cand, AREA, periodic=True)
        summary = comparison.summary()
        assert summary["ar_candidate_objects"] == candidates
        assert summary["ar_pixel_iou"] == pytest.approx(big / (big + small))
    ids = np.array([[1, 1, 0, 2]])
    kept, n = drop_small_regions(ids, 2, np.array([[1.0, 1.0, 1.0, 1.0]]), min_area_km2=1.5)
    assert n == 1 and kept.tolist() == [[1, 1, 0, 0]]


def test_large_object_ids_sum_like_small_ones():
    a = np.zeros((48, 72), np.int64)
    b = np.zeros((48, 72), np.int64)
    a[30:32, 10:20] = 1
    b[30:32, 15:25] = 2
    small, large = ObjectOverlap(), ObjectOverlap()
    small.add(a, b, AREA)
    large.add(a * 10**9, b * 10**9, AREA)          # sparse ids: sorted, not counted by bincount
    assert large.iou(10**9, 2 * 10**9) == pytest.approx(small.iou(1, 2)) == pytest.approx(1 / 3)
