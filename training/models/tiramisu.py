"""Tiramisu (FC-DenseNet, Jegou et al. 2017) as configured by Kurth et al. (SC18).

The network is a U-shaped stack of dense blocks. On the way down each dense block is followed by a
transition down (halves lat and lon); the last block is the bottleneck; on the way up each transposed
convolution (transition up) doubles lat and lon, is concatenated with the skip connection of the same
resolution and followed by a dense block mirroring the one on the way down::

    conv 5x5 (64) -> [DB 2 -> TD] -> [DB 2 -> TD] -> [DB 2 -> TD] -> [DB 4 -> TD] -> DB 5 (bottleneck)
    -> [TU -> DB 4] -> [TU -> DB 2] -> [TU -> DB 2] -> [TU -> DB 2] -> conv 1x1 (classes)

Weight layers: 1 + (2 + 2 + 2 + 4) + 4 TD + 5 + 4 TU + (4 + 2 + 2 + 2) + 1 = 35, as in the paper.

- dense layer: batch norm -> ReLU -> conv k x k (growth rate filters) -> dropout; its output is
  concatenated to its input;
- transition down: batch norm -> ReLU -> conv 1x1 (same channels) -> dropout -> max pool 2x2;
- transition up: transposed conv 3x3, stride 2, on the features *added* by the previous dense block
  only (not on its input), as in Jegou et al., which keeps the up path affordable.

The paper counts 7.8M parameters. The network built here has 7.54M (3.3 % fewer): the authors' code
also creates a transition down after the bottleneck whose output is never used (a 1x1 conv on 544
channels, 0.30M parameters); with it the count is 7.84M. :func:`reference_parameter_count` gives
both numbers in closed form.

References
----------
Jegou, Drozdzal, Vazquez, Romero, Bengio (2017), The One Hundred Layers Tiramisu: Fully Convolutional
DenseNets for Semantic Segmentation, CVPR workshops, arXiv:1611.09326.
Kurth et al. (2018), Exascale Deep Learning for Climate Analytics, SC18, arXiv:1810.01993.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf  # the package init has set TF_USE_LEGACY_KERAS=1 (tf.keras is Keras 2)

from climseg.contract import CHANNELS, NUM_CLASSES


@dataclass(frozen=True)
class TiramisuConfig:
    """Architecture of a Tiramisu; the defaults are the paper's configuration (35 layers)."""

    blocks: tuple[int, ...] = (2, 2, 2, 4, 5)
    """Layers per dense block on the way down; the last block is the bottleneck. The up path mirrors
    all blocks but the bottleneck."""
    growth_rate: int = 32
    """Feature maps added by each dense layer."""
    kernel_size: int = 5
    """Size of the convolutions in the first layer and in the dense layers (k x k)."""
    first_filters: int = 64
    """Feature maps of the first convolution."""
    dropout: float = 0.2
    """Dropout rate after every convolution of the dense layers and transitions down."""
    weight_decay: float = 1e-4
    """L2 coefficient lambda of every kernel: the penalty lambda / 2 * ||w||^2 is added to the model's
    losses (``model.losses``), so the gradient gains lambda * w (as ``tf.contrib`` l2_regularizer)."""
    batch_norm_momentum: float = 0.99

    def __post_init__(self):
        if len(self.blocks) < 2 or min(self.blocks) < 1:
            raise ValueError(f"Tiramisu blocks must be at least two positive layer counts, got {self.blocks}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"Tiramisu dropout must be in [0, 1), got {self.dropout}")
        object.__setattr__(self, "blocks", tuple(int(n) for n in self.blocks))

    @classmethod
    def small(cls) -> "TiramisuConfig":
        """A few-thousand-parameter Tiramisu for tests and CPU demos (divisor 4)."""
        return cls(blocks=(1, 1, 2), growth_rate=4, kernel_size=3, first_filters=8, dropout=0.0)

    @property
    def divisor(self) -> int:
        """Input lat and lon must be multiples of this (2 to the number of transitions down)."""
        return 2 ** (len(self.blocks) - 1)

    @property
    def weight_layers(self) -> int:
        """Convolutions and transposed convolutions of the network (the paper's layer count)."""
        down, bottleneck = self.blocks[:-1], self.blocks[-1]
        return 1 + 2 * sum(down) + 2 * len(down) + bottleneck + 1


def reference_parameter_count(config: TiramisuConfig, *, input_channels: int = len(CHANNELS), num_classes: int = NUM_CLASSES,
                              with_unused_transition: bool = False) -> int:
    """Trainable + batch-norm parameters of the Tiramisu, counted in closed form.

    Parameters
    ----------
    config : TiramisuConfig
    input_channels, num_classes : int
    with_unused_transition : bool
        Add the transition down after the bottleneck that the authors' code builds but never uses
        (1x1 conv + batch norm over the bottleneck's output). The paper's 7.8M includes it.

    Returns
    -------
    int
        Kernel and bias weights plus 4 numbers (gamma, beta, moving mean, moving variance) per
        batch-normalized channel, as ``tf.keras.Model.count_params`` counts them.
    """
    k, g = config.kernel_size, config.growth_rate

    def conv(c_in, c_out, size):
        return size * size * c_in * c_out + c_out

    def dense_block(c_in, layers):
        total = 0
        for i in range(layers):
            total += 4 * (c_in + i * g) + conv(c_in + i * g, g, k)
        return total, c_in + layers * g

    count = conv(input_channels, config.first_filters, k)
    channels, skips = config.first_filters, []
    for layers in config.blocks[:-1]:
        block, channels = dense_block(channels, layers)
        count += block + 4 * channels + conv(channels, channels, 1)
        skips.append(channels)
    block, channels = dense_block(channels, config.blocks[-1])
    count += block
    if with_unused_transition:
        count += 4 * channels + conv(channels, channels, 1)
    added = config.blocks[-1] * g
    for layers, skip in zip(reversed(config.blocks[:-1]), reversed(skips)):
        count += conv(added, added, 3)
        block, channels = dense_block(added + skip, layers)
        count += block
        added = layers * g
    return count + conv(channels, num_classes, 1)


def build_tiramisu(input_shape: tuple, *, num_classes: int, config: TiramisuConfig) -> tf.keras.Model:
    """The Tiramisu as a functional ``tf.keras.Model`` mapping (batch, lat, lon, channels) inputs to
    per-pixel float32 logits (batch, lat, lon, num_classes).

    ``input_shape`` is (lat, lon, channels), lat and lon multiples of ``config.divisor`` (checked by
    :func:`training.models.build_model`).
    """
    regularizer = tf.keras.regularizers.L2(config.weight_decay / 2) if config.weight_decay else None
    conv_args = dict(padding="same", kernel_initializer="he_uniform", kernel_regularizer=regularizer)

    def bn_relu(x, name):
        x = tf.keras.layers.BatchNormalization(momentum=config.batch_norm_momentum, name=f"{name}_bn")(x)
        return tf.keras.layers.ReLU(name=f"{name}_relu")(x)

    def dropout(x, name):
        return tf.keras.layers.Dropout(config.dropout, name=f"{name}_dropout")(x) if config.dropout else x

    def dense_block(x, layers, name):
        """Returns the block's output (input + added features) and the added features alone."""
        added = []
        for i in range(layers):
            y = bn_relu(x, f"{name}_layer{i}")
            y = tf.keras.layers.Conv2D(config.growth_rate, config.kernel_size, name=f"{name}_layer{i}_conv",
                                       **conv_args)(y)
            y = dropout(y, f"{name}_layer{i}")
            added.append(y)
            x = tf.keras.layers.Concatenate(name=f"{name}_layer{i}_concat")([x, y])
        new = added[0] if len(added) == 1 else tf.keras.layers.Concatenate(name=f"{name}_added")(added)
        return x, new

    inputs = tf.keras.Input(shape=tuple(input_shape), name="climate")  # (batch, lat, lon, channels)
    x = tf.keras.layers.Conv2D(config.first_filters, config.kernel_size, name="first_conv", **conv_args)(inputs)

    skips = []
    for b, layers in enumerate(config.blocks[:-1]):
        x, _ = dense_block(x, layers, f"down{b}")
        skips.append(x)  # (batch, lat / 2**b, lon / 2**b, channels)
        name = f"transition_down{b}"
        y = bn_relu(x, name)
        y = tf.keras.layers.Conv2D(x.shape[-1], 1, name=f"{name}_conv", **conv_args)(y)
        y = dropout(y, name)
        x = tf.keras.layers.MaxPool2D(2, name=f"{name}_pool")(y)

    _, added = dense_block(x, config.blocks[-1], "bottleneck")

    for b, (layers, skip) in enumerate(zip(reversed(config.blocks[:-1]), reversed(skips))):
        name = f"transition_up{b}"
        y = tf.keras.layers.Conv2DTranspose(added.shape[-1], 3, strides=2, name=f"{name}_conv", **conv_args)(added)
        x = tf.keras.layers.Concatenate(name=f"{name}_skip")([y, skip])
        x, added = dense_block(x, layers, f"up{b}")

    logits = tf.keras.layers.Conv2D(num_classes, 1, name="logits", dtype="float32", **conv_args)(x)
    return tf.keras.Model(inputs, logits, name="tiramisu")  # (batch, lat, lon, num_classes)
