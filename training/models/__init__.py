"""The paper's two segmentation networks, built by name.

>>> from training.models import build_model, TiramisuConfig
>>> model = build_model("tiramisu", (96, 144, 16), config=TiramisuConfig.small())
>>> model.output_shape
(None, 96, 144, 3)

Both map (batch, lat, lon, 16) normalized climate fields to per-pixel logits (batch, lat, lon, classes),
float32 even under a mixed precision policy. lat and lon must be multiples of
``model_config(name, config).divisor`` (16 for the paper's Tiramisu, 8 for DeepLabv3+).
"""

from __future__ import annotations

import dataclasses

from climseg.contract import NUM_CLASSES
from training.models.deeplabv3plus import DeepLabV3PlusConfig, build_deeplabv3plus
from training.models.tiramisu import TiramisuConfig, build_tiramisu

MODELS = {
    "tiramisu": (TiramisuConfig, build_tiramisu),
    "deeplabv3plus": (DeepLabV3PlusConfig, build_deeplabv3plus),
}
"""Model name -> (configuration dataclass, builder)."""

__all__ = ["MODELS", "TiramisuConfig", "DeepLabV3PlusConfig", "build_model", "model_config"]


def model_config(name: str, config=None):
    """The configuration dataclass of model ``name`` from None (the paper's), a dict or the dataclass.

    Raises ValueError for an unknown model name or an unknown configuration key, TypeError for a
    configuration of another model.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(sorted(MODELS))}")
    config_class = MODELS[name][0]
    if config is None:
        return config_class()
    if isinstance(config, dict):
        known = {f.name for f in dataclasses.fields(config_class)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"unknown {name} configuration key(s) {', '.join(unknown)}; "
                             f"valid keys: {', '.join(sorted(known))}")
        return config_class(**config)
    if not isinstance(config, config_class):
        raise TypeError(f"{name} needs a {config_class.__name__} or a dict, got {type(config).__name__}")
    return config


def build_model(name: str, input_shape: tuple, *, num_classes: int = NUM_CLASSES, config=None):
    """Build segmentation network ``name`` ("tiramisu" or "deeplabv3plus") as a ``tf.keras.Model``.

    Parameters
    ----------
    name : str
    input_shape : tuple (lat, lon, channels)
        Grid points and channels of one sample; lat and lon multiples of ``model_config(name, config).divisor``.
    num_classes : int
    config : TiramisuConfig or DeepLabV3PlusConfig or dict or None
        None gives the paper's configuration.

    Returns
    -------
    tf.keras.Model
        (batch, lat, lon, channels) -> float32 logits (batch, lat, lon, num_classes). L2 penalties of the
        kernels are in ``model.losses``.
    """
    config = model_config(name, config)
    if len(input_shape) != 3:
        raise ValueError(f"{name} input shape must be (lat, lon, channels), got {tuple(input_shape)}")
    lat, lon, channels = input_shape
    if channels is None or channels < 1:
        raise ValueError(f"{name} input needs a known, positive number of channels, got {channels}")
    divisor = config.divisor
    if any(n is not None and (n < divisor or n % divisor) for n in (lat, lon)):
        raise ValueError(f"{name} needs lat and lon that are multiples of {divisor}, got {lat} x {lon}")
    if num_classes < 2:
        raise ValueError(f"{name} needs at least 2 classes, got {num_classes}")
    return MODELS[name][1](tuple(input_shape), num_classes=num_classes, config=config)
