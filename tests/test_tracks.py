"""events.tracks: linking, gaps, splits, minimum duration, the StitchNodes CSV layout and the per-track table."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from climseg.sphere import great_circle_km
from events.tracks import (CSV_COLUMNS, TrackConfig, Tracker, accumulated_cyclone_energy, link_tracks, read_tracks,
                           saffir_simpson, track_table, write_tracks)

T0 = dt.datetime(2001, 8, 1)
STEP = dt.timedelta(hours=3)


def _step(points):
    return pd.DataFrame(points, columns=["lat", "lon", "psl", "wind"]).astype(float)


def _moving(lat, lon, dlon, steps, *, wind=30.0):
    return [(lat, (lon + k * dlon) % 360.0, 98000.0, wind) for k in range(steps)]


def test_two_storms_crossing_the_meridian_and_a_gap():
    a = _moving(15.0, 355.0, 1.0, 20)  # westward-moving sign does not matter: crosses 0/360 at step 5
    b = _moving(-20.0, 120.0, -1.0, 20)
    steps = []
    for k in range(20):
        points = [a[k]] + ([b[k]] if k != 7 else [])  # b missing at step 7: a gap of one step
        steps.append((T0 + k * STEP, _step(points)))
    tracks = link_tracks(steps, TrackConfig(max_gap_steps=1))
    assert len(tracks) == 2
    assert [len(t) for t in tracks] == [19, 20]  # same genesis time: ordered by longitude
    assert tracks[0].lon.iloc[0] == 120.0
    crossing = [t for t in tracks if t.lat.iloc[0] == 15.0][0]
    assert crossing.lon.min() < 5 and crossing.lon.max() > 350  # one track across 0/360
    without_gaps = link_tracks(steps, TrackConfig(max_gap_steps=0, min_duration_hours=0))
    assert len(without_gaps) == 3


def test_travel_limit_scales_with_time_step_and_short_tracks_are_dropped():
    # 1600 km/day = 200 km per 3 h; a jump of 2.5 degrees of latitude (278 km) is too far
    steps = [(T0 + k * STEP, _step([(10.0 + 2.5 * k, 50.0, np.nan, np.nan)])) for k in range(17)]
    assert [len(t) for t in link_tracks(steps, TrackConfig(min_duration_hours=0))] == [1] * 17
    assert len(link_tracks(steps, TrackConfig(max_speed_km_per_day=2400.0, min_duration_hours=0))) == 1
    assert len(link_tracks(steps, TrackConfig(max_speed_km_per_day=2400.0, min_duration_hours=48.0))) == 1
    assert link_tracks(steps[:16], TrackConfig(max_speed_km_per_day=2400.0, min_duration_hours=48.0)) == []


def test_split_continues_with_the_nearer_piece():
    steps = [(T0 + k * STEP, _step([(20.0, 100.0 + 0.5 * k, 99000.0, 25.0)])) for k in range(5)]
    steps.append((T0 + 5 * STEP, _step([(20.0, 103.5, 99000, 25.0), (20.0, 102.6, 99000, 25.0)])))
    tracks = link_tracks(steps, TrackConfig(min_duration_hours=0))
    assert len(tracks) == 2
    main = max(tracks, key=len)
    assert len(main) == 6 and main.lon.iloc[-1] == pytest.approx(102.6)


def test_time_must_increase():
    tracker = Tracker()
    tracker.add(T0, _step([]))
    with pytest.raises(ValueError, match="out of order"):
        tracker.add(T0, _step([]))


def test_csv_round_trip_and_column_order(tmp_path):
    a = [(T0 + k * STEP, _step([(15.0 + 0.1 * k, 359.0 + 0.5 * k, 98000.0 - 10 * k, 40.0 + k)])) for k in range(17)]
    tracks = link_tracks(a)
    for track in tracks:
        track["i"], track["j"], track["area_km2"] = 7, 3, 1.5e5
    path = tmp_path / "tracks.csv"
    write_tracks(path, tracks)
    header = path.read_text().splitlines()[0]
    assert header == "track_id, year, month, day, hour, i, j, lon, lat, psl, wind, area_km2"
    assert tuple(header.split(", ")) == CSV_COLUMNS
    back = read_tracks(path)
    assert len(back) == 1 and len(back[0]) == 17
    assert list(back[0].time) == [T0 + k * STEP for k in range(17)]
    np.testing.assert_allclose(back[0].lon, tracks[0].lon % 360.0, atol=1e-6)
    np.testing.assert_allclose(back[0].lat, tracks[0].lat, atol=1e-6)
    np.testing.assert_allclose(back[0].wind, tracks[0].wind, atol=1e-3)
    bad = tmp_path / "bad.csv"
    bad.write_text("a, b\n1, 2\n")
    with pytest.raises(ValueError, match="bad.csv.*missing column"):
        read_tracks(bad)


def test_table_category_ace_distance():
    times = [T0 + k * STEP for k in range(17)]
    wind = np.full(17, 20.0)
    wind[8] = 60.0  # category 4 at 12 h of day 2 (a six-hourly point)
    track = pd.DataFrame({"time": times, "lat": np.linspace(10, 12, 17), "lon": np.full(17, 300.0),
                          "psl": np.full(17, 97000.0), "wind": wind})
    table = track_table([track])
    row = table.iloc[0]
    assert row.category == "4" and row.lifetime_hours == 48.0 and row.points == 17
    assert row.distance_km == pytest.approx(great_circle_km(10, 300, 12, 300), rel=1e-6)
    knots = 60.0 * 3600 / 1852  # the only six-hourly point at or above 34 kt (20 m/s = 38.9 kt counts too)
    six = [t.hour % 6 == 0 for t in times]
    expected = 1e-4 * (sum(six) - 1) * (20.0 * 3600 / 1852) ** 2 + 1e-4 * knots**2
    assert row.ace == pytest.approx(expected)
    assert accumulated_cyclone_energy(times, np.full(17, 15.0)) == 0.0  # 29 kt: below tropical-storm strength
    assert np.isnan(accumulated_cyclone_energy(times, np.full(17, np.nan)))
    assert [saffir_simpson(w) for w in (10, 18, 33, 43, 50, 58, 70, np.nan)] == \
        ["TD", "TS", "1", "2", "3", "4", "5", ""]


def test_a_track_over_28_february_of_a_noleap_calendar_stays_one_track():
    import cftime

    start = cftime.DatetimeNoLeap(2000, 2, 27)  # 2000 is a leap year of the real calendar, not of CAM5's
    steps = [(start + k * STEP, _step([(15.0, 300.0 - 0.3 * k, 98000.0, 30.0)])) for k in range(24)]
    tracks = link_tracks(steps, TrackConfig(max_gap_steps=0))
    assert len(tracks) == 1 and len(tracks[0]) == 24
    assert str(tracks[0].time.iloc[-1]) == "2000-03-01 21:00:00"
    table = track_table(tracks)
    assert table.lifetime_hours[0] == 69.0 and table.end_time[0] == "2000-03-01T21:00:00"


def test_merge_continues_the_nearer_track_and_ends_the_other():
    steps = [(T0 + k * STEP, _step([(20.0, 100.0 + 0.5 * k, 99000.0, 25.0), (20.0, 104.0 - 0.5 * k, 99000, 25.0)]))
             for k in range(4)]  # two storms approaching: 101.5 and 102.5 at step 3
    steps.append((T0 + 4 * STEP, _step([(20.0, 101.9, 99000.0, 25.0)])))  # one storm: 0.4 and 0.6 degrees away
    steps.append((T0 + 5 * STEP, _step([(20.0, 102.0, 99000.0, 25.0)])))
    tracks = link_tracks(steps, TrackConfig(min_duration_hours=0, max_gap_steps=0))
    assert sorted(len(t) for t in tracks) == [4, 6]
    merged = max(tracks, key=len)
    assert merged.lon.iloc[0] == 100.0  # the western storm was nearer: its track goes on


def test_minimum_wind_drops_weak_tracks_but_not_those_of_unknown_wind():
    weak = [(T0 + k * STEP, _step([(15.0, 300.0 - 0.3 * k, 100500.0, 15.0)])) for k in range(17)]
    unknown = [(T0 + k * STEP, _step([(15.0, 300.0 - 0.3 * k, np.nan, np.nan)])) for k in range(17)]
    assert link_tracks(weak, TrackConfig(min_wind_ms=17.0)) == []
    assert len(link_tracks(weak, TrackConfig())) == 1
    assert len(link_tracks(unknown, TrackConfig(min_wind_ms=17.0))) == 1
