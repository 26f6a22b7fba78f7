"""CRNN recognizer: conv backbone, height folded to 1, then a conv or BiLSTM head over width.

Input ``image`` (B, H, W, 1) float in [0, 1]; output (B, T, 1 + len(charset)) softmax
probabilities with blank at class 0 and T = W / 4. The layer before the softmax is named
``logits`` so the trainer can compute CTC on logits (better conditioned than log(softmax)).

The conv head uses only CONV_2D, MAX_POOL_2D, RESHAPE and SOFTMAX after conversion (BN and
ReLU fold into the convs), all on the Edge TPU op list. The BiLSTM head runs on the CPU only;
build it with ``unroll=True`` for full-int8 conversion (see docs toolchain notes).
"""

from __future__ import annotations

from typing import Literal

import keras
from keras import layers

from edgeocr.core.charset import DEFAULT_CHARSET

Head = Literal["conv", "bilstm"]
HEADS: tuple[Head, ...] = ("conv", "bilstm")
MODEL_NAME = "edgeocr_recognizer"
# Height is halved three times before the fold, width twice: T = W / 4 time steps.
HEIGHT_STRIDE = 8
WIDTH_STRIDE = 4
# Channels per block. Training cost on a 2-core CPU is dominated by the full- and half-resolution
# blocks, so those stay narrow; capacity sits at 8x32 and after the fold.
CHANNELS = {"b1": 16, "b2": 48, "b3a": 96, "b3b": 96, "b4": 128, "fold": 192, "head": 192}


def _ch(n: int, width_mult: float) -> int:
    # Multiples of 8 keep int8 convs on vector-friendly channel counts.
    return max(8, round(n * width_mult / 8) * 8)


def _conv_bn_relu(
    x: keras.KerasTensor,
    filters: int,
    kernel: tuple[int, int],
    name: str,
    padding: str = "same",
    dilation: tuple[int, int] = (1, 1),
) -> keras.KerasTensor:
    x = layers.Conv2D(
        filters, kernel, padding=padding, dilation_rate=dilation, use_bias=False,
        name=f"{name}_conv",
    )(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def build_recognizer(
    height: int = 40,
    width: int = 160,
    charset: str = DEFAULT_CHARSET,
    head: Head = "conv",
    width_mult: float = 1.0,
    unroll: bool = False,
    lstm_units: int = 128,
    batch_size: int | None = None,
) -> keras.Model:
    """Build the recognizer (about 0.57M parameters at ``width_mult=1``, conv head).

    ``batch_size`` fixes the batch dimension (1 for conversion); ``unroll`` unrolls the LSTMs
    so the BiLSTM head converts to int8 without a WHILE loop.
    Raises ValueError for sizes the strides cannot divide or an unknown head.
    """
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; expected one of {', '.join(HEADS)}")
    if height % HEIGHT_STRIDE or height < HEIGHT_STRIDE:
        raise ValueError(f"height {height} must be a positive multiple of {HEIGHT_STRIDE}")
    if width % WIDTH_STRIDE or width < WIDTH_STRIDE:
        raise ValueError(f"width {width} must be a positive multiple of {WIDTH_STRIDE}")
    if not charset:
        raise ValueError("charset is empty")
    n_classes = 1 + len(charset)
    steps = width // WIDTH_STRIDE

    c = CHANNELS
    inp = keras.Input((height, width, 1), batch_size=batch_size, name="image")
    x = _conv_bn_relu(inp, _ch(c["b1"], width_mult), (3, 3), "b1")
    x = layers.MaxPooling2D((2, 2), name="b1_pool")(x)
    x = _conv_bn_relu(x, _ch(c["b2"], width_mult), (3, 3), "b2")
    x = layers.MaxPooling2D((2, 2), name="b2_pool")(x)
    x = _conv_bn_relu(x, _ch(c["b3a"], width_mult), (3, 3), "b3a")
    x = _conv_bn_relu(x, _ch(c["b3b"], width_mult), (3, 3), "b3b")
    # From here on only height is pooled: one column per 4 input pixels stays a time step.
    x = layers.MaxPooling2D((2, 1), name="b3_pool")(x)
    x = _conv_bn_relu(x, _ch(c["b4"], width_mult), (3, 3), "b4")
    # A valid (h, 1) conv folds the remaining height into channels; a RESHAPE would also work
    # but the conv mixes rows (character top/bottom) with learned weights.
    fold = (height // HEIGHT_STRIDE, 1)
    x = _conv_bn_relu(x, _ch(c["fold"], width_mult), fold, "fold", padding="valid")

    if head == "conv":
        # Dilation widens the context along width to ~ 11 steps (44 px) without pooling.
        x = _conv_bn_relu(x, _ch(c["head"], width_mult), (1, 3), "head1")
        x = _conv_bn_relu(x, _ch(c["head"], width_mult), (1, 3), "head2", dilation=(1, 2))
        x = layers.Conv2D(n_classes, (1, 1), name="classes")(x)
        logits = layers.Reshape((steps, n_classes), name="logits")(x)
    else:
        x = layers.Reshape((steps, x.shape[-1]), name="sequence")(x)
        x = layers.Bidirectional(
            layers.LSTM(lstm_units, return_sequences=True, unroll=unroll), name="bilstm"
        )(x)
        logits = layers.Dense(n_classes, name="logits")(x)
    probs = layers.Softmax(name="probs")(logits)
    return keras.Model(inp, probs, name=MODEL_NAME)


def logits_model(model: keras.Model) -> keras.Model:
    """A view of ``model`` that outputs the pre-softmax (B, T, C) logits (shares weights)."""
    return keras.Model(model.input, model.get_layer("logits").output, name=f"{model.name}_logits")
