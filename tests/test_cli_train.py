"""climseg train / predict / evaluate end to end on a tiny run, plus their help and errors."""

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from climseg.cli import main
from climseg.contract import DATA_KEY
from training.cli import DEFAULTS, _NOT_CONFIG, train_parser
from training.demo import write_demo_samples

GRID = (32, 48)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A run of the small Tiramisu: 2 epochs of 6 steps, validated each epoch (in-process, not deterministic)."""
    root = tmp_path_factory.mktemp("cli")
    _, stats = write_demo_samples(root / "train", count=12, grid=GRID, seed=0)
    test_files, _ = write_demo_samples(root / "test", count=4, grid=GRID, seed=2)
    run = root / "run"
    code = main(["train", "--data", str(root / "train"), "--validation-data", str(root / "test"), "--stats", str(stats),
                 "--model-preset", "small", "--out", str(run), "--batch-size", "2", "--epochs", "2",
                 "--learning-rate", "0.01", "--read-workers", "1", "--no-deterministic", "--no-progress"])
    assert code == 0
    return {"run": run, "test": root / "test", "test_files": test_files, "root": root}


def test_every_config_field_has_a_flag_and_help_shows_defaults():
    import argparse
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    train_parser(parser)
    dests = {action.dest for action in parser._actions} - set(_NOT_CONFIG) - {"help"}
    from_yaml_only = {"model_overrides", "horovod"}
    assert dests == set(DEFAULTS.to_dict()) - from_yaml_only
    text = parser.format_help()
    assert "(default: zscore)" in text and "(default: 0.001)" in text and "code 75" in text


def test_predict_writes_masks_next_to_the_truth(tiny_run, tmp_path, capsys):
    out = tmp_path / "predictions"
    samples = [str(p) for p in tiny_run["test_files"][:2]]
    assert main(["predict", "--run", str(tiny_run["run"]), *samples, "--out", str(out), "--png", "--no-progress"]) == 0
    assert "2 prediction(s)" in capsys.readouterr().out
    for sample in samples:
        with h5py.File(out / Path(sample).name, "r") as f, h5py.File(sample, "r") as s:
            assert f["prediction"].shape == f["truth"].shape == GRID
            assert f["prediction"].dtype == np.uint8 and set(np.unique(f["prediction"][()])) <= {0, 1, 2}
            np.testing.assert_array_equal(f["truth"][()], s["climate/labels_0"][()])
            np.testing.assert_allclose(f["probabilities"][()].astype(np.float32).sum(axis=-1), 1.0, atol=3e-3)
            assert f.attrs["model"] == "tiramisu" and f.attrs["step"] > 0
        png = (out / Path(sample).name).with_suffix(".png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_predict_pads_a_grid_not_divisible_by_the_network(tiny_run, tmp_path):
    odd = tmp_path / "data-2001-01-01-00-1.h5"
    with h5py.File(tiny_run["test_files"][0], "r") as f:
        fields = f[DATA_KEY][:30, :46]  # small Tiramisu needs multiples of 4
    with h5py.File(odd, "w") as f:  # no labels: prediction only
        f[DATA_KEY] = fields
    assert main(["predict", "--run", str(tiny_run["run"]), str(odd), "--out", str(tmp_path / "out"),
                 "--no-progress"]) == 0
    with h5py.File(tmp_path / "out" / odd.name, "r") as f:
        assert f["prediction"].shape == (30, 46) and "truth" not in f


def test_evaluate_reports_iou_matching_the_last_validation(tiny_run, tmp_path, capsys):
    report_path = tmp_path / "report" / "test.json"
    assert main(["evaluate", "--run", str(tiny_run["run"]), "--data", str(tiny_run["test"]), "--out",
                 str(report_path), "--checkpoint", "latest", "--no-progress"]) == 0
    assert "4 samples, mean IoU" in capsys.readouterr().out
    report = json.loads(report_path.read_text())
    assert report["samples"] == 4 and report["pixels"] == 4 * GRID[0] * GRID[1]
    confusion = np.array(report["confusion_matrix"])
    assert confusion.sum() == report["pixels"]
    iou = np.diag(confusion) / (confusion.sum(0) + confusion.sum(1) - np.diag(confusion))
    assert report["mean_iou"] == pytest.approx(iou.mean())
    # The test samples were the run's validation set: the last validation saw the same pixels.
    last = json.loads((tiny_run["run"] / "metrics.jsonl").read_text().splitlines()[-1])
    assert report["mean_iou"] == pytest.approx(last["mean_iou"], abs=1e-9)
    assert report["config"]["model"] == "tiramisu"
    markdown = report_path.with_suffix(".md").read_text()
    assert "| **mean** |" in markdown and "Confusion matrix" in markdown


def test_resume_of_a_finished_run_does_nothing_more(tiny_run, capsys):
    run = tiny_run["run"]
    before = (run / "metrics.jsonl").read_text()
    assert main(["train", "--out", str(run), "--resume", "--no-progress"]) == 0  # config from run/config.yaml
    assert (run / "metrics.jsonl").read_text() == before


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_predict_and_evaluate_errors_name_the_file(command, tiny_run, tmp_path, capsys):
    target = ["--data", str(tiny_run["test"]), "--out", str(tmp_path / "r.json")] if command == "evaluate" else \
        [str(tiny_run["test_files"][0]), "--out", str(tmp_path / "p")]
    assert main([command, "--run", str(tmp_path), *target]) == 2
    assert f"{tmp_path}: not a training run directory" in capsys.readouterr().err

    junk = tmp_path / "data-2000-01-01-00-1.h5"
    junk.write_bytes(b"junk")
    target = ["--data", str(junk), "--out", str(tmp_path / "r.json")] if command == "evaluate" else \
        [str(junk), "--out", str(tmp_path / "p")]
    assert main([command, "--run", str(tiny_run["run"]), *target, "--no-progress"]) == 2
    assert str(junk) in capsys.readouterr().err


def test_commands_run_from_the_entry_point():
    result = subprocess.run([str(Path(sys.executable).parent / "climseg"), "evaluate", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "REPORT.md" in result.stdout
