"""Labelling whole time steps of ``climseg synth`` data against the planted truth.

Thresholds (measured on these seeds, 1 degree: TC IoU ~0.84, AR IoU ~0.85, all TCs found ~20 km off):
the TC footprint is the gale-wind area, which the background flow shifts against the symmetric truth
disc, and the AR mask is the IVT >= max(95th percentile, 250 kg m-1 s-1) region, a little wider than the
planted half-maximum core; 0.75 for both leaves room for seeds with stronger background flow without
letting a real regression (e.g. ARs from the percentile alone, IoU ~0.45) pass.
"""

import dataclasses
import datetime as dt

import numpy as np
import pytest

from climseg.contract import AR, BACKGROUND, TC
from climseg.synth import SynthConfig, TCSpec, derived_fields, plant_tc, synthesize_day
from labeling.config import IVTConfig, LabelConfig, TCConfig
from climseg.sphere import great_circle_km
from labeling.grid import label_regions
from labeling.labels import label_time_step
from labeling.score import score_results

MIN_IOU = 0.75


def fields_at(ds, step):
    return {name: ds[name].values[step] for name in ds.data_vars if ds[name].dims == ("time", "lat", "lon")}


def levels_at(ds, step):
    return {"Q": ds["Q"].values[step], "U": ds["U"].values[step], "V": ds["V"].values[step],
            "plev": ds["plev"].values}


@pytest.fixture(scope="module")
def one_degree_days():
    """Two days (2 x 8 time steps, 4 TCs and 4 ARs at each) at 192 x 288, labelled; day 0 with pressure levels."""
    days = []
    for seed, date in ((0, dt.date(2000, 1, 1)), (1, dt.date(2000, 7, 1))):
        ds, truth = synthesize_day(SynthConfig(n_lat=192, n_lon=288, seed=seed, with_plev=seed == 0), date)
        lat, lon = ds["lat"].values, ds["lon"].values
        results = [label_time_step(fields_at(ds, s), lat, lon, config=LabelConfig()) for s in range(8)]
        days.append((ds, truth, results))
    return days


def test_synth_scores_at_one_degree(one_degree_days):
    for ds, truth, results in one_degree_days:
        score = score_results(results, truth, max_distance_km=100.0)
        assert score.tc_true == 32
        assert score.tc_hit_rate >= 0.95, str(score)
        assert score.tc_false_alarms <= 1, str(score)
        assert score.tc_centre_error_km < 50.0, str(score)  # refined between grid points of 111 km
        assert score.tc_iou > MIN_IOU, str(score)
        assert score.ar_iou > MIN_IOU, str(score)


def test_labels_are_the_contract_classes_and_no_planted_storm_is_an_ar(one_degree_days):
    for ds, truth, results in one_degree_days:
        for step, r in enumerate(results):
            assert r.labels.dtype == np.uint8 and set(np.unique(r.labels)) == {BACKGROUND, TC, AR}
            assert not (r.labels[truth.tc_mask[step]] == AR).any()  # no planted TC pixel labelled AR
            assert r.ivt.shape == r.labels.shape and np.nanmax(r.ivt) > 800  # kg m-1 s-1: plumes and storms


@pytest.fixture(scope="module")
def storms_in_rivers():
    """A storm planted at the middle of each of the 4 ARs of one time step (1 degree): (fields, lat, lon,
    planted TC mask, planted TC record) per storm. The storm's moist core is the highest IVT of the river."""
    ds, truth = synthesize_day(SynthConfig(n_lat=192, n_lon=288, seed=0), dt.date(2000, 1, 1))
    lat, lon = ds["lat"].values, ds["lon"].values
    scenes = []
    for river in (a for a in truth.ars if a.step == 0):
        fields = {name: values.astype(np.float64) for name, values in fields_at(ds, 0).items()}
        mask, planted = plant_tc(fields, lat, lon, TCSpec(lat_deg=river.lat_deg, lon_deg=river.lon_deg))
        derived_fields(fields)
        scenes.append((fields, lat, lon, mask, planted))
    return scenes


