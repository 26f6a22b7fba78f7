"""Verification bands for a detector and recognizer pair, chosen on real plate-free photos.

A detector trained on synthetic scenes scores real plates lower than synthetic ones, so the
pipeline keeps some detections under its operating threshold when their read vouches for
them (``edgeocr.pipeline.Verification``). How low that may go depends on both models: a
recognizer that reads texture more confidently, or a detector that scores it higher, lets
more false reads through. This module picks the bands for a given pair by rules fixed in
advance, on photos that hold no plate and no house number, so no labelled photo is involved
and nothing is tuned to an evaluation set.

One pass runs the pipeline the way it runs on a device (whole photo, formats
us/eu/br/house_number, second look, zoom) down to a detector score of 0.05 and records every
read; each rule is then a filter over the same reads:

1. the band: the lowest score on a 0.05 grid whose false positives per photo stay within
   ``BUDGET`` (0.05, the converter's threshold rule's own budget) with every character >= 0.9;
2. the strict band under it: the lowest grid score at which some confidence level of 0.90,
   0.95, 0.97 or 0.99 keeps the whole pipeline (threshold + band + strict band) within the
   same budget; the least strict such level;
3. the zoom keep score: the lowest score on a 0.05 grid from 0.50 at which also keeping every
   band detection whose zoom pass scores at least that, whatever its read, keeps the whole
   pipeline within the same budget.

The pipeline zooms detections from its band up, so the reads (and zoom scores) of the
detections between two candidate bands depend on which band is chosen. A pass therefore
zooms from a given score (first the shipped band); when its choice is a different band, the
photos are read again zooming from that band and the rules applied again, until the choice
is the band the pass zoomed from (at most ``MAX_PASSES`` passes; before session 15 a
single pass zoomed from the shipped band whatever was chosen, which undercounted a lower
band's false positives: 0.050 chosen, 0.055 in the pipeline, for session 15's candidate W2).

Every candidate is counted with both looks (warp and box, the better read kept); the pipeline
reads at most ``STRICT_MAX_READS`` strict-band detections per frame with one look, which can
only keep fewer, so the strict-band figures are an upper bound.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgeocr.detect import Detector
from edgeocr.formats import DEFAULT_PACKS
from edgeocr.pipeline import (
    STRICT_VERIFY_CONFIDENCE,
    STRICT_VERIFY_SCORE,
    VERIFY_CONFIDENCE,
    VERIFY_SCORE,
    ZOOM_KEEP_SCORE,
    Pipeline,
    PipelineRead,
    Verification,
)
from edgeocr.recognize import Recognizer

GRID = tuple(round(0.05 + 0.05 * i, 2) for i in range(10))  # 0.05 .. 0.50
STRICT_LEVELS = (0.90, 0.95, 0.97, 0.99)
ZOOM_GRID = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))  # 0.50 .. 0.95
BUDGET = 0.05
MAX_PHOTOS = 600
MAX_PASSES = 3
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def even_spread(folder: Path, limit: int = MAX_PHOTOS) -> list[Path]:
    """Up to ``limit`` images under ``folder``, evenly spread over its sorted files (the same
    every run)."""
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) > limit:
        step = len(files) / limit
        files = [files[int(i * step)] for i in range(limit)]
    return files


@dataclass(frozen=True)
class Candidate:
    """One read the pipeline made on a plate-free photo (so any it keeps is false)."""

    score: float
    verifiable: bool  # fits a format and is long enough (everything but the confidence)
    confidence: float
    dropped: bool = False  # never kept, at any score (a plate read too short to be a plate)
    zoom_score: float | None = None  # the zoom pass's score (None: not zoomed / no match)


def count(cands: Sequence[Candidate], threshold: float, band: float,
          strict: tuple[float, float] | None = None, zoom_keep: float | None = None) -> int:
    """Reads kept: at the threshold, in the band at VERIFY_CONFIDENCE or with a zoom score
    of at least ``zoom_keep``, in the strict band at its confidence."""
    kept = 0
    for c in cands:
        if c.dropped:
            continue
        zoomed_in = (zoom_keep is not None and c.zoom_score is not None
                     and c.zoom_score >= zoom_keep)
        if c.score >= threshold or (c.score >= band and zoomed_in):
            kept += 1
        elif c.score >= band:
            kept += c.verifiable and c.confidence >= VERIFY_CONFIDENCE
        elif strict is not None and c.score >= strict[0]:
            kept += c.verifiable and c.confidence >= strict[1]
    return kept


def reading_pipeline(detector: Detector, recognizer: Recognizer, *, second_look: bool = True,
                     zoom: bool = True, zoom_from: float = VERIFY_SCORE,
                     antialias: bool = False) -> Pipeline:
    """The pipeline the rules are counted on: every detection down to min(GRID) is read,
    with no confidence demand and no zoom-score rule (so that ``accepted`` means "fits a
    format and is long enough"); detections are zoomed from ``zoom_from`` up (or the
    threshold, if lower), as the pipeline would zoom them with that band."""
    threshold = detector.operating_threshold
    pipe = Pipeline(detector, recognizer, DEFAULT_PACKS, accept_score=threshold,
                    verify=Verification(min_score=min(GRID), min_confidence=0.0,
                                        strict_score=None, zoom_keep_score=None),
                    second_look=second_look, zoom=zoom, antialias=antialias)
    pipe.zoom_from = min(threshold, zoom_from)
    return pipe


def candidate(pipe: Pipeline, r: PipelineRead) -> Candidate:
    """One read of ``reading_pipeline`` as the rules see it. Dropped: a read the pipeline
    refuses even at a perfect detector score."""
    dropped = not pipe.accepts(replace(r.detection, score=1.0), r.read, r.format)
    return Candidate(r.detection.score, r.accepted, r.read.confidence, dropped, r.zoom_score)


def collect(photos: Sequence[Path], detector: Detector, recognizer: Recognizer, *,
            second_look: bool = True, zoom: bool = True, zoom_from: float = VERIFY_SCORE,
            antialias: bool = False,
            progress: Callable[[int], None] | None = None) -> tuple[list[Candidate], int]:
    """Every read the pipeline makes on ``photos`` down to a detector score of 0.05, and the
    number of photos that could be decoded, zooming detections from ``zoom_from`` up (or the
    threshold, if lower). ``detector`` must score from min(GRID) up."""
    pipe = reading_pipeline(detector, recognizer, second_look=second_look, zoom=zoom,
                            zoom_from=zoom_from, antialias=antialias)
    cands: list[Candidate] = []
    n = 0
    for path in photos:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if progress is not None:
            progress(1)
        if image is None:
            continue
        n += 1
        cands.extend(candidate(pipe, r)
                     for r in pipe.process(image.astype(np.uint8), keep_rejected=True))
    return cands, n


@dataclass
class BandChoice:
    """The bands chosen for one pair, with every figure behind the choice."""

    photos: int
    threshold: float
    rows: list[dict[str, float]] = field(default_factory=list)
    chosen: float | None = None
    strict_rows: list[dict[str, float]] = field(default_factory=list)
    strict_chosen: tuple[float, float] | None = None
    zoom_rows: list[dict[str, float]] = field(default_factory=list)
    zoom_keep_chosen: float | None = None
    shipped_fp_per_photo: float = 0.0
    zoom_from: float = VERIFY_SCORE  # the reads were zoomed from this score up
    settled: bool = True  # the band chosen is the one the reads were zoomed from

    def to_json(self) -> dict[str, Any]:
        """The file ``edgeocr eval --bands`` reads."""
        return {
            "shipped_fp_per_photo": self.shipped_fp_per_photo,
            "photos": self.photos, "threshold": self.threshold, "rows": self.rows,
            "budget": BUDGET, "chosen": self.chosen, "strict_rows": self.strict_rows,
            "strict_chosen": None if self.strict_chosen is None else {
                "score": self.strict_chosen[0], "confidence": self.strict_chosen[1]},
            "zoom_rows": self.zoom_rows, "zoom_keep_chosen": self.zoom_keep_chosen,
            "zoom_from": self.zoom_from, "settled": self.settled,
        }

    def verification(self) -> Verification | None:
        """The chosen bands as the pipeline's Verification (None: no band within budget)."""
        if self.chosen is None:
            return None
        return Verification(
            min_score=self.chosen,
            strict_score=None if self.strict_chosen is None else self.strict_chosen[0],
            strict_confidence=(STRICT_VERIFY_CONFIDENCE if self.strict_chosen is None
                               else self.strict_chosen[1]),
            zoom_keep_score=self.zoom_keep_chosen)


