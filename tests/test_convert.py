"""edgeocr-convert end to end on tiny Keras models built here (conversion is the slow part, so
each model is converted once per module and the tests share the result).

The "reader" recognizer has hand-set weights so its answers are known: it averages each
4-column strip of the crop and reads the strip's grey level as a character (black = blank).
Logits ``s * (2 c m - c**2)`` are tangents of ``s * m**2``, so the arg-max is the level
``c`` nearest the strip mean ``m``. That makes exact-match meaningful without training.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import h5py
import numpy as np
import pytest
from click.testing import CliRunner, Result

from edgeocr.core.anchors import AnchorSpec, FeatureMapSpec
from edgeocr.core.charset import ctc_greedy_decode
from edgeocr.core.sidecar import load_sidecar
from edgeocr.data.labels import LabelRow, write_labels

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

READER_CHARSET = "0123"
READER_H, READER_W, STRIP = 32, 64, 4
N_LEVELS = len(READER_CHARSET) + 1
LEVELS = np.linspace(0.0, 1.0, N_LEVELS)  # blank is black, then one level per character
FAST = ["--latency-runs", "3", "--no-progress"]


def _keras() -> Any:
    import keras

    return keras


def write_meta(path: Path, meta: dict[str, Any]) -> None:
    if path.suffix == ".h5":
        with h5py.File(path, "a") as f:
            f.attrs["edgeocr"] = json.dumps(meta)
    else:
        path.with_suffix(".edgeocr.json").write_text(json.dumps(meta))


def reader_model(sharpness: float = 100.0) -> Any:
    keras = _keras()
    inp = keras.Input((READER_H, READER_W, 1), name="image")
    x = keras.layers.AveragePooling2D((READER_H, STRIP), name="strips")(inp)
    conv = keras.layers.Conv2D(N_LEVELS, 1, name="levels")
    x = conv(x)
    x = keras.layers.Reshape((READER_W // STRIP, N_LEVELS), name="logits")(x)
    out = keras.layers.Softmax(name="probs")(x)
    model = keras.Model(inp, out, name="reader")
    conv.set_weights([(sharpness * 2 * LEVELS).reshape(1, 1, 1, -1).astype(np.float32),
                      (-sharpness * LEVELS**2).astype(np.float32)])
    return model


def reader_crop(text: str) -> np.ndarray:
    """A grey crop the reader model reads as ``text`` (a blank strip between characters)."""
    strips = [0.0]
    for ch in text:
        strips += [LEVELS[READER_CHARSET.index(ch) + 1], 0.0]
    strips += [0.0] * (READER_W // STRIP - len(strips))
    row = np.repeat(np.round(np.array(strips) * 255), STRIP).astype(np.uint8)
    return np.tile(row, (READER_H, 1))


def random_texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list(READER_CHARSET), int(rng.integers(2, 8)))) for _ in range(n)]


def write_crop_set(folder: Path, texts: Sequence[str], labels: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, text in enumerate(texts):
        name = f"crop{i:03d}.png"
        cv2.imwrite(str(folder / name), reader_crop(text))
        rows.append(LabelRow(name, "plate", text))
    if labels:
        write_labels(folder / "labels.csv", rows)
    return folder


def run_cli(args: Sequence[object]) -> Result:
    from edgeocr_convert.cli.convert_cmd import main

    return CliRunner().invoke(main, [str(a) for a in args])


def int8_io(path: Path) -> tuple[list[str], list[str]]:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    return ([np.dtype(d["dtype"]).name for d in it.get_input_details()],
            [np.dtype(d["dtype"]).name for d in it.get_output_details()])


@dataclass
class Converted:
    source: Path
    out: Path
    result: Result
    report: dict[str, Any]


def convert(source: Path, out: Path, *extra: Any) -> Converted:
    report = out.with_suffix(".report.json")
    result = run_cli([source, "--out", out, "--json", report, *FAST, *extra])
    data = json.loads(report.read_text()) if report.is_file() else {}
    return Converted(source, out, result, data)


# ---------------------------------------------------------------- the reader recognizer

@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Converted:
    d = tmp_path_factory.mktemp("reader")
    src = d / "reader.h5"
    reader_model().save(src)
    write_meta(src, {"role": "recognizer", "charset": READER_CHARSET, "head": "conv",
                     "input": {"height": READER_H, "width": READER_W, "channels": 1,
                               "colour": "grey", "range": [0, 1]}})
    calib = write_crop_set(d / "calib", random_texts(24, 1), labels=False)
    val = write_crop_set(d / "val", random_texts(40, 2))
    (d / "out").mkdir()
    return convert(src, d / "out" / "reader.tflite", "--calib", calib, "--val", val)


def test_reader_converts_and_passes(reader: Converted) -> None:
    assert reader.result.exit_code == 0, reader.result.output + reader.result.stderr
    assert "result    PASS" in reader.result.output
    assert "next      edgeocr bands NEGATIVES --recognizer " in reader.result.output
    v = reader.report["verification"]
    assert v["runtime"] == "edgeocr.runtime"
    assert v["keras"]["exact_match"] == 100.0
    assert v["int8"]["exact_match"] == 100.0
    assert v["read_agreement"] == 100.0
    assert v["drop"] == 0.0 and reader.report["passed"] is True


def test_reader_is_full_int8_and_edgetpu_clean(reader: Converted) -> None:
    from edgeocr_convert.edgetpu import CORAL_OPS

    assert int8_io(reader.out) == (["int8"], ["int8"])
    ops = reader.report["ops"]
    assert set(ops) <= CORAL_OPS, ops
    assert "AVERAGE_POOL_2D" in ops and "SOFTMAX" in ops
    assert reader.report["edgetpu"]["ok"] is True
    assert reader.report["sizes"]["tflite_bytes"] == reader.out.stat().st_size
    assert set(reader.report["latency_ms"]) == {"1_thread", "2_threads"}


def test_reader_sidecar_round_trip(reader: Converted) -> None:
    from edgeocr.core.sidecar import sha256_file

    sc = load_sidecar(reader.out, expected_role="recognizer")
    assert sc.recognizer is not None and sc.recognizer.charset == READER_CHARSET
    assert (sc.input.height, sc.input.width, sc.input.channels) == (READER_H, READER_W, 1)
    assert sc.input.dtype == "int8" and sc.input.quant is not None
    # Calibrated on crops spanning black to white: the input scale is one grey level.
    assert sc.input.quant.scale == pytest.approx(1 / 255, rel=1e-3)
    assert [o.name for o in sc.outputs] == ["probs"]
    assert sc.outputs[0].shape == (1, READER_W // STRIP, N_LEVELS)
    assert sc.source_sha256 == sha256_file(reader.source)
    assert sc.versions["tensorflow"] and sc.versions["keras"]
    assert sc.metrics["int8_exact_match"] == 100.0
    assert "latency_ms_1_thread" in sc.metrics


def test_reader_reads_like_keras(reader: Converted) -> None:
    """The int8 file, through the device's Recognizer, reads what the Keras model reads."""
    from edgeocr.recognize import Recognizer

    keras_model = _keras().models.load_model(reader.source, compile=False)
    rec = Recognizer(reader.out)
    texts = random_texts(30, 7)
    crops = [reader_crop(t) for t in texts]
    x = np.stack([c.astype(np.float32)[:, :, None] / 255 for c in crops])
    probs = np.asarray(keras_model(x))
    keras_reads = [ctc_greedy_decode(p, READER_CHARSET)[0] for p in probs]
    int8_reads = [rec.read(c).text for c in crops]
    assert keras_reads == texts
    assert int8_reads == keras_reads


