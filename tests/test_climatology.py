"""events.climatology (and the track / climatology commands) on planted tracked events of ``climseg synth``.

The masks are the truth of the generated data written as mask files, so every statistic has an exact answer
computed here from the truth files alone.
"""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from climseg import synth
from climseg.cli import main
from events.climatology import merge, read_partial
from events.landmask import DEFAULT_REGIONS, land_mask, region_land_masks
from events.tracks import read_tracks
from inference.masks import HEURISTIC, mask_file, mask_file_name, read_source_coordinates

GRID = (192, 288)  # 0.94 x 1.25 degrees: a cell is about 105 x 135 km at 15 degrees latitude
DAYS = 4


def _nearest(tracks, truth):
    """The track starting nearest to the planted one (degrees, longitude wrapped)."""
    return min(tracks, key=lambda t: abs(t.lat[0] - truth.lat[0]) + abs((t.lon[0] - truth.lon[0] + 180) % 360 - 180))


def write_truth_masks(raw_dir, out_dir):
    """Mask files (format of climseg export) holding the truth masks of generated data; TC wins over AR."""
    out_dir.mkdir()
    paths = []
    for nc in sorted(raw_dir.glob("*.cam.h2.*-00000.nc")):
        truth = synth.read_truth(nc.with_name(nc.name[: -len(".nc")] + ".truth.h5"))
        classes = np.where(truth.tc_mask, 1, np.where(truth.ar_mask, 2, 0)).astype(np.int8)
        path = out_dir / mask_file_name(nc, HEURISTIC)
        with mask_file(path, read_source_coordinates(nc), mask_source=HEURISTIC, source="truth", history="test",
                       title="truth masks", input_file=nc) as masks:
            masks.write(0, classes)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("tracked")
    assert main(["synth", "--out", str(root / "raw"), "--days", str(DAYS), "--lat", str(GRID[0]), "--lon",
                 str(GRID[1]), "--tracks", "--seed", "1", "--case", "demo"]) == 0
    masks = write_truth_masks(root / "raw", root / "masks")
    truths = [synth.read_truth(p) for p in sorted((root / "raw").glob("*.truth.h5"))]
    assert main(["climatology", str(root / "masks"), "--out", str(root / "climatology"), "--no-progress"]) == 0
    return root, masks, truths