def test_a_storm_inside_a_river_is_labelled_tc_and_the_river_is_kept_off_it(storms_in_rivers):
    """labeling.labels: TCs are found first and their masks and surroundings (tc_exclusion_radius_factor radii)
    are excluded from the AR search, so a storm's core never becomes or joins an AR."""
    no_tcs = LabelConfig(tc=TCConfig(vorticity_threshold_per_s=1.0))  # no vorticity maximum reaches 1 s-1
    for fields, lat, lon, planted_mask, planted in storms_in_rivers:
        r = label_time_step(fields, lat, lon, config=LabelConfig())
        distances = [great_circle_km(c.lat_deg, c.lon_deg, planted.lat_deg, planted.lon_deg)
                     for c in r.tc_centres]
        assert min(distances) < 50.0  # measured 9-26 km on a 111 km grid
        assert (r.labels[planted_mask] == TC).mean() >= 0.75  # measured 0.8-1.0
        assert not (r.labels[planted_mask] == AR).any()
        rows, cols = np.nonzero(r.labels == AR)
        for c in r.tc_centres:
            assert great_circle_km(c.lat_deg, c.lon_deg, lat[rows], lon[cols]).min() > 1.5 * c.radius_km
        # What the exclusion prevents: without TC detection the storm's core is labelled part of the river.
        unguarded = label_time_step(fields, lat, lon, config=no_tcs)
        assert (unguarded.labels[planted_mask] == AR).mean() > 0.8  # measured 0.9-1.0
        assert np.count_nonzero(r.labels == AR) > 0.8 * np.count_nonzero(unguarded.labels == AR)  # the river stays


def test_river_crossing_0_360_is_one_region(one_degree_days):
    for ds, truth, results in one_degree_days:
        for step, r in enumerate(results):
            seam_truth = truth.ar_mask[step][:, 0] & truth.ar_mask[step][:, -1]
            assert seam_truth.any()  # synth plants one AR across the meridian at every step
            labels, _ = label_regions(r.ar_mask, periodic=True)
            rows = np.flatnonzero(seam_truth)
            ids = set(labels[rows, 0]) | set(labels[rows, -1])
            assert len(ids) == 1 and 0 not in ids
            region = labels == ids.pop()
            assert region[:, :10].any() and region[:, -10:].any()


def test_true_ivt_from_levels_labels_like_the_proxy(one_degree_days):
    ds, truth, proxy_results = one_degree_days[0]
    lat, lon = ds["lat"].values, ds["lon"].values
    for step in (0, 5):
        r = label_time_step(fields_at(ds, step), lat, lon, config=LabelConfig(), levels=levels_at(ds, step))
        proxy = proxy_results[step]
        assert not np.allclose(r.ivt, proxy.ivt)  # really integrated
        strong = proxy.ivt > 250.0  # where winds are weak the two differ more; that is not where labels are made
        np.testing.assert_allclose(r.ivt[strong], proxy.ivt[strong], rtol=0.1)
        assert [(c.row, c.col) for c in r.tc_centres] == [(c.row, c.col) for c in proxy.tc_centres]
        assert np.count_nonzero(r.ar_mask & truth.ar_mask[step]) / np.count_nonzero(r.ar_mask | truth.ar_mask[step]) \
            > MIN_IOU
    # 'proxy' ignores levels that are there
    proxy_only = LabelConfig(ivt=IVTConfig(source="proxy"))
    r = label_time_step(fields_at(ds, 0), lat, lon, config=proxy_only, levels=levels_at(ds, 0))
    np.testing.assert_array_equal(r.ivt, proxy_results[0].ivt)