def test_bad_calibration_fails_verification(tmp_path: Path, reader: Converted) -> None:
    """All-black calibration squeezes the input scale: the drop is caught, exit 3."""
    calib = tmp_path / "black"
    calib.mkdir()
    for i in range(4):
        cv2.imwrite(str(calib / f"b{i}.png"), np.zeros((READER_H, READER_W), np.uint8))
    val = reader.out.parent.parent / "val"
    got = convert(reader.source, tmp_path / "bad.tflite", "--calib", calib, "--val", val)
    assert got.result.exit_code == 3, got.result.output + got.result.stderr
    assert got.report["passed"] is False
    assert got.report["verification"]["drop"] > 50
    assert "exact_match dropped" in got.result.output


# ---------------------------------------------------------------- detectors

CELL = 16
SQUARE_CORNERS = np.array([-5, -5, 5, -5, 5, 5, -5, 5], np.float32)
"""Corner offsets that put the corners on a square anchor's own box (variance 0.1)."""


def cell_anchors() -> AnchorSpec:
    """One square anchor per 16x16 cell of a 64x64 input, exactly the cell."""
    return AnchorSpec(input_height=64, input_width=64, feature_maps=(
        FeatureMapSpec(stride=CELL, scales=(0.25,), aspect_ratios=(1.0,)),))


