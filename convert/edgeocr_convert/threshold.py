"""The detector's operating score threshold, chosen at conversion time and kept in its sidecar.

A detector trained on synthetic scenes is less sure of itself on real photos, so a fixed
0.5 throws real plates away. The threshold is the lowest on the grid at which false
positives per image on **real photos without plates or house numbers** (the
``real-negatives`` folder, whole photos letterboxed as the device does) stay at or below
``MAX_NEGATIVE_FP`` (half the 0.1 per image the project aims at); ``FALLBACK`` when none
does. Precision and recall on the synthetic validation scenes are reported beside it but do
not decide: those scenes are built to be hard (text decoys, objects down to 12 px), so their
precision says little about real frames. The device runs the detector through
:class:`edgeocr.detect.Detector`, so this is measured with the same code, int8 model and
letterboxing. The rule was fixed before looking at any real plate photo's scores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgeocr.core.geometry import iou as box_iou
from edgeocr_convert.calibration import Sample

GRID = tuple(round(0.1 + 0.05 * i, 2) for i in range(17))  # 0.10 .. 0.90
MAX_NEGATIVE_FP = 0.05
FALLBACK = 0.5
MAX_NEGATIVES = 600


@dataclass(frozen=True)
class ThresholdRow:
    threshold: float
    negative_fp_per_image: float
    synthetic_precision: float
    synthetic_recall: float


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    rows: tuple[ThresholdRow, ...]
    negatives: int
    synthetic_images: int
    reason: str


def _sample_image(s: Sample, value_range: tuple[float, float], rgb: bool) -> np.ndarray:
    """The uint8 BGR picture a detector sample was made from (it fills the input)."""
    lo, hi = value_range
    x = (s.x[0].astype(np.float32) - lo) / (hi - lo) * 255.0
    img = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    if img.shape[2] == 1:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if rgb else img


def list_negatives(folder: Path, limit: int = MAX_NEGATIVES) -> list[Path]:
    """The photos the rule uses: the same even spread ``edgeocr bands`` takes."""
    from edgeocr.evaluation.bands import even_spread

    return even_spread(folder, limit)


def choose_threshold(model: Path, samples: Sequence[Sample], negatives: Sequence[Path],
                     value_range: tuple[float, float], rgb: bool, class_names: Sequence[str],
                     progress: Callable[[int], None] | None = None) -> ThresholdChoice:
    """Score the int8 ``model`` on ``samples`` (synthetic scenes with truth) and on the
    plate-free ``negatives`` and pick the threshold by the module's rule."""
    from edgeocr.detect import Detector

    det = Detector(model, threads=1, score_threshold=min(GRID))
    neg_scores: list[float] = []
    n_neg = 0
    for path in negatives:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            continue
        n_neg += 1
        neg_scores += [d.score for d in det.detect(image)]
        if progress is not None:
            progress(1)
    preds: list[list[tuple[str, float, tuple[float, float, float, float]]]] = []
    truths: list[list[tuple[str, tuple[float, float, float, float]]]] = []
    for s in samples:
        image = _sample_image(s, value_range, rgb)
        h, w = image.shape[:2]
        preds.append([(d.kind, d.score, (d.box[0] / w, d.box[1] / h, d.box[2] / w,
                                         d.box[3] / h)) for d in det.detect(image)])
        truths.append([(class_names[o.class_index - 1], o.box) for o in s.objects])
        if progress is not None:
            progress(1)
    n_truth = sum(len(t) for t in truths)
    rows = []
    for t in GRID:
        fp_neg = sum(sc >= t for sc in neg_scores) / max(1, n_neg)
        tp = n_pred = 0
        for p_img, t_img in zip(preds, truths, strict=True):
            used: set[int] = set()
            for kind, score, box in sorted(p_img, key=lambda p: -p[1]):
                if score < t:
                    continue
                n_pred += 1
                best, best_j = 0.5, -1
                for j, (tk, tb) in enumerate(t_img):
                    if j not in used and tk == kind and (iou := box_iou(box, tb)) >= best:
                        best, best_j = iou, j
                if best_j >= 0:
                    used.add(best_j)
                    tp += 1
        rows.append(ThresholdRow(t, fp_neg, tp / n_pred if n_pred else 1.0,
                                 tp / n_truth if n_truth else 0.0))
    ok = [r for r in rows if r.negative_fp_per_image <= MAX_NEGATIVE_FP]
    if not n_neg:
        return ThresholdChoice(FALLBACK, tuple(rows), 0, len(samples),
                               "no negative photos were readable: default kept")
    if not ok:
        return ThresholdChoice(FALLBACK, tuple(rows), n_neg, len(samples),
                               "no threshold kept false positives low enough: default kept")
    best_row = ok[0]
    return ThresholdChoice(
        best_row.threshold, tuple(rows), n_neg, len(samples),
        f"lowest with <= {MAX_NEGATIVE_FP:g} false positives per plate-free photo")
