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
