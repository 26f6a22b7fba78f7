"""Detection on large synthetic scenes, where the detector tiles: recall, precision, false
positives per image and AP of the shipped (or given) detector at its operating threshold.

Scenes are rendered by the detector's own generator at a camera-like size (default
1280x960, objects 12 px up to 45% of the width, on the real plate-free backgrounds when
given), so plates cut by the 2x2 tile edges are common. The frame goes through the same
downscale and tiling decision as the pipeline. No real plate photo is involved: this is
where tile merging is chosen and checked.

    .venv/bin/python benchmarks/tiling.py [--backgrounds ../shared/backgrounds/real-negatives]
        [--detector D.tflite] [--n 200] [--size 1280x960] [--tiles auto|1|2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from edgeocr_convert.synth.backgrounds import BackgroundPool
from edgeocr_convert.synth.scenes import make_scene

from edgeocr.core.geometry import quad_to_box
from edgeocr.detect import Detector
from edgeocr.evaluation.metrics import DetectionScore
from edgeocr.pipeline import Pipeline
from edgeocr.recognize import Recognizer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backgrounds", type=Path, default=None)
    ap.add_argument("--detector", type=Path, default=None)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--size", default="1280x960")
    ap.add_argument("--tiles", choices=("auto", "1", "2"), default="auto")
    args = ap.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    tiles = None if args.tiles == "auto" else int(args.tiles)
    det = Detector(args.detector, threads=1, score_threshold=0.05, tiles=tiles)
    threshold = det.operating_threshold
    # The pipeline decides the detection frame (downscale, grid); nothing is read.
    pipe = Pipeline(det, Recognizer(threads=1), formats=(), verify=None,
                    accept_score=threshold)
    det.score_threshold = 0.05  # every box counts for AP; the operating point filters
    pool = BackgroundPool(args.backgrounds) if args.backgrounds else None
    rng = np.random.default_rng(args.seed)
    scores = {(k, iou): DetectionScore(iou) for k in ("plate", "house_number")
              for iou in (0.4, 0.5)}
    for _ in range(args.n):
        scene = make_scene(rng, height, width, pool, min_objects=1)
        frame, scale, grid = pipe._detection_frame(scene.image, None)
        found = det.detect(frame, grid)
        for (kind, _iou), score in scores.items():
            preds = [(tuple(v * scale for v in d.box), d.score) for d in found
                     if d.kind == kind]
            truths = [quad_to_box(o.quad) for o in scene.objects if o.kind == kind]
            score.add_image(preds, truths, min_score=threshold)  # type: ignore[arg-type]
    print(f"{args.n} synthetic {width}x{height} scenes, tiles {args.tiles}, threshold "
          f"{threshold:.2f}, detector {det.path.name}")
    print("| kind | IoU | truth | recall | precision | FP/image | AP |")
    print("|---|---|---|---|---|---|---|")
    for (kind, iou), s in scores.items():
        print(f"| {kind} | {iou} | {s.n_truth} | {s.recall:.1%} | {s.precision:.1%} | "
              f"{s.fp_per_image:.3f} | {s.average_precision:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