def red_cell_detector(sharpness: float = 20.0) -> Any:
    """Known-answer detector: a cell whose mean red is bright is a plate, boxed by its anchor."""
    keras = _keras()
    inp = keras.Input((64, 64, 3), name="image")
    cells = keras.layers.AveragePooling2D(CELL, name="cells")(inp)
    heads = {"classes": 2, "boxes": 4, "corners": 8}
    convs = {k: keras.layers.Conv2D(n, 1, name=f"{k}_conv") for k, n in heads.items()}
    outs = {k: keras.layers.Reshape((-1, heads[k]), name=k)(convs[k](cells)) for k in heads}
    model = keras.Model(inp, outs, name="red_cells")
    kernel = np.zeros((1, 1, 3, 2), np.float32)
    kernel[0, 0, 0, 1] = sharpness  # plate logit rises with red, background stays 0
    convs["classes"].set_weights([kernel, np.array([0, -sharpness / 2], np.float32)])
    convs["boxes"].set_weights([np.zeros((1, 1, 3, 4), np.float32), np.zeros(4, np.float32)])
    convs["corners"].set_weights([np.zeros((1, 1, 3, 8), np.float32), SQUARE_CORNERS])
    return model


def write_scene_set(folder: Path, n: int, seed: int) -> Path:
    """128x128 frames (letterboxed to 64x64 by the converter: cells are 32 px here) with red
    squares on random cells, and their labels.csv."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        img = np.full((128, 128, 3), 40, np.uint8)
        for cell in rng.choice(16, int(rng.integers(1, 4)), replace=False):
            x0, y0 = 32 * int(cell % 4), 32 * int(cell // 4)
            img[y0:y0 + 32, x0:x0 + 32] = (0, 0, 255)  # BGR red
            quad = ((x0, y0), (x0 + 32, y0), (x0 + 32, y0 + 32), (x0, y0 + 32))
            rows.append(LabelRow(f"s{i}.png", "plate", "", quad))
        cv2.imwrite(str(folder / f"s{i}.png"), img)
    write_labels(folder / "labels.csv", rows)
    return folder


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("scenes")
    return write_scene_set(d / "calib", 12, 3), write_scene_set(d / "val", 16, 4)


@pytest.fixture(scope="module")
def negatives(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Plate-free photos for the threshold: grey, textured, no red cell anywhere."""
    d = tmp_path_factory.mktemp("negatives")
    rng = np.random.default_rng(5)
    for i in range(6):
        img = rng.integers(20, 90, (120, 160, 3), dtype=np.uint8)
        img[..., 2] = img[..., 1]  # no red excess
        cv2.imwrite(str(d / f"neg{i}.jpg"), img)
    return d


