"""events.ar_tracks: following AR objects by overlap (splits, merges, new and ending objects)."""

import numpy as np

from events.ar_tracks import ARTracker, ar_object_table, land_flags, match_by_overlap, to_file_order
from events.objects import Cells
from events.reading import Grid

AREA = np.ones((6, 10))


def _labels(*boxes):
    labels = np.zeros((6, 10), np.int32)
    for k, (rows, cols) in enumerate(boxes, start=1):
        labels[rows, cols] = k
    return labels


def test_moving_object_keeps_its_id_and_a_new_one_gets_the_next():
    tracker = ARTracker()
    ids, region_ids = tracker.add(_labels((slice(1, 3), slice(0, 4))), 1, AREA)
    assert list(region_ids) == [1]
    ids, region_ids = tracker.add(_labels((slice(1, 3), slice(2, 6)), (slice(4, 6), slice(7, 9))), 2, AREA)
    assert list(region_ids) == [1, 2] and set(np.unique(ids)) == {0, 1, 2}
    ids, region_ids = tracker.add(_labels((slice(4, 6), slice(8, 10))), 1, AREA)  # object 1 ended
    assert list(region_ids) == [2]
    ids, region_ids = tracker.add(_labels((slice(0, 1), slice(0, 1))), 1, AREA)  # no overlap: new
    assert list(region_ids) == [3]


def test_split_keeps_the_id_on_the_piece_overlapping_most_and_merge_continues_the_larger_overlap():
    previous = _labels((slice(0, 4), slice(0, 10)))
    now = _labels((slice(0, 4), slice(0, 3)), (slice(0, 4), slice(4, 10)))  # 12 and 24 cells of overlap
    assert match_by_overlap(now, 2, previous, AREA) == {2: 1}
    previous = _labels((slice(0, 2), slice(0, 3)), (slice(2, 6), slice(0, 10)))
    merged = _labels((slice(0, 6), slice(0, 10)))
    assert match_by_overlap(merged, 1, previous, AREA) == {1: 2}
    weights = AREA.copy()
    weights[:2] = 100.0  # overlap measured in area, not cells
    assert match_by_overlap(merged, 1, previous, weights) == {1: 1}
    assert match_by_overlap(merged, 1, None, AREA) == {}


def test_land_flags_and_object_table():
    labels = _labels((slice(0, 2), slice(0, 2)), (slice(4, 6), slice(4, 6)))
    land = np.zeros((6, 10), bool)
    land[5, 5] = True
    flags = land_flags(Cells(labels, 2), {"global": land})
    assert list(flags["global"]) == [False, True]
    import datetime as dt

    import pandas as pd

    t0 = dt.datetime(2001, 1, 1)
    records = pd.DataFrame({"object_id": [1, 1, 2], "time": [t0, t0 + dt.timedelta(hours=3), t0],
                            "area_km2": [1.0, 3.0, 2.0], "lat": [40.0, 41.0, -40.0], "lon": [200.0, 201.0, 10.0],
                            "ivt_mean_kg_m_s": [300.0, 500.0, np.nan], "ivt_max_kg_m_s": [600.0, 700.0, np.nan],
                            "water_kg": [1.0, 2.0, np.nan], "land_global": [0, 1, 0], "length_km": [10.0, 30.0, 5.0],
                            "width_km": [1.0, 1.0, 1.0], "transport_kg_s": [3e8, 5e8, np.nan]})
    table = ar_object_table(records, ["global"])
    assert list(table.duration_hours) == [3.0, 0.0] and list(table.steps) == [2, 1]
    assert list(table.area_max_km2) == [3.0, 2.0] and list(table.ivt_mean_kg_m_s[:1]) == [400.0]
    assert list(table.landfall_global) == [1, 0] and table.lat_start[0] == 40.0
    assert list(table.length_max_km) == [30.0, 5.0] and table.transport_mean_kg_s[0] == 4e8


def test_to_file_order_inverts_the_canonical_order():
    grid = Grid.from_coordinates(np.array([30.0, 10.0, -10.0]), np.array([-120.0, 0.0, 120.0]))
    field = np.arange(9).reshape(3, 3)
    assert (to_file_order(grid.canonical(field), grid) == field).all()
