"""Train the SSD-lite detector on synthetic scenes (default) or a labelled CSV.

Loss: softmax focal loss over background + classes (ignored anchors masked), smooth-L1 on
box and corner offsets of positive anchors, all normalised by the number of positives.
Validation on a fixed seeded set: AP at IoU 0.5 per class (VOC all-point) and the mean
corner error of true positives in input pixels.

Output folder: ``model.h5`` (+ ``edgeocr`` metadata attribute), ``checkpoint.weights.h5`` +
``state.json`` (resume), ``log.csv``, ``curves.png``, ``train_config.json``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgeocr.core.anchors import AnchorSpec, decode, default_anchor_spec, generate_anchors, nms
from edgeocr.core.geometry import iou_matrix
from edgeocr.core.types import KINDS
from edgeocr_convert.data.detection import (
    BatchWorker,
    DatasetError,
    Sample,
    SampleFn,
    fit_aspect_ratios,
    image_files,
    is_pascal_csv,
    load_record,
    make_batch,
    mixed_source,
    negative_source,
    read_dataset,
    record_source,
)

log = logging.getLogger(__name__)

VAL_SEED = 20261123
# Scene sizes (height, width): camera-like aspect ratios, letterboxed like device frames.
SCENE_SIZES = ((320, 320), (360, 640), (240, 320), (288, 512), (384, 512))
NEGATIVE_FRACTION = 0.1
LOSS_KEYS = ("loss", "cls_loss", "box_loss", "corner_loss")


class TrainError(Exception):
    """A training run that cannot start (the message names the path and the reason)."""


@dataclass
class DetectorTrainConfig:
    out: Path
    steps: int = 30000
    batch: int = 16
    size: int = 320
    classes: tuple[str, ...] = ("plate", "house_number")
    data: Path | None = None
    backgrounds: Path | None = None
    seed: int = 0
    resume: bool = False
    lr: float = 2e-3
    warmup: int = 500
    alpha: float = 0.35
    corner_weight: float = 0.5
    cls_loss: str = "focal"
    val_every: int = 1000
    val_size: int = 64
    checkpoint_every: int = 250
    log_every: int = 20
    progress: bool = True


# --------------------------------------------------------------------------- loss


def detection_losses(
    out: dict[str, Any], cls_t: Any, box_t: Any, corner_t: Any, cls_loss: str = "focal",
    gamma: float = 2.0, alpha: float = 0.25, neg_ratio: int = 3, min_neg: int = 16,
) -> tuple[Any, Any, Any]:
    """(class, box, corner) losses of a batch, each summed and divided by the positives.

    ``cls_loss`` "focal": softmax focal loss over every non-ignored anchor; "ohem": cross
    entropy on positives plus the hardest background anchors, ``neg_ratio`` per positive
    (at least ``min_neg`` per image, so object-free photos still teach)."""
    import tensorflow as tf

    logits = tf.cast(out["classes"], tf.float32)
    valid = tf.cast(cls_t >= 0, tf.float32)
    pos = tf.cast(cls_t > 0, tf.float32)
    n_pos = tf.maximum(tf.reduce_sum(pos), 1.0)
    labels = tf.maximum(cls_t, 0)
    logp = tf.nn.log_softmax(logits, axis=-1)
    logp_t = tf.reduce_sum(logp * tf.one_hot(labels, tf.shape(logits)[-1]), axis=-1)
    if cls_loss == "focal":
        p_t = tf.exp(logp_t)
        weight = pos * alpha + (1.0 - pos) * (1.0 - alpha)
        cls_value = tf.reduce_sum(-weight * tf.pow(1.0 - p_t, gamma) * logp_t * valid) / n_pos
    else:
        neg = tf.cast(cls_t == 0, tf.float32)
        neg_ce = -logp_t * neg
        n_neg = tf.minimum(tf.maximum(neg_ratio * tf.reduce_sum(pos, axis=1), float(min_neg)),
                           tf.reduce_sum(neg, axis=1))
        ranked = tf.sort(neg_ce, axis=1, direction="DESCENDING")
        k = tf.cast(tf.maximum(n_neg, 1.0), tf.int32) - 1
        thresh = tf.gather(ranked, k, batch_dims=1)[:, None]
        hard = neg * tf.cast(neg_ce >= thresh, tf.float32) * tf.cast(n_neg > 0, tf.float32)[:, None]
        cls_value = tf.reduce_sum(-logp_t * (pos + tf.stop_gradient(hard))) / n_pos

    def smooth_l1(pred: Any, target: Any) -> Any:
        d = tf.abs(tf.cast(pred, tf.float32) - target)
        per = tf.where(d < 1.0, 0.5 * d * d, d - 0.5)
        return tf.reduce_sum(tf.reduce_sum(per, axis=-1) * pos) / n_pos

    return cls_value, smooth_l1(out["boxes"], box_t), smooth_l1(out["corners"], corner_t)


# --------------------------------------------------------------------------- evaluation


def _softmax(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    out: npt.NDArray[np.float32] = e / e.sum(axis=-1, keepdims=True)
    return out


def average_precision(scores: Sequence[float], tps: Sequence[bool], n_gt: int) -> float:
    """VOC all-point AP: area under the precision envelope over recall."""
    if n_gt == 0:
        return float("nan")
    if not scores:
        return 0.0
    order = np.argsort(-np.asarray(scores), kind="stable")
    tp = np.asarray(tps, np.float64)[order]
    ctp, cfp = np.cumsum(tp), np.cumsum(1.0 - tp)
    recall = ctp / n_gt
    precision = ctp / np.maximum(ctp + cfp, 1e-12)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    idx = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


def evaluate(
    predict: Callable[[npt.NDArray[np.float32]], dict[str, npt.NDArray[np.float32]]],
    images: npt.NDArray[np.float32],
    truths: Sequence[Sample],
    class_names: Sequence[str],
    spec: AnchorSpec,
    batch: int = 16,
    score_threshold: float = 0.05,
    nms_iou: float = 0.45,
) -> dict[str, float]:
    """AP50 per class (``ap50_<name>``), their mean ``map50`` (classes present only) and
    ``corner_err_px``, the mean corner distance of true positives in input pixels."""
    anchors = generate_anchors(spec)
    wh = np.array([spec.input_width, spec.input_height], np.float32)
    dets: dict[int, tuple[list[float], list[bool]]] = {c: ([], []) for c in range(len(class_names))}
    n_gt = dict.fromkeys(range(len(class_names)), 0)
    corner_errs: list[float] = []
    for start in range(0, len(images), batch):
        out = predict(images[start:start + batch])
        for i in range(len(out["classes"])):
            truth = truths[start + i]
            probs = _softmax(np.asarray(out["classes"][i], np.float32))
            boxes, corners = decode(np.asarray(out["boxes"][i], np.float32),
                                    np.asarray(out["corners"][i], np.float32), anchors,
                                    spec.variances)
            boxes = boxes * np.tile(wh, 2)
            corners = corners.reshape(-1, 4, 2) * wh
            for c in range(len(class_names)):
                gt_q = truth.quads[truth.classes == c]
                n_gt[c] += len(gt_q)
                gt_b = np.concatenate([gt_q.min(axis=1), gt_q.max(axis=1)], axis=1)
                s = probs[:, c + 1]
                cand = np.nonzero(s > score_threshold)[0]
                cand = cand[np.argsort(-s[cand])[:200]]
                keep = cand[nms(boxes[cand], s[cand], nms_iou, 100)] if len(cand) else cand
                matched = np.zeros(len(gt_q), bool)
                ious = iou_matrix(boxes[keep], gt_b) if len(gt_q) else None
                for r, k in enumerate(keep):
                    hit = False
                    if ious is not None:
                        j = int(np.argmax(ious[r]))
                        if ious[r, j] >= 0.5 and not matched[j]:
                            matched[j] = hit = True
                            corner_errs.append(
                                float(np.linalg.norm(corners[k] - gt_q[j], axis=1).mean()))
                    dets[c][0].append(float(s[k]))
                    dets[c][1].append(hit)
    metrics: dict[str, float] = {}
    aps = []
    for c, name in enumerate(class_names):
        ap = average_precision(dets[c][0], dets[c][1], n_gt[c])
        metrics[f"ap50_{name}"] = ap
        if not np.isnan(ap):
            aps.append(ap)
    metrics["map50"] = float(np.mean(aps)) if aps else float("nan")
    metrics["corner_err_px"] = float(np.mean(corner_errs)) if corner_errs else float("nan")
    return metrics


# --------------------------------------------------------------------------- data sources


def default_backgrounds() -> Path | None:
    """``<repo>/../shared/backgrounds/real-negatives`` when it exists."""
    repo = Path(__file__).resolve().parents[2]
    path = repo.parent / "shared" / "backgrounds" / "real-negatives"
    return path if path.is_dir() else None


def synthetic_source(class_names: Sequence[str], backgrounds: Path | None) -> SampleFn:
    from edgeocr_convert.synth import scenes
    from edgeocr_convert.synth.backgrounds import BackgroundPool

    # Bounded cache: the full photo set decoded in colour would take ~2 GB.
    unknown = [n for n in class_names if n not in KINDS]
    if unknown:
        raise DatasetError(f"synthetic scenes hold only {', '.join(KINDS)}, not "
                           f"{', '.join(unknown)}; train other classes with --data")
    kinds = tuple(k for k in KINDS if k in class_names)
    pool = BackgroundPool(backgrounds, max_cached=600) if backgrounds is not None else None
    index = {n: i for i, n in enumerate(class_names)}

    def draw(rng: np.random.Generator) -> Sample:
        h, w = SCENE_SIZES[int(rng.integers(len(SCENE_SIZES)))]
        scene = scenes.make_scene(rng, h, w, pool, kinds=kinds)
        keep = [o for o in scene.objects if o.kind in index]
        other = [o.quad for o in scene.objects if o.kind not in index]
        return Sample(
            np.ascontiguousarray(scene.image),
            np.asarray([index[o.kind] for o in keep], np.int64),
            np.asarray([o.quad for o in keep], np.float32).reshape(-1, 4, 2),
            np.asarray(other, np.float32).reshape(-1, 4, 2),
        )
    return draw


def build_sources(
    cfg: DetectorTrainConfig,
) -> tuple[SampleFn, list[Sample], list[str], tuple[float, ...] | None]:
    """The training sampler, the fixed validation samples, the class names and anchor
    aspect ratios fitted to the data (None: the plate/house-number defaults)."""
    negatives = image_files(cfg.backgrounds) if cfg.backgrounds else []
    if cfg.data is not None:
        records, names = read_dataset(cfg.data, cfg.classes)
        rng = np.random.default_rng(VAL_SEED)
        order = rng.permutation(len(records))
        n_val = min(max(1, len(records) // 10), cfg.val_size) if len(records) > 1 else 0
        val_rec = [records[i] for i in order[:n_val]]
        train_rec = [records[i] for i in order[n_val:]] or val_rec
        val = [load_record(r, names) for r in val_rec]
        draw = record_source(train_rec, names)
        if is_pascal_csv(cfg.data):
            # No real negatives here: street photos hold digits that a digit set labels.
            return draw, val, names, fit_aspect_ratios(records)
        if negatives:
            draw = mixed_source([(1.0 - NEGATIVE_FRACTION, draw),
                                 (NEGATIVE_FRACTION, negative_source(negatives))])
        return draw, val, names, None
    names = list(cfg.classes)
    synth = synthetic_source(names, cfg.backgrounds)
    draw = mixed_source([(1.0 - NEGATIVE_FRACTION, synth), (NEGATIVE_FRACTION,
                         negative_source(negatives))]) if negatives else synth
    rng = np.random.default_rng(VAL_SEED)
    val = [synth(rng) for _ in range(cfg.val_size)]
    return draw, val, names, None


def anchor_spec_for(size: int, ratios: tuple[float, ...] | None) -> AnchorSpec:
    spec = default_anchor_spec(size, size)
    if ratios is None:
        return spec
    maps = tuple(fm.model_copy(update={"aspect_ratios": ratios}) for fm in spec.feature_maps)
    return spec.model_copy(update={"feature_maps": maps})


# --------------------------------------------------------------------------- training


def model_metadata(spec: AnchorSpec, class_names: Sequence[str], step: int) -> dict[str, Any]:
    return {
        "role": "detector",
        "input": {"height": spec.input_height, "width": spec.input_width, "channels": 3,
                  "colour": "rgb", "range": [0.0, 1.0], "resize": "letterbox"},
        "class_names": list(class_names),
        "anchors": spec.model_dump(mode="json"),
        "outputs": {"classes": "logits", "boxes": "box offsets", "corners": "corner offsets"},
        "trained_steps": step,
    }


def save_model(out_dir: Path, model: Any, meta: dict[str, Any]) -> Path:
    from edgeocr_convert.training import write_model_metadata

    final = out_dir / "model.h5"
    tmp = out_dir / "model.tmp.h5"
    model.save(tmp)
    write_model_metadata(tmp, meta)
    os.replace(tmp, final)
    return final


def train_detector(cfg: DetectorTrainConfig) -> dict[str, Any]:
    """Run (or resume) training; returns the last validation metrics and ms/step."""
    import keras
    import tensorflow as tf

    from edgeocr_convert import training as tr
    from edgeocr_convert.models.detector import build_detector

    if cfg.steps <= 0 or cfg.batch <= 0 or cfg.size < 64:
        raise TrainError("--steps and --batch must be positive and --size at least 64")
    cfg.out.mkdir(parents=True, exist_ok=True)
    ckpt = cfg.out / tr.CHECKPOINT_NAME
    if ckpt.exists() and not cfg.resume:
        raise TrainError(f"{cfg.out}: holds a checkpoint; pass --resume or choose another --out")
    try:
        draw, val_samples, names, ratios = build_sources(cfg)
    except DatasetError as exc:
        raise TrainError(str(exc)) from None
    spec = anchor_spec_for(cfg.size, ratios)
    keras.utils.set_random_seed(cfg.seed)
    model = build_detector(cfg.size, cfg.size, names, spec, cfg.alpha)
    warmup = min(cfg.warmup, cfg.steps // 2)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, max(1, cfg.steps - warmup), alpha=0.02, warmup_target=cfg.lr,
        warmup_steps=warmup)
    optimizer = keras.optimizers.Adam(schedule, global_clipnorm=5.0)
    start = 0
    if cfg.resume and ckpt.exists():
        try:
            start = int(tr.load_checkpoint(cfg.out, model, optimizer)["step"])
        except tr.CheckpointError as exc:
            raise TrainError(str(exc)) from None
        log.info("resuming from step %d", start)
        if start >= cfg.steps:
            # Nothing left to train: still write model.h5, so a committed checkpoint can be
            # exported (and converted or averaged) without training a step.
            save_model(cfg.out, model, model_metadata(spec, names, start))
    if not optimizer.built:
        # Built outside tf.function: creating variables inside it would trace it twice.
        optimizer.build(model.trainable_variables)
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    tr.write_json(cfg.out / "train_config.json",
                  {**config, "class_names": names, "anchors": spec.model_dump(mode="json"),
                   "params": int(model.count_params())})
    anchors = generate_anchors(spec)
    (val_x, *_), val_truth = make_batch(val_samples, spec, anchors, None)
    metric_keys = ["map50", *[f"ap50_{n}" for n in names], "corner_err_px"]
    csv_log = tr.CsvLog(cfg.out / "log.csv",
                        [*LOSS_KEYS, "lr", "ms_per_step", "data_wait_ms", *metric_keys],
                        resume_step=start if cfg.resume else None)

    @tf.function(autograph=False)
    def train_step(x: Any, c: Any, b: Any, k: Any) -> tuple[Any, Any, Any, Any]:
        with tf.GradientTape() as tape:
            out = model(x, training=True)
            cls_l, box_l, cor_l = detection_losses(out, c, b, k, cfg.cls_loss)
            loss = cls_l + box_l + cfg.corner_weight * cor_l
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss, cls_l, box_l, cor_l

    @tf.function(autograph=False)
    def infer(x: Any) -> Any:
        return model(x, training=False)

    def predict(x: npt.NDArray[np.float32]) -> dict[str, npt.NDArray[np.float32]]:
        return {k: v.numpy() for k, v in infer(tf.constant(x)).items()}

    timer = tr.StepTimer()
    sums = np.zeros(len(LOSS_KEYS))
    n_sum = 0
    wait_s = 0.0
    metrics: dict[str, float] = {}
    step = start
    worker = BatchWorker(draw, spec, cfg.batch, cfg.seed, start, cfg.steps)
    try:
        with tr.stop_on_signal() as stop, tr.progress(cfg.steps, start, "detector",
                                                      cfg.progress) as bar:
            while step < cfg.steps:
                t_wait = time.perf_counter()
                batch = worker.get()
                wait_s += time.perf_counter() - t_wait
                timer.start()
                values = train_step(*(tf.constant(a) for a in batch))
                values = [float(v) for v in values]
                timer.stop()
                if not np.all(np.isfinite(values)):
                    raise TrainError(f"{cfg.out}: loss is not finite at step {step + 1}: "
                                     f"{values}; lower --lr or resume from the checkpoint")
                step += 1
                sums += values
                n_sum += 1
                bar.update(1)
                last = step == cfg.steps or bool(stop)
                row: dict[str, Any] = {}
                if step % cfg.val_every == 0 or last:
                    metrics = evaluate(predict, val_x, val_truth, names, spec, cfg.batch)
                    row.update(metrics)
                if step % cfg.log_every == 0 or last or row:
                    means = sums / max(n_sum, 1)
                    row.update(dict(zip(LOSS_KEYS, means.tolist(), strict=True)))
                    row["lr"] = float(optimizer.learning_rate)
                    row["ms_per_step"] = timer.ms_per_step
                    # Time the step waited for the batch worker: > 0 means data-bound.
                    row["data_wait_ms"] = 1000.0 * wait_s / max(n_sum, 1)
                    wait_s = 0.0
                    csv_log.write(step, **row)
                    bar.set_postfix(loss=f"{means[0]:.3f}",
                                    map50=f"{metrics.get('map50', float('nan')):.3f}")
                    sums[:] = 0
                    n_sum = 0
                if step % cfg.checkpoint_every == 0 or last:
                    tr.save_checkpoint(cfg.out, model, optimizer,
                                       {"step": step, "metrics": _finite(metrics),
                                        "time": time.time()})
                    save_model(cfg.out, model, model_metadata(spec, names, step))
                    tr.plot_curves(cfg.out / "log.csv", cfg.out / "curves.png", LOSS_KEYS,
                                   ["map50", *[f"ap50_{n}" for n in names][:4]],
                                   title=f"detector {cfg.out.name}")
                if stop:
                    break
    except DatasetError as exc:
        raise TrainError(str(exc)) from None
    finally:
        worker.close()
    return {"step": step, "metrics": _finite(metrics), "ms_per_step": timer.ms_per_step,
            "class_names": names, "interrupted": bool(stop)}


def _finite(metrics: dict[str, float]) -> dict[str, float | None]:
    return {k: (v if np.isfinite(v) else None) for k, v in metrics.items()}
