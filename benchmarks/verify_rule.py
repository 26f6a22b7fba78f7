"""False positives per photo on real plate-free photos, with and without read verification.

Reproduces the choice of ``edgeocr.pipeline.VERIFY_SCORE``: for each candidate lower score
on a 0.05 grid, run the shipped (or given) detector and recognizer on the real negatives the
way the pipeline does (whole photo, formats us/eu/br/house_number) and count the reads the
pipeline would publish. The rule: the lowest grid score whose false positives per photo stay
at or below 0.05, the same budget the converter's threshold rule uses. No labelled plate
photo is involved, so the choice cannot be tuned to the dev set.

    .venv/bin/python benchmarks/verify_rule.py ../shared/backgrounds/real-negatives \\
        [--detector D.tflite] [--recognizer R.tflite] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from edgeocr_convert.threshold import list_negatives

from edgeocr.detect import Detector
from edgeocr.formats import DEFAULT_PACKS
from edgeocr.pipeline import VERIFY_CONFIDENCE, Pipeline, Verification
from edgeocr.recognize import Recognizer

GRID = tuple(round(0.1 + 0.05 * i, 2) for i in range(9))  # 0.10 .. 0.50
BUDGET = 0.05


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("negatives", type=Path)
    ap.add_argument("--detector", type=Path, default=None)
    ap.add_argument("--recognizer", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--no-second-look", action="store_true",
                    help="Read only the warped crop (the pipeline also reads the box by default).")
    args = ap.parse_args(argv)
    photos = list_negatives(args.negatives)  # the converter's own spread of <= 600 photos
    if not photos:
        print(f"verify_rule: no images under {args.negatives}", file=sys.stderr)
        return 2
    det = Detector(args.detector, threads=1, score_threshold=min(GRID))
    rec = Recognizer(args.recognizer, threads=1)
    threshold = det.operating_threshold
    # One pass at the lowest score; every grid point is then a filter over the same reads.
    pipe = Pipeline(det, rec, DEFAULT_PACKS, accept_score=threshold,
                    verify=Verification(min_score=min(GRID)),
                    second_look=not args.no_second_look)
    reads = []
    for i, path in enumerate(photos):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            continue
        reads.extend(pipe.process(image.astype(np.uint8), keep_rejected=True))
        if (i + 1) % 100 == 0:
            print(f"{i + 1}/{len(photos)} photos", file=sys.stderr)
    n = len(photos)
    rows = []
    for s in GRID:
        kept = sum(1 for r in reads if r.detection.score >= threshold
                   or (r.detection.score >= s and r.accepted))
        raw = sum(1 for r in reads if r.detection.score >= s)
        rows.append({"verify_score": s, "fp_per_photo": kept / n,
                     "fp_per_photo_without_verification": raw / n})
    chosen = next((r["verify_score"] for r in rows if r["fp_per_photo"] <= BUDGET), None)
    print(f"{n} plate-free photos; detector threshold {threshold:.2f}; every character "
          f">= {VERIFY_CONFIDENCE}")
    print("| lower score | FP/photo with verification | FP/photo if all kept |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r['verify_score']:.2f} | {r['fp_per_photo']:.3f} | "
              f"{r['fp_per_photo_without_verification']:.3f} |")
    print(f"lowest score within {BUDGET} FP/photo: {chosen}")
    if args.json is not None:
        args.json.write_text(json.dumps({"photos": n, "threshold": threshold, "rows": rows,
                                         "budget": BUDGET, "chosen": chosen}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
