"""SSD-lite detector: a MobileNetV2-style backbone with depthwise-separable heads.

Built from plain layers (random init, nothing downloaded) so that every op converts to the
Coral-friendly set: CONV_2D, DEPTHWISE_CONV_2D, ADD, RESHAPE, CONCATENATION. Batch norm
and ReLU6 fold into the convolutions at conversion; stride-2 convolutions use "same"
padding so no PAD op appears, and a feature map of stride s has ceil(H / s) rows, which is
exactly ``AnchorSpec.grid``. The class output is logits: softmax runs on the CPU after the
model, because SOFTMAX is slow or unsupported on the Edge TPU.

Input ``image`` (H, W, 3) RGB float in [0, 1]. Outputs, in the anchor order of
``edgeocr.core.anchors.generate_anchors``: ``classes`` (B, N, 1 + C) logits with index 0 the
background, ``boxes`` (B, N, 4) and ``corners`` (B, N, 8) offsets for
``edgeocr.core.anchors.decode``.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import layers

from edgeocr.core.anchors import AnchorSpec, default_anchor_spec

# MobileNetV2's inverted residual settings: (expansion, channels, repeats, first stride).
_MNV2_BLOCKS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
_EXTRA_CHANNELS = 256
# He init keeps raw activations near unit variance, which the batch-norm moving statistics
# start at; with Glorot init they shrink layer by layer and inference-mode outputs stay
# garbage for thousands of steps. Momentum 0.9 (PyTorch's default) tracks them quickly.
_INIT = "he_normal"
_BN_MOMENTUM = 0.9
_HEAD_CHANNELS_MIN = 32


def _divisible(v: float, divisor: int = 8) -> int:
    """Round channels to a multiple of 8 (never dropping more than 10%), as MobileNetV2."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new < 0.9 * v:
        new += divisor
    return new


def _conv_bn(x: keras.KerasTensor, filters: int, kernel: int, stride: int, name: str,
             relu: bool = True) -> keras.KerasTensor:
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                      kernel_initializer=_INIT, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=_BN_MOMENTUM, epsilon=1e-3, name=f"{name}_bn")(x)
    if relu:
        x = layers.ReLU(6.0, name=f"{name}_relu")(x)
    return x


def _dw_bn(x: keras.KerasTensor, stride: int, name: str) -> keras.KerasTensor:
    x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False,
                               depthwise_initializer=_INIT, name=f"{name}_dw")(x)
    x = layers.BatchNormalization(momentum=_BN_MOMENTUM, epsilon=1e-3, name=f"{name}_dwbn")(x)
    return layers.ReLU(6.0, name=f"{name}_dwrelu")(x)


def _inverted_residual(x: keras.KerasTensor, expansion: int, filters: int, stride: int,
                       name: str) -> keras.KerasTensor:
    in_ch = int(x.shape[-1])
    y = x
    if expansion != 1:
        y = _conv_bn(y, in_ch * expansion, 1, 1, f"{name}_expand")
    y = _dw_bn(y, stride, name)
    y = _conv_bn(y, filters, 1, 1, f"{name}_project", relu=False)
    if stride == 1 and in_ch == filters:
        y = layers.Add(name=f"{name}_add")([x, y])
    return y


