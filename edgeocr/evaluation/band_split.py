"""The split rule: verification bands chosen with labelled scenes as well as plate-free photos.

``edgeocr bands`` alone spends the false-positive budget greedily (``bands.choose``): the
lowest band first, then the strict band under it, then the zoom keep score. Nothing there
knows which of those rules keeps more real plates, and the greedy order can leave the zoom
keep score squeezed for a recognizer that is surer of itself. With a folder of labelled
scenes (``edgeocr-train synth --mode scene``; never the evaluation set), every combination
of band, strict band and zoom keep score within the same budget on the plate-free photos is
counted by the plates it reads exactly on the scenes (a kept read at IoU >= 0.4 with the right
text), and the one that reads the most is chosen; ties go to the fewest false plates per
photo, then to the lower band, no strict band and the lower zoom keep score.

Each band tried is read with the pipeline zooming from that band, as it would run with it.
On synthetic scenes (docs/MODELS.md, sessions 15-16) the split rule kept 173 / 179 / 180
plates for recognizers v3 / Y / Z where the greedy rule kept 168 / 178 / 178.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgeocr.core.charset import normalize_text
from edgeocr.core.geometry import iou as box_iou
from edgeocr.data.labels import load_labelled_dir
from edgeocr.detect import Detector
from edgeocr.evaluation.bands import (
    BUDGET,
    GRID,
    STRICT_LEVELS,
    ZOOM_GRID,
    BandChoice,
    Candidate,
    candidate,
    collect,
    count,
    reading_pipeline,
    settings_lines,
)
from edgeocr.pipeline import Verification
from edgeocr.recognize import Recognizer

BANDS = (0.20, 0.25, 0.30, 0.35)
"""Bands tried (each costs one reading of the photos and the scenes)."""

Strict = tuple[float, float] | None


@dataclass(frozen=True)
class Split:
    """One way to spend the budget and what it does on photos and scenes."""

    plates: int
    fp_per_photo: float
    band: float
    strict: Strict
    zoom_keep: float | None

    def verification(self) -> Verification:
        v = BandChoice(0, 0.0, chosen=self.band, strict_chosen=self.strict,
                       zoom_keep_chosen=self.zoom_keep).verification()
        assert v is not None  # a band is chosen
        return v


def scene_reads(root: Path, detector: Detector, recognizer: Recognizer,
                zoom_from: float) -> tuple[list[Candidate], int]:
    """The reads on the labelled scenes under ``root`` that are a plate read right, as the
    rules see them, and the number of labelled plates. Raises ValueError when ``root`` holds
    no labelled plate."""
    ds = load_labelled_dir(root)
    truths: dict[str, list[tuple[tuple[float, float, float, float], str]]] = {}
    for row in ds.rows:
        if row.kind == "plate" and row.box is not None and normalize_text(row.text):
            truths.setdefault(row.image, []).append((row.box, normalize_text(row.text)))
    if not truths:
        raise ValueError(f"{root}: no labelled plates with a box and text in labels.csv")
    pipe = reading_pipeline(detector, recognizer, zoom_from=zoom_from)
    right: list[Candidate] = []
    for name, rows in sorted(truths.items()):
        image = cv2.imread(str(ds.image_path(name)), cv2.IMREAD_COLOR)
        if image is None:
            continue
        for r in pipe.process(image.astype(np.uint8), keep_rejected=True):
            if r.detection.kind == "plate" and any(
                    box_iou(r.detection.box, box) >= 0.4 and r.read.text == text
                    for box, text in rows):
                right.append(candidate(pipe, r))
    return right, sum(len(v) for v in truths.values())


def splits(negatives: Sequence[Candidate], photos: int, right: Sequence[Candidate],
           threshold: float, band: float) -> list[Split]:
    """Every (strict band, zoom keep) under ``band`` within the budget, with its counts, in
    tie-break order (no strict band first, then the lower ones; no zoom keep first)."""
    stricts: list[Strict] = [None] + [(s, c) for s in GRID if s < band for c in STRICT_LEVELS]
    out: list[Split] = []
    for strict in stricts:
        for zk in (None, *ZOOM_GRID):
            fp = count(negatives, threshold, band, strict, zk) / photos
            if fp <= BUDGET:
                out.append(Split(count(right, threshold, band, strict, zk), fp, band, strict,
                                 zk))
    return out


def best(rows: Sequence[Split]) -> Split | None:
    """Most plates read; ties: fewest false plates per photo, then the order of ``rows``."""
    return min(rows, key=lambda r: (-r.plates, r.fp_per_photo), default=None)


def choose_split(photos: Sequence[Path], scenes: Path, detector: Detector,
                 recognizer: Recognizer, bands: Sequence[float] = BANDS,
                 progress_for: Callable[[float], AbstractContextManager[Callable[[int], None]]]
                 | None = None) -> tuple[list[Split], int, int]:
    """Read ``photos`` and ``scenes`` once per band (zooming from it) and list every split
    within the budget, bands ascending. Returns the splits, the photos decoded and the
    labelled plates."""
    threshold = detector.operating_threshold
    rows: list[Split] = []
    n = plates = 0
    for band in sorted(bands):
        with progress_for(band) if progress_for is not None else nullcontext(None) as tick:
            negatives, n = collect(photos, detector, recognizer, zoom_from=band, progress=tick)
        if n == 0:
            return [], 0, 0
        right, plates = scene_reads(scenes, detector, recognizer, band)
        rows += splits(negatives, n, right, threshold, band)
    return rows, n, plates


def report(rows: Sequence[Split], photos: int, plates: int, top: int = 8) -> str:
    """Markdown: the best splits and the [models] settings of the one chosen."""
    ranked = sorted(rows, key=lambda r: (-r.plates, r.fp_per_photo))
    lines = [f"{photos} plate-free photos, {plates} labelled scene plates; splits within "
             f"{BUDGET} false plates per photo, most plates read exactly first",
             "| plates read | FP/photo | band | strict band | zoom keep |", "|---|---|---|---|---|"]
    for r in ranked[:top]:
        strict = "none" if r.strict is None else f"{r.strict[0]:.2f} at >= {r.strict[1]:.2f}"
        zoom = "none" if r.zoom_keep is None else f"{r.zoom_keep:.2f}"
        lines.append(f"| {r.plates} | {r.fp_per_photo:.3f} | {r.band:.2f} | {strict} | {zoom} |")
    chosen = best(rows)
    if chosen is not None:
        lines += ["", f"split rule: {chosen.plates} of {plates} scene plates read, "
                  f"{chosen.fp_per_photo:.3f} FP/photo"]
    return "\n".join(lines + settings_lines(None if chosen is None else chosen.verification()))


def write_json(rows: Sequence[Split], photos: int, plates: int, threshold: float,
               path: Path) -> None:
    """The chosen split as a bands file (what ``edgeocr eval --bands`` reads) with every row."""
    chosen = best(rows)

    def strict_json(s: Strict) -> dict[str, float] | None:
        return None if s is None else {"score": s[0], "confidence": s[1]}

    data = {
        "rule": "band_split", "photos": photos, "scene_plates": plates, "threshold": threshold,
        "chosen": None if chosen is None else chosen.band,
        "strict_chosen": None if chosen is None else strict_json(chosen.strict),
        "zoom_keep_chosen": None if chosen is None else chosen.zoom_keep,
        "fp_per_photo": None if chosen is None else chosen.fp_per_photo,
        "scene_plates_read": None if chosen is None else chosen.plates,
        "rows": [{"band": r.band, "strict": strict_json(r.strict), "zoom_keep": r.zoom_keep,
                  "fp_per_photo": r.fp_per_photo, "plates_read": r.plates} for r in rows],
    }
    path.write_text(json.dumps(data, indent=1))