@pytest.fixture(scope="module")
def red_cells(tmp_path_factory: pytest.TempPathFactory, scenes: tuple[Path, Path],
              negatives: Path) -> Converted:
    d = tmp_path_factory.mktemp("redcells")
    src = d / "red.h5"
    red_cell_detector().save(src)
    write_meta(src, {"role": "detector", "class_names": ["plate"],
                     "anchors": cell_anchors().model_dump(mode="json"),
                     "input": {"height": 64, "width": 64, "channels": 3, "colour": "rgb",
                               "range": [0, 1]}})
    return convert(src, d / "red.tflite", "--calib", scenes[0], "--val", scenes[1],
                   "--negatives", negatives)


def test_detector_metrics_known_answer(red_cells: Converted) -> None:
    assert red_cells.result.exit_code == 0, red_cells.result.output + red_cells.result.stderr
    v = red_cells.report["verification"]
    assert v["runtime"] == "edgeocr.runtime" and v["primary"] == "ap50"
    assert v["keras"]["objects"] == v["int8"]["objects"] > 16
    assert v["keras"]["ap50"] == pytest.approx(100.0)
    assert v["int8"]["ap50"] == pytest.approx(100.0)
    # Input pixels of the 64x64 network; the labels were drawn exactly on the cells.
    assert v["keras"]["corner_error_px"] < 0.1
    assert v["int8"]["corner_error_px"] < 1.0
    assert v["detection_agreement"] == 100.0
    assert int8_io(red_cells.out) == (["int8"], ["int8", "int8", "int8"])


def test_detector_sidecar_drives_device_detector(red_cells: Converted) -> None:
    from edgeocr.detect import Detector

    sc = load_sidecar(red_cells.out, expected_role="detector")
    assert sc.detector is not None and sc.detector.class_names == ("plate",)
    assert sc.detector.anchors == cell_anchors() and sc.detector.output_is_logits
    assert {o.name for o in sc.outputs} == {"classes", "boxes", "corners"}
    frame = np.full((200, 200, 3), 40, np.uint8)
    frame[50:100, 100:150] = (0, 0, 255)  # cell (row 1, col 2) of a 200 px letterboxed frame
    found = Detector(red_cells.out).detect(frame)
    assert [d.kind for d in found] == ["plate"]
    assert found[0].box == pytest.approx((100, 50, 150, 100), abs=2.0)


def test_detector_threshold_is_chosen_and_used(red_cells: Converted, scenes: tuple[Path, Path],
                                               tmp_path: Path) -> None:
    """No false positive on the plate-free photos and every synthetic cell found: the
    lowest grid threshold is taken, written to the sidecar and used by the device. Photos
    full of red cells (false positives at every threshold) keep the 0.5 default."""
    from edgeocr_convert.calibration import folder_samples
    from edgeocr_convert.convert import describe_model, load_keras_model, read_metadata
    from edgeocr_convert.threshold import FALLBACK, GRID, choose_threshold

    from edgeocr.detect import Detector

    thr = red_cells.report["score_threshold"]
    assert thr["threshold"] == GRID[0] and thr["negatives"] == 6
    assert thr["synthetic_images"] == 16
    assert all(r["negative_fp_per_image"] == 0.0 for r in thr["rows"])
    assert f"threshold {GRID[0]:.2f}" in red_cells.result.output
    sc = load_sidecar(red_cells.out, expected_role="detector")
    assert sc.detector is not None and sc.detector.score_threshold == GRID[0]
    det = Detector(red_cells.out)
    assert det.operating_threshold == det.score_threshold == GRID[0]
    assert Detector(red_cells.out, score_threshold=0.7).score_threshold == 0.7

    busy = tmp_path / "busy"
    busy.mkdir()
    for i in range(3):
        img = np.full((200, 200, 3), 40, np.uint8)
        img[50:100, 0:50] = img[100:150, 150:200] = (0, 0, 255)
        cv2.imwrite(str(busy / f"b{i}.png"), img)
    model = load_keras_model(red_cells.source)
    info = describe_model(model, red_cells.source, read_metadata(red_cells.source))
    val = list(folder_samples(scenes[1], info, 50, need_labels=True))
    choice = choose_threshold(red_cells.out, val, sorted(busy.iterdir()), (0.0, 1.0), True,
                              ("plate",))
    assert choice.threshold == FALLBACK and "no threshold" in choice.reason
    assert all(r.negative_fp_per_image >= 2 for r in choice.rows)


