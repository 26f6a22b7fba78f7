"""Raw reads of synthetic plate crops by face width on the sensor, for one plate style.

Renders ``--n`` plates of ``--style`` through the recognizer's own capture path
(``synth.crops.capture``: context, tilt, camera effects; session 16's size range, 9 px per
character up to 360 px), frames each as a detector would (``detector_quad``), warps it to the
recognizer's input and reads it with each recognizer given, no format pack. Prints the exact
share per width band, so a recognizer's reading of small or large plates can be compared
without real photos (docs/MODELS.md, session 16):

    .venv/bin/python benchmarks/size_check.py R1.tflite [R2.tflite ...] [--style us] [--n 600]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import cv2
import numpy as np
from edgeocr_convert.synth.crops import capture, detector_quad
from edgeocr_convert.synth.plates import STYLES

from edgeocr.core.geometry import warp_quad
from edgeocr.recognize import Recognizer

BANDS = (0.0, 70.0, 90.0, 120.0, 180.0, 260.0, 1e9)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recognizers", type=Path, nargs="+")
    ap.add_argument("--style", default="us", choices=sorted(STYLES))
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--seed", type=int, default=91)
    args = ap.parse_args(argv)
    recs = [Recognizer(p, threads=1) for p in args.recognizers]
    rng = np.random.default_rng(args.seed)
    crops: list[tuple[float, str, np.ndarray]] = []
    for _ in range(args.n):
        cap = capture(rng, "plate", args.style)
        width = float(np.linalg.norm(cap.quad[1] - cap.quad[0]))
        grey = cv2.cvtColor(cap.image, cv2.COLOR_BGR2GRAY)
        crops.append((width, cap.text, warp_quad(grey, detector_quad(rng, cap.quad), 160, 40)))
    labels = [
        f"{lo:.0f}-{hi:.0f}" if hi < 1e8 else f"{lo:.0f}+" for lo, hi in itertools.pairwise(BANDS)
    ]
    print(
        f"{args.n} synthetic {args.style} plates (seed {args.seed}), raw exact by face width (px)"
    )
    print("| recognizer | " + " | ".join(labels) + " | all |")
    print("|---|" + "---|" * (len(labels) + 1))
    counts = [sum(lo <= w < hi for w, _, _ in crops) for lo, hi in itertools.pairwise(BANDS)]
    print("| (crops) | " + " | ".join(str(c) for c in counts) + f" | {len(crops)} |")
    for path, rec in zip(args.recognizers, recs, strict=True):
        right = [rec.read(c).text == t for _, t, c in crops]
        cells = []
        for lo, hi in itertools.pairwise(BANDS):
            hits = [r for (w, _, _), r in zip(crops, right, strict=True) if lo <= w < hi]
            cells.append(f"{np.mean(hits):.1%}" if hits else "-")
        print(f"| {path} | " + " | ".join(cells) + f" | {np.mean(right):.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
