"""Train the CRNN recognizer with CTC on synthetic crops (optionally mixed with labelled crops).

Batches come from ``edgeocr_convert.synth.crops.make_crop`` in a background process (spawned,
so the child never inherits TensorFlow's threads) while TensorFlow trains in this one; with
``workers=0`` they are made inline (tests). A fixed, seeded synthetic validation set gives
exact-match and CER with greedy CTC decoding every ``eval_every`` steps.

Outputs in ``out``: checkpoint.weights.h5 + state.json (resume), log.csv, curves.png,
model.h5 (best validation exact match, with the ``edgeocr`` metadata attribute) and
train_config.json.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgeocr.core.charset import DEFAULT_CHARSET, cer, ctc_greedy_decode, encode, normalize_text
from edgeocr_convert.data.crops import LabelledCrops, load_labelled_crops

log = logging.getLogger(__name__)

U8 = npt.NDArray[np.uint8]
# (rng, kind, height, width) -> (grey uint8 (height, width), label); the synth.crops contract.
CropFn = Callable[[np.random.Generator, str, int, int], tuple[U8, str]]
Batch = tuple[npt.NDArray[np.float32], npt.NDArray[np.int32], npt.NDArray[np.int32]]

VAL_SEED = 20261123


@dataclass
class RecognizerTrainConfig:
    out: Path
    steps: int = 20000
    batch: int = 64
    head: str = "conv"
    height: int = 40
    width: int = 160
    width_mult: float = 1.0
    charset: str = DEFAULT_CHARSET
    seed: int = 0
    lr: float = 1e-3
    warmup: int = 300
    clipnorm: float = 5.0
    plate_fraction: float = 0.8
    data: Path | None = None
    data_fraction: float = 0.5
    photos: Path | None = None
    negatives: Path | None = None
    reject_fraction: float = 0.1
    init: Path | None = None
    eval_every: int = 500
    checkpoint_every: int = 500
    val_size: int = 1000
    max_label: int = 16
    workers: int = 1
    pool_size: int = 20000
    min_fill: int = 512
    augment: bool = True
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["out"] = str(self.out)
        d["data"] = str(self.data) if self.data else None
        d["init"] = str(self.init) if self.init else None
        d["photos"] = str(self.photos) if self.photos else None
        d["negatives"] = str(self.negatives) if self.negatives else None
        return d


# ---------------------------------------------------------------------------------------------
# Data


def default_crop_fn() -> CropFn:
    from edgeocr_convert.synth.crops import make_crop

    fn: CropFn = make_crop  # type: ignore[assignment]
    return fn


def augment(rng: np.random.Generator, img: U8) -> U8:
    """Light photometric augmentation on top of the already degraded crops: contrast and
    brightness, occasional inversion (light-on-dark plates), a small erased patch."""
    x = img.astype(np.float32)
    if rng.random() < 0.8:
        mean = float(x.mean())
        x = (x - mean) * rng.uniform(0.6, 1.3) + mean + rng.uniform(-35, 35)
    if rng.random() < 0.15:
        x = 255.0 - x
    if rng.random() < 0.3:
        h, w = img.shape
        # Small enough (at most ~ half a character) that the label stays readable.
        eh = int(rng.integers(max(1, h // 6), max(2, h // 2)))
        ew = int(rng.integers(1, max(2, w // 24)))
        y0 = int(rng.integers(0, h - eh + 1))
        x0 = int(rng.integers(0, w - ew + 1))
        x[y0 : y0 + eh, x0 : x0 + ew] = rng.uniform(0, 255)
    if rng.random() < 0.3:
        x = x + rng.normal(0, rng.uniform(2, 8), x.shape)
    return np.clip(x, 0, 255).astype(np.uint8)


@dataclass
class BatchSpec:
    batch: int
    height: int
    width: int
    charset: str
    max_label: int
    plate_fraction: float
    augment: bool
    real_fraction: float = 0.0
    photos: str | None = None
    """Folder of real plate-free photos for pictures and context (``synth.photos``)."""
    reject_fraction: float = 0.0
    """Share of each batch taken from the reject crops (empty label), when there are any."""


def synth_sample(
    rng: np.random.Generator, crop_fn: CropFn, spec: BatchSpec
) -> tuple[U8, str]:
    """One synthetic crop whose label fits the charset and ``max_label`` (redrawn otherwise)."""
    for _ in range(20):
        kind = "plate" if rng.random() < spec.plate_fraction else "house_number"
        img, text = crop_fn(rng, kind, spec.height, spec.width)
        text = normalize_text(text)
        if 0 < len(text) <= spec.max_label and all(c in spec.charset for c in text):
            return img, text
    raise RuntimeError("make_crop kept returning labels outside the charset or too long")


def encode_batch(
    rng: np.random.Generator, images: list[U8], texts: list[str], spec: BatchSpec
) -> Batch:
    """(x float32 (B,H,W,1) in [0,1], labels int32 (B, max_label) 0-padded, lengths int32 (B,)),
    augmenting each image afresh when ``spec.augment``."""
    n = len(images)
    x = np.empty((n, spec.height, spec.width, 1), np.float32)
    labels = np.zeros((n, spec.max_label), np.int32)
    lengths = np.zeros((n,), np.int32)
    for i, (img, text) in enumerate(zip(images, texts, strict=True)):
        x[i, :, :, 0] = (augment(rng, img) if spec.augment else img).astype(np.float32) / 255.0
        codes = encode(text[: spec.max_label], spec.charset)
        labels[i, : len(codes)] = codes
        lengths[i] = len(codes)
    return x, labels, lengths


def render_sample(rng: np.random.Generator, spec: BatchSpec) -> tuple[U8, str]:
    """One synthetic crop from ``make_crop`` (top level so worker processes can pickle it).
    Only these training crops use ``spec.photos``: the validation set stays photo-free, so
    its figures compare across runs."""
    from edgeocr_convert.synth import photos

    photos.use(spec.photos)
    return synth_sample(rng, default_crop_fn(), spec)


class BatchSource:
    """Training batches: synthetic crops (+ a ``real_fraction`` of labelled crops).

    With ``workers`` > 0 the crops come from a :class:`SamplePool` (rendered in background
    processes, reused with fresh augmentation), so a renderer slower than the train step does
    not stall training. With ``workers=0`` every batch is rendered inline (tests).
    """

    def __init__(
        self,
        spec: BatchSpec,
        seed: int,
        workers: int = 1,
        real: LabelledCrops | None = None,
        crop_fn: CropFn | None = None,
        pool_size: int = 20000,
        min_fill: int = 512,
        rejects: U8 | None = None,
    ) -> None:
        from edgeocr_convert.training import SamplePool

        self.spec = spec
        self.real = real
        self.rejects = rejects if rejects is not None and len(rejects) else None
        self._rng = np.random.default_rng(seed)
        self._crop_fn = crop_fn
        self._pool: SamplePool | None = None
        if workers > 0:
            self._pool = SamplePool(functools.partial(render_sample, spec=spec), seed, workers,
                                    pool_size, min_fill)
        elif self._crop_fn is None:
            self._crop_fn = default_crop_fn()

    @property
    def rendered(self) -> int:
        """Synthetic crops rendered by the workers so far (0 when inline)."""
        return self._pool.rendered if self._pool is not None else 0

    def next(self) -> Batch:
        spec, rng = self.spec, self._rng
        samples: list[tuple[U8, str]] = []
        n_real = round(spec.batch * spec.real_fraction) if self.real is not None else 0
        if self.real is not None:
            for j in rng.integers(len(self.real.texts), size=n_real):
                samples.append((self.real.images[j], self.real.texts[j]))
        n_reject = 0
        if self.rejects is not None:
            n_reject = min(spec.batch - n_real, round(spec.batch * spec.reject_fraction))
            samples.extend((self.rejects[j], "") for j in rng.integers(len(self.rejects),
                                                                      size=n_reject))
        n_synth = spec.batch - n_real - n_reject
        if self._pool is not None:
            samples.extend(self._pool.sample(rng, n_synth))
        elif self._crop_fn is not None:
            from edgeocr_convert.synth import photos

            photos.use(spec.photos)  # for this batch only: the validation set has none
            try:
                samples.extend(synth_sample(rng, self._crop_fn, spec) for _ in range(n_synth))
            finally:
                photos.use(None)
        return encode_batch(rng, [s[0] for s in samples], [s[1] for s in samples], spec)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    def __enter__(self) -> BatchSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_val_set(
    n: int, spec: BatchSpec, crop_fn: CropFn, seed: int = VAL_SEED
) -> tuple[npt.NDArray[np.float32], list[str]]:
    """A fixed synthetic validation set (no extra augmentation): (x (N,H,W,1), texts)."""
    rng = np.random.default_rng(seed)
    x = np.empty((n, spec.height, spec.width, 1), np.float32)
    texts: list[str] = []
    for i in range(n):
        img, text = synth_sample(rng, crop_fn, spec)
        x[i, :, :, 0] = img.astype(np.float32) / 255.0
        texts.append(text)
    return x, texts


def cached_val_set(
    out: Path, cfg: RecognizerTrainConfig, spec: BatchSpec, crop_fn: CropFn
) -> tuple[npt.NDArray[np.float32], list[str]]:
    """The validation set, rendered once per run folder and kept in ``out/val_set.npz``
    (rendering 1000 crops takes tens of seconds; a resume reuses them)."""
    path = out / "val_set.npz"
    key = f"{VAL_SEED}:{cfg.val_size}:{cfg.height}x{cfg.width}:{cfg.plate_fraction}:{cfg.charset}"
    if path.is_file():
        with np.load(path) as z:
            if str(z["key"]) == key:
                return z["x"].astype(np.float32) / 255.0, [str(t) for t in z["texts"]]
    x, texts = make_val_set(cfg.val_size, spec, crop_fn)
    tmp = out / "val_set.tmp.npz"
    np.savez_compressed(tmp, key=key, x=np.round(x * 255).astype(np.uint8),
                        texts=np.array(texts, dtype=str))
    tmp.replace(path)
    return x, texts


def decode_batch(probs: npt.NDArray[np.floating], charset: str) -> list[str]:
    return [ctc_greedy_decode(p, charset)[0] for p in probs]


def score(preds: list[str], truths: list[str]) -> tuple[float, float]:
    """(exact-match rate, mean CER)."""
    if not truths:
        return 0.0, 0.0
    exact = sum(p == t for p, t in zip(preds, truths, strict=True)) / len(truths)
    mean_cer = float(np.mean([cer(p, t) for p, t in zip(preds, truths, strict=True)]))
    return exact, mean_cer


# ---------------------------------------------------------------------------------------------
# Training


def model_metadata(cfg: RecognizerTrainConfig, extra: dict[str, Any]) -> dict[str, Any]:
    """The ``edgeocr`` attribute of model.h5 (CONTRACTS "Keras model metadata")."""
    return {
        "role": "recognizer",
        "input": {"height": cfg.height, "width": cfg.width, "channels": 1, "colour": "grey",
                  "range": [0.0, 1.0]},
        "charset": cfg.charset,
        "blank": 0,
        "head": cfg.head,
        "width_mult": cfg.width_mult,
        **extra,
    }


ARCHITECTURE_KEYS = ("head", "height", "width", "width_mult", "charset")


def _check_same_architecture(out: Path, cfg: RecognizerTrainConfig) -> None:
    from edgeocr_convert.training import STATE_NAME, CheckpointError

    try:
        saved = json.loads((out / STATE_NAME).read_text()).get("config", {})
    except (OSError, ValueError):
        return  # load_checkpoint reports missing or broken files
    current = cfg.to_json()
    diff = [f"{k} {saved[k]!r} (now {current[k]!r})" for k in ARCHITECTURE_KEYS
            if k in saved and saved[k] != current[k]]
    if diff:
        raise CheckpointError(f"{out}: the checkpoint was trained with {', '.join(diff)}; "
                              "pass the same options to --resume")


def _optimizer(cfg: RecognizerTrainConfig) -> Any:
    import keras

    warm = max(1, min(cfg.warmup, cfg.steps // 10))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=cfg.lr * 0.05,
        decay_steps=max(1, cfg.steps - warm),
        alpha=0.02,
        warmup_target=cfg.lr,
        warmup_steps=warm,
    )
    return keras.optimizers.Adam(schedule, global_clipnorm=cfg.clipnorm)


def _transfer_layers(init: Path, model: Any, why: Exception) -> None:
    """Load the layers of the model in ``init`` whose names and weight shapes match (e.g. a
    conv-head model's backbone into a BiLSTM-head model); CheckpointError if none match."""
    import keras

    from edgeocr_convert.training import CheckpointError

    try:
        src = keras.models.load_model(init, compile=False)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{init}: cannot load into this model: {why}") from exc
    moved, total = 0, 0
    for layer in model.layers:
        if not layer.weights:
            continue
        total += 1
        try:
            other = src.get_layer(layer.name)
        except ValueError:
            continue
        ws = other.get_weights()
        if [w.shape for w in ws] == [w.shape for w in layer.get_weights()]:
            layer.set_weights(ws)
            moved += 1
    if moved == 0:
        raise CheckpointError(f"{init}: no layer of it fits this model ({why})")
    log.warning("%s: architectures differ; loaded %d of %d weighted layers by name, the rest "
                "start fresh", init, moved, total)


def train_recognizer(
    cfg: RecognizerTrainConfig, resume: bool = False, crop_fn: CropFn | None = None
) -> dict[str, Any]:
    """Train (or resume) into ``cfg.out``; returns a summary dict (also the last state.json).

    ``crop_fn`` replaces ``make_crop`` (inline batches only, i.e. ``workers=0``).
    Raises TrainDataError / CheckpointError for unusable inputs.
    """
    import keras
    import tensorflow as tf

    from edgeocr_convert.models.recognizer import build_recognizer, logits_model
    from edgeocr_convert.training import (
        CHECKPOINT_NAME,
        CheckpointError,
        CsvLog,
        StepTimer,
        load_checkpoint,
        plot_curves,
        progress,
        save_checkpoint,
        save_h5,
        stop_on_signal,
        write_json,
        write_model_metadata,
    )

    if crop_fn is not None and cfg.workers > 0:
        raise ValueError("a custom crop_fn needs workers=0 (workers import make_crop themselves)")
    out = cfg.out
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(cfg.seed)
    real = load_labelled_crops(cfg.data, cfg.height, cfg.width, cfg.charset) if cfg.data else None
    if real is not None:
        log.info("fine-tuning data: %d crops from %s", len(real.texts), cfg.data)
    rejects: U8 | None = None
    held_rejects: U8 | None = None
    if cfg.negatives is not None:
        from edgeocr_convert.data import rejects as reject_data

        rejects, held_rejects = reject_data.split(reject_data.load_or_mine(
            cfg.negatives, out, cfg.height, cfg.width, progress=cfg.progress))
        log.info("reject crops: %d for training, %d held out, from %s", len(rejects),
                 len(held_rejects), cfg.negatives)

    model = build_recognizer(cfg.height, cfg.width, cfg.charset, cfg.head, cfg.width_mult)  # type: ignore[arg-type]
    train_model = logits_model(model)
    optimizer = _optimizer(cfg)
    step, best_exact, best_cer = 0, -1.0, float("inf")
    # --resume on a folder without a checkpoint yet starts the run (as the detector's does),
    # so one command line serves the first start and every restart.
    resume = resume and (out / CHECKPOINT_NAME).exists()
    if resume:
        _check_same_architecture(out, cfg)
        saved = load_checkpoint(out, model, optimizer)
        step, best_exact = int(saved["step"]), float(saved.get("best_exact", -1.0))
        if saved.get("best_cer") is not None:
            best_cer = float(saved["best_cer"])
        log.info("resumed %s at step %d", out, step)
    else:
        if (out / CHECKPOINT_NAME).exists():
            raise CheckpointError(
                f"{out}: already holds a training run; pass --resume or choose another folder")
        if cfg.init is not None:
            # Fine-tuning starts from trained weights (a model.h5 or checkpoint.weights.h5)
            # with a fresh optimizer and schedule.
            try:
                model.load_weights(cfg.init)
            except (OSError, ValueError, KeyError) as exc:
                _transfer_layers(cfg.init, model, exc)
        optimizer.build(model.trainable_variables)
    write_json(out / "train_config.json", cfg.to_json())

    spec = BatchSpec(cfg.batch, cfg.height, cfg.width, cfg.charset, cfg.max_label,
                     cfg.plate_fraction, cfg.augment,
                     cfg.data_fraction if real is not None else 0.0,
                     str(cfg.photos) if cfg.photos is not None else None,
                     cfg.reject_fraction if rejects is not None else 0.0)
    variables = model.trainable_variables

    @tf.function(reduce_retracing=True, autograph=False)
    def train_step(x: tf.Tensor, y: tf.Tensor, y_len: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            logits = train_model(x, training=True)
            out_len = tf.fill([tf.shape(logits)[0]], tf.shape(logits)[1])
            loss = tf.reduce_mean(keras.ops.ctc_loss(y, logits, y_len, out_len, mask_index=0))
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables, strict=True))
        return loss

    @tf.function(reduce_retracing=True, autograph=False)
    def forward(x: tf.Tensor) -> tf.Tensor:
        return model(x, training=False)

    def decode_all(x: npt.NDArray[np.float32]) -> list[str]:
        if not len(x):
            return []
        probs = np.concatenate([forward(x[i : i + 250]).numpy() for i in range(0, len(x), 250)])
        return decode_batch(probs, cfg.charset)

    def evaluate() -> tuple[float, float]:
        return score(decode_all(val_x), val_texts)

    def reject_rate() -> float | None:
        """Share of the held-out reject crops read as nothing."""
        if held_rejects is None or not len(held_rejects):
            return None
        reads = decode_all(held_rejects[..., None].astype(np.float32) / 255.0)
        return sum(not r for r in reads) / len(reads)

    fields = ["loss", "lr", "ms_per_step", "data_wait_ms", "rendered", "val_exact", "val_cer",
              "val_reject"]
    csv_log = CsvLog(out / "log.csv", fields, resume_step=step if resume else None)
    timer = StepTimer()
    window: list[float] = []
    step_s = 0.0
    wait_s = 0.0
    val_exact: float | None = None
    val_cer: float | None = None
    val_reject: float | None = None
    interrupted = False

    def state() -> dict[str, Any]:
        return {"step": step, "best_exact": best_exact,
                "best_cer": best_cer if best_cer != float("inf") else None, "val_exact": val_exact,
                "val_cer": val_cer, "val_reject": val_reject, "ms_per_step": timer.ms_per_step,
                "interrupted": interrupted,
                "config": cfg.to_json()}

    def checkpoint() -> None:
        save_checkpoint(out, model, optimizer, state())
        plot_curves(out / "log.csv", out / "curves.png", ("loss",),
                    ("val_exact", "val_cer") + (("val_reject",) if held_rejects is not None
                                                else ()),
                    title=f"recognizer ({cfg.head}) {out.name}")

    data_seed = cfg.seed * 1_000_003 + step  # a resumed run draws fresh batches
    workers = cfg.workers if crop_fn is None else 0
    bar = progress(cfg.steps, step, "recognizer", enabled=cfg.progress)
    try:
        # Workers start first so the pool fills while this process renders the val set.
        source = BatchSource(spec, data_seed, workers, real, crop_fn, cfg.pool_size, cfg.min_fill,
                             rejects)
        with source, stop_on_signal() as stop:
            val_x, val_texts = cached_val_set(out, cfg, spec, crop_fn or default_crop_fn())
            while step < cfg.steps and not stop:
                t0 = time.perf_counter()
                x, y, y_len = source.next()
                wait_s += time.perf_counter() - t0
                timer.start()
                t1 = time.perf_counter()
                loss = float(train_step(x, y, y_len))
                step_s += time.perf_counter() - t1
                timer.stop()
                step += 1
                window.append(loss)
                bar.update(1)
                evaluated = step % cfg.eval_every == 0 or step == cfg.steps
                if evaluated:
                    val_exact, val_cer = evaluate()
                    val_reject = reject_rate()
                    # Ties on exact match (common early on, at 0) go to the lower CER.
                    if (val_exact, -val_cer) > (best_exact, -best_cer):
                        best_exact, best_cer = val_exact, val_cer
                        save_h5(model, out / "model.h5")
                        write_model_metadata(out / "model.h5", model_metadata(
                            cfg, {"step": step, "val_exact": val_exact, "val_cer": val_cer}))
                if step % 10 == 0 or evaluated or step == cfg.steps:
                    lr = float(optimizer.learning_rate)
                    csv_log.write(step, loss=float(np.mean(window)), lr=lr,
                                  ms_per_step=1000 * step_s / max(1, len(window)),
                                  data_wait_ms=1000 * wait_s / max(1, len(window)),
                                  rendered=source.rendered,
                                  val_exact=val_exact if evaluated else None,
                                  val_cer=val_cer if evaluated else None,
                                  val_reject=val_reject if evaluated else None)
                    bar.set_postfix(loss=f"{np.mean(window):.3f}", val=f"{val_exact or 0:.3f}",
                                    ms=f"{1000 * step_s / max(1, len(window)):.0f}")
                    window, wait_s, step_s = [], 0.0, 0.0
                if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                    checkpoint()
            if stop:
                interrupted = True
                checkpoint()
                log.warning("interrupted at step %d; checkpoint saved to %s", step, out)
    finally:
        bar.close()
    summary = state()
    write_json(out / "summary.json", summary)
    return summary