def choose(cands: Sequence[Candidate], photos: int, threshold: float,
           zoom_from: float = VERIFY_SCORE, band: float | None = None) -> BandChoice:
    """Apply the three rules of the module docstring to one pass's reads (zoomed from
    ``zoom_from`` up); ``band``: only that band may be chosen (if within the budget)."""
    n = max(photos, 1)
    out = BandChoice(photos, threshold, zoom_from=zoom_from)
    out.rows = [{"verify_score": s, "fp_per_photo": count(cands, threshold, s) / n,
                 "fp_per_photo_without_verification":
                     sum(1 for c in cands if c.score >= s) / n} for s in GRID]
    out.chosen = next((r["verify_score"] for r in out.rows if r["fp_per_photo"] <= BUDGET
                       and (band is None or r["verify_score"] == band)), None)
    if out.chosen is not None:
        for s in (g for g in GRID if g < out.chosen):
            fps = {c: count(cands, threshold, out.chosen, (s, c)) / n for c in STRICT_LEVELS}
            out.strict_rows += [{"strict_score": s, "confidence": c, "fp_per_photo": f}
                                for c, f in fps.items()]
            if out.strict_chosen is None:
                level = next((c for c in STRICT_LEVELS if fps[c] <= BUDGET), None)
                if level is not None:
                    out.strict_chosen = (s, level)
    if out.chosen is not None and out.strict_chosen is not None:
        for z in ZOOM_GRID:
            f = count(cands, threshold, out.chosen, out.strict_chosen, z) / n
            out.zoom_rows.append({"zoom_keep": z, "fp_per_photo": f})
            if out.zoom_keep_chosen is None and f <= BUDGET:
                out.zoom_keep_chosen = z
    out.shipped_fp_per_photo = count(cands, threshold, VERIFY_SCORE,
                                     (STRICT_VERIFY_SCORE, STRICT_VERIFY_CONFIDENCE),
                                     ZOOM_KEEP_SCORE) / n
    # Settled: the band chosen zooms what this pass zoomed (a band at or over the
    # threshold, or none, zooms from the threshold whatever the pass did).
    out.settled = (out.chosen is None or out.chosen >= threshold
                   or out.chosen == min(threshold, zoom_from))
    return out


