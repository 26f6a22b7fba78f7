"""Tiny real full-int8 ``.tflite`` models with sidecars, for the device-stage tests.

The weights are set by hand, so the models' answers are known in advance:

* The recognizer averages each 4-column strip of its 32x128 grey input and reads the strip's
  mean grey level as a character: black is the CTC blank and the levels in
  :data:`LEVEL_CHARS` are characters. Logits ``s * (2 c m - c**2)`` are the tangents of
  ``s * m**2``, so the arg-max is the level ``c`` nearest the mean ``m``.
  :func:`draw_text_crop` paints a crop that reads as a given text.
  :func:`draw_crop_file` is the same as a crop file (``read --crops`` adds a margin).
* The detector averages each 16x16 cell of its RGB input. A cell whose red mean is bright
  fires a wide anchor as ``plate``; a bright blue mean fires a square anchor as
  ``house_number``. Box offsets are zero and corner offsets put the corners on the anchor
  box, so a detection is exactly its anchor.

TensorFlow is imported only here (inside functions), never by ``edgeocr``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeocr.core.anchors import AnchorSpec, FeatureMapSpec, generate_anchors
from edgeocr.core.charset import DEFAULT_CHARSET
from edgeocr.core.sidecar import (
    DetectorSpec,
    InputSpec,
    OutputSpec,
    QuantParams,
    RecognizerSpec,
    Sidecar,
    sha256_file,
    write_sidecar,
)

REC_H, REC_W = 32, 128
REC_STRIDE = 4
LEVEL_CHARS: dict[float, str] = {0.2: "A", 0.4: "B", 0.6: "1", 0.8: "7", 1.0: "8"}
"""Grey level (fraction of white) -> the character the tiny recognizer reads for it."""
CHAR_LEVELS = {c: lvl for lvl, c in LEVEL_CHARS.items()}

DET_H, DET_W = 64, 64
DET_STRIDE = 16
DET_THRESHOLD = 0.35
DET_CLASSES = ("plate", "house_number")


def det_anchor_spec() -> AnchorSpec:
    # anchor 0 of a cell is square (house numbers), anchor 1 is 2:1 wide (plates)
    return AnchorSpec(
        input_height=DET_H,
        input_width=DET_W,
        feature_maps=(FeatureMapSpec(stride=DET_STRIDE, scales=(0.25,), aspect_ratios=(1.0, 2.0)),),
    )


def draw_text_crop(text: str, height: int = REC_H, width: int = REC_W) -> np.ndarray:
    """A grey uint8 crop (height, width) that the tiny recognizer reads as ``text``.

    Each character is an 8-column block of its grey level, characters are separated by
    8 black columns; at most 8 characters fit in 128 columns. Other sizes are the same
    drawing scaled, so a stretched resize back to 32x128 reads the same.
    """
    if len(text) > 8:
        raise ValueError("at most 8 characters fit")
    crop = np.zeros((REC_H, REC_W), np.uint8)
    for i, ch in enumerate(text):
        x = 8 + 16 * i
        crop[:, x : x + 8] = round(CHAR_LEVELS[ch] * 255)
    if (height, width) != (REC_H, REC_W):
        import cv2

        crop = cv2.resize(crop, (width, height), interpolation=cv2.INTER_NEAREST)
    return crop


def _inner(full: int, margin: float) -> tuple[int, int]:
    """(inner size, pad) with inner + 2 * pad == full, pad == round(margin * inner)."""
    for inner in range(full, 0, -1):
        pad = round(margin * inner)
        if inner + 2 * pad == full:
            return inner, pad
    raise ValueError(f"no inner size pads to {full}")


def draw_crop_file(text: str) -> np.ndarray:
    """A crop *file* (grey uint8) that ``edgeocr read --crops`` reads as ``text``: the
    command frames a crop file with ``edgeocr.rectify.MARGIN`` (border pixels repeated), so
    this is :func:`draw_text_crop` without that frame (its edges are black or a character
    block, which the repeated border rebuilds exactly)."""
    from edgeocr.rectify import MARGIN

    wi, px = _inner(REC_W, MARGIN[0])
    hi, py = _inner(REC_H, MARGIN[1])
    return draw_text_crop(text)[py : py + hi, px : px + wi].copy()


@dataclass(frozen=True)
class TinyModels:
    recognizer: Path
    detector: Path


def _quiet_tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    return tf


def _convert(model: Any, shape: tuple[int, ...], rep: list[np.ndarray], workdir: Path) -> bytes:
    tf = _quiet_tf()
    saved = workdir / f"saved_{model.name}"
    model.export(str(saved), input_signature=[tf.TensorSpec(shape, tf.float32, name="image")],
                 verbose=False)
    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([x] for x in rep)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    data: bytes = conv.convert()
    return data


def _io_specs(path: Path) -> tuple[QuantParams, list[OutputSpec]]:
    """Input quantization and named outputs as the interpreter reports them."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    runner = interp.get_signature_runner()
    inp = next(iter(runner.get_input_details().values()))
    scale, zp = inp["quantization"]
    outs = []
    for name, d in runner.get_output_details().items():
        s, z = d["quantization"]
        outs.append(OutputSpec(name=name, shape=tuple(int(v) for v in d["shape"]), dtype="int8",
                               quant=QuantParams(scale=float(s), zero_point=int(z))))
    return QuantParams(scale=float(scale), zero_point=int(zp)), outs


