"""Score the whole pipeline on labelled scenes: detection, corners, end-to-end reads.

A scene row is scored by detection when it has corners (geometry ``box`` or ``quad``).
House-number rows with text and no location count as read when the number is read anywhere
in the image. The detector runs at a low score threshold so AP sees the whole PR curve;
TP/FP counts, recall and end-to-end accuracy use the reads the pipeline accepts: those at the
operating threshold, plus those under it that pass the pipeline's read verification.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edgeocr.core.charset import normalize_text
from edgeocr.core.geometry import box_to_quad, quad_corner_error
from edgeocr.core.types import Box, Detection, Image, Quad
from edgeocr.data.labels import LabelledSet, LabelRow
from edgeocr.evaluation.metrics import DetectionScore, TextScore
from edgeocr.evaluation.samples import packs_for_region, read_image, row_geometry, source_of
from edgeocr.formats import apply_formats
from edgeocr.pipeline import Pipeline, PipelineRead
from edgeocr.rectify import rectify

IOUS = (0.4, 0.5)
MATCH_IOU = 0.4
"""IoU at which a read is attributed to a truth row for end-to-end scoring."""


@dataclass
class SceneRecord:
    """One truth row and what the pipeline made of it (for galleries and plots)."""

    image: str
    source: str
    kind: str
    truth: str
    truth_quad: Quad | None
    pred: str
    pred_quad: Quad | None
    score: float
    pred_axis: str = ""
    corner_error: float | None = None
    plate_height: float = 0.0


@dataclass
class SceneReport:
    threshold: float
    detection: dict[str, dict[float, DetectionScore]] = field(default_factory=dict)
    detection_by_source: dict[str, DetectionScore] = field(default_factory=dict)
    e2e: dict[str, TextScore] = field(default_factory=dict)
    e2e_axis: dict[str, TextScore] = field(default_factory=dict)
    found_anywhere: dict[str, list[bool]] = field(default_factory=dict)
    records: list[SceneRecord] = field(default_factory=list)
    frame_ms: list[float] = field(default_factory=list)
    images: int = 0

    def as_dict(self) -> dict[str, object]:
        corner = [r.corner_error for r in self.records if r.corner_error is not None]
        return {
            "threshold": self.threshold,
            "images": self.images,
            "detection": {k: {str(i): s.as_dict() for i, s in v.items()}
                          for k, v in sorted(self.detection.items())},
            "detection_by_source_iou0.5": {k: v.as_dict()
                                          for k, v in sorted(self.detection_by_source.items())},
            "e2e_exact": {k: v.as_dict() for k, v in sorted(self.e2e.items())},
            "e2e_exact_axis_aligned_crop": {k: v.as_dict()
                                            for k, v in sorted(self.e2e_axis.items())},
            "found_anywhere": {k: {"n": len(v), "rate": (sum(v) / len(v)) if v else 0.0}
                               for k, v in sorted(self.found_anywhere.items())},
            "corner_error_px": {"n": len(corner),
                                "mean": float(np.mean(corner)) if corner else None},
            "frame_ms_median": float(np.median(self.frame_ms)) if self.frame_ms else None,
        }


def _score(report: SceneReport, key: str, table: dict[str, TextScore], pred: str,
           truth: str) -> None:
    table.setdefault(key, TextScore()).add(pred, truth)


def evaluate_scenes(ds: LabelledSet, pipeline: Pipeline,
                    progress: Callable[[int, int], None] | None = None,
                    auto_formats: bool = False) -> SceneReport:
    """Run ``pipeline`` (whose detector should use a low score threshold) on every scene
    image of ``ds`` and score it (see the module docstring). The operating threshold is the
    pipeline's ``accept_score``; its verification (if any) decides below it. With
    ``auto_formats`` the plate format packs follow each image's region in meta.csv."""
    report = SceneReport(pipeline.accept_score)
    groups = ds.by_image()
    images = [img for img, rows in groups.items()
              if any(row_geometry(ds, r) in ("box", "quad", "none") for r in rows)]
    for n, image_name in enumerate(images):
        rows = groups[image_name]
        source = source_of(image_name)
        image = read_image(ds.image_path(image_name))
        if auto_formats:
            meta = ds.meta.get(image_name)
            region = meta.region if meta is not None else ""
            pipeline.formats = (*packs_for_region(region, "plate"), "house_number")
        t0 = time.perf_counter()
        reads = pipeline.process(image, keep_rejected=True)
        report.frame_ms.append((time.perf_counter() - t0) * 1000.0)
        report.images += 1
        kept = [r for r in reads if r.accepted]
        all_texts = {r.read.text for r in kept}
        for kind in {r.kind for r in rows} | {r.detection.kind for r in reads}:
            truths = [r for r in rows if r.kind == kind and r.corners is not None]
            preds = [r for r in reads if r.detection.kind == kind]
            _score_kind(report, ds, pipeline, image, image_name, source, kind, truths, preds)
        for row in rows:
            text = normalize_text(row.text)
            if text:
                found = text in all_texts
                report.found_anywhere.setdefault(f"{row.kind}/{source}", []).append(found)
                report.found_anywhere.setdefault(row.kind, []).append(found)
        if progress is not None:
            progress(n + 1, len(images))
    return report


def _score_kind(report: SceneReport, ds: LabelledSet, pipeline: Pipeline, image: Image,
                image_name: str, source: str, kind: str, truths: list[LabelRow],
                preds: list[PipelineRead]) -> None:
    truth_boxes: list[Box] = [t.box for t in truths if t.box is not None]
    pred_boxes = [(p.detection.box, p.detection.score) for p in preds]
    accepted = [p.accepted for p in preds]
    matched: list[int] = [-1] * len(truths)
    for iou in IOUS:
        score = report.detection.setdefault(kind, {}).setdefault(iou, DetectionScore(iou))
        m = score.add_image(pred_boxes, truth_boxes, accepted=accepted)
        if iou == MATCH_IOU:
            matched = m
        if iou == 0.5:
            report.detection_by_source.setdefault(
                f"{kind}/{source}", DetectionScore(iou)).add_image(
                    pred_boxes, truth_boxes, accepted=accepted)
    for j, row in enumerate(truths):
        text = normalize_text(row.text)
        i = matched[j]
        hit = preds[i] if i >= 0 else None
        pred_text = hit.read.text if hit is not None else ""
        axis_text = ""
        corner_error = None
        if hit is not None:
            det = hit.detection
            box_det = Detection(det.kind, det.score, det.box, box_to_quad(det.box))
            # The same detection read from a plain axis-aligned crop: what the warp buys.
            crop = rectify(image, box_det, *pipeline.recognizer.input_size)
            read = pipeline.recognizer.read(crop, kind=kind)
            axis_text = apply_formats(read, kind, pipeline.formats).read.text
            if row.corners is not None and row_geometry(ds, row) == "quad":
                corner_error = quad_corner_error(det.corners, row.corners)
        if text:
            _score(report, f"{kind}/{source}", report.e2e, pred_text, text)
            _score(report, kind, report.e2e, pred_text, text)
            _score(report, kind, report.e2e_axis, axis_text, text)
        report.records.append(SceneRecord(
            image_name, source, kind, text, row.corners, pred_text,
            hit.detection.corners if hit is not None else None,
            hit.detection.score if hit is not None else 0.0, axis_text, corner_error,
            float(row.box[3] - row.box[1]) if row.box else 0.0,
        ))

