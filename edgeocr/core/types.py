"""Vocabulary and the frozen records that pipeline stages exchange."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

Kind = Literal["plate", "house_number"]
KINDS: tuple[Kind, ...] = ("plate", "house_number")
Role = Literal["detector", "recognizer"]
Delegate = Literal["cpu", "edgetpu"]
ColourMode = Literal["grey", "rgb"]

Image: TypeAlias = npt.NDArray[np.uint8]
"""An image as OpenCV holds it: (H, W, 3) BGR or (H, W) grey, uint8."""

Point: TypeAlias = tuple[float, float]
Quad: TypeAlias = tuple[Point, Point, Point, Point]
"""Four corners (x, y) in pixels, clockwise from top-left: TL, TR, BR, BL."""
Box: TypeAlias = tuple[float, float, float, float]
"""Axis-aligned box (x1, y1, x2, y2) in pixels, x2 > x1, y2 > y1."""


@dataclass(frozen=True)
class Frame:
    """One captured frame.

    ``image`` is the full-resolution frame (H, W, 3) BGR. ``lores`` is an optional
    downscaled copy of the same moment (picamera2's second stream) to detect on.
    ``timestamp`` is seconds since the epoch (UTC) of the capture.
    """

    image: Image
    timestamp: float
    camera: str = "default"
    index: int = 0
    lores: Image | None = field(default=None, compare=False)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the full-resolution image."""
        return int(self.image.shape[1]), int(self.image.shape[0])


@dataclass(frozen=True)
class Detection:
    """A plate or house number found in a frame, in pixels of the full-resolution frame."""

    kind: str
    score: float
    box: Box
    corners: Quad


@dataclass(frozen=True)
class CTCOutput:
    """A recognizer's raw output for one crop: (T, 1 + len(charset)) per-step
    probabilities (blank at 0) and the charset, kept so a read can be decoded again
    against a layout (:mod:`edgeocr.core.ctc`)."""

    probs: npt.NDArray[np.float32]
    charset: str

    @functools.cached_property
    def spans(self) -> list[tuple[int, int, int]]:
        """``edgeocr.core.ctc.character_spans`` of ``probs``, computed once (the format
        packs ask for it several times per read). Treat it as read-only."""
        from edgeocr.core.ctc import character_spans

        return character_spans(self.probs)

    @functools.cached_property
    def best_log_prob(self) -> float:
        """``edgeocr.core.ctc.best_path_log_prob`` of ``probs``, computed once."""
        from edgeocr.core.ctc import best_path_log_prob

        return best_path_log_prob(self.probs)


@dataclass(frozen=True)
class Read:
    """Characters read from one crop, with one confidence per character."""

    text: str
    char_confidences: tuple[float, ...]
    kind: str = "plate"
    alternatives: tuple[tuple[tuple[str, float], ...], ...] = field(default=(), compare=False)
    """Per character, the model's best candidates ``(char, probability)`` at the step that
    committed to it, best first (empty when unknown). Format packs use them to pick the
    best digit where a layout demands a digit, instead of a fixed look-alike table."""
    ctc: CTCOutput | None = field(default=None, compare=False, repr=False)
    """The probabilities the read was decoded from (None when unknown, e.g. a vote)."""
    blue_band: float | None = field(default=None, compare=False)
    """Share of the crop's top third that is saturated blue (``recognize.blue_band_share``):
    Mercosul plates print a blue band there, old Brazilian ones do not. None for a grey
    crop or when unknown."""

    @property
    def confidence(self) -> float:
        """The weakest character's confidence (0 for an empty read): a read is only as
        good as its worst character."""
        return min(self.char_confidences) if self.char_confidences else 0.0
