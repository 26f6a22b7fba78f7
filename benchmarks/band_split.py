"""How the false-positive budget is split between the verification rules, judged on
labelled synthetic scenes instead of dev.

`edgeocr bands` spends the 0.05 false plates per plate-free photo greedily: the lowest band
first, then the strict band under it, then the zoom keep score. This script reads the
plate-free photos and a folder of labelled synthetic scenes (``edgeocr-train synth --mode
scene``) once per band tried, each pass zooming from that band as the pipeline would, then
lists every combination of band, strict band and zoom keep score within the budget with the
number of synthetic plates it reads exactly (a kept read at IoU >= 0.4 with the right text),
best first, next to the greedy choice and the shipped bands. Nothing here looks at dev.

    .venv/bin/python benchmarks/band_split.py ../shared/backgrounds/real-negatives SCENES \\
        [--recognizer R.tflite] [--detector D.tflite] [--bands 0.20,0.25,0.30,0.35]
"""

from __future__ import annotations

import argparse
import json
import sys
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
    Candidate,
    candidate,
    choose,
    collect,
    count,
    even_spread,
    reading_pipeline,
)
from edgeocr.pipeline import (
    STRICT_VERIFY_CONFIDENCE,
    STRICT_VERIFY_SCORE,
    VERIFY_SCORE,
    ZOOM_KEEP_SCORE,
)
from edgeocr.recognize import Recognizer


@dataclass(frozen=True)
class Hit:
    """One read on a synthetic scene, and whether it is a truth plate read right."""

    cand: Candidate
    right: bool


def scene_reads(root: Path, detector: Detector, recognizer: Recognizer,
                zoom_from: float) -> list[Hit]:
    """Every read on the labelled scenes down to 0.05, as bands.collect reads photos."""
    ds = load_labelled_dir(root)
    pipe = reading_pipeline(detector, recognizer, zoom_from=zoom_from)
    truths: dict[str, list[tuple[tuple[float, float, float, float], str]]] = {}
    for row in ds.rows:
        if row.kind == "plate" and row.box is not None:
            truths.setdefault(row.image, []).append((row.box, normalize_text(row.text)))
    hits: list[Hit] = []
    for name, rows in sorted(truths.items()):
        image = cv2.imread(str(ds.image_path(name)), cv2.IMREAD_COLOR)
        if image is None:
            continue
        for r in pipe.process(image.astype(np.uint8), keep_rejected=True):
            if r.detection.kind != "plate":
                continue
            right = any(box_iou(r.detection.box, box) >= 0.4 and r.read.text == text
                        for box, text in rows)
            hits.append(Hit(candidate(pipe, r), right))
    return hits


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("negatives", type=Path)
    ap.add_argument("scenes", type=Path)
    ap.add_argument("--detector", type=Path, default=None)
    ap.add_argument("--recognizer", type=Path, default=None)
    ap.add_argument("--bands", default="0.20,0.25,0.30,0.35")
    ap.add_argument("--top", type=int, default=8)
    ap.add_argument("--json", type=Path, default=None,
                    help="Write the split that reads the most plates (ties: fewest false plates "
                         "per photo, then the lower band, no strict band, the lower zoom keep) "
                         "as a bands file for `edgeocr eval --bands`.")
    args = ap.parse_args(argv)
    photos = even_spread(args.negatives)
    det = Detector(args.detector, threads=1, score_threshold=min(GRID))
    rec = Recognizer(args.recognizer, threads=1)
    thr = det.operating_threshold
    rows: list[tuple[int, float, float, tuple[float, float] | None, float | None]] = []
    greedy: tuple[int, str] | None = None
    shipped = ""
    for band in (float(b) for b in args.bands.split(",")):
        print(f"band {band:.2f}: reading (zoom from {band:.2f})", file=sys.stderr)
        neg, n = collect(photos, det, rec, zoom_from=band)
        hits = scene_reads(args.scenes, det, rec, band)
        cands = [h.cand for h in hits]
        right = [h.cand for h in hits if h.right]
        stricts: list[tuple[float, float] | None] = [None] + [
            (s, c) for s in GRID if s < band for c in STRICT_LEVELS]
        for strict in stricts:
            for zk in (None, *ZOOM_GRID):
                fp = count(neg, thr, band, strict, zk) / n
                if fp <= BUDGET:
                    rows.append((count(right, thr, band, strict, zk), fp, band, strict, zk))
        if band == VERIFY_SCORE:
            s = (STRICT_VERIFY_SCORE, STRICT_VERIFY_CONFIDENCE)
            shipped = (f"shipped ({band}, {s}, {ZOOM_KEEP_SCORE}): "
                       f"{count(right, thr, band, s, ZOOM_KEEP_SCORE)} plates read, "
                       f"{count(neg, thr, band, s, ZOOM_KEEP_SCORE) / n:.3f} FP/photo")
        g = choose(neg, n, thr, band)
        if g.chosen == band and greedy is None:
            greedy = (count(right, thr, band, g.strict_chosen, g.zoom_keep_chosen),
                      f"{band}, {g.strict_chosen}, {g.zoom_keep_chosen}")
        print(f"  {len(neg)} reads on {n} photos, {len(cands)} on scenes "
              f"({len(right)} right)", file=sys.stderr)
    rows.sort(key=lambda r: (-r[0], r[1]))
    print("| plates read | FP/photo | band | strict | zoom keep |\n|---|---|---|---|---|")
    for r in rows[:args.top]:
        print(f"| {r[0]} | {r[1]:.3f} | {r[2]:.2f} | {r[3]} | {r[4]} |")
    if rows:
        best = rows[0]
        print(f"split rule: band {best[2]:.2f}, strict {best[3]}, zoom keep {best[4]}: "
              f"{best[0]} plates read, {best[1]:.3f} FP/photo")
        if args.json is not None:
            strict_json = None if best[3] is None else {"score": best[3][0],
                                                        "confidence": best[3][1]}
            args.json.write_text(json.dumps({
                "rule": "band_split", "photos": len(photos), "threshold": thr,
                "chosen": best[2], "strict_chosen": strict_json, "zoom_keep_chosen": best[4],
                "fp_per_photo": best[1], "synthetic_plates_read": best[0]}, indent=1))
    if greedy is not None:
        print(f"greedy (edgeocr bands, settled among the bands tried): {greedy[1]}: "
              f"{greedy[0]} plates read")
    print(shipped)
    return 0


if __name__ == "__main__":
    sys.exit(main())
