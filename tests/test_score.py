"""Scoring labels against planted truth: centre matching, IoU, accumulation over time steps."""

import datetime as dt
import math

import numpy as np
import pytest

from climseg.contract import AR, BACKGROUND, TC
from climseg.synth import PlantedTC, Truth
from labeling.labels import LabelResult
from labeling.score import Score, ScoreAccumulator, mask_iou, match_centres, score_results, truth_centres
from labeling.tc import TCCentre


def test_match_centres_is_one_to_one_and_respects_the_distance():
    true = [(10.0, 100.0), (10.0, 100.5), (-20.0, 359.9)]
    detected = [(10.0, 100.45), (-20.0, 0.3), (40.0, 40.0)]  # near the 2nd; across the seam from the 3rd; a false alarm
    pairs, dist = match_centres(detected, true, max_distance_km=100.0)
    assert sorted(pairs) == [(0, 1), (1, 2)]
    assert dist.max() < 50
    # one detection between two true storms counts once
    pairs, _ = match_centres([(10.0, 100.25)], true[:2], max_distance_km=100.0)
    assert len(pairs) == 1
    assert match_centres([], true)[0] == [] and match_centres(detected, [])[0] == []
    assert match_centres([(0.0, 0.0)], [(0.0, 1.0)], max_distance_km=100.0)[0] == []  # 111 km apart


def test_mask_iou():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    assert math.isnan(mask_iou(a, b))
    a[:2] = True
    b[1:3] = True
    assert mask_iou(a, b) == pytest.approx(4 / 12)
    assert mask_iou(a, a) == 1.0
    with pytest.raises(ValueError, match="masks differ in shape"):
        mask_iou(a, b[:3])


def test_accumulator_sums_intersections_and_unions_over_steps():
    labels = np.zeros((3, 5, 6), np.uint8)
    tc_truth = np.zeros((3, 5, 6), bool)
    ar_truth = np.zeros((3, 5, 6), bool)
    labels[0, 0, :2] = TC
    tc_truth[0, 0, 1:3] = True     # TC step 0: I 1, U 3
    labels[1, 2, :] = AR
    ar_truth[1, 2, :] = True       # AR step 1: I 6, U 6
    ar_truth[2, 4, :3] = True      # AR step 2: missed, U 3
    acc = ScoreAccumulator(max_distance_km=100.0)
    acc.add(labels[0], [(10.0, 20.0)], [(10.0, 20.5)], tc_truth[0], ar_truth[0])
    acc.add(labels[1], [(30.0, 20.0)], [], tc_truth[1], ar_truth[1])
    acc.add(labels[2], np.zeros((0, 2)), [(-15.0, 300.0)], tc_truth[2], ar_truth[2])
    score = acc.result()
    assert (score.tc_true, score.tc_detected, score.tc_hits, score.tc_false_alarms) == (2, 2, 1, 1)
    assert score.tc_hit_rate == 0.5
    assert score.tc_centre_error_km == pytest.approx(0.5 * 111.19 * np.cos(np.deg2rad(10.0)), rel=1e-3)
    assert score.tc_iou == pytest.approx(1 / 3)
    assert score.ar_iou == pytest.approx(6 / 9)
    d = score.to_dict()
    assert d["tc_hit_rate"] == 0.5 and d["tc_false_alarms"] == 1 and d["ar_iou"] == score.ar_iou
    assert "hit rate 0.500" in str(score)
    with pytest.raises(ValueError, match="truth mask shape"):
        acc.add(labels[0], [], [], tc_truth[0, :4], ar_truth[0])


def test_empty_score_is_nan_not_an_error():
    score = ScoreAccumulator().result()
    assert isinstance(score, Score)
    assert math.isnan(score.tc_hit_rate) and math.isnan(score.tc_iou) and math.isnan(score.tc_centre_error_km)


