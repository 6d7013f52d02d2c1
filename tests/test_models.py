"""Tests of training.models: the paper's Tiramisu and DeepLabv3+ (sizes, shapes, dtypes, gradients)."""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np
import pytest
import tensorflow as tf

from training.models import DeepLabV3PlusConfig, TiramisuConfig, build_model, model_config
from training.models.tiramisu import reference_parameter_count

SMALL = {"tiramisu": TiramisuConfig.small(), "deeplabv3plus": DeepLabV3PlusConfig.small()}


def weight_layers(model):
    """Convolutions and transposed convolutions, without ResNet shortcut projections."""
    return [layer for layer in model.layers
            if isinstance(layer, tf.keras.layers.Conv2D) and "shortcut" not in layer.name]


def within(value, target, tolerance):
    return abs(value - target) / target <= tolerance


def test_default_tiramisu_is_the_papers_35_layer_7_8m_network():
    model = build_model("tiramisu", (64, 64, 16))
    config = TiramisuConfig()
    assert len(weight_layers(model)) == 35 == config.weight_layers
    # the Keras model agrees with the layer-by-layer count in closed form
    assert model.count_params() == reference_parameter_count(config)
    # the paper's 7.8M counts a transition down after the bottleneck that the authors' code creates but
    # never uses (0.30M); with it we are within 3 %, without it 3.3 % below
    with_unused = reference_parameter_count(config, with_unused_transition=True)
    assert with_unused - model.count_params() == 4 * 544 + 544 * 544 + 544
    assert within(with_unused, 7.8e6, 0.03)
    assert within(model.count_params(), 7.8e6, 0.035)
    kernels = [v for v in model.trainable_variables if "kernel" in v.name]
    assert {tuple(v.shape[:2]) for v in kernels} == {(5, 5), (1, 1), (3, 3)}
    other = TiramisuConfig(blocks=(1, 3, 2), growth_rate=6, kernel_size=3, first_filters=10)
    assert (build_model("tiramisu", (16, 16, 7), num_classes=4, config=other).count_params()
            == reference_parameter_count(other, input_channels=7, num_classes=4))


def test_default_deeplabv3plus_is_the_papers_66_layer_43_7m_network():
    model = build_model("deeplabv3plus", (64, 64, 16))
    assert within(model.count_params(), 43.7e6, 0.03)
    assert len(weight_layers(model)) == 66 == DeepLabV3PlusConfig().weight_layers
    dilations = {layer.dilation_rate[0] for layer in model.layers if isinstance(layer, tf.keras.layers.Conv2D)}
    assert dilations == {1, 2, 4, 12, 24, 36}  # output stride 8: atrous stages 3 and 4, ASPP rates
    encoder = model.get_layer("encoder_postnorm_relu").output
    assert encoder.shape[1:] == (8, 8, 2048)


@pytest.mark.parametrize("name", ["tiramisu", "deeplabv3plus"])
def test_small_models_give_float32_logits_per_pixel(name):
    model = build_model(name, (32, 48, 16), config=SMALL[name])
    x = np.random.default_rng(0).normal(size=(2, 32, 48, 16)).astype(np.float32)
    logits = model(x, training=False)
    assert logits.shape == (2, 32, 48, 3)
    assert logits.dtype == tf.float32
    assert np.all(np.isfinite(logits.numpy()))
    # different samples give different logits (nothing collapses to a constant)
    assert not np.allclose(logits[0], logits[1])
    assert build_model(name, (16, 24, 16), num_classes=5, config=SMALL[name]).output_shape == (None, 16, 24, 5)


@pytest.mark.parametrize("name", ["tiramisu", "deeplabv3plus"])
def test_logits_stay_float32_under_mixed_precision(name):
    tf.keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_model(name, (32, 32, 16), config=SMALL[name])
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("logits").compute_dtype == "float32"
    half = [layer for layer in weight_layers(model) if layer.compute_dtype == "float16"]
    assert len(half) == len(weight_layers(model)) - 1
    logits = model(np.ones((1, 32, 32, 16), np.float32), training=False)
    assert logits.dtype == tf.float32
    assert all(v.dtype == tf.float32 for v in model.trainable_variables)


