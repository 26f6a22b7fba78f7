"""How the false-positive budget is split between the verification rules, judged on
labelled synthetic scenes instead of dev.

`edgeocr bands` spends the 0.05 false plates per plate-free photo greedily: the lowest band
first, then the strict band under it, then the zoom keep score. This script reads the
plate-free photos and a folder of labelled synthetic scenes (``edgeocr-train synth --mode
scene``) once per band tried, each pass zooming from that band as the pipeline would, then
lists every combination of band, strict band and zoom keep score within the budget with the
number of synthetic plates it reads exactly (a kept read at IoU >= 0.4 with the right text),
best first, next to the greedy choice and the shipped bands. Nothing here looks at dev.
The rule itself is ``edgeocr.evaluation.band_split`` (``edgeocr bands --scenes``); this
script adds the comparison with the greedy choice and the shipped bands.

    .venv/bin/python benchmarks/band_split.py ../shared/backgrounds/real-negatives SCENES \\
        [--recognizer R.tflite] [--detector D.tflite] [--bands 0.20,0.25,0.30,0.35]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgeocr.detect import Detector
from edgeocr.evaluation.band_split import best, report, scene_reads, splits, write_json
from edgeocr.evaluation.bands import GRID, choose, collect, count, even_spread
from edgeocr.pipeline import (
    STRICT_VERIFY_CONFIDENCE,
    STRICT_VERIFY_SCORE,
    VERIFY_SCORE,
    ZOOM_KEEP_SCORE,
)
from edgeocr.recognize import Recognizer


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
    rows = []
    greedy: tuple[int, str] | None = None
    shipped = ""
    plates = n = 0
    for band in sorted(float(b) for b in args.bands.split(",")):
        print(f"band {band:.2f}: reading (zoom from {band:.2f})", file=sys.stderr)
        neg, n = collect(photos, det, rec, zoom_from=band)
        right, plates = scene_reads(args.scenes, det, rec, band)
        rows += splits(neg, n, right, thr, band)
        if band == VERIFY_SCORE:
            s = (STRICT_VERIFY_SCORE, STRICT_VERIFY_CONFIDENCE)
            shipped = (f"shipped ({band}, {s}, {ZOOM_KEEP_SCORE}): "
                       f"{count(right, thr, band, s, ZOOM_KEEP_SCORE)} plates read, "
                       f"{count(neg, thr, band, s, ZOOM_KEEP_SCORE) / n:.3f} FP/photo")
        g = choose(neg, n, thr, band)
        if g.chosen == band and greedy is None:
            greedy = (count(right, thr, band, g.strict_chosen, g.zoom_keep_chosen),
                      f"{band}, {g.strict_chosen}, {g.zoom_keep_chosen}")
        print(f"  {len(neg)} reads on {n} photos, {len(right)} right on {plates} scene plates",
              file=sys.stderr)
    print(report(rows, n, plates, args.top))
    if args.json is not None and best(rows) is not None:
        write_json(rows, n, plates, thr, args.json)
    if greedy is not None:
        print(f"greedy (edgeocr bands, settled among the bands tried): {greedy[1]}: "
              f"{greedy[0]} plates read")
    print(shipped)
    return 0


if __name__ == "__main__":
    sys.exit(main())
