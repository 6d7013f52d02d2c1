"""TrainConfig: YAML round trip, unknown keys and bad values named, learning-rate scaling rules."""

import math

import pytest

from training.config import TrainConfig, check_config, lr_scale, read_yaml_mapping


def valid(**changes):
    return TrainConfig(**{"data": "samples", "stats": "stats.h5", **changes})


def test_yaml_round_trip_keeps_every_field(tmp_path):
    config = valid(crop=(32, 48), class_frequencies=(0.9, 0.02, 0.08), piecewise_boundaries=(10, 20),
                   piecewise_factors=(0.1, 0.01), model_overrides={"dropout": 0.0}, horovod={"cycle_time_ms": 2})
    config.write_yaml(tmp_path / "config.yaml")
    assert TrainConfig.from_yaml(tmp_path / "config.yaml") == config


def test_partial_yaml_takes_defaults_for_the_rest(tmp_path):
    (tmp_path / "train.yaml").write_text("model: deeplabv3plus\nbatch_size: 4\ncrop: [64, 96]\n")
    config = TrainConfig.from_yaml(tmp_path / "train.yaml")
    assert (config.model, config.batch_size, config.crop) == ("deeplabv3plus", 4, (64, 96))
    assert config.optimizer == TrainConfig().optimizer


@pytest.mark.parametrize("text, message", [
    ("batch_sise: 4\n", "unknown training option\\(s\\) batch_sise"),
    ("- 1\n- 2\n", "expected a mapping"),
    ("model: [unclosed\n", "not valid YAML"),
])
def test_bad_yaml_names_the_file(tmp_path, text, message):
    path = tmp_path / "train.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as error:
        TrainConfig.from_yaml(path)
    assert str(path) in str(error.value)


def test_empty_yaml_is_all_defaults(tmp_path):
    (tmp_path / "empty.yaml").write_text("")
    assert read_yaml_mapping(tmp_path / "empty.yaml") == {}


@pytest.mark.parametrize("changes, message", [
    (dict(model="unet"), "model: 'unet' is not one of"),
    (dict(precision="fp16"), "precision"),
    (dict(lr_scaling="cubic"), "lr_scaling"),
    (dict(optimizer="lamb"), "optimizer"),
    (dict(batch_size=0), "batch_size: must be at least 1"),
    (dict(steps_per_epoch=-1), "steps_per_epoch"),
    (dict(gradient_lag=2), "gradient_lag: must be 0 or 1"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(weight_decay=-1e-4), "weight_decay"),
    (dict(crop=(32,)), "crop"),
    (dict(class_frequencies=(0.9, 0.1)), "class_frequencies"),
    (dict(decay="piecewise"), "piecewise_boundaries and piecewise_factors"),
    (dict(decay="piecewise", piecewise_boundaries=(20, 10), piecewise_factors=(0.1, 0.01)), "must increase"),
    (dict(data=""), "data: no training samples"),
    (dict(stats=""), "stats: no stats.h5"),
])
def test_check_config_names_the_bad_option(changes, message):
    with pytest.raises(ValueError, match=message):
        check_config(valid(**changes))


def test_check_config_accepts_defaults_and_rejects_zero_ranks():
    check_config(valid(), ranks=4)
    with pytest.raises(ValueError, match="ranks"):
        check_config(valid(), ranks=0)


def test_lr_scaling_rules():
    assert lr_scale("none", 16) == 1.0
    assert lr_scale("linear", 16) == 16.0
    assert lr_scale("sqrt", 16) == 4.0
    assert lr_scale("sqrt", 1) == 1.0 and math.isclose(lr_scale("sqrt", 2), math.sqrt(2))
    with pytest.raises(ValueError, match="cubic"):
        lr_scale("cubic", 2)
