"""Evaluation harness: metrics by hand, samples from a labelled set, ``edgeocr eval``."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from edgeocr.cli.main import cli
from edgeocr.data.labels import LabelRow, load_labelled_dir, write_labels
from edgeocr.evaluation.metrics import DetectionScore, TextScore, confusions
from edgeocr.evaluation.samples import packs_for_region, recognition_samples
from tests.test_detect import _house_scene
from tests.tinymodels import TinyModels, cached_build, draw_crop_file


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return cached_build(tmp_path_factory)


def test_text_score_and_confusions() -> None:
    s = TextScore()
    s.add("ABC123", "ABC123")
    s.add("A8C123", "ABC123")
    s.add("", "XY")
    assert s.n == 3 and s.exact == 1
    assert s.exact_rate == pytest.approx(1 / 3)
    assert s.cer == pytest.approx((0 + 1 + 2) / (6 + 6 + 2))
    assert confusions([("A8C123", "ABC123"), ("0O", "OO")]) == [("B", "8", 1), ("O", "0", 1)]


def test_detection_score_counts_and_ap() -> None:
    d = DetectionScore(0.5)
    truths = [(0.0, 0.0, 10.0, 10.0), (20.0, 20.0, 30.0, 30.0)]
    preds = [((0.0, 0.0, 10.0, 10.0), 0.9),      # TP
             ((50.0, 50.0, 60.0, 60.0), 0.8),    # FP
             ((21.0, 20.0, 30.0, 30.0), 0.3)]    # TP, below the operating threshold
    matched = d.add_image(preds, truths, min_score=0.5)
    assert matched == [0, -1]  # the 0.3 box is not at the operating point
    assert (d.true_positives, d.false_positives) == (1, 1)
    assert d.recall == 0.5 and d.precision == 0.5 and d.fp_per_image == 1.0
    # ranked: TP (r .5, p 1), FP (r .5, p .5), TP (r 1, p 2/3) -> AP = .5*1 + .5*2/3
    assert d.average_precision == pytest.approx(0.5 + 0.5 * 2 / 3)
    # Accepted flags replace the score cut (a read-verified box under the threshold counts,
    # an unverified one does not); AP is the same.
    v = DetectionScore(0.5)
    assert v.add_image(preds, truths, accepted=[True, False, True]) == [0, 2]
    assert (v.true_positives, v.false_positives) == (2, 0)
    assert v.average_precision == pytest.approx(d.average_precision)
    w = DetectionScore(0.5)
    assert w.add_image(preds, truths, accepted=[False, True, False]) == [-1, -1]
    assert (w.true_positives, w.false_positives) == (0, 1)
    empty = DetectionScore(0.5)
    empty.add_image([], [])
    assert empty.average_precision == 0.0 and empty.recall == 0.0


def _labelled_set(root: Path) -> Path:
    """A crop image (geometry crop), a scene with a boxed house number, a text-only row."""
    (root / "images" / "crops").mkdir(parents=True)
    (root / "images" / "scenes").mkdir(parents=True)
    cv2.imwrite(str(root / "images/crops/c1.png"), draw_crop_file("AB17"))
    cv2.imwrite(str(root / "images/crops/c2.png"), draw_crop_file("B18"))
    cv2.imwrite(str(root / "images/scenes/s1.png"), _house_scene("11A"))
    box = ((256.0, 128.0), (384.0, 128.0), (384.0, 256.0), (256.0, 256.0))
    write_labels(root / "labels.csv", [
        LabelRow("images/crops/c1.png", "plate", "皖AB17"),   # province char is dropped
        LabelRow("images/crops/c2.png", "plate", "B18"),
        LabelRow("images/scenes/s1.png", "house_number", "11A", box),
    ])
    (root / "meta.csv").write_text(
        "image,region,geometry\n"
        "images/crops/c1.png,us-ca,crop\nimages/crops/c2.png,br,crop\n"
        "images/scenes/s1.png,au,box\n", encoding="utf-8")
    return root


def test_recognition_samples(tmp_path: Path) -> None:
    ds = load_labelled_dir(_labelled_set(tmp_path))
    plates = list(recognition_samples(ds))
    assert [(s.source, s.text, s.region) for s in plates] == [
        ("crops", "AB17", "us-ca"), ("crops", "B18", "br")]
    assert plates[0].crop.shape[:2] == (28, 118)  # a crop file as it is (no margin yet)
    (house,) = recognition_samples(ds, kinds=("house_number",))
    # a box row is warped at its own pixel size (128 x 128 here)
    assert house.crop.shape[:2] == (128, 128) and house.geometry == "box"
    assert packs_for_region("us-ca", "plate") == ("us",)
    assert packs_for_region("cn", "plate") == ("cn",)
    assert packs_for_region("au", "plate") == ()
    assert packs_for_region("au", "house_number") == ("house_number",)


def test_eval_cli_crops_only(tiny_models: TinyModels, tmp_path: Path) -> None:
    data = _labelled_set(tmp_path / "set")
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(cli, [
        "eval", str(data), "--crops-only", "--recognizer", str(tiny_models.recognizer),
        "--json", str(out), "--report", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    raw = report["crops"][1]
    assert raw["engine"] == "edgeocr int8 (raw)"  # the tiny model is int8
    assert raw["overall"]["n"] == 2 and raw["overall"]["exact"] == 1.0
    assert "| edgeocr int8 (raw) |" in result.stdout
    assert (tmp_path / "report" / "summary.md").is_file()


def test_eval_cli_scenes(tiny_models: TinyModels, tmp_path: Path) -> None:
    data = _labelled_set(tmp_path / "set")
    out = tmp_path / "eval.json"
    report_dir = tmp_path / "report"
    result = CliRunner().invoke(cli, [
        "eval", str(data), "--recognizer", str(tiny_models.recognizer),
        "--detector", str(tiny_models.detector), "--threads", "1", "--margin", "0,0",
        "--json", str(out), "--report", str(report_dir)])
    assert result.exit_code == 0, result.output
    scenes = json.loads(out.read_text())["scenes"]
    det = scenes["detection"]["house_number"]["0.5"]
    assert det["truth"] == 1 and det["recall"] == 1.0 and det["fp_per_image"] == 0.0
    assert scenes["e2e_exact"]["house_number"]["exact"] == 1.0
    assert scenes["found_anywhere"]["house_number"]["rate"] == 1.0
    # Where the one house number went: read right, so every other fate is empty.
    fates = scenes["e2e_fate"]["house_number"]
    assert fates["read"] == 1 and sum(fates.values()) == 1
    assert "where end-to-end reads go" in result.output
    assert (report_dir / "pr_curve.png").stat().st_size > 0
    # An operating threshold above every score: nothing is detected at the operating point
    # unless read verification keeps it (here it may: the read fits house_number).
    plain = tmp_path / "plain.json"
    result = CliRunner().invoke(cli, [
        "eval", str(data), "--recognizer", str(tiny_models.recognizer),
        "--detector", str(tiny_models.detector), "--threads", "1", "--margin", "0,0",
        "--score", "1.0", "--no-verify", "--no-second-look", "--json", str(plain)])
    assert result.exit_code == 0, result.output
    plain_scenes = json.loads(plain.read_text())["scenes"]
    det = plain_scenes["detection"]["house_number"]["0.5"]
    assert det["recall"] == 0.0 and det["ap"] > 0.0  # AP still sees every score
    # Nothing kept: the candidate under the threshold is counted as dropped, not missing.
    fates = plain_scenes["e2e_fate"]["house_number"]
    assert fates["dropped, read right"] == 1 and sum(fates.values()) == 1


def test_eval_cli_bad_input(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["eval", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "labels.csv" in result.stderr and "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["eval", str(_labelled_set(tmp_path / "s")),
                                      "--recognizer", str(tmp_path / "missing.tflite")])
    assert result.exit_code == 2 and "missing.tflite" in result.stderr


def test_accuracy_by_angle_uses_only_quad_rows(tmp_path: Path) -> None:
    from edgeocr.evaluation.report import plot_by_angle, quad_tilt
    from edgeocr.evaluation.scenes import SceneRecord

    level = ((0.0, 0.0), (100.0, 0.0), (100.0, 30.0), (0.0, 30.0))
    tilted = ((0.0, 0.0), (100.0, 17.6), (95.0, 47.0), (-5.0, 30.0))
    assert quad_tilt(level) == 0.0
    assert abs(quad_tilt(tilted) - 10.0) < 0.1
    rows = [SceneRecord("a.jpg", "s", "plate", "AB12", q, "AB12", q, 0.9, "", 1.0)
            for q in (level, tilted)]
    box_only = SceneRecord("b.jpg", "s", "plate", "CD34", level, "", None, 0.0)
    path = tmp_path / "angle.png"
    plot_by_angle([box_only], path)
    assert not path.exists()  # no quad-labelled row: nothing to plot
    plot_by_angle([*rows, box_only], path)
    assert path.stat().st_size > 0


def test_eval_bands_file(tmp_path: Path) -> None:
    from edgeocr.evaluation.bands import read_bands

    good = tmp_path / "bands.json"
    good.write_text(json.dumps({"chosen": 0.3, "strict_chosen": {"score": 0.2,
                                                                 "confidence": 0.97},
                                "zoom_keep_chosen": 0.65, "rows": []}))
    v = read_bands(good)
    assert (v.min_score, v.strict_score, v.strict_confidence, v.zoom_keep_score) == (
        0.3, 0.2, 0.97, 0.65)
    good.write_text(json.dumps({"chosen": 0.25, "strict_chosen": None,
                                "zoom_keep_chosen": None}))
    v = read_bands(good)
    assert v.min_score == 0.25 and v.strict_score is None and v.zoom_keep_score is None
    bad = tmp_path / "bad.json"
    for text in ("{}", "not json", json.dumps({"chosen": None})):
        bad.write_text(text)
        with pytest.raises(ValueError, match="bands file"):
            read_bands(bad)
    result = CliRunner().invoke(cli, ["eval", str(_labelled_set(tmp_path / "s")),
                                      "--bands", str(bad)])
    assert result.exit_code == 2 and "bad.json" in result.stderr
    assert "Traceback" not in result.output
