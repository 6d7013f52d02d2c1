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


def write_test_sample(path, *, masks=True):
    """A 48 x 72 sample with an AR band and a 3 x 3 TC (or, with ``masks=False``, the same without labels)."""
    lat, lon = np.linspace(-90, 90, N_LAT), np.arange(N_LON) * 5.0
    data = np.ones((N_LAT, N_LON, 16), np.float32)
    data[..., CHANNELS.index("TMQ")] = 20 + 30 * np.cos(np.deg2rad(lat))[:, None]
    data[..., CHANNELS.index("U850")] = 10.0
    labels = np.zeros((N_LAT, N_LON), np.uint8)
    if masks:
        labels[30:33, 10:30] = AR
        labels[20:23, 40:43] = TC
    write_sample(path, data, labels, lat, lon, attrs={"time": "2000-01-01T00:00:00",
                                                      "tc_centres": '[{"lat_deg": -5.0, "lon_deg": 205.0}]'})
    return path


@pytest.fixture
def sample_path(tmp_path):
    return write_test_sample(tmp_path / "data-2000-01-01-00-1.h5")


def red_and_white_pixels(png):
    rgb = image.imread(png)[..., :3]
    red = (rgb[..., 0] > 0.8) & (rgb[..., 1] < 0.25) & (rgb[..., 2] < 0.25)
    white = (rgb > 0.95).all(axis=-1)
    return red.sum(), white.sum(), rgb


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
    red, white, rgb = red_and_white_pixels(out)
    assert rgb.shape[0] > 400 and rgb.shape[1] > 800
    # the same picture without labels (same legend, same centre mark): the difference is the outlines
    plain = plot.plot_sample(write_test_sample(tmp_path / "data-2000-01-01-00-2.h5", masks=False),
                             tmp_path / f"plain-{field}.png", field=field)
    plain_red, plain_white, _ = red_and_white_pixels(plain)
    assert red - plain_red > 100  # the TC outline (about 190 pixels)
    assert white - plain_white > 300  # the AR outline (about 650 pixels)


def test_plot_without_masks_has_no_red_outline(tmp_path):
    path = tmp_path / "data-2000-01-01-00-1.h5"
    with h5py.File(path, "w") as f:  # a public DeepCAM-style file: no grid, no attributes, float labels
        f[DATA_KEY] = np.ones((N_LAT, N_LON, 16), np.float32)
        f[LABELS_KEY] = np.zeros((N_LAT, N_LON), np.float32)
    out = plot.plot_sample(path, tmp_path / "empty.png")
    red, _, _ = red_and_white_pixels(out)
    assert 0 < red < 200  # only the legend's red line


def test_plot_errors_name_the_file(tmp_path, capsys):
    bad = tmp_path / "data-2000-01-01-00-1.h5"
    bad.write_text("not hdf5")
    assert cli.main(["plot", str(bad), "--out", str(tmp_path / "x.png")]) == 2
    assert f"{bad}: cannot read sample file" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