def _backbone(image: keras.KerasTensor, alpha: float,
              wanted_strides: Sequence[int]) -> dict[int, keras.KerasTensor]:
    """Feature maps by stride; strides beyond 32 come from SSD-lite extra layers."""
    feats: dict[int, keras.KerasTensor] = {}
    x = _conv_bn(image, _divisible(32 * alpha), 3, 2, "stem")
    stride = 2
    feats[stride] = x
    block = 0
    for expansion, channels, repeats, first_stride in _MNV2_BLOCKS:
        for i in range(repeats):
            s = first_stride if i == 0 else 1
            x = _inverted_residual(x, expansion, _divisible(channels * alpha), s, f"block{block}")
            block += 1
            stride *= s
            feats[stride] = x  # the last block at a stride is the richest map there
    # SSD-lite's wide 1x1 on the stride-32 map (1280 channels at alpha 1).
    x = _conv_bn(x, max(_divisible(1280 * alpha), 128), 1, 1, "top")
    feats[stride] = x
    extra = 0
    while stride < max(wanted_strides):
        name = f"extra{extra}"
        x = _conv_bn(x, _EXTRA_CHANNELS // 2, 1, 1, f"{name}_reduce")
        x = _dw_bn(x, 2, name)
        x = _conv_bn(x, _EXTRA_CHANNELS, 1, 1, f"{name}_expand")
        stride *= 2
        extra += 1
        feats[stride] = x
    return feats


def _head(x: keras.KerasTensor, outputs: int, name: str,
          bias_init: keras.initializers.Initializer | str = "zeros") -> keras.KerasTensor:
    """SSD-lite predictor: depthwise 3x3 + BN + ReLU6, then a pointwise conv with bias."""
    y = _dw_bn(x, 1, name)
    return layers.Conv2D(outputs, 1, padding="same", bias_initializer=bias_init,
                         name=f"{name}_pw")(y)


def _background_prior(anchors_per_cell: int, num_classes: int,
                      prior: float = 0.01) -> keras.initializers.Initializer:
    """Start with P(object) ~= ``prior`` so the many background anchors do not swamp the
    first steps of the focal loss (RetinaNet's trick, for softmax logits)."""
    bias = np.zeros((anchors_per_cell, 1 + num_classes), dtype=np.float32)
    bias[:, 0] = np.log((1 - prior) * num_classes / prior)
    return keras.initializers.Constant(bias.reshape(-1))


def build_detector(
    input_height: int = 320,
    input_width: int = 320,
    class_names: Sequence[str] = ("plate", "house_number"),
    anchor_spec: AnchorSpec | None = None,
    alpha: float = 0.35,
) -> keras.Model:
    """The SSD-lite detector for ``anchor_spec`` (default: ``default_anchor_spec``)."""
    spec = anchor_spec or default_anchor_spec(input_height, input_width)
    if (spec.input_height, spec.input_width) != (input_height, input_width):
        raise ValueError(
            f"anchor spec is for {spec.input_height}x{spec.input_width}, "
            f"model input is {input_height}x{input_width}"
        )
    if not class_names:
        raise ValueError("at least one class name is needed")
    strides = [fm.stride for fm in spec.feature_maps]
    for s in strides:
        if s < 2 or s & (s - 1):
            raise ValueError(f"feature map stride {s} is not a power of two >= 2")
    num_classes = len(class_names)
    image = keras.Input((input_height, input_width, 3), name="image")
    feats = _backbone(image, alpha, strides)
    cls_parts, box_parts, corner_parts = [], [], []
    for i, fm in enumerate(spec.feature_maps):
        x = feats[fm.stride]
        rows, cols = spec.grid(fm)
        if (int(x.shape[1]), int(x.shape[2])) != (rows, cols):
            raise ValueError(f"feature map {i} is {x.shape[1]}x{x.shape[2]}, anchors expect "
                             f"{rows}x{cols}")
        a = fm.anchors_per_cell
        c = _head(x, a * (1 + num_classes), f"fm{i}_cls",
                  _background_prior(a, num_classes))
        b = _head(x, a * 4, f"fm{i}_box")
        k = _head(x, a * 8, f"fm{i}_corner")
        # (rows, cols, A*k) -> (rows*cols*A, k): cells row-major, then anchors of a cell,
        # the order generate_anchors uses.
        last = len(spec.feature_maps) == 1
        cls_parts.append(layers.Reshape((-1, 1 + num_classes),
                                        name="classes" if last else f"fm{i}_cls_flat")(c))
        box_parts.append(layers.Reshape((-1, 4), name="boxes" if last else f"fm{i}_box_flat")(b))
        corner_parts.append(layers.Reshape((-1, 8),
                                           name="corners" if last else f"fm{i}_corner_flat")(k))
    if len(spec.feature_maps) == 1:
        classes, boxes, corners = cls_parts[0], box_parts[0], corner_parts[0]
    else:
        classes = layers.Concatenate(axis=1, name="classes")(cls_parts)
        boxes = layers.Concatenate(axis=1, name="boxes")(box_parts)
        corners = layers.Concatenate(axis=1, name="corners")(corner_parts)
    return keras.Model(image, {"classes": classes, "boxes": boxes, "corners": corners},
                       name="edgeocr_detector")
