"""Task metrics: text accuracy (exact match, CER) and detection (recall, precision, AP).

Pure numpy; no model code, so the same functions score our pipeline and every peer engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from edgeocr.core.charset import cer, edit_distance
from edgeocr.core.geometry import iou_matrix
from edgeocr.core.types import Box


@dataclass
class TextScore:
    """Running exact-match and character-error totals for a group of reads."""

    n: int = 0
    exact: int = 0
    edits: int = 0
    chars: int = 0

    def add(self, pred: str, truth: str) -> None:
        self.n += 1
        self.exact += int(pred == truth)
        self.edits += edit_distance(pred, truth)
        self.chars += len(truth)

    @property
    def exact_rate(self) -> float:
        return self.exact / self.n if self.n else 0.0

    @property
    def cer(self) -> float:
        """Total edits over total truth characters (a micro average)."""
        return self.edits / self.chars if self.chars else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"n": self.n, "exact": self.exact_rate, "cer": self.cer}


def confusions(pairs: Iterable[tuple[str, str]], top: int = 15) -> list[tuple[str, str, int]]:
    """Most frequent (truth char, predicted char) substitutions over same-length pairs."""
    counts: dict[tuple[str, str], int] = {}
    for pred, truth in pairs:
        if len(pred) != len(truth):
            continue
        for p, t in zip(pred, truth, strict=True):
            if p != t:
                counts[(t, p)] = counts.get((t, p), 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(t, p, n) for (t, p), n in ranked[:top]]


def _match(preds: Sequence[tuple[Box, float]], truths: Sequence[Box], iou: float) -> list[int]:
    """Per prediction, the truth index it matches (greedy by score, best IoU first) or -1."""
    out = [-1] * len(preds)
    if not preds or not truths:
        return out
    order = sorted(range(len(preds)), key=lambda i: -preds[i][1])
    ious = iou_matrix(np.array([preds[i][0] for i in order]), np.array(truths))
    taken = [False] * len(truths)
    for rank, i in enumerate(order):
        best_j, best_iou = -1, iou
        for j in range(len(truths)):
            if not taken[j] and ious[rank, j] >= best_iou:
                best_j, best_iou = j, float(ious[rank, j])
        if best_j >= 0:
            taken[best_j] = True
            out[i] = best_j
    return out


@dataclass
class DetectionScore:
    """Detections of one kind over a set of images, matched to the truth at one IoU."""

    iou_threshold: float
    n_truth: int = 0
    n_images: int = 0
    true_positives: int = 0
    false_positives: int = 0
    # (score, is_true_positive) for every prediction, for the PR curve and AP.
    scored: list[tuple[float, bool]] = field(default_factory=list)

    def add_image(self, preds: Sequence[tuple[Box, float]], truths: Sequence[Box],
                  min_score: float = 0.0,
                  accepted: Sequence[bool] | None = None) -> list[int]:
        """Match one image's predictions (box, score) to its truth boxes greedily by score.

        Returns, per truth box, the index of the operating-point prediction matched to it or
        -1. Operating-point predictions (score >= ``min_score``, or those flagged in
        ``accepted`` when given) count towards TP/FP; all count for AP.
        """
        self.n_images += 1
        self.n_truth += len(truths)
        for score, ok in zip((p[1] for p in preds), _match(preds, truths, self.iou_threshold),
                             strict=True):
            self.scored.append((score, ok >= 0))
        keep = [i for i in range(len(preds))
                if (accepted[i] if accepted is not None else preds[i][1] >= min_score)]
        sub = _match([preds[i] for i in keep], truths, self.iou_threshold)
        matched = [-1] * len(truths)
        for k, j in enumerate(sub):
            if j >= 0:
                matched[j] = keep[k]
                self.true_positives += 1
            else:
                self.false_positives += 1
        return matched

    @property
    def recall(self) -> float:
        return self.true_positives / self.n_truth if self.n_truth else 0.0

    @property
    def precision(self) -> float:
        n = self.true_positives + self.false_positives
        return self.true_positives / n if n else 0.0

    @property
    def fp_per_image(self) -> float:
        return self.false_positives / self.n_images if self.n_images else 0.0

    def pr_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(recall, precision) arrays as the score threshold falls."""
        if not self.scored or not self.n_truth:
            return np.zeros(0), np.zeros(0)
        ranked = sorted(self.scored, key=lambda s: -s[0])
        tp = np.cumsum([1 if ok else 0 for _, ok in ranked])
        fp = np.cumsum([0 if ok else 1 for _, ok in ranked])
        return tp / self.n_truth, tp / np.maximum(tp + fp, 1)

    @property
    def average_precision(self) -> float:
        """All-point interpolated AP (VOC 2010+ style)."""
        rec, prec = self.pr_curve()
        if rec.size == 0:
            return 0.0
        r = np.concatenate([[0.0], rec, [1.0]])
        p = np.concatenate([[1.0], prec, [0.0]])
        p = np.maximum.accumulate(p[::-1])[::-1]
        idx = np.nonzero(r[1:] != r[:-1])[0]
        return float(np.sum((r[idx + 1] - r[idx]) * p[idx + 1]))

    def as_dict(self) -> dict[str, float]:
        return {
            "iou": self.iou_threshold, "truth": self.n_truth, "images": self.n_images,
            "recall": self.recall, "precision": self.precision,
            "fp_per_image": self.fp_per_image, "ap": self.average_precision,
        }


def text_found(candidates: Iterable[str], truth: str, max_distance: int = 0) -> bool:
    """Whether any candidate read equals the truth (within ``max_distance`` edits)."""
    return any(edit_distance(c, truth) <= max_distance for c in candidates if c)


__all__ = ["DetectionScore", "TextScore", "cer", "confusions", "text_found"]
