"""Tests of climseg.synth: the CAM5-like generator with planted TCs and ARs."""

import dataclasses
import datetime as dt

import h5py
import numpy as np
import pytest
import xarray as xr
from scipy import ndimage

from climseg import cli, synth
from climseg.contract import CHANNEL_UNITS, CHANNELS

DATE = dt.date(2000, 7, 14)
CONFIG = synth.SynthConfig(n_lat=96, n_lon=144, seed=3, with_plev=True, case="testcase")
R_KM = synth.EARTH_RADIUS_KM


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """One written day: (nc path, truth path, dataset as read back, truth as read back)."""
    out = tmp_path_factory.mktemp("synth")
    nc_path, truth_path = synth.write_day(CONFIG, DATE, out)
    with xr.open_dataset(nc_path) as ds:
        ds.load()
    return nc_path, truth_path, ds, synth.read_truth(truth_path)


@pytest.fixture(scope="module")
def one_degree_day():
    """One day on the 192 x 288 (about 1 degree) grid, in memory: (dataset, truth)."""
    return synth.synthesize_day(dataclasses.replace(CONFIG, n_lat=192, n_lon=288, with_plev=False), DATE)


def relative_vorticity(u, v, lat_deg, lon_deg):
    """850 hPa relative vorticity (s-1) on the sphere by centred differences, periodic in longitude."""
    phi = np.deg2rad(lat_deg)[:, None]
    dlam = np.deg2rad(lon_deg[1] - lon_deg[0])
    radius_m = R_KM * 1e3
    dv_dlam = (np.roll(v, -1, axis=1) - np.roll(v, 1, axis=1)) / (2 * dlam)
    ducos_dphi = np.gradient(u * np.cos(phi), np.deg2rad(lat_deg), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (dv_dlam - ducos_dphi) / (radius_m * np.cos(phi))


def regions_periodic(mask):
    """Connected regions (8-connected) of a (lat, lon) mask, merged across the 0/360 meridian."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    parent = list(range(count + 1))

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    west, east = labels[:, 0], labels[:, -1]
    for row in range(mask.shape[0]):
        for other in (row - 1, row, row + 1):
            if 0 <= other < mask.shape[0] and west[row] and east[other]:
                parent[find(west[row])] = find(east[other])
    roots = sorted({find(i) for i in range(1, count + 1)})
    return [np.isin(labels, [i for i in range(1, count + 1) if find(i) == root]) for root in roots]


def test_file_names_follow_cam5_h2(day):
    nc_path, truth_path, _, _ = day
    assert nc_path.name == "testcase.cam.h2.2000-07-14-00000.nc"
    assert truth_path.name == "testcase.cam.h2.2000-07-14-00000.truth.h5"
    assert sorted(p.name for p in nc_path.parent.iterdir()) == sorted([nc_path.name, truth_path.name])


def test_cf_metadata_decodes_with_xarray(day):
    _, _, ds, _ = day
    times = ds["time"].values
    assert len(times) == 8
    assert [(t.year, t.month, t.day, t.hour) for t in times] == [(2000, 7, 14, 3 * k, ) for k in range(8)]
    assert ds["time"].encoding["calendar"] == "noleap"
    assert ds["time"].encoding["units"].startswith("days since")
    assert ds["lat"].attrs["units"] == "degrees_north" and ds["lon"].attrs["units"] == "degrees_east"
    lat, lon = ds["lat"].values, ds["lon"].values
    assert lat[0] == -90 and lat[-1] == 90 and np.all(np.diff(lat) > 0)
    assert lon[0] == 0 and lon[-1] < 360 and np.allclose(np.diff(lon), 2.5)
    assert ds["plev"].attrs["units"] == "Pa" and ds["plev"].max() == 100000 and ds["plev"].min() <= 30000
    assert not [name for name in ds.variables if "mask" in name.lower()]  # truth stays out of the model output


RANGES = {  # plausible bounds of every channel, CAM5 units
    "TMQ": (1, 80), "U850": (-80, 80), "V850": (-80, 80), "UBOT": (-70, 70), "VBOT": (-70, 70),
    "QREFHT": (1e-4, 0.03), "PS": (9.0e4, 1.05e5), "PSL": (9.0e4, 1.05e5), "T200": (200, 235),
    "T500": (225, 285), "PRECT": (0, 2e-5), "TS": (235, 310), "TREFHT": (235, 310), "Z1000": (-800, 500),
    "Z200": (10500, 13000), "ZBOT": (40, 90),
}


@pytest.mark.parametrize("name", CHANNELS)
def test_channel_units_dtype_and_range(day, name):
    _, _, ds, _ = day
    var = ds[name]
    assert var.dims == ("time", "lat", "lon")
    assert var.dtype == np.float32
    assert var.attrs["units"] == CHANNEL_UNITS[name]
    low, high = RANGES[name]
    values = var.values
    assert np.isfinite(values).all()
    assert low <= values.min() and values.max() <= high, (values.min(), values.max())


def test_background_climate_is_plausible(day):
    _, _, ds, _ = day
    lat = ds["lat"].values
    zonal = {name: ds[name].mean(("time", "lon")).values for name in ("TMQ", "U850", "PSL", "TS")}
    tropics, midlat = np.abs(lat) < 10, (np.abs(lat) > 40) & (np.abs(lat) < 50)
    assert zonal["TMQ"][tropics].mean() > 35 and zonal["TMQ"][midlat].mean() < 20
    assert zonal["U850"][midlat].mean() > 4  # westerly jets
    assert zonal["U850"][tropics].mean() < 0  # trade easterlies
    assert abs(zonal["PSL"].mean() - 101300) < 500
    assert zonal["TS"][tropics].mean() > zonal["TS"][np.abs(lat) > 70].mean() + 30
    t_surface, t500, t200 = (ds[n].values for n in ("TS", "T500", "T200"))
    assert (t200 < t500).all() and (t500 < t_surface).all()
    assert (ds["Z200"] - ds["Z1000"]).min() > 10000
    assert not np.array_equal(ds["PSL"].values[0], ds["PSL"].values[1])  # weather evolves


def test_deterministic_by_seed():
    small = dataclasses.replace(CONFIG, n_lat=48, n_lon=72, with_plev=False)
    first, truth_first = synth.synthesize_day(small, DATE)
    again, truth_again = synth.synthesize_day(small, DATE)
    other, _ = synth.synthesize_day(dataclasses.replace(small, seed=4), DATE)
    for name in CHANNELS:
        np.testing.assert_array_equal(first[name].values, again[name].values)
    assert truth_first.tcs == truth_again.tcs and truth_first.ars == truth_again.ars
    np.testing.assert_array_equal(truth_first.ar_mask, truth_again.ar_mask)
    assert not np.allclose(first["PSL"].values, other["PSL"].values)


def test_planted_tc_has_psl_minimum_and_cyclonic_vorticity_maximum_at_its_centre(one_degree_day):
    ds, truth = one_degree_day
    lat, lon = ds["lat"].values, ds["lon"].values
    cell_km = np.deg2rad(lat[1] - lat[0]) * R_KM
    hemispheres = set()
    for step in (0, 7):
        tcs = truth.tcs_at(step)
        assert len(tcs) == CONFIG.n_tcs
        psl = ds["PSL"].values[step]
        vorticity = relative_vorticity(ds["U850"].values[step], ds["V850"].values[step], lat, lon)
        cyclonic = vorticity * np.sign(lat)[:, None]  # sign flipped in the southern hemisphere
        for tc in tcs:
            assert 8 <= abs(tc.lat_deg) <= 35 and 0 <= tc.lon_deg < 360
            hemispheres.add(float(np.sign(tc.lat_deg)))
            distance = synth.great_circle_km(lat[:, None], lon[None, :], tc.lat_deg, tc.lon_deg)
            near = distance < 800
            at_min = np.unravel_index(np.argmin(np.where(near, psl, np.inf)), psl.shape)
            at_max = np.unravel_index(np.argmax(np.where(near, cyclonic, -np.inf)), psl.shape)
            assert distance[at_min] < 1.5 * cell_km
            assert distance[at_max] < 1.5 * cell_km
            assert cyclonic[at_max] > 1e-4  # s-1, strongly cyclonic even on a 1 degree grid
            assert psl[at_min] < np.where(near & (distance > 500), psl, np.inf).min() - 400  # closed minimum
            t_mean = (ds["T200"].values[step] + ds["T500"].values[step]) / 2
            ring = (distance > 500) & (distance < 700)
            assert t_mean[at_min] > t_mean[ring].max() + 1.0  # warm core
            inside = distance <= tc.radius_km
            assert ds["TMQ"].values[step][inside].mean() > ds["TMQ"].values[step][ring].mean() + 5
    assert hemispheres == {-1.0, 1.0}  # storms of both hemispheres were checked


@pytest.mark.parametrize("lat_deg", [20.0, -20.0])
def test_vortex_turns_cyclonically_in_both_hemispheres(lat_deg):
    tc = synth.TCSpec(lat_deg=lat_deg, lon_deg=100.0)
    config = synth.SynthConfig(n_lat=181, n_lon=360, n_tcs=0, n_ars=0, tcs=(tc,))
    ds, truth = synth.synthesize_day(config, DATE)
    lat, lon = ds["lat"].values, ds["lon"].values
    row, col = np.argmin(np.abs(lat - lat_deg)), np.argmin(np.abs(lon - 100.0))
    u, v = ds["U850"].values[0], ds["V850"].values[0]
    # north of the centre the wind blows west in the NH (counter-clockwise), east in the SH (clockwise)
    assert np.sign(u[row + 2, col] - u[row - 2, col]) == -np.sign(lat_deg)
    assert np.sign(v[row, col + 2] - v[row, col - 2]) == np.sign(lat_deg)
    vorticity = relative_vorticity(u, v, lat, lon)
    assert np.sign(vorticity[row, col]) == np.sign(lat_deg)
    planted = truth.tcs_at(0)[0]
    assert 25 <= planted.max_wind_ms <= 70 and 2000 <= planted.pressure_drop_pa <= 8000


def test_gale_radius_is_where_the_surface_wind_drops_below_17_5():
    tc = synth.TCSpec(lat_deg=15.0, lon_deg=0.0, pressure_drop_pa=5000, holland_b=1.5, rmw_km=40)
    radius = synth.gale_radius_km(tc, tc.lat_deg)
    r_km, wind = synth.surface_wind_profile(tc, tc.lat_deg)
    assert 150 < radius < 600
    assert wind[r_km <= radius][-1] >= 17.5
    assert (wind[r_km > radius + 1] < 17.5).all()
    assert 25 <= wind.max() <= 70 and abs(r_km[np.argmax(wind)] - 40) < 15


@pytest.mark.parametrize("lat_deg, lon_deg, tc", [
    (15.0, 100.0, {}),
    (-22.0, 250.0, {"pressure_drop_pa": 7000.0, "rmw_km": 80.0, "holland_b": 1.2}),
    (30.0, 359.0, {"pressure_drop_pa": 6000.0, "rmw_km": 90.0}),  # across the 0/360 meridian
])
def test_tc_truth_mask_is_where_the_storm_surface_wind_reaches_gale_force(lat_deg, lon_deg, tc):
    """The documented truth: the disc inside which the storm's surface wind is >= 17.5 m/s (calm eye included),
    checked on the wind the generator wrote, without its distance or radius."""
    lat, lon = synth.cam5_grid(192, 288)
    fields = {name: np.zeros((lat.size, lon.size))
              for name in ("U850", "V850", "UBOT", "VBOT", "PSL", "TMQ", "PRECT", "T200", "T500")}
    mask, planted = synth.plant_tc(fields, lat, lon, synth.TCSpec(lat_deg=lat_deg, lon_deg=lon_deg, **tc))
    wind = np.hypot(fields["UBOT"], fields["VBOT"])  # m s-1: the storm's own, on a calm background
    shift = lon.size // 2 - int(np.argmin(np.abs(lon - lon_deg)))  # the storm to the middle: its eye is a hole
    gale = np.roll(ndimage.binary_fill_holes(np.roll(wind >= 17.5, shift, axis=1)), -shift, axis=1)
    undecided = np.abs(wind - 17.5) < 0.05
    assert mask.sum() > 10
    assert not (mask != gale)[~undecided].any()
    assert (mask[:, 0] & mask[:, -1]).any() == (lon_deg == 359.0)
    assert 0.9 * planted.max_wind_ms < wind.max() <= planted.max_wind_ms + 0.1


def test_tc_and_ar_truth_masks_do_not_overlap(day):
    _, _, _, truth = day
    assert truth.tc_mask.any() and truth.ar_mask.any()
    assert not (truth.tc_mask & truth.ar_mask).any()


def test_planted_tcs_are_in_the_intensity_range(day):
    _, _, _, truth = day
    assert len(truth.tcs) == 8 * CONFIG.n_tcs
    for tc in truth.tcs:  # PSL drop 20-80 hPa, maximum surface wind 25-70 m/s at 30-100 km
        assert 2000 <= tc.pressure_drop_pa <= 8000 and 25 <= tc.max_wind_ms <= 70 and 30 <= tc.rmw_km <= 100


def test_tcs_move_a_few_metres_per_second(day):
    _, _, _, truth = day
    for ident in range(CONFIG.n_tcs):
        track = [tc for tc in truth.tcs if tc.id == ident]
        steps = [synth.great_circle_km(a.lat_deg, a.lon_deg, b.lat_deg, b.lon_deg) for a, b in zip(track, track[1:])]
        speeds = np.array(steps) * 1e3 / synth.STEP_SECONDS
        assert ((0.3 < speeds) & (speeds < 10)).all()


def _cell_area_km2(lat_deg, lon_deg):
    dlat, dlon = np.deg2rad(lat_deg[1] - lat_deg[0]), np.deg2rad(lon_deg[1] - lon_deg[0])
    return R_KM**2 * dlat * dlon * np.cos(np.deg2rad(lat_deg))[:, None] * np.ones(lon_deg.size)


def test_ar_truth_masks_are_long_narrow_and_midlatitude(day):
    _, _, ds, truth = day
    lat, lon = ds["lat"].values, ds["lon"].values
    area = _cell_area_km2(lat, lon)
    for step in (0, 4, 7):
        regions = regions_periodic(truth.ar_mask[step])
        assert len(regions) == CONFIG.n_ars
        for region in regions:
            rows, cols = np.nonzero(region)
            assert (np.abs(lat[rows]) >= 20).all() and (np.abs(lat[rows]) <= 70).all()
            assert 25 <= abs(np.average(lat[rows], weights=area[region])) <= 65
            length = synth.great_circle_km(lat[rows][:, None], lon[cols][:, None],
                                           lat[rows][None], lon[cols][None]).max()
            width = area[region].sum() / length
            assert 2000 < length < 6000  # issue 2: 2000-6000 km long, 300-1000 km wide
            assert 300 < width < 1000 and length / width > 2, (length, width)
        ivt = ds["TMQ"].values[step] * np.hypot(ds["U850"].values[step], ds["V850"].values[step])
        for ar in truth.ars_at(step):
            spine = synth.great_circle_km(lat[:, None], lon[None, :], ar.lat_deg, ar.lon_deg) < 150
            assert ivt[spine].max() > 500  # kg m-1 s-1 in the core
        assert np.median(ivt[truth.ar_mask[step]]) > 2 * np.median(ivt[np.abs(lat)[:, None] * np.ones(lon.size) > 30])


def test_default_config_has_an_ar_across_the_meridian(day):
    _, _, _, truth = day
    for step in range(8):
        assert truth.ar_mask[step, :, 0].any() and truth.ar_mask[step, :, -1].any()
        joined = [r for r in regions_periodic(truth.ar_mask[step]) if r[:, 0].any() and r[:, -1].any()]
        assert joined  # one region that touches both edges


def test_ar_planted_on_the_meridian_is_in_truth_on_both_edges():
    ar = synth.ARSpec(lat_deg=45.0, lon_deg=0.0, bearing_deg=60.0, length_km=3000, width_km=600, speed_ms=0.0)
    config = synth.SynthConfig(n_lat=96, n_lon=144, n_tcs=0, n_ars=0, ars=(ar,))
    ds, truth = synth.synthesize_day(config, DATE)
    mask = truth.ar_mask[0]
    assert mask[:, 0].any() and mask[:, -1].any()
    assert len(regions_periodic(mask)) == 1
    ivt = ds["TMQ"].values[0] * np.hypot(ds["U850"].values[0], ds["V850"].values[0])
    assert ivt[mask].mean() > 500
    assert ds["V850"].values[0][mask].mean() > 3 and ds["U850"].values[0][mask].mean() > 3  # poleward, eastward
    assert truth.ars_at(0)[0].lon_deg == 0.0


def test_truth_file_round_trip(day, tmp_path):
    _, truth_path, _, truth = day
    _, fresh = synth.synthesize_day(CONFIG, DATE)
    assert truth.tcs == fresh.tcs and truth.ars == fresh.ars
    assert truth.times == synth.day_times(DATE)
    np.testing.assert_array_equal(truth.tc_mask, fresh.tc_mask)
    np.testing.assert_array_equal(truth.ar_mask, fresh.ar_mask)
    np.testing.assert_array_equal(truth.lat_deg, fresh.lat_deg)
    assert truth.tc_mask.dtype == bool and truth.tc_mask.shape == (8, 96, 144)
    with h5py.File(truth_path) as f:
        assert f.attrs["source"] == "testcase.cam.h2.2000-07-14-00000.nc"


def test_read_truth_errors_name_the_file(tmp_path):
    bad = tmp_path / "other.h5"
    with h5py.File(bad, "w") as f:
        f["x"] = 1
    with pytest.raises(ValueError, match="other.h5: not a climseg truth file"):
        synth.read_truth(bad)
    with pytest.raises(OSError, match="missing.h5"):
        synth.read_truth(tmp_path / "missing.h5")


def test_pressure_levels_integrate_to_tmq_and_ivt_proxy(day):
    _, _, ds, _ = day
    g = synth.GRAVITY
    plev = ds["plev"].values  # surface first, Pa
    order = np.argsort(plev)
    p = plev[order]
    q, u, v = (ds[n].values[:, order] for n in ("Q", "U", "V"))
    assert q.dtype == np.float32 and ds["Q"].attrs["units"] == "kg kg-1" and ds["U"].attrs["units"] == "m s-1"
    column = np.trapezoid(q, p, axis=1) / g
    tmq = ds["TMQ"].values
    above_ground = ds["PS"].values >= p[-1]  # where no level lies below the surface (not in TC cores)
    assert above_ground.mean() > 0.5
    ps = ds["PS"].values[above_ground]
    # q = q_s (p / ps)**3 holds all of TMQ from 0 to ps; the levels see the part from 300 to 1000 hPa
    in_levels = tmq[above_ground] * ((p[-1] / ps) ** 4 - (p[0] / ps) ** 4)
    np.testing.assert_allclose(column[above_ground], in_levels, rtol=0.03)
    np.testing.assert_allclose(column[above_ground], tmq[above_ground], rtol=0.15)
    ivt = np.hypot(np.trapezoid(q * u, p, axis=1), np.trapezoid(q * v, p, axis=1)) / g
    proxy = tmq * np.hypot(ds["U850"].values, ds["V850"].values)
    strong = proxy > 300
    ratio = ivt[strong] / proxy[strong]
    assert 0.8 < np.median(ratio) < 1.2
    np.testing.assert_allclose(q[:, -1], ds["QREFHT"].values / 0.95 * (p[-1] / ds["PS"].values) ** 3, rtol=1e-4)
    np.testing.assert_allclose(u[:, p == 85000][:, 0], ds["U850"].values, rtol=1e-5, atol=1e-4)


def test_config_and_placement_errors():
    with pytest.raises(ValueError, match="too small"):
        synth.SynthConfig(n_lat=4)
    with pytest.raises(ValueError, match="cannot place 60 TCs"):
        synth.plan_events(synth.SynthConfig(n_lat=24, n_lon=36, n_tcs=60, n_ars=0), DATE, max_tries=50)
    with pytest.raises(ValueError, match="29 February"):
        synth.synthesize_day(synth.SynthConfig(n_lat=24, n_lon=36), dt.date(2004, 2, 29))


def test_command_line_writes_consecutive_noleap_days(tmp_path, capsys):
    code = cli.main(["synth", "--out", str(tmp_path), "--days", "2", "--start-date", "2004-02-28", "--lat", "24",
                     "--lon", "36", "--seed", "5", "--tcs", "1", "--ars", "1", "--case", "demo"])
    assert code == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["demo.cam.h2.2004-02-28-00000.nc", "demo.cam.h2.2004-02-28-00000.truth.h5",
                     "demo.cam.h2.2004-03-01-00000.nc", "demo.cam.h2.2004-03-01-00000.truth.h5"]
    assert "demo.cam.h2.2004-03-01-00000.nc" in capsys.readouterr().out
    with xr.open_dataset(tmp_path / names[0]) as ds:
        assert ds["TMQ"].shape == (8, 24, 36) and "Q" not in ds


@pytest.mark.parametrize("args, message", [
    (["--start-date", "2004-13-01"], "not a date"),
    (["--start-date", "2004-02-29"], "29 February"),
    (["--days", "0"], "at least 1"),
])
def test_command_line_errors(tmp_path, capsys, args, message):
    assert cli.main(["synth", "--out", str(tmp_path), "--lat", "24", "--lon", "36", *args]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_command_line_reports_an_unwritable_output_in_one_line(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("a file where the output directory should go\n")
    assert cli.main(["synth", "--out", str(taken), "--lat", "24", "--lon", "36"]) == 2
    assert capsys.readouterr().err == f"climseg synth: error: {taken}: cannot create the output directory (File exists)\n"
