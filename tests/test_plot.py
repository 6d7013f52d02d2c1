"""Tests of labeling.plot and ``climseg plot``: a readable quick-look PNG of a sample."""

import h5py
import numpy as np
import pytest
from matplotlib import image

from climseg import cli
from climseg.contract import AR, CHANNELS, DATA_KEY, LABELS_KEY, TC
from labeling import plot
from labeling.sample import write_sample

N_LAT, N_LON = 48, 72


@pytest.fixture
def sample_path(tmp_path):
    lat, lon = np.linspace(-90, 90, N_LAT), np.arange(N_LON) * 5.0
    data = np.ones((N_LAT, N_LON, 16), np.float32)
    data[..., CHANNELS.index("TMQ")] = 20 + 30 * np.cos(np.deg2rad(lat))[:, None]
    data[..., CHANNELS.index("U850")] = 10.0
    labels = np.zeros((N_LAT, N_LON), np.uint8)
    labels[30:33, 10:30] = AR
    labels[20:23, 40:43] = TC
    path = tmp_path / "data-2000-01-01-00-1.h5"
    write_sample(path, data, labels, lat, lon, attrs={"time": "2000-01-01T00:00:00",
                                                      "tc_centres": '[{"lat_deg": -5.0, "lon_deg": 205.0}]'})
    return path


def red_and_white_pixels(png):
    rgb = image.imread(png)[..., :3]
    red = (rgb[..., 0] > 0.8) & (rgb[..., 1] < 0.25) & (rgb[..., 2] < 0.25)
    return red.sum(), rgb


def test_quicklook_fields():
    data = np.zeros((2, 3, 16), np.float32)
    data[..., CHANNELS.index("TMQ")] = 40.0
    data[..., CHANNELS.index("U850")] = 3.0
    data[..., CHANNELS.index("V850")] = 4.0
    ivt, label = plot.quicklook_field(data, "ivt")
    np.testing.assert_allclose(ivt, 200.0)
    assert "kg m-1 s-1" in label
    tmq, label = plot.quicklook_field(data, "tmq")
    np.testing.assert_allclose(tmq, 40.0)
    with pytest.raises(ValueError, match="unknown field 'psl'"):
        plot.quicklook_field(data, "psl")


@pytest.mark.parametrize("field", ["ivt", "tmq"])
def test_plot_command_draws_masks_on_a_map(sample_path, tmp_path, field, capsys):
    out = tmp_path / f"{field}.png"
    assert cli.main(["plot", str(sample_path), "--out", str(out), "--field", field]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    red, rgb = red_and_white_pixels(out)
    assert rgb.shape[0] > 400 and rgb.shape[1] > 800
    assert red > 20  # the TC outline, its centre mark and the legend line


def test_plot_without_masks_has_no_red_outline(tmp_path):
    path = tmp_path / "data-2000-01-01-00-1.h5"
    with h5py.File(path, "w") as f:  # a public DeepCAM-style file: no grid, no attributes, float labels
        f[DATA_KEY] = np.ones((N_LAT, N_LON, 16), np.float32)
        f[LABELS_KEY] = np.zeros((N_LAT, N_LON), np.float32)
    out = plot.plot_sample(path, tmp_path / "empty.png")
    red, _ = red_and_white_pixels(out)
    assert 0 < red < 200  # only the legend's red line


def test_plot_errors_name_the_file(tmp_path, capsys):
    bad = tmp_path / "data-2000-01-01-00-1.h5"
    bad.write_text("not hdf5")
    assert cli.main(["plot", str(bad), "--out", str(tmp_path / "x.png")]) == 2
    assert f"{bad}: cannot read sample file" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
