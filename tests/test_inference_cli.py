"""The command lines of climseg infer and climseg export (inference/cli.py): inputs, flags, help."""

import subprocess
import sys
from pathlib import Path

import pytest

from climseg.cli import CommandError, main
from inference.cli import netcdf_inputs


def test_inputs_are_files_and_the_netcdf_files_of_directories_without_earlier_outputs(tmp_path):
    (tmp_path / "b.nc").write_bytes(b"")
    (tmp_path / "a.nc").write_bytes(b"")
    (tmp_path / "a.climseg.nc").write_bytes(b"")
    (tmp_path / "a.labels.nc").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("")
    assert netcdf_inputs([tmp_path]) == [tmp_path / "a.nc", tmp_path / "b.nc"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(CommandError, match="empty: directory holds no .nc files"):
        netcdf_inputs([tmp_path / "empty"])
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.nc").write_bytes(b"")
    with pytest.raises(CommandError, match="a.nc: given twice"):
        netcdf_inputs([tmp_path, tmp_path / "other" / "a.nc"])


def test_flags_are_checked_before_anything_loads(tmp_path, capsys):
    assert main(["infer", str(tmp_path / "x.nc"), "--run", str(tmp_path), "--out", str(tmp_path),
                 "--batch-size", "0"]) == 2
    assert "climseg infer: error: --batch-size 0: must be at least 1" in capsys.readouterr().err


def test_help_explains_the_output_format():
    result = subprocess.run([str(Path(sys.executable).parent / "climseg"), "infer", "--help"],
                            capture_output=True, text=True, check=True)
    text = " ".join(result.stdout.split())
    assert "<input stem>.climseg.nc" in text and "flag_values 0 1 2" in text and "--probabilities" in text
    result = subprocess.run([str(Path(sys.executable).parent / "climseg"), "export", "--help"],
                            capture_output=True, text=True, check=True)
    assert "labels.nc" in result.stdout and "--config" in result.stdout
