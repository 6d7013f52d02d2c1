import importlib
import subprocess
import sys

import pytest

from climseg import cli


def run_climseg(*args):
    return subprocess.run([sys.executable, "-m", "climseg", *args], capture_output=True, text=True, timeout=300)


def test_top_level_help_lists_every_command():
    result = run_climseg("--help")
    assert result.returncode == 0
    for name in cli.COMMANDS:
        assert name in result.stdout


def test_unknown_command_is_an_error():
    result = run_climseg("frobnicate")
    assert result.returncode != 0
    assert "invalid choice" in result.stderr


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_every_command_has_its_own_help(name):
    module = importlib.import_module(cli.COMMANDS[name][0])
    assert callable(getattr(module, f"{name}_parser")) and callable(getattr(module, f"{name}_command"))
    result = run_climseg(name, "--help")
    assert result.returncode == 0, result.stderr
    assert f"climseg {name}" in result.stdout


def test_command_modules_do_not_import_tensorflow_at_import_time():
    code = ("import sys, importlib; from climseg.cli import COMMANDS\n"
            "[importlib.import_module(m) for m, _ in COMMANDS.values()]\n"
            "print('tensorflow' in sys.modules, 'mpi4py.MPI' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["False", "False"], result.stderr


def test_a_user_error_is_one_line_and_exit_code_2(tmp_path):
    result = run_climseg("stats", str(tmp_path / "missing-dir"), "--out", str(tmp_path / "stats.h5"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("climseg stats: error:") and "missing-dir" in result.stderr
    assert "Traceback" not in result.stderr
