"""Recognizer stage: a plate or house-number crop -> :class:`~edgeocr.core.types.Read`.

Input convention (docs/CONTRACTS.md): grey, stretched to the model's (height, width)
without keeping aspect, values in [0, 1]. :func:`prepare_grey` / :func:`prepare_crop` are
the one implementation; training calls them too, so train and device crops match. 8-bit
crops are quantized through the model's lookup table (``TFLiteModel.set_input_pixels``),
which gives the same int8 input as quantizing :func:`prepare_crop`'s floats.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edgeocr.core.charset import ctc_greedy_decode_alternatives, softmax
from edgeocr.core.sidecar import SidecarError
from edgeocr.core.types import CTCOutput, Delegate, Read
from edgeocr.runtime import TFLiteModel, load_role_model

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = MODELS_DIR / "recognizer.tflite"
MIN_SIDE = 4
"""Smaller crops carry no readable characters; they are rejected, not upscaled."""
BLUE_HUE = (95, 130)
"""OpenCV hue range (0-180 scale, i.e. 190-260 degrees) counted as blue by
:func:`blue_band_share`; with BLUE_MIN_SATURATION and BLUE_MIN_VALUE (0-255) fixed a priori
(a saturated, not dark blue such as the Mercosul band's), not tuned on photos."""
BLUE_MIN_SATURATION = 80
BLUE_MIN_VALUE = 40
GREY_TOLERANCE = 2.0
"""Mean HSV saturation (0-255) under which a crop counts as grey (an IR camera, a grey file
saved as BGR): it carries no colour cue."""
BAND_SAMPLE = (64, 8)
"""About this many (columns, rows) of the crop's top third are sampled (every k-th pixel, no
filtering: the share is an average anyway) before the blue share is taken."""


def blue_band_share(image: npt.NDArray[Any]) -> float | None:
    """Share of the top third of a BGR(A) crop that is saturated blue, or None for a grey one.

    A Mercosul plate prints a blue band across its top; an old Brazilian, US or most EU
    plates do not. ``edgeocr.formats`` turns the share into evidence for the Mercosul layout
    (``BAND_EVIDENCE``). Grey crops (2-D, one channel, or equal channels) give None."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] not in (3, 4):
        return None
    if image.dtype != np.uint8 or image.shape[0] < 3 or image.shape[1] < 1:
        return None
    rows = max(1, image.shape[0] // 3)
    sy, sx = max(1, rows // BAND_SAMPLE[1]), max(1, image.shape[1] // BAND_SAMPLE[0])
    top = np.ascontiguousarray(image[:rows:sy, ::sx, :3])
    hsv = cv2.cvtColor(top, cv2.COLOR_BGR2HSV)
    # Equal channels give zero saturation: a grey crop has no colour cue.
    if float(cv2.mean(hsv[..., 1])[0]) < GREY_TOLERANCE:
        return None
    blue = cv2.inRange(hsv, (BLUE_HUE[0], BLUE_MIN_SATURATION, BLUE_MIN_VALUE),
                       (BLUE_HUE[1], 255, 255))
    return cv2.countNonZero(blue) / blue.size


def prepare_grey(image: npt.NDArray[Any], height: int, width: int) -> npt.NDArray[Any]:
    """A crop as the recognizer sees it before scaling to [0, 1]: grey (height, width), of
    the image's own dtype (uint8 or uint16).

    ``image`` is (H, W) grey, (H, W, 1), (H, W, 3) BGR or (H, W, 4) BGRA, uint8 or uint16.
    It is converted to grey and stretched to (height, width): area averaging when
    shrinking (no aliasing of thin strokes), bilinear when enlarging.
    """
    if not isinstance(image, np.ndarray) or image.size == 0:
        raise ValueError("crop image is empty")
    if image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"crop image must be uint8 or uint16, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    grey: npt.NDArray[Any]
    if image.ndim == 3 and image.shape[2] == 3:
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    elif image.ndim == 3 and image.shape[2] == 4:
        grey = cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    elif image.ndim == 2:
        grey = image
    else:
        raise ValueError(f"crop image must be grey, BGR or BGRA, got shape {image.shape}")
    h, w = grey.shape
    if h < MIN_SIDE or w < MIN_SIDE:
        raise ValueError(f"crop image is too small ({w}x{h}); need at least {MIN_SIDE} px a side")
    if (h, w) != (height, width):
        interp = cv2.INTER_AREA if h >= height and w >= width else cv2.INTER_LINEAR
        grey = cv2.resize(grey, (width, height), interpolation=interp)
    return grey


def prepare_crop(
    image: npt.NDArray[Any], height: int, width: int
) -> npt.NDArray[np.float32]:
    """A crop as recognizer input: float32 (1, height, width, 1) in [0, 1] (see
    :func:`prepare_grey` for the images accepted and how they are stretched)."""
    return _unit_input(prepare_grey(image, height, width))


def _unit_input(grey: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """A :func:`prepare_grey` result (uint8 or uint16) as float32 (1, H, W, 1) in [0, 1]."""
    full = 255.0 if grey.dtype == np.uint8 else 65535.0
    out = grey.astype(np.float32)
    out *= 1.0 / full
    return out.reshape(1, *grey.shape, 1)


class Recognizer:
    """Reads the characters of one crop with an int8 CTC model.

    ``model`` defaults to the shipped ``edgeocr/models/recognizer.tflite``; its sidecar
    gives the input size, charset and whether the model ends in a softmax.
    """

    def __init__(self, model: Path | None = None, delegate: Delegate = "cpu",
                 threads: int = 0) -> None:
        self.model: TFLiteModel = load_role_model(model, "recognizer", DEFAULT_MODEL, delegate,
                                                   threads)
        path = self.model.path
        sc = self.model.sidecar
        if sc.recognizer is None:  # guaranteed by the sidecar validator for this role
            raise SidecarError(f"{path}: sidecar has no 'recognizer' section")
        self.charset = sc.recognizer.charset
        self.output_is_logits = sc.recognizer.output_is_logits
        self._height, self._width = sc.input.height, sc.input.width
        self._channels = sc.input.channels
        lo, hi = sc.input.range
        self._range = (float(lo), float(hi))
        if len(self.model.output_names) != 1:
            raise SidecarError(
                f"{path}: a recognizer has one output, found {len(self.model.output_names)}"
            )
        self._out = self.model.output_names[0]
        shape = self.model.output_shape(self._out)
        n_cls = len(self.charset) + 1
        if len(shape) != 3 or shape[0] != 1 or shape[2] != n_cls:
            raise SidecarError(
                f"{path}: output shape {shape} does not fit (1, T, {n_cls}) for a "
                f"{len(self.charset)}-character charset plus blank"
            )
        self.path = path

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) the crops are stretched to."""
        return self._width, self._height

    def probabilities(self, crop: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
        """(T, 1 + len(charset)) per-step probabilities, blank at 0."""
        grey = prepare_grey(crop, self._height, self._width)
        if grey.dtype == np.uint8:
            # 8-bit pixels go through the model's lookup table: no float conversion.
            pixels = grey[..., None]
            if self._channels == 3:
                pixels = np.repeat(pixels, 3, axis=2)
            self.model.set_input_pixels(pixels, self._range)
            probs = self.model.invoke()[self._out][0]
        else:
            x = _unit_input(grey)
            lo, hi = self._range
            if (lo, hi) != (0.0, 1.0):
                x = x * (hi - lo) + lo
            if self._channels == 3:
                x = np.repeat(x, 3, axis=3)
            probs = self.model.invoke(x)[self._out][0]
        return softmax(probs) if self.output_is_logits else probs

    def read(self, crop: npt.NDArray[Any], kind: str = "plate") -> Read:
        """Greedy CTC read of ``crop`` (see :func:`prepare_crop` for accepted images). Only
        plate reads measure ``blue_band`` (no house-number layout is banded)."""
        probs = self.probabilities(crop)
        text, confs, alts = ctc_greedy_decode_alternatives(probs, self.charset)
        return Read(text=text, char_confidences=confs, kind=kind, alternatives=alts,
                    ctc=CTCOutput(probs, self.charset),
                    blue_band=blue_band_share(crop) if kind == "plate" else None)
