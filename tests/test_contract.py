import datetime as dt

import pytest

from climseg import contract


def test_channels_are_the_sixteen_of_the_deepcam_contract_in_order():
    assert contract.CHANNELS == ("TMQ", "U850", "V850", "UBOT", "VBOT", "QREFHT", "PS", "PSL",
                                 "T200", "T500", "PRECT", "TS", "TREFHT", "Z1000", "Z200", "ZBOT")
    assert set(contract.CHANNEL_UNITS) == set(contract.CHANNELS)
    assert contract.CLASS_NAMES[contract.TC] == "TC" and contract.CLASS_NAMES[contract.AR] == "AR"


def test_sample_file_name_round_trips():
    name = contract.sample_file_name(dt.date(2106, 3, 7), 5, 2)
    assert name == "data-2106-03-07-05-2.h5"
    parsed = contract.parse_sample_file_name(f"/some/dir/{name}")
    assert parsed == (dt.date(2106, 3, 7), 5, 2)
    assert str(parsed) == name


@pytest.mark.parametrize("bad", ["data-2106-03-07-5-2.h5", "sample.h5", "data-2106-13-07-05-1.h5",
                                 "data-2106-03-07-05-1.nc"])
def test_bad_sample_file_names_are_rejected_naming_the_file(bad):
    with pytest.raises(ValueError, match=bad.replace(".", r"\.")):
        contract.parse_sample_file_name(bad)


# ------------------------------------------------------------------------------ one home for shared things
import ast  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PRODUCTION = [p for package in ("climseg", "labeling", "staging", "training", "inference")
              for p in sorted((REPO / package).rglob("*.py"))]


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, at the top or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_production_code_never_imports_the_demo_generator():
    importers = [str(p.relative_to(REPO)) for p in PRODUCTION
                 if not p.relative_to(REPO).as_posix().startswith("climseg/synth")  # the generator itself
                 and any(m == "climseg.synth" or m.startswith("climseg.synth.") for m in imported_modules(p))]
    assert importers == []


@pytest.mark.parametrize("text", ['"climate/mean"', '"climate/class_frequencies"', '"climate/variance"',
                                  'NORMALIZATIONS = ', '"minmax", "zscore"'])
def test_shared_names_are_defined_in_the_contract_only(text):
    spelled = [p.relative_to(REPO).as_posix() for p in PRODUCTION if text in p.read_text()]
    assert set(spelled) == {"climseg/contract.py"}


def test_cam5_grid_is_the_finite_volume_grid():
    lat, lon = contract.cam5_grid(*contract.FULL_GRID)
    assert lat.shape == (768,) and lon.shape == (1152,)
    assert (lat[0], lat[-1], lon[0]) == (-90.0, 90.0, 0.0) and lon[-1] == pytest.approx(360 - 0.3125)
    np.testing.assert_allclose(np.diff(lat), 180 / 767)
