"""One frame through detect -> rectify -> recognize -> formats, with per-stage timings."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy.typing as npt

from edgeocr.core.ctc import best_path_log_prob, text_log_prob
from edgeocr.core.geometry import box_to_quad, scale_detection
from edgeocr.core.types import Detection, Image, Read
from edgeocr.detect import TILE_OVERLAP, Detector
from edgeocr.formats import DEFAULT_PACKS, PACKS, FormattedRead, apply_formats, check_packs
from edgeocr.recognize import Recognizer
from edgeocr.rectify import MARGIN, rectify

DOWNSCALE_ABOVE = 2.0
"""Detect on a downscaled copy when the image exceeds the detector input by this factor."""

VERIFY_SCORE = 0.30
"""Detections scoring from here up to the operating threshold get a second opinion from the
recognizer (see :class:`Verification`). Chosen on the real plate-free photos only
(benchmarks/verify_rule.py): the lowest score on a 0.05 grid at which the shipped models keep
false positives at or below 0.05 per photo, half the project's 0.1 budget, as the detector's
own threshold rule does: 0.30 (0.035 per photo) with recognizer v3, whose reads are surer
than v2's (v2: 0.25, 0.038 per photo, since plate reads under 4 characters are dropped at
every score)."""
VERIFY_CONFIDENCE = 0.9
"""Every character of a verified read must be at least this sure (fixed a priori)."""
VERIFY_MIN_PLATE_CHARS = 4
"""A verified plate needs this many characters: short confident reads of sign text ("A1",
"M69") are what the band between VERIFY_SCORE and the threshold mostly holds otherwise."""
STRICT_VERIFY_SCORE = 0.15
"""A second, lower band: detections from here up to VERIFY_SCORE are kept only when their
read passes the same checks with every character at least STRICT_VERIFY_CONFIDENCE sure.
Chosen like VERIFY_SCORE, on the real plate-free photos only (benchmarks/verify_rule.py):
the lowest 0.05-grid score at which some confidence level of 0.90, 0.95, 0.97 or 0.99 keeps
the whole pipeline's false positives at or below 0.05 per photo, with the least strict such
level."""
ZOOM_KEEP_SCORE: float | None = 0.55
"""A detection from VERIFY_SCORE up to the operating threshold is also kept, whatever its
read's confidence, when the zoom pass re-detects it in its window at this score or more
(real plates score far higher there than in the frame). Chosen on the real plate-free
photos only (benchmarks/verify_rule.py), like the bands, after them: the lowest score on a
0.05 grid from 0.50 at which the whole pipeline stays within the same 0.05 false positives
per photo (0.55: 0.050; 0.50 would give 0.057; without the rule 0.038). None: no such
rule."""
STRICT_VERIFY_CONFIDENCE = 0.99
STRICT_MAX_READS = 3
"""At most this many detections of the strict band are read per frame (the best-scoring
ones, one look each): a cluttered frame holds several boxes scoring 0.15-0.30, and each
read costs a recognizer run. Fixed a priori to bound the cost, not tuned."""


@dataclass(frozen=True)
class Verification:
    """A second chance for detections the detector is unsure of.

    A detection at or above the operating threshold is read and kept as before. One scoring
    at least ``min_score`` but under the threshold is kept only when its read fits an enabled
    format pack (when any is enabled for its kind), has every character at least
    ``min_confidence`` sure and, for plates, at least ``min_plate_chars`` characters. A
    detector trained on synthetic scenes scores real plates lower than synthetic ones while
    still boxing them well; a confident read that fits a plate layout is strong evidence that
    the box is a plate (classic plate readers verify candidates by their characters too).
    Under ``min_score``, a strict band from ``strict_score`` asks the same with every
    character at least ``strict_confidence`` sure, for at most ``strict_max_reads``
    detections a frame. With the pipeline's zoom pass on, a detection from ``min_score`` up
    that the pass finds again at ``zoom_keep_score`` or more is kept without the confidence
    check (its read must still be long enough for a plate).
    """

    min_score: float = VERIFY_SCORE
    min_confidence: float = VERIFY_CONFIDENCE
    min_plate_chars: int = VERIFY_MIN_PLATE_CHARS
    strict_score: float | None = STRICT_VERIFY_SCORE
    """Detections from here up to ``min_score`` pass only with every character at least
    ``strict_confidence`` sure (None or >= min_score: no such band)."""
    strict_confidence: float = STRICT_VERIFY_CONFIDENCE
    strict_max_reads: int = STRICT_MAX_READS
    """Strict-band detections read per frame, best first, with one look (the warp) each."""
    zoom_keep_score: float | None = ZOOM_KEEP_SCORE
    """Band detections whose zoom pass scores at least this are kept without the
    confidence check (None: never)."""

    def in_strict_band(self, score: float) -> bool:
        return self.strict_score is not None and self.strict_score <= score < self.min_score

    @property
    def floor(self) -> float:
        """The lowest detection score that can still be kept."""
        if self.strict_score is None:
            return self.min_score
        return min(self.min_score, self.strict_score)

    def confidence_for(self, score: float) -> float | None:
        """The weakest-character confidence a read needs at this detection score (None:
        the score is under every band)."""
        if score >= self.min_score:
            return self.min_confidence
        return self.strict_confidence if self.in_strict_band(score) else None


@dataclass(frozen=True)
class PipelineRead:
    """One detection and its read; coordinates in pixels of the full-resolution image.

    ``timings_ms`` has ``detect`` (the whole frame's detection, shared by its reads),
    ``rectify``, ``recognize`` and ``format`` for this read.
    """

    detection: Detection
    read: Read
    format: str | None
    timings_ms: dict[str, float] = field(default_factory=dict, compare=False)
    accepted: bool = True
    """False only for candidates a Pipeline returns with ``keep_rejected`` (evaluation)."""
    zoom_score: float | None = None
    """The zoom pass's score for this detection (None: not zoomed, or nothing matched)."""


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


class Pipeline:
    """``accept_score``: the operating threshold (default: the detector's ``score_threshold``
    as constructed). With ``verify`` (default on), the detector is lowered to
    ``verify.min_score`` and detections under ``accept_score`` must pass the verification."""

    def __init__(self, detector: Detector, recognizer: Recognizer,
                 formats: Sequence[str] = DEFAULT_PACKS, refine: bool = False,
                 margin: tuple[float, float] = MARGIN,
                 verify: Verification | None = Verification(),
                 accept_score: float | None = None, second_look: bool = True,
                 zoom: bool = True, look_agreement: bool = True,
                 antialias: bool = False) -> None:
        check_packs(formats)
        self.accept_score = detector.score_threshold if accept_score is None else accept_score
        self.verify = verify if verify is not None and verify.floor < self.accept_score \
            else None
        if self.verify is not None:
            detector.score_threshold = min(detector.score_threshold, self.verify.floor)
        self.detector = detector
        self.recognizer = recognizer
        self.formats = tuple(formats)
        self.refine = refine
        self.margin = margin
        self.antialias = antialias
        """Shrink quads bigger than the recognizer input by area averaging (warp_quad)."""
        self.second_look = second_look
        """Also read the detection's axis-aligned box and keep the better of the two reads
        (one that fits a format first, then the more confident)."""
        self.look_agreement = look_agreement
        """Choose between the two looks' reads by how well each text explains both looks
        (:func:`choose_look`); False: by the weakest character alone (before session 14)."""
        self.zoom = zoom
        """Re-detect each detection scoring at least ``zoom_from`` in a window around it
        (:meth:`Detector.zoom`) and warp from the zoomed corners and box; the score stays
        the first pass's, so the operating threshold and the verification bands hold."""
        self.zoom_from = (self.accept_score if self.verify is None
                          else min(self.accept_score, self.verify.min_score))
        """Detections under this score (the strict band, and anything lower that an
        evaluation keeps) are read from the first pass's geometry: they are many on a busy
        frame and seldom kept, and each zoom costs a detector run."""
        self.last_timings_ms: dict[str, float] = {}
        """Timings of the last frame: ``detect`` and ``total`` (also when nothing was found)."""

    def _detection_frame(
        self, image: Image, lores: Image | None
    ) -> tuple[npt.NDArray[Any], float, int]:
        """The frame to detect on, the factor from its pixels to ``image``'s, and the
        detector's tiling grid for it."""
        w = image.shape[1]
        if lores is not None:
            return lores, w / lores.shape[1], self.detector.grid_for(lores.shape[1],
                                                                      lores.shape[0])
        grid = self.detector.grid_for(w, image.shape[0])
        dw, dh = self.detector.input_size
        factor = min(dw / w, dh / image.shape[0])
        if grid > 1:
            # Tiled: keep enough pixels that each tile, not the whole frame, fills the input.
            factor *= grid - (grid - 1) * TILE_OVERLAP
        if factor * DOWNSCALE_ABOVE >= 1.0:
            return image, 1.0, grid
        # Detect on a copy about the size of the network input: the warp still samples
        # the full-resolution image, so nothing is lost for recognition.
        size = (max(1, round(w * factor)), max(1, round(image.shape[0] * factor)))
        small: npt.NDArray[Any] = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        return small, w / size[0], grid

    def accepts(self, det: Detection, read: Read, fmt: str | None,
                zoom_score: float | None = None) -> bool:
        """Whether a detection and its formatted read are kept (class docstring). A plate
        read shorter than ``VERIFY_MIN_PLATE_CHARS`` is never kept, whatever the score: no
        plate is that short, and such boxes are stickers, state names or building numbers
        (dev photos: plate false positives 0.107 -> 0.029 per image, no plate lost)."""
        if det.kind == "plate" and len(read.text) < VERIFY_MIN_PLATE_CHARS:
            return False
        if det.score >= self.accept_score:
            return True
        v = self.verify
        if (v is not None and v.zoom_keep_score is not None and zoom_score is not None
                and det.score >= v.min_score and zoom_score >= v.zoom_keep_score):
            return True
        need = None if v is None else v.confidence_for(det.score)
        if v is None or need is None or not read.text:
            return False
        if any(self.formats_for(det.kind)) and fmt is None:
            return False
        if det.kind == "plate" and len(read.text) < v.min_plate_chars:
            return False
        return read.confidence >= need

    def formats_for(self, kind: str) -> list[str]:
        return [p for p in self.formats if PACKS[p].kind == kind]

    def process(self, image: Image, lores: Image | None = None,
                keep_rejected: bool = False) -> list[PipelineRead]:
        """Reads in ``image`` (full resolution, BGR); ``lores`` is an optional downscaled
        copy of the same moment to detect on. ``keep_rejected`` also returns candidates that
        failed verification or scored under the operating threshold, with
        ``accepted=False`` (for evaluation)."""
        t_start = time.perf_counter()
        frame, scale, grid = self._detection_frame(image, lores)
        t0 = time.perf_counter()
        detections = self.detector.detect(frame, grid)
        detect_ms = _ms(t0)
        width, height = self.recognizer.input_size
        results: list[PipelineRead] = []
        strict_reads = 0
        v = self.verify
        for det in detections:
            strict = False
            if v is not None and det.score < self.accept_score and v.in_strict_band(det.score):
                if strict_reads >= v.strict_max_reads:
                    continue
                strict, strict_reads = True, strict_reads + 1
            # From here on, pixels of the full-resolution image (where the warp samples).
            where = scale_detection(det, scale)
            t0 = time.perf_counter()
            zoom_ms = 0.0
            zoom_score: float | None = None
            if self.zoom and det.score >= self.zoom_from:
                zoomed = self.detector.zoom(image, where)
                if zoomed is not None:
                    where = Detection(det.kind, det.score, zoomed.box, zoomed.corners)
                    zoom_score = zoomed.score
                zoom_ms = _ms(t0)
                t0 = time.perf_counter()
            crop = rectify(image, where, width, height, margin=self.margin, refine=self.refine,
                           antialias=self.antialias)
            rectify_ms = _ms(t0)
            t0 = time.perf_counter()
            read = self.recognizer.read(crop, kind=det.kind)
            recognize_ms = _ms(t0)
            t0 = time.perf_counter()
            formatted = apply_formats(read, det.kind, self.formats)
            format_ms = _ms(t0)
            if self.second_look and not strict:
                t0 = time.perf_counter()
                boxed = Detection(det.kind, det.score, where.box, box_to_quad(where.box))
                crop = rectify(image, boxed, width, height, margin=self.margin,
                               antialias=self.antialias)
                other_raw = self.recognizer.read(crop, kind=det.kind)
                other = apply_formats(other_raw, det.kind, self.formats)
                if self.look_agreement:
                    formatted = choose_look(formatted, other, (read, other_raw))
                elif _better(other, formatted):
                    formatted = other
                recognize_ms += _ms(t0)
            accepted = self.accepts(det, formatted.read, formatted.format, zoom_score)
            if not accepted and not keep_rejected:
                continue
            results.append(PipelineRead(where, formatted.read, formatted.format, {
                "detect": detect_ms, "zoom": zoom_ms, "rectify": rectify_ms,
                "recognize": recognize_ms, "format": format_ms,
            }, accepted, zoom_score))
        self.last_timings_ms = {"detect": detect_ms, "total": _ms(t_start)}
        return results


def _better(a: FormattedRead, b: FormattedRead) -> bool:
    """Whether read ``a`` beats ``b``: fitting a format first, then the weakest character."""
    return (a.format is not None, a.read.confidence) > (b.format is not None, b.read.confidence)


def look_agreement(text: str, looks: Sequence[Read]) -> float | None:
    """How well ``text`` explains every look at one object: the sum over ``looks`` of the
    log probability of the best CTC path spelling ``text`` minus that of the look's own
    best path (0 when every look reads exactly ``text``; more negative the more a look must
    be bent to spell it). None when a look carries no probabilities or cannot spell it."""
    total = 0.0
    for look in looks:
        if look.ctc is None:
            return None
        forced = text_log_prob(look.ctc.probs, look.ctc.charset, text)
        if forced is None:
            return None
        total += forced - best_path_log_prob(look.ctc.probs)
    return total


def choose_look(first: FormattedRead, second: FormattedRead,
                looks: Sequence[Read]) -> FormattedRead:
    """The better of two formatted reads of one object (``looks``: the raw reads they came
    from). A read that fits a format beats one that does not; between two different texts
    that both fit (or both do not), the one that better explains both looks together
    (:func:`look_agreement`, a product of the looks' likelihoods) wins, so a character one
    look is unsure of is settled by the other. Equal texts, or no probabilities: the
    weakest character decides, as :func:`_better` does."""
    if (first.format is None) != (second.format is None) or first.read.text == second.read.text:
        return second if _better(second, first) else first
    a = look_agreement(first.read.text, looks)
    b = look_agreement(second.read.text, looks)
    if a is None or b is None:
        return second if _better(second, first) else first
    return second if b > a else first
