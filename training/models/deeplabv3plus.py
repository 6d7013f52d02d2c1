"""DeepLabv3+ (Chen et al. 2018) with the changes of Kurth et al. (SC18) for climate data.

- Encoder: ResNet-50 v2 (pre-activation bottleneck units, He et al. 2016), built from scratch (no
  pretrained weights: the input has 16 climate channels, not RGB). Output stride 8: the strides of the
  third and fourth stages become atrous rates (2, then 4), as in the DeepLab papers.
- ASPP on the 2048-channel encoder output: 1x1 conv, three 3x3 convs with rates 12/24/36, image pooling
  (global mean -> 1x1 conv -> broadcast back), concatenated and projected by a 1x1 conv (depth 256).
- Decoder: transposed convolutions instead of bilinear upsampling, all the way to full resolution:
  ASPP output (1/8) -> transposed conv -> concatenated with the 1x1-projected (48 channels) low-level
  features of the first stage (1/4) -> two 3x3 convs -> two transposed convs (1/2, 1/1) -> concatenated
  with two 3x3 convs on the input itself (64, 128 channels) -> two 3x3 convs -> 1x1 logits.

Every convolution and transposed convolution is followed by batch norm and ReLU except the logits, the
root conv, the residual branch's last 1x1 and the shortcut projections (pre-activation ResNet: the next
unit normalizes its input) and the image-pooling conv (no batch norm over one pixel per sample; it has a
bias and ReLU instead). Atrous convolutions with rates beyond the feature map (small test grids) are
valid: they see zero padding. Weight layers: 49 in the ResNet-50 trunk + 6 in ASPP + 11 in
the decoder = 66, as in the paper (the 4 shortcut projections are not counted, as usual for ResNets).
Parameters: 43.7M with 16 input channels.

References
----------
Chen, Zhu, Papandreou, Schroff, Adam (2018), Encoder-Decoder with Atrous Separable Convolution for
Semantic Image Segmentation, ECCV, arXiv:1802.02611.
He, Zhang, Ren, Sun (2016), Identity Mappings in Deep Residual Networks, ECCV, arXiv:1603.05027.
Kurth et al. (2018), Exascale Deep Learning for Climate Analytics, SC18, arXiv:1810.01993.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tensorflow as tf  # the package init has set TF_USE_LEGACY_KERAS=1 (tf.keras is Keras 2)


@dataclass(frozen=True)
class DeepLabV3PlusConfig:
    """Architecture of a DeepLabv3+; the defaults are the paper's configuration (ResNet-50, 43.7M)."""

    units_per_stage: tuple[int, ...] = (3, 4, 6, 3)
    """Bottleneck units of the four ResNet stages (ResNet-50)."""
    base_depth: int = 64
    """Bottleneck depth of the first stage, doubled per stage; unit outputs are 4x the bottleneck depth.
    Also the depth of the 7x7 root convolution."""
    output_stride: int = 8
    """Input size / encoder output size: 8 or 16 (the paper: 8)."""
    aspp_rates: tuple[int, ...] = (12, 24, 36)
    aspp_depth: int = 256
    low_level_depth: int = 48
    """Channels of the 1x1 projection of the first stage's features fed to the decoder."""
    decoder_depth: int = 256
    input_skip_depths: tuple[int, ...] = (64, 128)
    """3x3 convolutions applied to the input at full resolution, concatenated before the last convs."""
    weight_decay: float = 1e-4
    """L2 coefficient lambda of every kernel: penalty lambda / 2 * ||w||^2 in ``model.losses``."""
    batch_norm_momentum: float = 0.99

    def __post_init__(self):
        if self.output_stride not in (8, 16):
            raise ValueError(f"DeepLabv3+ output_stride must be 8 or 16, got {self.output_stride}")
        if len(self.units_per_stage) != 4 or min(self.units_per_stage) < 1:
            raise ValueError(f"DeepLabv3+ needs four positive ResNet stage sizes, got {self.units_per_stage}")
        for name in ("units_per_stage", "aspp_rates", "input_skip_depths"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))

    @classmethod
    def small(cls) -> "DeepLabV3PlusConfig":
        """A small DeepLabv3+ (one unit per stage, narrow) for tests and CPU demos (divisor 8)."""
        return cls(units_per_stage=(1, 1, 1, 1), base_depth=4, aspp_rates=(2, 4, 6), aspp_depth=16,
                   low_level_depth=8, decoder_depth=16, input_skip_depths=(8, 16))

    @property
    def divisor(self) -> int:
        """Input lat and lon must be multiples of this (the output stride)."""
        return self.output_stride

    @property
    def weight_layers(self) -> int:
        """Convolutions of the network without shortcut projections (the paper's layer count)."""
        trunk = 1 + 3 * sum(self.units_per_stage)
        aspp = 1 + len(self.aspp_rates) + 1 + 1
        upsampling = int(math.log2(self.output_stride // 4))
        decoder = upsampling + 1 + 2 + 2 + len(self.input_skip_depths) + 2 + 1
        return trunk + aspp + decoder


def build_deeplabv3plus(input_shape: tuple, *, num_classes: int, config: DeepLabV3PlusConfig) -> tf.keras.Model:
    """DeepLabv3+ as a functional ``tf.keras.Model`` mapping (batch, lat, lon, channels) inputs to per-pixel
    float32 logits (batch, lat, lon, num_classes).

    ``input_shape`` is (lat, lon, channels), lat and lon multiples of ``config.output_stride`` (checked by
    :func:`training.models.build_model`).
    """
    regularizer = tf.keras.regularizers.L2(config.weight_decay / 2) if config.weight_decay else None
    layers = tf.keras.layers

    def conv(filters, size, name, *, strides=1, rate=1, use_bias=False, dtype=None):
        return layers.Conv2D(filters, size, strides=strides, dilation_rate=rate, padding="same", use_bias=use_bias,
                             kernel_initializer="he_uniform", kernel_regularizer=regularizer, name=name,
                             **({"dtype": dtype} if dtype else {}))

    def bn_relu(x, name):
        x = layers.BatchNormalization(momentum=config.batch_norm_momentum, name=f"{name}_bn")(x)
        return layers.ReLU(name=f"{name}_relu")(x)

    def conv_bn_relu(x, filters, size, name, **kwargs):
        return bn_relu(conv(filters, size, name, **kwargs)(x), name)

    def up_bn_relu(x, filters, name):
        x = layers.Conv2DTranspose(filters, 3, strides=2, padding="same", use_bias=False,
                                   kernel_initializer="he_uniform", kernel_regularizer=regularizer, name=name)(x)
        return bn_relu(x, name)

    def bottleneck_unit(x, depth, stride, rate, name):
        """Pre-activation bottleneck: BN-ReLU, then 1x1 -> 3x3 (stride, rate) -> 1x1 (4 * depth).

        Returns the unit's output and the output of its first 1x1 conv (the decoder's low-level features).
        """
        preact = bn_relu(x, f"{name}_preact")
        if x.shape[-1] == 4 * depth:
            shortcut = layers.MaxPool2D(1, strides=stride, name=f"{name}_shortcut")(x) if stride > 1 else x
        else:
            shortcut = conv(4 * depth, 1, f"{name}_shortcut", strides=stride, use_bias=True)(preact)
        first = conv_bn_relu(preact, depth, 1, f"{name}_conv1")
        y = conv_bn_relu(first, depth, 3, f"{name}_conv2", strides=stride, rate=rate)
        y = conv(4 * depth, 1, f"{name}_conv3", use_bias=True)(y)
        return layers.Add(name=f"{name}_add")([shortcut, y]), first

    inputs = tf.keras.Input(shape=tuple(input_shape), name="climate")  # (batch, lat, lon, channels)

    # Encoder: ResNet-50 v2. The root brings the stride to 4; each of the first three stages halves the
    # resolution in its last unit until the output stride is reached; from then on strides become rates.
    x = conv(config.base_depth, 7, "root_conv", strides=2, use_bias=True)(inputs)
    x = layers.MaxPool2D(3, strides=2, padding="same", name="root_pool")(x)  # (batch, lat/4, lon/4, base)
    current_stride, rate = 4, 1
    for s, units in enumerate(config.units_per_stage):
        depth = config.base_depth * 2 ** s
        for u in range(units):
            stride = 2 if (u == units - 1 and s < 3) else 1
            if current_stride == config.output_stride:
                x, first = bottleneck_unit(x, depth, 1, rate, f"stage{s}_unit{u}")
                rate *= stride
            else:
                x, first = bottleneck_unit(x, depth, stride, 1, f"stage{s}_unit{u}")
                current_stride *= stride
            if s == 0 and u == units - 1:
                low_level = first  # (batch, lat/4, lon/4, base_depth)
    encoder = bn_relu(x, "encoder_postnorm")  # (batch, lat/os, lon/os, 32 * base_depth)

    # Atrous spatial pyramid pooling.
    branches = [conv_bn_relu(encoder, config.aspp_depth, 1, "aspp_1x1")]
    for r in config.aspp_rates:
        branches.append(conv_bn_relu(encoder, config.aspp_depth, 3, f"aspp_rate{r}", rate=r))
    pooled = layers.GlobalAveragePooling2D(keepdims=True, name="aspp_image_pool")(encoder)  # (batch, 1, 1, c)
    pooled = conv(config.aspp_depth, 1, "aspp_image_conv", use_bias=True)(pooled)
    pooled = layers.ReLU(name="aspp_image_relu")(pooled)
    branches.append(BroadcastSpatially(name="aspp_image_broadcast")([pooled, encoder]))
    x = layers.Concatenate(name="aspp_concat")(branches)
    x = conv_bn_relu(x, config.aspp_depth, 1, "aspp_projection")  # (batch, lat/os, lon/os, aspp_depth)

    # Decoder: transposed convs to 1/4, low-level features, transposed convs to 1/1, input features.
    for i in range(int(math.log2(config.output_stride // 4))):
        x = up_bn_relu(x, config.aspp_depth, f"decoder_up_quarter{i}")  # (batch, ..., aspp_depth)
    low = conv_bn_relu(low_level, config.low_level_depth, 1, "decoder_low_level")
    x = layers.Concatenate(name="decoder_low_level_concat")([x, low])  # (batch, lat/4, lon/4, ...)
    x = conv_bn_relu(x, config.decoder_depth, 3, "decoder_quarter_conv0")
    x = conv_bn_relu(x, config.decoder_depth, 3, "decoder_quarter_conv1")
    x = up_bn_relu(x, config.decoder_depth, "decoder_up_half")
    x = up_bn_relu(x, config.decoder_depth, "decoder_up_full")  # (batch, lat, lon, decoder_depth)
    skip = inputs
    for i, depth in enumerate(config.input_skip_depths):
        skip = conv_bn_relu(skip, depth, 3, f"decoder_input_conv{i}")
    x = layers.Concatenate(name="decoder_input_concat")([x, skip])
    x = conv_bn_relu(x, config.decoder_depth, 3, "decoder_full_conv0")
    x = conv_bn_relu(x, config.decoder_depth, 3, "decoder_full_conv1")
    logits = conv(num_classes, 1, "logits", use_bias=True, dtype="float32")(x)
    return tf.keras.Model(inputs, logits, name="deeplabv3plus")  # (batch, lat, lon, num_classes)


class BroadcastSpatially(tf.keras.layers.Layer):
    """Broadcast (batch, 1, 1, c) features to the lat and lon of a reference (batch, lat, lon, any)."""

    def call(self, inputs):
        pooled, reference = inputs
        shape = tf.concat([tf.shape(reference)[:3], tf.shape(pooled)[3:]], axis=0)
        return tf.broadcast_to(pooled, shape)

    def compute_output_shape(self, input_shape):
        pooled, reference = input_shape
        return tf.TensorShape(list(reference[:3]) + [pooled[-1]])