def test_tracks_recover_the_planted_ones(run):
    root, _, truths = run
    found = read_tracks(root / "climatology" / "tracks.csv")
    planted = read_tracks(root / "raw" / "demo.truth.tracks.csv")
    assert len(found) == len(planted) == 13
    step = dt.timedelta(hours=3)
    for truth in planted:
        track = _nearest(found, truth)
        assert abs(track.time.iloc[0] - truth.time.iloc[0]) <= step  # genesis within one step
        assert abs((track.time.iloc[-1] - track.time.iloc[0]) - (truth.time.iloc[-1] - truth.time.iloc[0])) <= step
        both = track.merge(truth, on="time", suffixes=("", "_truth"))
        assert len(both) >= len(truth) - 1
        assert (np.abs((both.i - both.i_truth + GRID[1] // 2) % GRID[1] - GRID[1] // 2) <= 1).all()  # one cell
        assert (np.abs(both.j - both.j_truth) <= 1).all()
    meridian = [t for t in found if t.lat[0] < 0 and (t.lon < 10).any() and (t.lon > 350).any()]
    assert len(meridian) == 1  # the storm across 0/360 is one track
    table = pd.read_csv(root / "climatology" / "track_table.csv")
    assert len(table) == 13 and set(table.hemisphere) == {"N", "S"}
    assert (table.lifetime_hours >= 48).all() and table.category.notna().all() and (table.ace > 0).all()


def test_ar_frequency_equals_the_truth(run):
    root, _, truths = run
    with xr.open_dataset(root / "climatology" / "climatology.nc") as clim:
        frequency = clim.ar_frequency.values
        assert clim.attrs["time_steps"] == DAYS * 8
        np.testing.assert_array_equal(clim.land.values.astype(bool), land_mask(truths[0].lat_deg, truths[0].lon_deg))
    ar = np.concatenate([t.ar_mask & ~t.tc_mask for t in truths])
    np.testing.assert_allclose(frequency, ar.mean(axis=0), rtol=0, atol=1e-7)
    assert frequency.max() > 0.3


def test_ar_objects_days_and_landfall_equal_the_truth(run):
    root, _, truths = run
    lat, lon = truths[0].lat_deg, truths[0].lon_deg
    regions = region_land_masks(land_mask(lat, lon), lat, lon, DEFAULT_REGIONS)
    landfalls = {name: set() for name in regions}
    days = {name: set() for name in regions}
    for truth in truths:
        for step, time in enumerate(truth.times):
            ids = np.where(truth.tc_mask[step], -1, truth.ar_track_id[step])
            for name, land in regions.items():
                on_land = set(np.unique(ids[land & (ids >= 0)]))
                landfalls[name] |= on_land
                if on_land:
                    days[name].add(time.date())
    yearly = pd.read_csv(root / "climatology" / "climatology_yearly.csv")
    assert len(yearly) == 1 and yearly.ar_objects[0] == 3
    for name in regions:
        assert yearly[f"ar_landfalls_{name}"][0] == len(landfalls[name]), name
        assert yearly[f"ar_days_{name}"][0] == len(days[name]), name
    assert all(yearly[f"ar_landfalls_{name}"][0] == 1 for name in ("us_west_coast", "western_europe", "chile"))
    objects = pd.read_csv(root / "climatology" / "ar_objects.csv")
    ars = pd.read_csv(root / "raw" / "demo.truth.ars.csv")
    assert sorted(objects.steps) == sorted(ars.groupby("track_id").size())  # each AR one object, all its steps


def test_partial_sums_merge_into_exactly_one_pass(run, tmp_path):
    root, masks, _ = run
    partials = []
    for k, mask in enumerate(masks):
        partials.append(tmp_path / f"part{k}.nc")
        assert main(["climatology", str(mask), "--partial", str(partials[-1]), "--no-progress"]) == 0
    assert main(["climatology", "--merge", *map(str, reversed(partials)), "--out", str(tmp_path / "merged"),
                 "--no-progress"]) == 0
    one, merged = root / "climatology", tmp_path / "merged"
    with xr.open_dataset(one / "climatology.nc") as a, xr.open_dataset(merged / "climatology.nc") as b:
        for name in a.data_vars:
            np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    for name in ("tracks.csv", "track_table.csv", "ar_objects.csv", "climatology_yearly.csv",
                 "climatology_monthly.csv"):
        assert (one / name).read_text() == (merged / name).read_text(), name
    parts = [read_partial(p) for p in partials]
    with pytest.raises(ValueError, match="part1.nc: time steps overlap those of part1b"):
        merge([parts[1], parts[1]], sources=["part1b", "part1.nc"])


def test_track_command_writes_ar_object_ids_beside(run, tmp_path):
    root, masks, truths = run
    assert main(["track", *map(str, masks), "--out", str(tmp_path), "--no-progress"]) == 0
    assert (tmp_path / "tracks.csv").read_text() == (root / "climatology" / "tracks.csv").read_text()
    seen = {}
    for mask, truth in zip(masks, truths):
        with xr.open_dataset(tmp_path / (mask.name[: -len(".nc")] + ".ar_objects.nc")) as objects, \
                xr.open_dataset(mask) as m:
            ids = objects.ar_object_id.values
            np.testing.assert_array_equal(ids > 0, m["class"].values == 2)
        for step in range(len(truth.times)):
            for track_id in np.unique(truth.ar_track_id[step][truth.ar_track_id[step] >= 0]):
                cells = (truth.ar_track_id[step] == track_id) & ~truth.tc_mask[step]
                assert len(np.unique(ids[step][cells])) == 1
                seen.setdefault(track_id, set()).add(int(ids[step][cells][0]))
    assert sorted(seen) == [0, 1, 2] and all(len(v) == 1 for v in seen.values())  # one id per AR, all files


def test_errors_are_one_line(run, tmp_path, capsys):
    root, masks, _ = run
    assert main(["climatology", str(root / "raw" / "demo.truth.ars.csv"), "--out", str(tmp_path)]) == 2
    assert "demo.truth.ars.csv" in capsys.readouterr().err
    assert main(["climatology", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
    assert "missing: no such file or directory" in capsys.readouterr().err
    assert main(["climatology", "--merge", str(masks[0]), "--out", str(tmp_path)]) == 2
    assert "not a climseg climatology partial sums file" in capsys.readouterr().err
    assert main(["track", str(masks[0]), "--out", str(tmp_path), "--region", "bad:1:2"]) == 2
    assert "NAME:LAT_MIN:LAT_MAX:LON_MIN:LON_MAX" in capsys.readouterr().err
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "a.climseg.nc").write_bytes(b"")
    (mixed / "a.labels.nc").write_bytes(b"")
    assert main(["track", str(mixed), "--out", str(tmp_path)]) == 2
    assert "both network (*.climseg.nc) and heuristic (*.labels.nc)" in capsys.readouterr().err


def test_heuristic_labels_give_the_planted_tracks(run, tmp_path):
    """The whole chain on raw output: climseg export (the heuristic labeller) -> climseg track."""
    root, _, _ = run
    assert main(["export", str(root / "raw"), "--out", str(tmp_path / "masks"), "--no-progress"]) == 0
    assert main(["track", str(tmp_path / "masks"), "--out", str(tmp_path / "tracks"), "--no-progress"]) == 0
    found = read_tracks(tmp_path / "tracks" / "tracks.csv")
    planted = read_tracks(root / "raw" / "demo.truth.tracks.csv")
    assert len(found) == len(planted)  # measured: all 13, genesis and end at the planted steps
    for truth in planted:
        track = _nearest(found, truth)
        assert abs(track.time.iloc[0] - truth.time.iloc[0]) <= dt.timedelta(hours=3)
        assert abs(len(track) - len(truth)) <= 1
        both = track.merge(truth, on="time", suffixes=("", "_truth"))
        assert (np.abs((both.i - both.i_truth + GRID[1] // 2) % GRID[1] - GRID[1] // 2) <= 1).all()
        assert (np.abs(both.j - both.j_truth) <= 1).all()
        # the raw file's wind and pressure: measured within 6 m/s and 1000 Pa of the planted vortex's
        assert abs(track.wind.max() - truth.wind.max()) < 8.0 and abs(track.psl.min() - truth.psl.min()) < 1500.0
    table = pd.read_csv(tmp_path / "tracks" / "track_table.csv", dtype={"category": str})
    assert set(table.category) <= {"TS", "1", "2", "3"} and (table.ace > 0).all()
    objects = pd.read_csv(tmp_path / "tracks" / "ar_objects.csv")
    assert len(objects) == 3 and objects[["landfall_us_west_coast", "landfall_western_europe",
                                          "landfall_chile"]].sum().tolist() == [1, 1, 1]


def test_the_input_landfrac_is_the_land_mask(tmp_path):
    """A raw file with LANDFRAC: land where it is >= 0.5, whatever the real coastline; landfall follows it."""
    from events.climatology import Accumulator
    from events.reading import read_steps

    lat = np.linspace(-90.0, 90.0, 19)  # 10 degrees
    lon = np.arange(36) * 10.0
    time = xr.DataArray(np.arange(2) / 8.0, dims="time", attrs={"units": "days since 2001-01-01",
                                                                 "calendar": "noleap"})
    landfrac = np.zeros((2, 19, 36), np.float32)
    landfrac[:, 13, 24] = 0.7  # one "island" at 40 N, 240 E: inside the US West Coast box
    raw = xr.Dataset({"LANDFRAC": (("time", "lat", "lon"), landfrac)},
                     coords={"time": time, "lat": ("lat", lat, {"units": "degrees_north"}),
                             "lon": ("lon", lon, {"units": "degrees_east"})})
    raw.to_netcdf(tmp_path / "raw.nc")
    classes = np.zeros((2, 19, 36), np.int8)
    classes[:, 12:15, 22:26] = 2  # an AR over the island at both steps
    with mask_file(tmp_path / "m.labels.nc", read_source_coordinates(tmp_path / "raw.nc"), mask_source=HEURISTIC,
                   source="test", history="", title="t", input_file=tmp_path / "raw.nc") as masks:
        masks.write(0, classes)
    accumulator = Accumulator()
    for grid, step in read_steps(tmp_path / "m.labels.nc", raw_path=tmp_path / "raw.nc"):
        accumulator.add(grid, step, source="m.labels.nc")
    result = merge([accumulator.partial()])
    assert result.partial.land.sum() == 1 and result.partial.land[13, 24]
    assert result.partial.land_source.startswith("LANDFRAC of")
    objects = result.ar_objects()
    assert len(objects) == 1 and objects.landfall_us_west_coast[0] == 1 and objects.landfall_chile[0] == 0
    yearly, _ = result.tables()
    assert yearly.ar_days_us_west_coast[0] == 1 and yearly.ar_landfalls_global[0] == 1


def test_tc_landfall_equals_the_truth(run):
    """A planted TC makes landfall when its truth mask (cells within its gale radius) covers land."""
    from climseg.sphere import great_circle_km

    root, _, truths = run
    lat, lon = truths[0].lat_deg, truths[0].lon_deg
    regions = region_land_masks(land_mask(lat, lon), lat, lon, DEFAULT_REGIONS)
    landfalls = {name: set() for name in regions}
    for truth in truths:
        for tc in truth.tcs:
            disc = great_circle_km(lat[:, None], lon[None, :], tc.lat_deg, tc.lon_deg) <= tc.radius_km
            footprint = disc & truth.tc_mask[tc.step]
            for name, land in regions.items():
                if (footprint & land).any():
                    landfalls[name].add(tc.track_id)
    yearly = pd.read_csv(root / "climatology" / "climatology_yearly.csv")
    assert len(landfalls["global"]) == 3  # measured with seed 1: 3 of the 13 planted storms reach land
    for name in regions:
        assert yearly[f"tc_landfalls_{name}"][0] == len(landfalls[name]), name


def test_climatology_needs_out_or_partial(tmp_path, capsys):
    assert main(["climatology", str(tmp_path)]) == 2
    assert "one of --out DIR (the statistics) or --partial FILE.nc" in capsys.readouterr().err
