"""Prove a converted model: the Keras model and the int8 (or float32) file side by side.

Recognizer: exact-match and CER (greedy CTC decode); detector: AP50 and mean corner error
(anchor decode + NMS from ``edgeocr.core.anchors``). Also output agreement, latency and the
op list. Metrics are in percent (points) so ``--max-drop`` reads as points.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgeocr.core.anchors import decode, generate_anchors, nms
from edgeocr.core.charset import cer, ctc_greedy_decode, normalize_text, softmax
from edgeocr.core.geometry import iou_matrix
from edgeocr_convert.calibration import GroundTruth, Sample
from edgeocr_convert.convert import ModelInfo, keras_outputs

FloatArray = npt.NDArray[np.float32]
AP_SCORE_THRESHOLD = 0.05
AGREE_SCORE_THRESHOLD = 0.5
NMS_IOU = 0.45
KERAS_BATCH = 32


class Int8Model:
    """A TFLite model run by ai-edge-litert: float in, dequantized float outputs by name."""

    def __init__(self, path: Path, threads: int = 1, default_delegates: bool = True) -> None:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        kwargs: dict[str, Any] = {"model_path": str(path), "num_threads": threads}
        if not default_delegates:
            # Without this XNNPACK takes over the graph and the op list shows DELEGATE nodes.
            kwargs["experimental_op_resolver_type"] = (
                OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        self.interpreter = Interpreter(**kwargs)
        self.interpreter.allocate_tensors()
        # The signature runner names outputs; get_output_details() order is not Keras order.
        self.runner = self.interpreter.get_signature_runner()
        self.input_name, self.input_detail = next(iter(self.runner.get_input_details().items()))
        self.output_details = self.runner.get_output_details()

    def quantize(self, x: FloatArray) -> npt.NDArray[Any]:
        dtype = np.dtype(self.input_detail["dtype"])
        scale, zero = self.input_detail["quantization"]
        if not scale:
            return x.astype(dtype)
        info = np.iinfo(dtype)
        q: npt.NDArray[Any] = np.clip(np.round(x / scale) + zero, info.min, info.max)
        return q.astype(dtype)

    def invoke_raw(self, q: npt.NDArray[Any]) -> dict[str, npt.NDArray[Any]]:
        out: dict[str, npt.NDArray[Any]] = self.runner(**{self.input_name: q})
        return out

    def __call__(self, x: FloatArray) -> dict[str, FloatArray]:
        raw = self.invoke_raw(self.quantize(x))
        out: dict[str, FloatArray] = {}
        for name, value in raw.items():
            scale, zero = self.output_details[name]["quantization"]
            out[name] = ((value.astype(np.float32) - zero) * scale if scale
                         else value.astype(np.float32))
        return out

    def ops(self) -> list[str]:
        return [str(op["op_name"]) for op in self.interpreter._get_ops_details()]


def open_int8(path: Path, info: ModelInfo) -> tuple[Callable[[FloatArray], dict[str, FloatArray]],
                                                    str]:
    """A float-in, float-out callable for the TFLite file and the name of what runs it.

    ``edgeocr.runtime.load_model`` is preferred: it reads the sidecar beside ``path``, so the
    check covers the sidecar too. Without the device package the interpreter is used directly.
    """
    try:
        from edgeocr.runtime import load_model
    except ImportError:
        return Int8Model(path, threads=2), "ai_edge_litert"
    loaded = load_model(path, info.role, "cpu", threads=2)

    def run(x: FloatArray) -> dict[str, FloatArray]:
        return {k: np.array(v, dtype=np.float32) for k, v in loaded.invoke(x).items()}

    return run, "edgeocr.runtime"


def op_list(path: Path) -> list[str]:
    """Builtin op names in execution order (XNNPACK disabled so no DELEGATE nodes hide them)."""
    return Int8Model(path, default_delegates=False).ops()


def median_latency_ms(path: Path, threads: int, runs: int = 50) -> float:
    """Median ``invoke()`` time with the default delegates (XNNPACK), as a device runs it."""
    from ai_edge_litert.interpreter import Interpreter

    # A plain interpreter: a signature runner keeps tensor references that block invoke().
    interp = Interpreter(model_path=str(path), num_threads=threads)
    interp.allocate_tensors()
    detail = interp.get_input_details()[0]
    q = np.zeros(detail["shape"], dtype=detail["dtype"])
    times = []
    for i in range(runs + 3):
        interp.set_tensor(detail["index"], q)
        t0 = time.perf_counter()
        interp.invoke()
        if i >= 3:  # the first invokes allocate and pack weights
            times.append((time.perf_counter() - t0) * 1000)
    return float(statistics.median(times))


# ---------------------------------------------------------------- recognizer

def recognizer_metrics(probs: FloatArray, truths: Sequence[str], charset: str,
                       is_logits: bool) -> tuple[dict[str, float], list[str]]:
    """Exact-match % and mean CER % of greedy reads of (N, T, C) outputs against truths."""
    p = softmax(probs) if is_logits else probs
    reads = [ctc_greedy_decode(p[i], charset)[0] for i in range(len(p))]
    truth = [normalize_text(t) for t in truths]
    exact = float(np.mean([r == t for r, t in zip(reads, truth, strict=True)])) if reads else 0.0
    errors = [cer(r, t) for r, t in zip(reads, truth, strict=True)]
    return {"exact_match": 100 * exact,
            "cer": 100 * float(np.mean(errors)) if errors else 0.0}, reads


# ---------------------------------------------------------------- detector

@dataclass(frozen=True)
class Found:
    class_index: int
    score: float
    box: FloatArray
    corners: FloatArray


def decode_detections(outputs: dict[str, FloatArray], info: ModelInfo, anchors: FloatArray,
                      score_threshold: float) -> list[Found]:
    """Per-class NMS over one image's (1, N, *) outputs; normalised coordinates."""
    if info.anchors is None:
        raise ValueError("detector without anchors")
    cls = outputs["classes"][0]
    scores = softmax(cls) if info.output_is_logits else cls
    boxes, corners = decode(outputs["boxes"][0], outputs["corners"][0], anchors,
                            info.anchors.variances)
    found: list[Found] = []
    for c in range(1, scores.shape[1]):
        idx = np.flatnonzero(scores[:, c] >= score_threshold)
        if idx.size == 0:
            continue
        keep = nms(boxes[idx], scores[idx, c], NMS_IOU)
        found.extend(Found(c, float(scores[i, c]), boxes[i], corners[i]) for i in idx[keep])
    return found


