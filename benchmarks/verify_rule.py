"""False positives per photo on real plate-free photos, with and without read verification.

Reproduces the choice of ``edgeocr.pipeline.VERIFY_SCORE``, of the strict band under it
(``STRICT_VERIFY_SCORE`` / ``STRICT_VERIFY_CONFIDENCE``) and of ``ZOOM_KEEP_SCORE``. One
pass runs the shipped (or given) detector and recognizer on the real negatives the way the
pipeline does (whole photo, formats us/eu/br/house_number, second look, zoom) down to a
detector score of 0.05, and counts the reads the pipeline would publish under each rule:

1. the band: the lowest score on a 0.05 grid whose false positives per photo stay at or below
   0.05 (the converter's threshold rule's own budget) with every character >= 0.9;
2. the strict band under it: the lowest grid score at which some confidence level of 0.90,
   0.95, 0.97 or 0.99 keeps the whole pipeline (threshold + band + strict band) within the
   same budget; the least strict such level;
3. the zoom keep score (``ZOOM_KEEP_SCORE``): the lowest score on a 0.05 grid from 0.50 at
   which also keeping every band detection whose zoom pass (``Detector.zoom``) scores at
   least that, whatever its read, keeps the whole pipeline within the same budget.

No labelled plate photo is involved, so the choice cannot be tuned to the dev set. Every
candidate is counted with both looks (warp and box, the better read kept); the pipeline
reads at most ``STRICT_MAX_READS`` strict-band detections per frame with one look, which can
only keep fewer, so the strict-band figures are an upper bound.

    .venv/bin/python benchmarks/verify_rule.py ../shared/backgrounds/real-negatives \\
        [--detector D.tflite] [--recognizer R.tflite] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
from edgeocr_convert.threshold import list_negatives

from edgeocr.detect import Detector
from edgeocr.formats import DEFAULT_PACKS
from edgeocr.pipeline import (
    STRICT_VERIFY_CONFIDENCE,
    STRICT_VERIFY_SCORE,
    VERIFY_CONFIDENCE,
    VERIFY_SCORE,
    ZOOM_KEEP_SCORE,
    Pipeline,
    Verification,
)
from edgeocr.recognize import Recognizer

GRID = tuple(round(0.05 + 0.05 * i, 2) for i in range(10))  # 0.05 .. 0.50
STRICT_LEVELS = (0.90, 0.95, 0.97, 0.99)
ZOOM_GRID = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))  # 0.50 .. 0.95
BUDGET = 0.05


@dataclass(frozen=True)
class Candidate:
    score: float
    verifiable: bool  # fits a format and is long enough (everything but the confidence)
    confidence: float
    dropped: bool = False  # never kept, at any score (a plate read too short to be a plate)
    zoom_score: float | None = None  # the zoom pass's score (None: not zoomed / no match)


def count(cands: list[Candidate], threshold: float, band: float,
          strict: tuple[float, float] | None = None, zoom_keep: float | None = None) -> int:
    """Reads kept: at the threshold, in the band at VERIFY_CONFIDENCE or with a zoom score
    of at least ``zoom_keep``, in the strict band."""
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("negatives", type=Path)
    ap.add_argument("--detector", type=Path, default=None)
    ap.add_argument("--recognizer", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--no-second-look", action="store_true",
                    help="Read only the warped crop (the pipeline also reads the box by default).")
    ap.add_argument("--no-zoom", action="store_true",
                    help="Warp from the first pass's corners (the pipeline zooms by default).")
    args = ap.parse_args(argv)
    photos = list_negatives(args.negatives)  # the converter's own spread of <= 600 photos
    if not photos:
        print(f"verify_rule: no images under {args.negatives}", file=sys.stderr)
        return 2
    det = Detector(args.detector, threads=1, score_threshold=min(GRID))
    rec = Recognizer(args.recognizer, threads=1)
    threshold = det.operating_threshold
    # One pass at the lowest score with no confidence demand and no zoom-score rule (so that
    # `accepted` means "fits a format and is long enough"); every rule is then a filter over
    # the same reads.
    pipe = Pipeline(det, rec, DEFAULT_PACKS, accept_score=threshold,
                    verify=Verification(min_score=min(GRID), min_confidence=0.0,
                                        strict_score=None, zoom_keep_score=None),
                    second_look=not args.no_second_look, zoom=not args.no_zoom)
    # Zoom what the shipped pipeline zooms: detections from the band up (the band being
    # re-derived is not known yet; VERIFY_SCORE is the shipped one).
    pipe.zoom_from = min(threshold, VERIFY_SCORE)
    cands: list[Candidate] = []
    for i, path in enumerate(photos):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            continue
        # Dropped: a read the pipeline refuses even at a perfect detector score.
        cands.extend(Candidate(r.detection.score, r.accepted, r.read.confidence,
                               not pipe.accepts(replace(r.detection, score=1.0), r.read,
                                                r.format), r.zoom_score)
                     for r in pipe.process(image.astype(np.uint8), keep_rejected=True))
        if (i + 1) % 100 == 0:
            print(f"{i + 1}/{len(photos)} photos", file=sys.stderr)
    n = len(photos)
    rows = [{"verify_score": s, "fp_per_photo": count(cands, threshold, s) / n,
             "fp_per_photo_without_verification":
                 sum(1 for c in cands if c.score >= s) / n} for s in GRID]
    band = next((r["verify_score"] for r in rows if r["fp_per_photo"] <= BUDGET), None)
    print(f"{n} plate-free photos; detector threshold {threshold:.2f}; every character "
          f">= {VERIFY_CONFIDENCE}")
    print("| lower score | FP/photo with verification | FP/photo if all kept |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r['verify_score']:.2f} | {r['fp_per_photo']:.3f} | "
              f"{r['fp_per_photo_without_verification']:.3f} |")
    print(f"band: lowest score within {BUDGET} FP/photo: {band}")
    strict_rows: list[dict[str, float]] = []
    strict: tuple[float, float] | None = None
    if band is not None:
        print(f"\nstrict band under {band} (whole pipeline's FP/photo, by confidence level)")
        print("| strict score | " + " | ".join(f">= {c:.2f}" for c in STRICT_LEVELS) + " |")
        print("|---|" + "---|" * len(STRICT_LEVELS))
        for s in (g for g in GRID if g < band):
            fps = {c: count(cands, threshold, band, (s, c)) / n for c in STRICT_LEVELS}
            strict_rows += [{"strict_score": s, "confidence": c, "fp_per_photo": f}
                            for c, f in fps.items()]
            print(f"| {s:.2f} | " + " | ".join(f"{f:.3f}" for f in fps.values()) + " |")
            if strict is None:
                level = next((c for c in STRICT_LEVELS if fps[c] <= BUDGET), None)
                if level is not None:
                    strict = (s, level)
        print(f"strict band: {strict[0]:.2f} at every character >= {strict[1]:.2f}"
              if strict else "strict band: none within the budget")
    zoom_rows: list[dict[str, float]] = []
    zoom_keep: float | None = None
    if band is not None and strict is not None:
        print(f"\nkeeping band detections (from {band:.2f}) whose zoom pass scores at least Z, "
              "whatever their read (whole pipeline's FP/photo)")
        print("| Z | FP/photo |")
        print("|---|---|")
        for z in ZOOM_GRID:
            f = count(cands, threshold, band, strict, z) / n
            zoom_rows.append({"zoom_keep": z, "fp_per_photo": f})
            print(f"| {z:.2f} | {f:.3f} |")
            if zoom_keep is None and f <= BUDGET:
                zoom_keep = z
        print(f"zoom keep score: {zoom_keep}")
    shipped = count(cands, threshold, VERIFY_SCORE,
                    (STRICT_VERIFY_SCORE, STRICT_VERIFY_CONFIDENCE), ZOOM_KEEP_SCORE) / n
    print(f"shipped rule (band {VERIFY_SCORE:.2f}, strict {STRICT_VERIFY_SCORE:.2f} at "
          f">= {STRICT_VERIFY_CONFIDENCE:.2f}, zoom keep {ZOOM_KEEP_SCORE}): "
          f"{shipped:.3f} FP/photo")
    if args.json is not None:
        args.json.write_text(json.dumps({
            "shipped_fp_per_photo": shipped,
            "photos": n, "threshold": threshold, "rows": rows, "budget": BUDGET,
            "chosen": band, "strict_rows": strict_rows,
            "strict_chosen": None if strict is None else {"score": strict[0],
                                                          "confidence": strict[1]},
            "zoom_rows": zoom_rows, "zoom_keep_chosen": zoom_keep,
        }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