def build_recognizer(out: Path, charset: str = DEFAULT_CHARSET, sharpness: float = 30.0) -> Path:
    tf = _quiet_tf()
    import keras

    n_cls = len(charset) + 1
    inp = keras.Input((REC_H, REC_W, 1), batch_size=1, name="image")
    x = keras.layers.AveragePooling2D((REC_H, REC_STRIDE), name="strips")(inp)
    x = keras.layers.Conv2D(n_cls, 1, name="logits")(x)
    x = keras.layers.Reshape((REC_W // REC_STRIDE, n_cls))(x)
    x = keras.layers.Softmax(name="probs")(x)
    model = keras.Model(inp, x, name="tiny_recognizer")
    w = np.zeros((1, 1, 1, n_cls), np.float32)
    b = np.full((n_cls,), -sharpness, np.float32)
    b[0] = 0.0  # blank at level 0: 2*s*0*m - s*0 = 0
    for level, ch in LEVEL_CHARS.items():
        k = charset.index(ch) + 1
        w[0, 0, 0, k] = 2 * sharpness * level
        b[k] = -sharpness * level * level
    model.get_layer("logits").set_weights([w, b])

    rng = np.random.default_rng(0)
    texts = ["AB17", "8A", "7781B", "", "A1B7818"]
    rep = [draw_text_crop(t)[None, :, :, None].astype(np.float32) / 255 for t in texts]
    rep += [rng.random((1, REC_H, REC_W, 1), dtype=np.float32) for _ in range(4)]
    with tempfile.TemporaryDirectory() as td:
        data = _convert(model, (1, REC_H, REC_W, 1), rep, Path(td))
    del tf
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    quant, outputs = _io_specs(out)
    write_sidecar(out, Sidecar(
        role="recognizer", name="tiny-recognizer",
        input=InputSpec(height=REC_H, width=REC_W, channels=1, colour="grey", dtype="int8",
                        quant=quant),
        outputs=tuple(outputs), recognizer=RecognizerSpec(charset=charset),
        sha256=sha256_file(out),
    ))
    return out


def build_detector(out: Path, logits: bool = True) -> Path:
    import keras

    spec = det_anchor_spec()
    n = spec.num_anchors
    n_cls = 1 + len(DET_CLASSES)
    s = 20.0
    inp = keras.Input((DET_H, DET_W, 3), batch_size=1, name="image")
    cells = keras.layers.AveragePooling2D(DET_STRIDE, name="cells")(inp)  # (4, 4, 3) RGB means
    cls = keras.layers.Conv2D(2 * n_cls, 1, name="cls_conv")(cells)
    cls = keras.layers.Reshape((n, n_cls))(cls)
    if not logits:
        cls = keras.layers.Softmax()(cls)
    cls = keras.layers.Identity(name="classes")(cls)
    box = keras.layers.Conv2D(2 * 4, 1, name="box_conv")(cells)
    box = keras.layers.Reshape((n, 4), name="boxes")(box)
    cor = keras.layers.Conv2D(2 * 8, 1, name="cor_conv")(cells)
    cor = keras.layers.Reshape((n, 8), name="corners")(cor)
    model = keras.Model(inp, {"classes": cls, "boxes": box, "corners": cor}, name="tiny_detector")

    # per cell: anchor 0 = [bg, plate, house] from blue, anchor 1 = [bg, plate, house] from red
    wc = np.zeros((1, 1, 3, 2 * n_cls), np.float32)
    bc = np.zeros((2 * n_cls,), np.float32)
    red, blue = 0, 2  # RGB input
    wc[0, 0, blue, 0], bc[0] = -s, s * DET_THRESHOLD
    bc[1] = -s
    wc[0, 0, blue, 2], bc[2] = s, -s * DET_THRESHOLD
    wc[0, 0, red, 3], bc[3] = -s, s * DET_THRESHOLD
    wc[0, 0, red, 4], bc[4] = s, -s * DET_THRESHOLD
    bc[5] = -s
    model.get_layer("cls_conv").set_weights([wc, bc])
    # A tiny weight keeps the calibrated range non-degenerate; offsets stay ~0.
    wb = np.full((1, 1, 3, 8), 1e-3, np.float32)
    model.get_layer("box_conv").set_weights([wb, np.zeros(8, np.float32)])
    # corners on the anchor box: offset = (+-w/2) / (w * 0.1) = +-5
    corner_unit = np.array([-5, -5, 5, -5, 5, 5, -5, 5], np.float32)
    model.get_layer("cor_conv").set_weights(
        [np.full((1, 1, 3, 16), 1e-3, np.float32), np.tile(corner_unit, 2)])

    rng = np.random.default_rng(1)
    rep = [rng.random((1, DET_H, DET_W, 3), dtype=np.float32) for _ in range(4)]
    for _ in range(4):
        img = np.zeros((1, DET_H, DET_W, 3), np.float32)
        r, c = rng.integers(0, 4, 2)
        img[0, r * 16 : r * 16 + 16, c * 16 : c * 16 + 16, rng.integers(0, 3)] = 1.0
        rep.append(img)
    with tempfile.TemporaryDirectory() as td:
        data = _convert(model, (1, DET_H, DET_W, 3), rep, Path(td))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    quant, outputs = _io_specs(out)
    write_sidecar(out, Sidecar(
        role="detector", name="tiny-detector",
        input=InputSpec(height=DET_H, width=DET_W, channels=3, colour="rgb", dtype="int8",
                        quant=quant),
        outputs=tuple(outputs),
        detector=DetectorSpec(class_names=DET_CLASSES, anchors=spec, output_is_logits=logits,
                              outputs={o.name: o.name for o in outputs}),
        sha256=sha256_file(out),
    ))
    return out


def build_all(directory: Path) -> TinyModels:
    return TinyModels(
        recognizer=build_recognizer(directory / "recognizer.tflite"),
        detector=build_detector(directory / "detector.tflite"),
    )


def anchor_boxes_px() -> np.ndarray:
    """(N, 4) x1y1x2y2 anchor boxes in detector-input pixels (what the detector returns)."""
    a = generate_anchors(det_anchor_spec())
    cx, cy = a[:, 0] * DET_W, a[:, 1] * DET_H
    w, h = a[:, 2] * DET_W, a[:, 3] * DET_H
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


_CACHE: dict[str, TinyModels] = {}


def cached_build(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    """The tiny models, converted once per test run: each test module's session fixture
    calls this, and the module-level cache makes every call after the first free."""
    if "models" not in _CACHE:
        _CACHE["models"] = build_all(tmp_path_factory.mktemp("tinymodels"))
    return _CACHE["models"]


def copy_model(src: Path, dst_dir: Path, **sidecar_changes: Any) -> Path:
    """Copy a model and its sidecar to ``dst_dir``, changing top-level sidecar fields."""
    import json
    import shutil

    dst_dir.mkdir(parents=True, exist_ok=True)
    dst = dst_dir / src.name
    shutil.copyfile(src, dst)
    data = json.loads(src.with_suffix(".json").read_text())
    data.update(sidecar_changes)
    dst.with_suffix(".json").write_text(json.dumps(data))
    return dst