def test_score_results_against_a_synth_truth():
    lat, lon = np.linspace(-90, 90, 19), np.arange(36) * 10.0
    tc_mask = np.zeros((2, 19, 36), bool)
    ar_mask = np.zeros((2, 19, 36), bool)
    tc_mask[0, 11, 5] = True
    ar_mask[1, 14, 3:9] = True
    tcs = [PlantedTC(0, 0, 20.0, 50.0, 300.0, 50.0, 40.0, 5000.0)]
    truth = Truth(times=[dt.datetime(2000, 1, 1, h) for h in (0, 3)], lat_deg=lat, lon_deg=lon, tcs=tcs, ars=[],
                  tc_mask=tc_mask, ar_mask=ar_mask)
    np.testing.assert_array_equal(truth_centres(truth, 0), [[20.0, 50.0]])
    assert truth_centres(truth, 1).shape == (0, 2)
    labels = np.full((2, 19, 36), BACKGROUND, np.uint8)
    labels[0, 11, 5] = TC
    labels[1, 14, 3:6] = AR
    centre = TCCentre(20.2, 50.1, 11, 5, 96000.0, 5e-4, 40.0, 290.0, 50.0)
    results = [LabelResult(labels[0], None, labels[0] == AR, labels[0] == TC, [centre]),
               LabelResult(labels[1], None, labels[1] == AR, labels[1] == TC, [])]
    score = score_results(results, truth)
    assert (score.tc_hits, score.tc_true, score.tc_iou, score.ar_iou) == (1, 1, 1.0, 0.5)
    with pytest.raises(ValueError, match="1 label results for 2 truth time steps"):
        score_results(results[:1], truth)


def tiny_truth():
    lat, lon = np.linspace(-90, 90, 19), np.arange(36) * 10.0
    tc_mask = np.zeros((2, 19, 36), bool)
    ar_mask = np.zeros((2, 19, 36), bool)
    tc_mask[1, 11, 5] = True
    ar_mask[0, 14, 3:9] = True
    tcs = [PlantedTC(1, 0, 20.0, 50.0, 300.0, 50.0, 40.0, 5000.0)]
    times = [dt.datetime(2000, 1, 1, h) for h in (0, 3)]
    return Truth(times=times, lat_deg=lat, lon_deg=lon, tcs=tcs, ars=[], tc_mask=tc_mask, ar_mask=ar_mask)


def test_score_sample_files_reads_labels_and_centres_written_by_the_labeller(tmp_path):
    import json

    from climseg.synth import read_truth, write_truth
    from labeling.sample import write_sample
    from labeling.score import score_sample_files

    truth = tiny_truth()
    truth_path = tmp_path / "day.truth.h5"
    write_truth(truth_path, truth)
    data = np.zeros((19, 36, 16), np.float32)
    labels = np.zeros((2, 19, 36), np.uint8)
    labels[0, 14, 3:9] = AR
    labels[1, 11, 5] = TC
    paths = []
    for step, centres in ((0, []), (1, [{"lat_deg": 20.3, "lon_deg": 50.0, "radius_km": 290.0}])):
        paths.append(write_sample(tmp_path / f"data-2000-01-01-{step:02d}-1.h5", data, labels[step], truth.lat_deg,
                                  truth.lon_deg, attrs={"tc_centres": json.dumps(centres)}))
    score = score_sample_files(paths, read_truth(truth_path))
    assert (score.tc_hits, score.tc_true, score.tc_false_alarms, score.tc_iou, score.ar_iou) == (1, 1, 0, 1.0, 1.0)
    assert score.tc_centre_error_km == pytest.approx(0.3 * 111.19, rel=1e-3)

    wrong_day = write_sample(tmp_path / "data-2000-01-02-00-1.h5", data, labels[0], truth.lat_deg, truth.lon_deg,
                             attrs={"tc_centres": "[]"})
    with pytest.raises(ValueError, match=r"data-2000-01-02-00-1\.h5: time step 2000-01-02 00 is not in the truth"):
        score_sample_files([wrong_day], truth)
    public = write_sample(tmp_path / "data-2000-01-01-00-2.h5", data, labels[0], truth.lat_deg, truth.lon_deg, attrs={})
    with pytest.raises(ValueError, match=r"data-2000-01-01-00-2\.h5: no tc_centres attribute"):
        score_sample_files([public], truth)
    small = write_sample(tmp_path / "data-2000-01-01-01-3.h5", data[:10], labels[1, :10], truth.lat_deg[:10],
                         truth.lon_deg, attrs={"tc_centres": "[]"})
    with pytest.raises(ValueError, match=r"data-2000-01-01-01-3\.h5: grid \(10, 36\) differs"):
        score_sample_files([small], truth)
    with pytest.raises(TypeError, match="expected a climseg.synth.Truth"):
        score_sample_files(paths, truth_path)
