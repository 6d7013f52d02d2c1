"""labeling.config (label parameters): defaults, round trips, YAML files and every error it raises."""

import dataclasses

import pytest

from labeling.config import ARConfig, IVTConfig, LabelConfig, TCConfig


def test_defaults_round_trip_through_dict_and_yaml(tmp_path):
    import yaml

    config = LabelConfig()
    assert LabelConfig.from_dict(config.to_dict()) == config
    path = tmp_path / "label.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    assert LabelConfig.from_yaml(path) == config
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.ar.percentile = 90.0


def test_partial_yaml_overrides_only_what_it_names(tmp_path):
    path = tmp_path / "label.yaml"
    path.write_text("ar:\n  percentile: 97.5\ntc:\n  vorticity_threshold_per_s: 1e-4\n  mask_method: percentile\n")
    config = LabelConfig.from_yaml(path)
    assert config.ar.percentile == 97.5 and config.ar.min_length_km == ARConfig().min_length_km
    assert config.tc.vorticity_threshold_per_s == 1e-4 and config.tc.mask_method == "percentile"
    assert config.ivt == IVTConfig()
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert LabelConfig.from_yaml(empty) == LabelConfig()


@pytest.mark.parametrize("d, message", [
    ({"bogus": 1}, "LabelConfig: unknown key 'bogus'"),
    ({"ar": {"percentile_": 95}}, "ARConfig: unknown key 'percentile_'"),
    ({"tc": {"psl_rise_pa": -1}}, r"TCConfig.psl_rise_pa: must be >= 0"),
    ({"ar": {"percentile": 0}}, r"ARConfig.percentile: must be > 0"),
    ({"ar": {"percentile": 101}}, r"ARConfig.percentile: must be <= 100"),
    ({"ar": {"min_length_km": "long"}}, r"ARConfig.min_length_km: expected a number, got 'long'"),
    ({"ar": {"min_length_km": True}}, r"ARConfig.min_length_km: expected a finite number"),
    ({"ar": {"min_abs_centroid_lat_deg": 60, "max_abs_centroid_lat_deg": 30}}, "is below"),
    ({"tc": {"mask_method": "box"}}, r"TCConfig.mask_method: must be one of gale, radius, percentile, got 'box'"),
    ({"tc": {"wind_search_km": 0}}, r"TCConfig.wind_search_km: must be > 0"),
    ({"ivt": {"source": "era5"}}, r"IVTConfig.source: must be one of auto, levels, proxy"),
    ({"tc_exclusion_radius_factor": float("nan")}, "expected a finite number"),
    ({"ar": [1, 2]}, "ARConfig: expected a mapping"),
    ([1, 2], "LabelConfig: expected a mapping"),
])
def test_bad_values_and_unknown_keys_are_named(d, message):
    with pytest.raises(ValueError, match=message):
        LabelConfig.from_dict(d)


def test_yaml_errors_name_the_file(tmp_path):
    bad_key = tmp_path / "bad_key.yaml"
    bad_key.write_text("tc:\n  vorticity: 1\n")
    with pytest.raises(ValueError, match=r"bad_key\.yaml: TCConfig: unknown key 'vorticity'"):
        LabelConfig.from_yaml(bad_key)
    broken = tmp_path / "broken.yaml"
    broken.write_text("ar: [unclosed\n")
    with pytest.raises(ValueError, match=r"broken\.yaml: not valid YAML"):
        LabelConfig.from_yaml(broken)
    with pytest.raises(OSError, match=r"missing\.yaml: cannot read label config"):
        LabelConfig.from_yaml(tmp_path / "missing.yaml")


def test_sections_validate_when_built_directly():
    with pytest.raises(ValueError, match="TCConfig.max_abs_lat_deg: must be <= 90"):
        TCConfig(max_abs_lat_deg=95.0)
    with pytest.raises(ValueError, match="LabelConfig.ar: expected ARConfig"):
        LabelConfig(ar={"percentile": 90})
