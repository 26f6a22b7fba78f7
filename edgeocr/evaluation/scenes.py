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
from edgeocr.core.geometry import iou as box_iou
from edgeocr.core.types import Box, Detection, Image, Quad
from edgeocr.data.labels import LabelledSet, LabelRow
from edgeocr.evaluation.metrics import DetectionScore, TextScore
from edgeocr.evaluation.samples import packs_for_region, read_image, row_geometry, source_of
from edgeocr.formats import apply_formats
from edgeocr.pipeline import Pipeline, PipelineRead
from edgeocr.rectify import rectify

FATES = ("read", "kept, label corners read it", "kept, misread", "dropped, read right",
         "dropped, misread", "no candidate")
"""Where each truth with text ends up, in pipeline order (see ``fate_of``): read right;
kept with the wrong text although a warp from the label's own corners reads it (the
predicted corners or the look choice lose it); kept and misread from the label corners too
(the recognizer loses it); a candidate at IoU >= 0.4 dropped by the read verification, its
read right or wrong; no detector candidate at IoU >= 0.4 at all (at the evaluation's low
score threshold)."""

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
    fates: dict[str, dict[str, int]] = field(default_factory=dict)
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
            "e2e_fate": {k: dict(v) for k, v in sorted(self.fates.items())},
            "corner_error_px": {"n": len(corner),
                                "mean": float(np.mean(corner)) if corner else None},
            "frame_ms_median": float(np.median(self.frame_ms)) if self.frame_ms else None,
        }


def _add_fate(report: SceneReport, keys: tuple[str, ...], fate: str) -> None:
    for key in keys:
        table = report.fates.setdefault(key, dict.fromkeys(FATES, 0))
        table[fate] += 1


def _label_read(pipeline: Pipeline, image: Image, row: LabelRow, kind: str) -> str:
    """The pipeline's recognizer and formats on a warp from the label's own corners."""
    assert row.corners is not None and row.box is not None
    det = Detection(kind, 1.0, row.box, row.corners)
    crop = rectify(image, det, *pipeline.recognizer.input_size, margin=pipeline.margin,
                   antialias=pipeline.antialias)
    read = pipeline.recognizer.read(crop, kind=kind)
    return apply_formats(read, kind, pipeline.formats).read.text


def fate_of(pipeline: Pipeline, image: Image, row: LabelRow, kind: str, text: str,
            hit: PipelineRead | None, dropped: list[PipelineRead]) -> str:
    """One of FATES for a truth row with text: ``hit`` is the kept read matched to it,
    ``dropped`` the rejected candidates at IoU >= 0.4 to it, best score first."""
    if hit is not None:
        if hit.read.text == text:
            return "read"
        if _label_read(pipeline, image, row, kind) == text:
            return "kept, label corners read it"
        return "kept, misread"
    if dropped:
        return "dropped, read right" if dropped[0].read.text == text else "dropped, misread"
    return "no candidate"


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
            crop = rectify(image, box_det, *pipeline.recognizer.input_size,
                           antialias=pipeline.antialias)
            read = pipeline.recognizer.read(crop, kind=kind)
            axis_text = apply_formats(read, kind, pipeline.formats).read.text
            if row.corners is not None and row_geometry(ds, row) == "quad":
                corner_error = quad_corner_error(det.corners, row.corners)
        if text:
            _score(report, f"{kind}/{source}", report.e2e, pred_text, text)
            _score(report, kind, report.e2e, pred_text, text)
            _score(report, kind, report.e2e_axis, axis_text, text)
            dropped = []
            if hit is None and row.box is not None:
                near = [p for p in preds if not p.accepted
                        and box_iou(p.detection.box, row.box) >= MATCH_IOU]
                dropped = sorted(near, key=lambda p: -p.detection.score)
            fate = fate_of(pipeline, image, row, kind, text, hit, dropped)
            _add_fate(report, (kind, f"{kind}/{source}"), fate)
        report.records.append(SceneRecord(
            image_name, source, kind, text, row.corners, pred_text,
            hit.detection.corners if hit is not None else None,
            hit.detection.score if hit is not None else 0.0, axis_text, corner_error,
            float(row.box[3] - row.box[1]) if row.box else 0.0,
        ))