@pytest.fixture(scope="module")
def ssd(tmp_path_factory: pytest.TempPathFactory, scenes: tuple[Path, Path],
        negatives: Path) -> Converted:
    """The real SSD-lite family, user-sized: 64x64 input, one class, one feature map."""
    from edgeocr_convert.models.detector import build_detector

    d = tmp_path_factory.mktemp("ssd")
    spec = AnchorSpec(input_height=64, input_width=64, feature_maps=(
        FeatureMapSpec(stride=16, scales=(0.3,), aspect_ratios=(1.0, 2.5)),))
    src = d / "ssd.h5"
    build_detector(64, 64, ("plate",), spec, alpha=0.35).save(src)
    write_meta(src, {"role": "detector", "class_names": ["plate"],
                     "anchors": spec.model_dump(mode="json"),
                     "input": {"height": 64, "width": 64, "channels": 3, "colour": "rgb"}})
    return convert(src, d / "ssd.tflite", "--calib", scenes[0], "--val", scenes[1],
                   "--negatives", negatives)


def test_ssd_lite_converts_edgetpu_clean(ssd: Converted) -> None:
    from edgeocr_convert.edgetpu import CORAL_OPS

    assert ssd.result.exit_code == 0, ssd.result.output + ssd.result.stderr
    assert int8_io(ssd.out) == (["int8"], ["int8", "int8", "int8"])
    assert set(ssd.report["ops"]) <= CORAL_OPS and "DEPTHWISE_CONV_2D" in ssd.report["ops"]
    assert ssd.report["edgetpu"]["ok"] is True
    shapes = {o.name: o.shape for o in load_sidecar(ssd.out).outputs}
    assert shapes == {"classes": (1, 32, 2), "boxes": (1, 32, 4), "corners": (1, 32, 8)}


def test_synthetic_detector_samples() -> None:
    from edgeocr_convert.calibration import synthetic_samples
    from edgeocr_convert.convert import ModelInfo

    info = ModelInfo(role="detector", height=96, width=96, channels=3, colour="rgb",
                     value_range=(0.0, 1.0), output_names=("classes", "boxes", "corners"),
                     output_is_logits=True, class_names=("plate", "house_number"),
                     anchors=cell_anchors())
    samples = list(synthetic_samples(info, 3, seed=5))
    assert [s.x.shape for s in samples] == [(1, 96, 96, 3)] * 3
    assert all(s.x.min() >= 0.0 and s.x.max() <= 1.0 for s in samples)
    objects = [o for s in samples for o in s.objects]
    assert objects and all(0 <= v <= 1 for o in objects for v in o.box)
    again = list(synthetic_samples(info, 3, seed=5))
    assert all(np.array_equal(a.x, b.x) for a, b in zip(samples, again, strict=True))


@pytest.fixture(scope="module")
def bilstm(tmp_path_factory: pytest.TempPathFactory) -> Converted:
    """A BiLSTM recognizer saved as .keras with its metadata beside it, another charset."""
    from edgeocr_convert.models.recognizer import build_recognizer

    d = tmp_path_factory.mktemp("bilstm")
    src = d / "bil.keras"
    build_recognizer(32, 32, charset="0123", head="bilstm", width_mult=0.25,
                     lstm_units=8).save(src)
    write_meta(src, {"role": "recognizer", "charset": "0123", "head": "bilstm",
                     "input": {"height": 32, "width": 32, "channels": 1, "colour": "grey"}})
    val = write_crop_set(d / "val", ["0123", "3210", "11"])
    return convert(src, d / "bil.tflite", "--calib-synthetic", 8, "--val", val,
                   "--target", "edgetpu")


