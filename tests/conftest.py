"""Test-wide settings: quiet TensorFlow, legacy Keras, the venv's MPI first on PATH."""

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ["PATH"] = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.fixture
def repo_root() -> Path:
    """The repository root (where Snakefile and profiles/ are)."""
    return REPO_ROOT
