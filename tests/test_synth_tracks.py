"""climseg.synth.tracks: events along known tracks over several days, and their truth files."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from climseg import synth
from climseg.cli import main
from climseg.sphere import great_circle_km

START = dt.date(2001, 2, 27)  # the run spans 28 February -> 1 March of a noleap calendar


def test_plan_covers_every_basin_both_hemispheres_and_the_meridian():
    tcs, ars = synth.plan_tracked_events(5, START, 4, per_basin=2, per_region=1)
    basins = pd.Series([tc.basin for tc in tcs]).value_counts()
    assert set(basins.index) == set(synth.TC_BASINS) | {"south_atlantic"}
    assert all(basins[name] == 2 for name in synth.TC_BASINS) and basins["south_atlantic"] == 1
    assert {np.sign(tc.spec.lat_deg) for tc in tcs} == {-1.0, 1.0}
    assert [ar.region for ar in ars] == list(synth.AR_REGIONS)
    times = synth.run_times(START, 4)
    assert len(times) == 32 and dt.datetime(2001, 3, 1) in times
    for tc in tcs:
        assert tc.genesis in times and 60.0 <= tc.hours <= 93.0 and tc.hours % 3 == 0
        points = [synth.tracked_tc_at(tc, t) for t in times if synth.tracks.active(tc.genesis, tc.hours, t)]
        assert len(points) == tc.hours / 3 + 1
        steps = [great_circle_km(a.lat_deg, a.lon_deg, b.lat_deg, b.lon_deg) for a, b in zip(points, points[1:])]
        assert max(steps) < 200.0  # within 1600 km per day at every 3-hour step, across 29 February too
    meridian = [tc for tc in tcs if tc.basin == "south_atlantic"][0]
    lons = [synth.tracked_tc_at(meridian, t).lon_deg for t in times
            if synth.tracks.active(meridian.genesis, meridian.hours, t)]
    assert min(lons) < 5.0 and max(lons) > 355.0
    again = synth.plan_tracked_events(5, START, 4, per_basin=2, per_region=1)
    assert again == (tcs, ars)


def test_model_hours_skip_29_february():
    assert synth.model_hours(dt.datetime(2004, 2, 28), dt.datetime(2004, 3, 1)) == 24.0
    assert synth.model_hours(dt.datetime(2001, 2, 28), dt.datetime(2001, 3, 1)) == 24.0


def test_synth_tracks_writes_truth_that_agrees_with_the_daily_files(tmp_path):
    assert main(["synth", "--out", str(tmp_path), "--days", "3", "--lat", "48", "--lon", "72", "--tracks",
                 "--tracks-per-basin", "1", "--seed", "2", "--case", "t"]) == 0
    tracks = pd.read_csv(tmp_path / "t.truth.tracks.csv", skipinitialspace=True)
    assert list(tracks.columns) == ["track_id", "year", "month", "day", "hour", "i", "j", "lon", "lat", "psl", "wind",
                                    "area_km2"]
    assert tracks.track_id.nunique() == 7
    ars = pd.read_csv(tmp_path / "t.truth.ars.csv")
    assert ars.track_id.nunique() == 3
    days = sorted(tmp_path.glob("t.cam.h2.*.truth.h5"))
    assert len(days) == 3
    planted = []
    for path in days:
        truth = synth.read_truth(path)
        assert not [tc for tc in truth.tcs if tc.track_id < 0]  # --tracks: no one-day events by default
        planted += [(truth.times[tc.step], tc.track_id, tc.lat_deg, tc.lon_deg) for tc in truth.tcs]
        for ar in truth.ars:
            core = truth.ar_track_id[ar.step] == ar.track_id
            assert core.any() and truth.ar_mask[ar.step][core].all()
        assert ((truth.ar_track_id >= 0) == truth.ar_mask).all()
    planted.sort()
    from_csv = sorted((dt.datetime(r.year, r.month, r.day, r.hour), r.track_id, r.lat, r.lon)
                      for r in tracks.itertuples())
    assert [p[:2] for p in planted] == [p[:2] for p in from_csv]
    np.testing.assert_allclose([p[2:] for p in planted], [p[2:] for p in from_csv], atol=1e-5)


def test_impossible_plan_is_a_one_line_error(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path), "--days", "1", "--lat", "24", "--lon", "36", "--tracks",
                 "--tracks-per-basin", "40"]) == 2
    assert "cannot place 40 tracked TCs" in capsys.readouterr().err


def test_truth_files_of_older_versions_still_read(tmp_path):
    import h5py

    config = synth.SynthConfig(n_lat=24, n_lon=36, n_tcs=1, n_ars=1)
    _, truth_path = synth.write_day(config, dt.date(2000, 1, 1), tmp_path)
    with h5py.File(truth_path, "a") as f:
        del f["tc/track_id"], f["ar/track_id"]
    truth = synth.read_truth(truth_path)
    assert {tc.track_id for tc in truth.tcs} == {-1} and truth.ar_track_id is None


def test_one_day_events_beside_the_tracked_ones_on_request(tmp_path):
    assert main(["synth", "--out", str(tmp_path), "--days", "1", "--lat", "48", "--lon", "72", "--tracks",
                 "--tracks-per-basin", "1", "--ars-per-region", "0", "--tcs", "2", "--ars", "1"]) == 0
    truth = synth.read_truth(next(tmp_path.glob("*.truth.h5")))
    one_day = {tc.id for tc in truth.tcs if tc.track_id < 0}
    assert len(one_day) == 2 and {ar.id for ar in truth.ars if ar.track_id < 0} == {0}
    assert truth.ar_track_id is None  # no tracked ARs asked for