def test_bilstm_converts_unrolled_and_fails_edgetpu_gate(bilstm: Converted) -> None:
    assert bilstm.out.is_file() and load_sidecar(bilstm.out).recognizer is not None
    assert load_sidecar(bilstm.out).recognizer.head == "bilstm"  # type: ignore[union-attr]
    ops = bilstm.report["ops"]
    assert "WHILE" not in ops and "FULLY_CONNECTED" in ops
    assert int8_io(bilstm.out) == (["int8"], ["int8"])
    gate = bilstm.report["edgetpu"]
    assert not gate["ok"] and {"REVERSE_V2", "UNPACK"} <= set(gate["cpu_ops"])
    # --target edgetpu makes a failed gate a failed conversion.
    assert bilstm.result.exit_code == 3
    assert "Edge TPU gate" in bilstm.result.output
    assert "edgetpu_compiler -s -o" in bilstm.result.output


def test_labelled_crops_are_warped_from_corners(tmp_path: Path) -> None:
    """A labels.csv row with corners calibrates on the warped plate, not the whole frame."""
    from edgeocr_convert.calibration import folder_samples
    from edgeocr_convert.convert import ModelInfo

    frame = np.zeros((200, 300), np.uint8)
    frame[60:92, 100:164] = reader_crop("0312")[:, :]  # the crop pasted 1:1 into a frame
    cv2.imwrite(str(tmp_path / "f.png"), frame)
    quad = ((100, 60), (164, 60), (164, 92), (100, 92))
    write_labels(tmp_path / "labels.csv", [LabelRow("f.png", "plate", "0312", quad),
                                           LabelRow("f.png", "plate", "", None)])
    info = ModelInfo(role="recognizer", height=READER_H, width=READER_W, channels=1,
                     colour="grey", value_range=(0.0, 1.0), output_names=("probs",),
                     output_is_logits=False, charset=READER_CHARSET)
    calib = list(folder_samples(tmp_path, info))
    assert [s.text for s in calib] == ["0312", ""]
    val = list(folder_samples(tmp_path, info, need_labels=True))
    assert [s.text for s in val] == ["0312"]  # untranscribed rows carry no truth
    # Warped with the device's rectify margin, then prepared like the device's crops.
    from edgeocr.core.geometry import warp_quad
    from edgeocr.rectify import MARGIN

    want = warp_quad(frame, quad, READER_W, READER_H, MARGIN).astype(np.float32) / 255
    np.testing.assert_allclose(val[0].x[0, :, :, 0], want, atol=1e-6)


# ---------------------------------------------------------------- --float twins

FLOAT_GATE = "float32 model: the Edge TPU runs only full-int8 models"


@pytest.fixture(scope="module")
def reader_float(reader: Converted) -> Converted:
    """The reader's float32 twin, at the default output name (no --out)."""
    val = reader.out.parent.parent / "val"
    report = reader.out.with_name("reader_float.report.json")
    result = run_cli([reader.source, "--float", "--val", val, "--json", report, *FAST])
    return Converted(reader.source, reader.source.with_name("reader_float.tflite"), result,
                     json.loads(report.read_text()) if report.is_file() else {})


def test_reader_float_converts_verified(reader_float: Converted) -> None:
    got = reader_float
    assert got.result.exit_code == 0, got.result.output + got.result.stderr
    assert got.out.is_file() and got.report["output"] == str(got.out)
    assert got.report["precision"] == "float32"
    assert got.report["calibration"] == "none (float32)"
    v = got.report["verification"]
    assert v["precision"] == "float32" and v["runtime"] == "edgeocr.runtime"
    assert v["keras"]["exact_match"] == v["float32"]["exact_match"] == 100.0
    assert v["read_agreement"] == 100.0 and v["drop"] == 0.0
    assert max(v["mean_abs_diff"].values()) < 1e-4
    assert int8_io(got.out) == (["float32"], ["float32"])
    assert "QUANTIZE" not in got.report["ops"] and "AVERAGE_POOL_2D" in got.report["ops"]
    assert set(got.report["latency_ms"]) == {"1_thread", "2_threads"}
    # Reported, but --target cpu (the default) does not fail on it.
    assert got.report["edgetpu"]["ok"] is False
    assert got.report["edgetpu"]["problems"][0] == FLOAT_GATE
    assert "float32 " in got.result.output and "result    PASS" in got.result.output


