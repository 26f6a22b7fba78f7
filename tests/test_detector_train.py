"""Detector model, target encoding and the trainer (tiny inputs, a few steps each)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")

from click.testing import CliRunner  # noqa: E402
from edgeocr_convert.cli.train_cmd import cli  # noqa: E402
from edgeocr_convert.data.detection import (  # noqa: E402
    Sample,
    encode_targets,
    make_batch,
    read_dataset,
)
from edgeocr_convert.models.detector import build_detector  # noqa: E402
from edgeocr_convert.train_detector import average_precision  # noqa: E402

from edgeocr.core.anchors import (  # noqa: E402
    AnchorSpec,
    FeatureMapSpec,
    decode,
    default_anchor_spec,
    generate_anchors,
)
from edgeocr.core.letterbox import letterbox, unletterbox_points  # noqa: E402

CORAL_LAYERS = {"InputLayer", "Conv2D", "DepthwiseConv2D", "BatchNormalization", "ReLU", "Add",
                "Reshape", "Concatenate"}


def test_model_outputs_follow_the_anchor_spec() -> None:
    model = build_detector()
    n = len(generate_anchors(default_anchor_spec()))
    out = model(np.zeros((1, 320, 320, 3), np.float32))
    assert model.name == "edgeocr_detector"
    assert model.input_shape == (None, 320, 320, 3)
    assert tuple(out["classes"].shape) == (1, n, 3)
    assert tuple(out["boxes"].shape) == (1, n, 4)
    assert tuple(out["corners"].shape) == (1, n, 8)
    assert 400_000 < model.count_params() < 1_000_000
    assert {type(layer).__name__ for layer in model.layers} <= CORAL_LAYERS

    # Another input size and anchor layout: two maps, non-square input, five classes.
    spec = AnchorSpec(input_height=96, input_width=160, feature_maps=(
        FeatureMapSpec(stride=8, scales=(0.1,), aspect_ratios=(1.0, 3.0)),
        FeatureMapSpec(stride=128, scales=(0.5, 0.8), aspect_ratios=(2.0,)),
    ))
    small = build_detector(96, 160, ("a", "b", "c", "d", "e"), spec)
    out = small(np.zeros((2, 96, 160, 3), np.float32))
    assert tuple(out["classes"].shape) == (2, spec.num_anchors, 6)
    assert tuple(out["corners"].shape) == (2, spec.num_anchors, 8)


def test_targets_round_trip_through_decode() -> None:
    spec = default_anchor_spec(320, 320)
    anchors = generate_anchors(spec)
    quads = np.array([
        [[0.10, 0.20], [0.40, 0.22], [0.41, 0.30], [0.11, 0.29]],  # plate, tilted
        [[0.60, 0.60], [0.75, 0.60], [0.75, 0.80], [0.60, 0.80]],  # house number
        [[0.90, 0.02], [0.915, 0.02], [0.915, 0.03], [0.90, 0.03]],  # tiny: forced match
    ], np.float32)
    classes = np.array([0, 1, 0])
    cls, box_t, corner_t = encode_targets(classes, quads, anchors, spec.variances)
    pos = np.nonzero(cls > 0)[0]
    assert set(np.unique(cls)) <= {-1, 0, 1, 2}
    assert (cls == -1).any() and (cls == 0).sum() > 0.9 * len(cls)
    boxes, corners = decode(box_t[pos], corner_t[pos], anchors[pos], spec.variances)
    gt_boxes = np.concatenate([quads.min(axis=1), quads.max(axis=1)], axis=1)
    for i, a in enumerate(pos):
        # Every positive decodes back to exactly one object's box and corners.
        j = int(np.argmin(np.abs(gt_boxes - boxes[i]).sum(axis=1)))
        np.testing.assert_allclose(boxes[i], gt_boxes[j], atol=1e-5)
        np.testing.assert_allclose(corners[i], quads[j].reshape(8), atol=1e-5)
        assert cls[a] == classes[j] + 1
    matched = {int(np.argmin(np.abs(gt_boxes - b).sum(axis=1))) for b in boxes}
    assert matched == {0, 1, 2}

    # An ignored region makes its anchors neither positive nor negative.
    cls2, _, _ = encode_targets(np.zeros(0, int), np.zeros((0, 4, 2), np.float32), anchors,
                                spec.variances, ignore_quads=quads[1:2])
    assert (cls2 == -1).any() and not (cls2 > 0).any()


def test_letterbox_keeps_aspect_and_maps_points_back() -> None:
    img = np.full((100, 200, 3), 200, np.uint8)
    out, scale, (px, py) = letterbox(img, 64, 64)
    assert out.shape == (64, 64, 3) and scale == pytest.approx(0.32)
    assert (px, py) == (0, 16)
    assert out[0, 0, 0] == 0 and out[32, 32, 0] == 200
    pts = np.array([[50.0, 25.0], [200.0, 100.0]])
    back = unletterbox_points(pts * scale + [px, py], scale, (px, py))
    np.testing.assert_allclose(back, pts)
    grey, _, _ = letterbox(np.zeros((30, 10), np.uint8), 20, 40)
    assert grey.shape == (20, 40)


def test_average_precision() -> None:
    assert average_precision([0.9, 0.8], [True, True], 2) == pytest.approx(1.0)
    assert average_precision([0.9, 0.8], [False, True], 2) == pytest.approx(0.25)
    assert average_precision([], [], 3) == 0.0
    assert np.isnan(average_precision([0.5], [False], 0))


def _digit_set(folder: Path, n_images: int = 24) -> Path:
    """SVHN-like street digits: 1-3 digits drawn with putText on noisy backgrounds,
    labelled as Pascal CSV rows fname,xmin,xmax,ymin,ymax,class_id."""
    rng = np.random.default_rng(3)
    folder.mkdir()
    rows = [["fname", "xmin", "xmax", "ymin", "ymax", "class_id"]]
    digit = 0
    for i in range(n_images):
        h, w = int(rng.integers(60, 90)), int(rng.integers(90, 140))
        img = rng.integers(0, 120, (h, w, 3)).astype(np.uint8)
        x = int(rng.integers(4, 20))
        for _ in range(int(rng.integers(1, 4))):
            text = str(digit % 10)
            digit += 1
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 1.2, 2)
            y = int(rng.integers(th + 4, h - base - 2))
            if x + tw >= w - 2:
                break
            cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (230, 230, 230), 2)
            rows.append([f"{i}.png", str(x), str(x + tw), str(y - th), str(y + base), text])
            x += tw + int(rng.integers(2, 8))
        cv2.imwrite(str(folder / f"{i}.png"), img)
    csv_path = folder / "digitStruct.csv"
    with csv_path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    return csv_path


def test_pascal_digits_train_and_report_map(tmp_path: Path) -> None:
    data = _digit_set(tmp_path / "digits")
    records, names = read_dataset(data, None)
    assert len(records) == 24
    assert names == [str(d) for d in range(10)]
    batch, prepared = make_batch(
        [Sample(np.zeros((60, 120, 3), np.uint8), np.array([3]),
                np.array([[[10, 10], [40, 10], [40, 50], [10, 50]]], np.float32))],
        default_anchor_spec(128, 128), generate_anchors(default_anchor_spec(128, 128)), None)
    assert batch[0].shape == (1, 128, 128, 3) and (batch[1] == 4).any()
    np.testing.assert_allclose(prepared[0].quads[0, 0], [10 * 128 / 120, 10 * 128 / 120 + 32])

    out = tmp_path / "svhn_run"
    result = CliRunner().invoke(cli, [
        "detector", "--out", str(out), "--data", str(data), "--steps", "4", "--batch", "4",
        "--size", "128", "--val-every", "4", "--checkpoint-every", "4", "--no-progress",
        "--cls-loss", "ohem"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["class_names"] == names and summary["step"] == 4
    assert 0.0 <= summary["metrics"]["map50"] <= 1.0
    header = (out / "log.csv").read_text().splitlines()[0].split(",")
    assert "map50" in header and "ap50_7" in header
    with h5py.File(out / "model.h5", "r") as f:
        meta = json.loads(f.attrs["edgeocr"])
    assert meta["class_names"] == names
    model = keras.models.load_model(out / "model.h5", compile=False)
    assert model(np.zeros((1, 128, 128, 3), np.float32))["classes"].shape[-1] == 11


def test_synthetic_smoke_train_then_resume(tmp_path: Path) -> None:
    pytest.importorskip("edgeocr_convert.synth.scenes")
    out = tmp_path / "run"
    args = ["detector", "--out", str(out), "--batch", "2", "--size", "128", "--val-size", "4",
            "--val-every", "2", "--checkpoint-every", "2", "--no-progress", "--seed", "1"]
    first = CliRunner().invoke(cli, [*args, "--steps", "2"])
    assert first.exit_code == 0, first.output
    for name in ("model.h5", "checkpoint.weights.h5", "state.json", "log.csv", "curves.png",
                 "train_config.json"):
        assert (out / name).is_file(), name
    with h5py.File(out / "model.h5", "r") as f:
        meta = json.loads(f.attrs["edgeocr"])
    assert meta["role"] == "detector" and meta["class_names"] == ["plate", "house_number"]
    assert AnchorSpec.model_validate(meta["anchors"]) == default_anchor_spec(128, 128)
    assert meta["input"] == {"height": 128, "width": 128, "channels": 3, "colour": "rgb",
                             "range": [0.0, 1.0], "resize": "letterbox"}
    assert json.loads((out / "state.json").read_text())["step"] == 2

    again = CliRunner().invoke(cli, [*args, "--steps", "3"])
    assert again.exit_code == 2 and "--resume" in again.output

    resumed = CliRunner().invoke(cli, [*args, "--steps", "3", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((out / "state.json").read_text())["step"] == 3
    steps = [int(r["step"]) for r in csv.DictReader((out / "log.csv").open())]
    assert steps == [2, 3]

    # A finished checkpoint alone (as committed) exports its model.h5 without a step trained.
    (out / "model.h5").unlink()
    export = CliRunner().invoke(cli, [*args, "--steps", "3", "--resume"])
    assert export.exit_code == 0, export.output
    with h5py.File(out / "model.h5", "r") as f:
        assert json.loads(f.attrs["edgeocr"])["trained_steps"] == 3
    assert [int(r["step"]) for r in csv.DictReader((out / "log.csv").open())] == [2, 3]


def test_bad_data_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "labels.csv"
    bad.write_text("image,kind,text\nx.jpg,plate,ABC\n")
    for data, reason in ((tmp_path / "missing.csv", "no such file"),
                         (bad, "missing columns")):
        result = CliRunner().invoke(cli, ["detector", "--out", str(tmp_path / "o"), "--data",
                                          str(data), "--steps", "1", "--no-progress"])
        assert result.exit_code == 2
        assert reason in result.output and str(data) in result.output
        assert "Traceback" not in result.output