def _average_precision(hits: list[tuple[float, bool]], n_truth: int) -> float:
    if n_truth == 0:
        return 0.0
    hits.sort(key=lambda h: -h[0])
    tp = np.cumsum([h[1] for h in hits], dtype=np.float64)
    fp = np.cumsum([not h[1] for h in hits], dtype=np.float64)
    recall = tp / n_truth if hits else np.zeros(0)
    precision = tp / np.maximum(tp + fp, 1e-12) if hits else np.zeros(0)
    # All-point interpolation: precision made monotone, integrated over recall steps.
    r = np.concatenate([[0.0], recall, [recall[-1] if len(recall) else 0.0]])
    p = np.concatenate([[1.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    return float(np.sum((r[1:] - r[:-1]) * p[1:]))


def detector_metrics(found: Sequence[list[Found]], truths: Sequence[list[GroundTruth]],
                     info: ModelInfo) -> dict[str, float]:
    """AP50 % (mean over classes with ground truth) and mean corner error of the matched
    detections in input pixels."""
    n_classes = len(info.class_names or ())
    hits: dict[int, list[tuple[float, bool]]] = {c: [] for c in range(1, n_classes + 1)}
    n_truth = dict.fromkeys(hits, 0)
    scale = np.array([info.width, info.height] * 4, dtype=np.float64)
    corner_errors: list[float] = []
    for dets, gts in zip(found, truths, strict=True):
        for c in hits:
            gt_c = [g for g in gts if g.class_index == c]
            n_truth[c] += len(gt_c)
            det_c = sorted((d for d in dets if d.class_index == c), key=lambda d: -d.score)
            used: set[int] = set()
            ious = (iou_matrix(np.array([d.box for d in det_c], np.float64),
                               np.array([g.box for g in gt_c], np.float64))
                    if det_c and gt_c else None)
            for i, d in enumerate(det_c):
                j = -1
                if ious is not None:
                    cand = [(ious[i, k], k) for k in range(len(gt_c)) if k not in used]
                    best = max(cand, default=(0.0, -1))
                    j = best[1] if best[0] >= 0.5 else -1
                hits[c].append((d.score, j >= 0))
                if j >= 0:
                    used.add(j)
                    diff = (np.asarray(d.corners, np.float64) - np.asarray(gt_c[j].corners)) * scale
                    corner_errors.append(float(np.linalg.norm(diff.reshape(4, 2), axis=1).mean()))
    aps = [_average_precision(hits[c], n_truth[c]) for c in hits if n_truth[c] > 0]
    return {"ap50": 100 * float(np.mean(aps)) if aps else 0.0,
            "corner_error_px": float(np.mean(corner_errors)) if corner_errors else float("nan"),
            "objects": float(sum(n_truth.values()))}


def _detection_agreement(a: Sequence[list[Found]], b: Sequence[list[Found]]) -> float:
    """% of confident Keras detections that the TFLite model also finds (same class,
    IoU>=0.5)."""
    total = matched = 0
    for da, db in zip(a, b, strict=True):
        for d in da:
            total += 1
            others = [o.box for o in db if o.class_index == d.class_index]
            if others and iou_matrix(d.box[None].astype(np.float64),
                                     np.array(others, np.float64)).max() >= 0.5:
                matched += 1
    return 100.0 * matched / total if total else 100.0


# ---------------------------------------------------------------- the comparison

def _keras_batches(model: Any, info: ModelInfo, samples: Sequence[Sample]) -> dict[str, FloatArray]:
    parts: dict[str, list[FloatArray]] = {}
    for i in range(0, len(samples), KERAS_BATCH):
        x = np.concatenate([s.x for s in samples[i:i + KERAS_BATCH]], axis=0)
        for k, v in keras_outputs(model, info, x).items():
            parts.setdefault(k, []).append(v.astype(np.float32))
    return {k: np.concatenate(v, axis=0) for k, v in parts.items()}


def compare(model: Any, tflite_path: Path, info: ModelInfo, samples: Sequence[Sample],
            progress: bool = True, label: str = "int8") -> dict[str, Any]:
    """Task metrics of the Keras model and of the TFLite file on ``samples``, and how well
    their outputs agree. ``primary`` names the metric the drop is measured on; the file's
    metrics are reported under ``label`` (its precision: "int8" or "float32")."""
    from tqdm import tqdm

    if not samples:
        raise ValueError("no validation samples")
    float_out = _keras_batches(model, info, samples)
    int8, backend = open_int8(tflite_path, info)
    int8_parts: dict[str, list[FloatArray]] = {}
    for s in tqdm(samples, desc=f"verify {label}", unit="img", disable=not progress, leave=False):
        for k, v in int8(s.x).items():
            int8_parts.setdefault(k, []).append(v)
    int8_out = {k: np.concatenate(v, axis=0) for k, v in int8_parts.items()}
    diff = {k: float(np.abs(float_out[k] - int8_out[k]).mean()) for k in float_out}
    report: dict[str, Any] = {"samples": len(samples), "runtime": backend,
                              "precision": label, "mean_abs_diff": diff}
    if info.role == "recognizer":
        truths = [s.text or "" for s in samples]
        charset = info.charset or ""
        kf, reads_f = recognizer_metrics(float_out[info.output_names[0]], truths, charset,
                                         info.output_is_logits)
        ki, reads_i = recognizer_metrics(int8_out[info.output_names[0]], truths, charset,
                                         info.output_is_logits)
        agree = 100.0 * float(np.mean([a == b for a, b in zip(reads_f, reads_i, strict=True)]))
        examples = list(zip(truths, reads_f, reads_i, strict=True))[:5]
        report.update(primary="exact_match", keras=kf, read_agreement=agree,
                      examples=[{"truth": t, "keras": a, label: b} for t, a, b in examples])
    else:
        if info.anchors is None:
            raise ValueError("detector without anchors")
        anchors = generate_anchors(info.anchors)

        def found(outs: dict[str, FloatArray], thr: float) -> list[list[Found]]:
            return [decode_detections({k: v[i:i + 1] for k, v in outs.items()}, info, anchors, thr)
                    for i in range(len(samples))]

        objects = [s.objects for s in samples]
        kf = detector_metrics(found(float_out, AP_SCORE_THRESHOLD), objects, info)
        ki = detector_metrics(found(int8_out, AP_SCORE_THRESHOLD), objects, info)
        agree = _detection_agreement(found(float_out, AGREE_SCORE_THRESHOLD),
                                     found(int8_out, AGREE_SCORE_THRESHOLD))
        report.update(primary="ap50", keras=kf, detection_agreement=agree)
    report[label] = ki
    report["drop"] = float(report["keras"][report["primary"]] - ki[report["primary"]])
    return report