def test_reader_float_sidecar(reader_float: Converted, reader: Converted) -> None:
    sc = load_sidecar(reader_float.out, expected_role="recognizer")
    int8 = load_sidecar(reader.out, expected_role="recognizer")
    assert sc.input.dtype == "float32" and sc.input.quant is None
    assert all(o.dtype == "float32" and o.quant is None for o in sc.outputs)
    assert sc.name == "reader_float"
    assert sc.recognizer == int8.recognizer and sc.source_sha256 == int8.source_sha256
    assert [(o.name, o.shape) for o in sc.outputs] == [(o.name, o.shape) for o in int8.outputs]
    assert sc.metrics["float32_exact_match"] == 100.0 and "int8_exact_match" not in sc.metrics
    assert "latency_ms_2_threads" in sc.metrics


def test_reader_float_reads_like_int8(reader_float: Converted, reader: Converted) -> None:
    """The device Recognizer runs the float twin and reads what the int8 model reads."""
    from edgeocr.recognize import Recognizer

    rec_f, rec_q = Recognizer(reader_float.out), Recognizer(reader.out)
    assert rec_f.model.input_dtype == np.float32
    texts = random_texts(30, 8)
    crops = [reader_crop(t) for t in texts]
    float_reads = [rec_f.read(c).text for c in crops]
    assert float_reads == [rec_q.read(c).text for c in crops] == texts


@pytest.fixture(scope="module")
def red_float(red_cells: Converted, scenes: tuple[Path, Path], negatives: Path) -> Converted:
    return convert(red_cells.source, red_cells.out.with_name("red_float.tflite"), "--float",
                   "--val", scenes[1], "--target", "edgetpu", "--negatives", negatives)


def test_detector_float_fails_edgetpu_target(red_float: Converted) -> None:
    got = red_float
    assert got.result.exit_code == 3, got.result.output + got.result.stderr
    assert got.out.is_file() and got.report["passed"] is False
    assert got.report["failures"] == ["Edge TPU gate: " + "; ".join(
        got.report["edgetpu"]["problems"])]
    assert FLOAT_GATE in got.result.output
    assert got.report["edgetpu"]["compiler"]["message"] == "not run (float32 model)"
    v = got.report["verification"]
    assert v["float32"]["ap50"] == pytest.approx(100.0) and v["drop"] == pytest.approx(0.0)
    assert v["float32"]["corner_error_px"] < 0.1 and v["detection_agreement"] == 100.0
    assert int8_io(got.out) == (["float32"], ["float32"] * 3)


def test_detector_float_detects_like_int8(red_float: Converted, red_cells: Converted) -> None:
    from edgeocr.detect import Detector

    sc = load_sidecar(red_float.out, expected_role="detector")
    assert sc.input.dtype == "float32" and sc.input.quant is None
    assert sc.detector == load_sidecar(red_cells.out).detector
    det_f, det_q = Detector(red_float.out), Detector(red_cells.out)
    rng = np.random.default_rng(9)
    total = 0
    for _ in range(6):
        frame = np.full((200, 200, 3), 40, np.uint8)
        for cell in rng.choice(16, int(rng.integers(1, 4)), replace=False):
            x0, y0 = 50 * int(cell % 4), 50 * int(cell // 4)
            frame[y0:y0 + 50, x0:x0 + 50] = (0, 0, 255)
        got_f, got_q = det_f.detect(frame), det_q.detect(frame)
        total += len(got_f)
        assert [d.kind for d in got_f] == [d.kind for d in got_q]
        np.testing.assert_allclose(sorted(d.box for d in got_f), sorted(d.box for d in got_q),
                                   atol=2.0)
    assert total >= 6