def derive(photos: Sequence[Path], detector: Detector, recognizer: Recognizer, *,
           second_look: bool = True, zoom: bool = True, antialias: bool = False,
           progress_for: Callable[[float], AbstractContextManager[Callable[[int], None]]]
           | None = None) -> tuple[BandChoice, int]:
    """Read ``photos`` and choose the bands, reading again while the band chosen is not the
    one the reads were zoomed from (module docstring). When a pass chooses a band an earlier
    pass was zoomed from, that pass's reads decide whether the band holds. ``progress_for
    (zoom_from)`` gives a context whose callable is told of each photo read in that pass.
    Returns the choice and the number of photos decoded; the shipped rule's figure is the
    first pass's (zoomed from the shipped band)."""
    threshold = detector.operating_threshold
    zoom_from = VERIFY_SCORE
    passes: dict[float, list[Candidate]] = {}
    shipped: float | None = None
    while True:
        with progress_for(zoom_from) if progress_for is not None else nullcontext(None) as tick:
            cands, n = collect(photos, detector, recognizer, second_look=second_look,
                               zoom=zoom, zoom_from=zoom_from, antialias=antialias,
                               progress=tick)
        passes[zoom_from] = cands
        choice = choose(cands, n, threshold, zoom_from)
        shipped = choice.shipped_fp_per_photo if shipped is None else shipped
        choice.shipped_fp_per_photo = shipped
        if not zoom:
            choice.settled = True
        if n == 0 or choice.settled or choice.chosen is None:
            return choice, n
        if choice.chosen in passes:
            held = choose(passes[choice.chosen], n, threshold, choice.chosen,
                          band=choice.chosen)
            if held.chosen is not None:
                held.shipped_fp_per_photo = shipped
                return held, n
            return choice, n
        if len(passes) >= MAX_PASSES:
            return choice, n
        zoom_from = choice.chosen


