"""Report figures: valid PNGs of the expected size, coastlines from a land mask, tracks across 0/360."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from events.plots import (DPI, PANEL_INCHES, category_colours, draw_coastlines, frequency_map, map_panels,
                          track_map, track_segments, yearly_counts)

LAT = np.linspace(-88.125, 88.125, 48)
LON = np.arange(72) * 5.0


def land_mask():
    land = np.zeros((48, 72))
    land[28:40, 40:55] = 1.0       # a continent
    return land


def png_size(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.verify()
        return image.size


def tracks():
    return pd.DataFrame({"track_id": [0, 0, 0, 1, 1, 1], "lat": [15, 16, 18, -12, -14, -16.0],
                         "lon": [355.0, 358.5, 2.0, 60, 58, 55], "wind": [17.0, 35.0, 52.0, 20, 30, 25]})


def test_map_panels_share_a_scale_and_add_a_difference(tmp_path):
    rng = np.random.default_rng(0)
    a, b = rng.random((48, 72)), rng.random((48, 72))
    out = map_panels({"heuristic": a, "network": b}, LAT, LON, tmp_path / "f.png", land=land_mask(),
                     label="AR frequency (fraction of time steps)", difference=True)
    width, height = png_size(out)
    assert (width, height) == (round(3 * PANEL_INCHES[0] * DPI), round((PANEL_INCHES[1] + 0.4) * DPI))
    two = map_panels({"heuristic": a, "network": b}, LAT, LON, tmp_path / "g.png", label="x")
    assert png_size(two)[0] == round(2 * PANEL_INCHES[0] * DPI)
    with pytest.raises(ValueError, match="exactly 2"):
        map_panels({"a": a}, LAT, LON, tmp_path / "h.png", label="x", difference=True)
    with pytest.raises(ValueError, match="does not match the grid"):
        map_panels({"a": a[:, :10]}, LAT, LON, tmp_path / "h.png", label="x")
    assert not (tmp_path / "h.png").exists()


def test_frequency_map_with_nan_and_all_zero(tmp_path):
    freq = np.zeros((48, 72))
    freq[0] = np.nan
    assert png_size(frequency_map(freq, LAT, LON, tmp_path / "z.png", land=land_mask()))[0] > 0


def test_coastline_is_the_half_contour_of_the_land_mask():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    draw_coastlines(ax, LAT, LON, land_mask())
    (contour,) = ax.collections
    vertices = np.concatenate([p.vertices for p in contour.get_paths()])
    assert vertices[:, 0].min() == pytest.approx(LON[40] - 2.5, abs=0.01)    # halfway between sea and land
    assert vertices[:, 0].max() == pytest.approx(LON[54] + 2.5, abs=0.01)
    assert vertices[:, 1].min() == pytest.approx(0.5 * (LAT[27] + LAT[28]), abs=0.01)
    ax = Figure().subplots()
    draw_coastlines(ax, LAT, LON, np.zeros((48, 72)))     # all sea: nothing drawn
    draw_coastlines(ax, LAT, LON, None)
    assert not ax.collections


def test_track_segments_split_at_the_map_edge():
    pieces = track_segments([15, 16, 18], [355.0, 358.5, 2.0])
    assert [len(x) for x, _ in pieces] == [2, 1]
    assert pieces[1][0][0] == 2.0
    (whole,) = track_segments([15, 16, 18], [355.0, 358.5, 2.0], lon_min=-180.0)
    assert np.allclose(whole[0], [-5.0, -1.5, 2.0])
    assert track_segments([], []) == []


def test_points_are_coloured_by_category():
    colours = category_colours([10, 18, 33, 43, 50, 58, 70, np.nan])
    assert colours[-1] == "0.6" and len(set(colours[:-1])) == 7


def test_track_map_one_panel_per_set(tmp_path):
    out = track_map({"heuristic": tracks(), "network": tracks().iloc[:3]}, LAT, LON, tmp_path / "t.png",
                    land=land_mask(), title="TC tracks")
    assert png_size(out)[0] == round(2 * PANEL_INCHES[0] * DPI)
    empty = tracks().iloc[:0]
    assert png_size(track_map({"network": empty}, LAT, LON, tmp_path / "e.png"))[0] == round(PANEL_INCHES[0] * DPI)


def test_yearly_counts(tmp_path):
    out = yearly_counts({"heuristic": {2106: 5, 2107: 3}, "network": {"2106": 4}}, tmp_path / "y.png",
                        ylabel="TC tracks per year")
    assert png_size(out) == (round(PANEL_INCHES[0] * DPI), round(PANEL_INCHES[1] * DPI))
    with pytest.raises(ValueError, match="no series"):
        yearly_counts({}, tmp_path / "n.png", ylabel="x")


@pytest.fixture(scope="module")
def climatologies(tmp_path_factory):
    """Climatologies (climseg climatology) of a tracked synthetic day: truth masks, and the same without TCs."""
    from climseg.cli import main
    from climseg.contract import AR, TC
    from climseg.synth import read_truth
    from inference.masks import HEURISTIC, NETWORK, history_line, mask_file, read_source_coordinates

    root = tmp_path_factory.mktemp("clim")
    assert main(["synth", "--out", str(root / "raw"), "--days", "1", "--lat", "48", "--lon", "72",
                 "--tracks"]) in (0, None)
    (raw,) = sorted((root / "raw").glob("*.cam.h2.*-00000.nc"))
    truth = read_truth(raw.with_name(raw.name[: -len(".nc")] + ".truth.h5"))
    classes = np.where(truth.tc_mask, TC, np.where(truth.ar_mask, AR, 0)).astype(np.int8)
    out = {}
    for source, values in ((HEURISTIC, classes), (NETWORK, np.where(classes == TC, 0, classes))):
        masks = root / source / (raw.name[: -len(".nc")] + (".labels.nc" if source == HEURISTIC else ".climseg.nc"))
        with mask_file(masks, read_source_coordinates(raw), mask_source=source, source="test", title="test",
                       history=history_line("test"), input_file=raw) as writer:
            writer.write(0, values)
        assert main(["climatology", str(masks.parent), "--out", str(root / f"clim_{source}"), "--no-progress",
                     "--min-duration-hours", "9", "--max-speed-km-per-day", "5000"]) in (0, None)
        out[source] = root / f"clim_{source}"
    return out


@pytest.mark.slow
def test_figures_command_writes_every_figure_and_the_side_by_side_table(climatologies, tmp_path, capsys):
    import pandas as pd

    from climseg.cli import main
    from events.plots import FIGURE_NAMES, read_climatology

    heuristic = read_climatology(climatologies["heuristic"])
    assert heuristic["tracks"]["track_id"].nunique() > 0           # the planted storms were tracked
    assert main(["figures", "--heuristic", str(climatologies["heuristic"]), "--network",
                 str(climatologies["network"]), "--out", str(tmp_path / "fig")]) == 0
    for name in FIGURE_NAMES:
        assert png_size(tmp_path / "fig" / name)[0] >= round(PANEL_INCHES[0] * DPI)
    assert png_size(tmp_path / "fig" / "ar_frequency.png")[0] == round(3 * PANEL_INCHES[0] * DPI)
    table = pd.read_csv(tmp_path / "fig" / "climatology_side_by_side.csv")
    assert list(table.columns) == ["year", "quantity", "heuristic", "network"]
    tracks = table[table.quantity == "tc_tracks"].iloc[0]
    assert tracks.heuristic == heuristic["tracks"]["track_id"].nunique() and tracks.network == 0
    ar = table[table.quantity == "ar_objects"].iloc[0]
    assert ar.heuristic == ar.network > 0                          # same ARs in both sets
    assert main(["figures", "--heuristic", str(tmp_path), "--network", str(climatologies["network"]),
                 "--out", str(tmp_path / "x")]) == 2
    assert "not a climatology directory" in capsys.readouterr().err