def test_ivt_source_errors(one_degree_days):
    ds = one_degree_days[0][0]
    lat, lon = ds["lat"].values, ds["lon"].values
    with pytest.raises(ValueError, match="IVT source 'levels' needs Q, U, V on pressure levels"):
        label_time_step(fields_at(ds, 0), lat, lon, config=LabelConfig(ivt=IVTConfig(source="levels")))
    levels = levels_at(ds, 0)
    with pytest.raises(ValueError, match="pressure-level input lacks plev"):
        label_time_step(fields_at(ds, 0), lat, lon, config=LabelConfig(), levels={k: levels[k] for k in "QUV"})
    with pytest.raises(ValueError, match=r"hPa\?"):
        label_time_step(fields_at(ds, 0), lat, lon, config=LabelConfig(), levels={**levels, "plev": levels["plev"] / 100})


def test_all_missing_time_step_is_background(one_degree_days):
    ds = one_degree_days[0][0]
    lat, lon = ds["lat"].values, ds["lon"].values
    nan = {k: np.full(v.shape, np.nan, np.float32) for k, v in fields_at(ds, 0).items()}
    r = label_time_step(nan, lat, lon, config=LabelConfig())
    assert not r.labels.any() and r.tc_centres == []


def test_exclusion_radius_keeps_ars_away_from_storms(one_degree_days):
    ds, truth, _ = one_degree_days[1]
    lat, lon = ds["lat"].values, ds["lon"].values
    r = label_time_step(fields_at(ds, 3), lat, lon, config=LabelConfig(tc_exclusion_radius_factor=3.0))
    rows, cols = np.nonzero(r.ar_mask)
    for c in r.tc_centres:
        assert great_circle_km(c.lat_deg, c.lon_deg, lat[rows], lon[cols]).min() > 3.0 * c.radius_km


def coarsen(field, factor=4):
    n_lat, n_lon = field.shape
    return field.reshape(n_lat // factor, factor, n_lon // factor, factor).mean(axis=(1, 3))


@pytest.mark.slow
def test_same_centres_at_quarter_degree_and_coarsened_to_one_degree():
    """Full 768 x 1152 (0.25 degree) fields, and the same fields averaged over 4 x 4 blocks (~1 degree)."""
    ds, truth = synthesize_day(SynthConfig(n_lat=768, n_lon=1152, seed=3), dt.date(2000, 1, 1))
    lat, lon = ds["lat"].values, ds["lon"].values
    coarse_lat, coarse_lon = lat.reshape(-1, 4).mean(axis=1), lon.reshape(-1, 4).mean(axis=1)
    dlat, dlon = coarse_lat[1] - coarse_lat[0], coarse_lon[1] - coarse_lon[0]
    fine_results = []
    for step in (0, 7):
        fields = fields_at(ds, step)
        fine = label_time_step(fields, lat, lon, config=LabelConfig())
        coarse = label_time_step({k: coarsen(v.astype(np.float64)) for k, v in fields.items()},
                                 coarse_lat, coarse_lon, config=LabelConfig())
        assert len(fine.tc_centres) == len(coarse.tc_centres) == len(truth.tcs_at(step))
        for f in fine.tc_centres:
            c = min(coarse.tc_centres, key=lambda c: great_circle_km(c.lat_deg, c.lon_deg, f.lat_deg, f.lon_deg))
            assert abs(c.lat_deg - f.lat_deg) <= dlat
            assert abs((c.lon_deg - f.lon_deg + 180) % 360 - 180) <= dlon
        fine_results.append(fine)
    sub = dataclasses.replace(truth, tc_mask=truth.tc_mask[[0, 7]], ar_mask=truth.ar_mask[[0, 7]],
                              tcs=[dataclasses.replace(t, step=0 if t.step == 0 else 1)
                                   for t in truth.tcs if t.step in (0, 7)])
    score = score_results(fine_results, sub)
    assert score.tc_hit_rate == 1.0 and score.tc_centre_error_km < 15.0, str(score)
    assert score.tc_iou > MIN_IOU and score.ar_iou > MIN_IOU, str(score)