def report(choice: BandChoice) -> str:
    """Markdown tables of every rule's figures and the config keys that apply the choice."""
    lines = [f"{choice.photos} plate-free photos; detector threshold {choice.threshold:.2f}; "
             f"every character >= {VERIFY_CONFIDENCE}",
             "| lower score | FP/photo with verification | FP/photo if all kept |", "|---|---|---|"]
    lines += [f"| {r['verify_score']:.2f} | {r['fp_per_photo']:.3f} | "
              f"{r['fp_per_photo_without_verification']:.3f} |" for r in choice.rows]
    lines.append(f"band: lowest score within {BUDGET} FP/photo: {choice.chosen}")
    if choice.chosen is not None:
        lines += ["", f"strict band under {choice.chosen} (whole pipeline's FP/photo, by "
                  "confidence level)",
                  "| strict score | " + " | ".join(f">= {c:.2f}" for c in STRICT_LEVELS) + " |",
                  "|---|" + "---|" * len(STRICT_LEVELS)]
        for s in sorted({r["strict_score"] for r in choice.strict_rows}):
            fps = [r["fp_per_photo"] for r in choice.strict_rows if r["strict_score"] == s]
            lines.append(f"| {s:.2f} | " + " | ".join(f"{f:.3f}" for f in fps) + " |")
        st = choice.strict_chosen
        lines.append(f"strict band: {st[0]:.2f} at every character >= {st[1]:.2f}" if st
                     else "strict band: none within the budget")
    if choice.zoom_rows:
        lines += ["", f"keeping band detections (from {choice.chosen:.2f}) whose zoom pass "
                  "scores at least Z, whatever their read (whole pipeline's FP/photo)",
                  "| Z | FP/photo |", "|---|---|"]
        lines += [f"| {r['zoom_keep']:.2f} | {r['fp_per_photo']:.3f} |" for r in choice.zoom_rows]
        lines.append(f"zoom keep score: {choice.zoom_keep_chosen}")
    lines.append(f"reads zoomed from {choice.zoom_from:.2f} up: " + (
        "the band chosen" if choice.settled else
        "NOT the band chosen (no pass settled); treat the choice as approximate"))
    lines.append(f"shipped rule (band {VERIFY_SCORE:.2f}, strict {STRICT_VERIFY_SCORE:.2f} at "
                 f">= {STRICT_VERIFY_CONFIDENCE:.2f}, zoom keep {ZOOM_KEEP_SCORE}): "
                 f"{choice.shipped_fp_per_photo:.3f} FP/photo")
    lines += settings_lines(choice.verification())
    return "\n".join(lines)


def settings_lines(v: Verification | None) -> list[str]:
    """The [models] config lines that apply ``v`` (None: no band fits the budget)."""
    if v is None:
        return ["no band keeps the pipeline within the budget: set "
                "models.detect_verify_score = 1.0 (verification off)"]
    strict = 1.0 if v.strict_score is None else v.strict_score  # 1.0: no strict band
    # Zoom keep 1.0: no zoom score on the grid fits the budget, so the rule is as good as off.
    return ["", "[models] settings for this pair:",
            f"detect_verify_score = {v.min_score}",
            f"detect_verify_strict_score = {strict}",
            f"detect_verify_strict_confidence = {v.strict_confidence}",
            f"detect_zoom_keep_score = {v.zoom_keep_score or 1.0}"]


def write_json(choice: BandChoice, path: Path) -> None:
    path.write_text(json.dumps(choice.to_json(), indent=1))


def read_bands(path: Path) -> Verification:
    """The Verification chosen in a file ``write_json`` wrote (``edgeocr bands --json``).
    Raises ValueError with a one-line reason."""
    try:
        data = json.loads(path.read_text())
        strict = data.get("strict_chosen")
        zoom = data.get("zoom_keep_chosen")
        choice = BandChoice(
            int(data.get("photos", 0)), float(data.get("threshold", 0.0)),
            chosen=float(data["chosen"]),
            strict_chosen=None if strict is None else (float(strict["score"]),
                                                       float(strict["confidence"])),
            zoom_keep_chosen=None if zoom is None else float(zoom))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read bands ({exc.strerror})") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not an `edgeocr bands --json` bands file ({exc!r})") from None
    verification = choice.verification()
    assert verification is not None  # chosen is set
    return verification
