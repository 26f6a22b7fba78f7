"""Raw reads of synthetic old Brazilian plate crops: exact share and the commonest confusions.

The generator draws 45% of old Brazilian plates in the stroke font's Brazilian-die variant
(wide cells, square-shouldered 5/6/8/9, boxy rounded-rectangle O/Q; 30% and narrow cells
before session 14). This renders ``--n`` of them through the
recognizer's own capture path (``synth.crops.capture``: context, tilt, camera effects), frames
each as a detector would (``detector_quad``), warps it to 40x160 and reads it with the given
recognizer, no format pack. Session 13 used it to check that the die's 6 is what shipped v3
reads as 5, session 14 that the wide die's O is what it reads as D (docs/MODELS.md):

    .venv/bin/python benchmarks/br_die_check.py [--recognizer R.tflite] [--n 600] [--seed 77]
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

import cv2
import numpy as np
from edgeocr_convert.synth.crops import capture, detector_quad

from edgeocr.recognize import Recognizer
from edgeocr.rectify import warp_quad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recognizer", type=Path, default=None)
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--seed", type=int, default=77)
    args = ap.parse_args(argv)
    rec = Recognizer(args.recognizer, threads=1)
    rng = np.random.default_rng(args.seed)
    exact = 0
    confusions: collections.Counter[str] = collections.Counter()
    for _ in range(args.n):
        cap = capture(rng, "plate", "br_old")
        grey = cv2.cvtColor(cap.image, cv2.COLOR_BGR2GRAY)
        read = rec.read(warp_quad(grey, detector_quad(rng, cap.quad), 160, 40)).text
        exact += read == cap.text
        if len(read) == len(cap.text):
            confusions.update(f"{a}>{b}" for a, b in zip(cap.text, read, strict=True) if a != b)
    print(f"{args.n} old Brazilian plate crops (seed {args.seed}): {exact / args.n:.1%} exact")
    print("commonest confusions (truth>read): "
          + ", ".join(f"{k} x{n}" for k, n in confusions.most_common(12)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
