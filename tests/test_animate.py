"""The heuristic-vs-network GIF: one frame per time step, the expected size, masks fitted to the raw file."""

import numpy as np
import pytest
from PIL import Image

from climseg.cli import main as climseg
from climseg.contract import AR, TC
from events.animate import DPI, FRAME_INCHES, animate, field_values, frames
from inference.masks import HEURISTIC, NETWORK, history_line, mask_file, read_source_coordinates


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """One synthetic day (8 steps, 48 x 72) with masks: heuristic = the planted truth, network = ARs only."""
    from climseg.synth import read_truth

    out = tmp_path_factory.mktemp("raw")
    assert climseg(["synth", "--out", str(out), "--days", "1", "--lat", "48", "--lon", "72"]) in (0, None)
    (raw,) = sorted(out.glob("*.cam.h2.*.nc"))
    truth = read_truth(raw.with_suffix(".truth.h5"))
    classes = np.where(truth.tc_mask, TC, np.where(truth.ar_mask, AR, 0)).astype(np.int8)
    paths = {}
    for source, values in ((HEURISTIC, classes), (NETWORK, np.where(classes == TC, 0, classes))):
        path = out / f"{raw.stem}.{source}.nc"
        with mask_file(path, read_source_coordinates(raw), mask_source=source, source="test", title="test",
                       history=history_line("test"), input_file=raw) as masks:
            masks.write(0, values)
        paths[source] = path
    return raw, paths[HEURISTIC], paths[NETWORK], classes


def test_frames_pair_the_field_with_both_mask_sets(day):
    raw, heuristic, network, classes = day
    got = list(frames([(raw, heuristic, network)], field="tmq"))
    assert len(got) == 8
    label, values, panels, lat, lon, unit = got[3]
    assert values.shape == (48, 72) and "kg m-2" in unit and label.endswith("09:00:00")
    assert np.array_equal(panels["heuristic labels"], classes[3])
    assert (panels["network"] == TC).sum() == 0 and (panels["heuristic labels"] == TC).sum() > 0
    assert len(list(frames([(raw, heuristic, None)], max_frames=3))) == 3


def test_gif_has_one_frame_per_time_step(day, tmp_path):
    raw, heuristic, network, _ = day
    out, count = animate([(raw, heuristic, network)], tmp_path / "events.gif", field="ivt", max_frames=5,
                         seconds_per_frame=0.25)
    assert count == 5
    with Image.open(out) as gif:
        assert gif.format == "GIF" and gif.n_frames == 5 and gif.is_animated
        assert gif.size == (round(FRAME_INCHES[0] * DPI), round(FRAME_INCHES[1] * DPI))
        assert gif.info["duration"] == 250 and gif.info["loop"] == 0


def test_masks_of_another_file_are_refused(day, tmp_path):
    raw, heuristic, _, _ = day
    import xarray as xr

    with xr.open_dataset(heuristic) as ds:
        ds.isel(time=slice(0, 4)).to_netcdf(tmp_path / "short.labels.nc")
    with pytest.raises(ValueError, match="short.labels.nc: masks do not fit"):
        animate([(raw, tmp_path / "short.labels.nc", None)], tmp_path / "x.gif")
    assert not (tmp_path / "x.gif").exists()


def test_field_values():
    fields = {"TMQ": np.full((2, 2), 40.0), "U850": np.full((2, 2), 3.0), "V850": np.full((2, 2), 4.0)}
    assert np.allclose(field_values(fields, "ivt")[0], 200.0)
    assert np.allclose(field_values(fields, "tmq")[0], 40.0)
    with pytest.raises(ValueError, match="unknown field"):
        field_values(fields, "psl")


def test_animate_command(day, tmp_path, capsys):
    from climseg.cli import main

    raw, heuristic, network, _ = day
    masks = tmp_path / "masks"
    masks.mkdir()
    (masks / f"{raw.stem}.labels.nc").symlink_to(heuristic)
    (masks / f"{raw.stem}.climseg.nc").symlink_to(network)
    out = tmp_path / "a.gif"
    assert main(["animate", str(raw), "--heuristic", str(masks), "--network", str(masks), "--out", str(out),
                 "--field", "tmq", "--max-frames", "0"]) == 0
    with Image.open(out) as gif:
        assert gif.n_frames == 8
    assert "8 frames" in capsys.readouterr().out
    import xarray as xr

    land = np.zeros((48, 72), np.int8)
    land[30:40, 10:30] = 1
    xr.Dataset({"land": (("lat", "lon"), land)}).to_netcdf(tmp_path / "climatology.nc")
    assert main(["animate", str(raw), "--heuristic", str(masks), "--land", str(tmp_path / "climatology.nc"),
                 "--out", str(tmp_path / "land.gif"), "--max-frames", "2"]) == 0
    xr.Dataset({"land": (("lat", "lon"), land[:, :10])}).to_netcdf(tmp_path / "small.nc")
    assert main(["animate", str(raw), "--heuristic", str(masks), "--land", str(tmp_path / "small.nc"),
                 "--out", str(tmp_path / "bad.gif"), "--max-frames", "2"]) == 2
    assert "does not match the grid" in capsys.readouterr().err
    assert main(["animate", str(raw), "--network", str(tmp_path), "--out", str(out)]) == 2
    assert "no such mask file" in capsys.readouterr().err
    assert main(["animate", str(raw), "--out", str(out)]) == 2