@pytest.mark.parametrize("name", ["tiramisu", "deeplabv3plus"])
def test_gradient_reaches_every_trainable_variable(name):
    tf.keras.utils.set_random_seed(1)
    model = build_model(name, (16, 16, 16), config=SMALL[name])
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 16, 16, 16)).astype(np.float32)
    labels = rng.integers(0, 3, size=(2, 16, 16))
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
    grads = tape.gradient(loss, model.trainable_variables)
    starved = [v.name for v, g in zip(model.trainable_variables, grads) if g is None or not np.any(g.numpy())]
    assert starved == []


@pytest.mark.parametrize("name", ["tiramisu", "deeplabv3plus"])
def test_l2_penalty_of_every_kernel_is_in_model_losses(name):
    config = SMALL[name]
    model = build_model(name, (16, 16, 16), config=config)
    kernels = [v for v in model.trainable_variables if "kernel" in v.name]
    assert len(model.losses) == len(kernels)
    expected = config.weight_decay / 2 * sum(float(np.sum(np.square(v.numpy()))) for v in kernels)
    assert float(tf.add_n(model.losses)) == pytest.approx(expected, rel=1e-5)
    unregularized = build_model(name, (16, 16, 16), config={**config.__dict__, "weight_decay": 0.0})
    assert unregularized.losses == []


def test_divisor_of_each_configuration():
    assert model_config("tiramisu").divisor == 16
    assert model_config("deeplabv3plus").divisor == 8
    assert model_config("tiramisu", TiramisuConfig.small()).divisor == 4
    assert model_config("deeplabv3plus", {"output_stride": 16}).divisor == 16


@pytest.mark.parametrize("name, shape", [("tiramisu", (100, 144, 16)), ("tiramisu", (96, 8, 16)),
                                         ("deeplabv3plus", (96, 140, 16)), ("deeplabv3plus", (4, 8, 16))])
def test_input_not_divisible_by_the_stride_is_rejected(name, shape):
    divisor = model_config(name).divisor
    with pytest.raises(ValueError, match=rf"{name} needs lat and lon that are multiples of {divisor}, "
                                         rf"got {shape[0]} x {shape[1]}"):
        build_model(name, shape)


def test_bad_names_configs_and_shapes_are_rejected():
    with pytest.raises(ValueError, match="unknown model 'unet'; valid models: deeplabv3plus, tiramisu"):
        build_model("unet", (32, 32, 16))
    with pytest.raises(ValueError, match="unknown tiramisu configuration key.*growth;"):
        model_config("tiramisu", {"growth": 16})
    with pytest.raises(TypeError, match="tiramisu needs a TiramisuConfig or a dict, got DeepLabV3PlusConfig"):
        build_model("tiramisu", (32, 32, 16), config=DeepLabV3PlusConfig.small())
    with pytest.raises(ValueError, match=r"input shape must be \(lat, lon, channels\), got \(32, 32\)"):
        build_model("tiramisu", (32, 32), config=TiramisuConfig.small())
    with pytest.raises(ValueError, match="known, positive number of channels, got 0"):
        build_model("tiramisu", (32, 32, 0), config=TiramisuConfig.small())
    with pytest.raises(ValueError, match="at least 2 classes, got 1"):
        build_model("tiramisu", (32, 32, 16), num_classes=1, config=TiramisuConfig.small())
    with pytest.raises(ValueError, match="output_stride must be 8 or 16, got 32"):
        DeepLabV3PlusConfig(output_stride=32)
    with pytest.raises(ValueError, match="at least two positive layer counts"):
        TiramisuConfig(blocks=(4,))
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.0"):
        TiramisuConfig(dropout=1.0)
    with pytest.raises(ValueError, match="four positive ResNet stage sizes"):
        DeepLabV3PlusConfig(units_per_stage=(3, 4, 6))


def test_dict_config_equals_dataclass_and_output_stride_16_builds():
    assert model_config("tiramisu", {"growth_rate": 16}) == TiramisuConfig(growth_rate=16)
    config = {**DeepLabV3PlusConfig.small().__dict__, "output_stride": 16, "aspp_rates": [1, 2, 3]}
    model = build_model("deeplabv3plus", (32, 32, 16), config=config)
    assert model.get_layer("encoder_postnorm_relu").output.shape[1:3] == (2, 2)
    assert model.output_shape == (None, 32, 32, 3)
