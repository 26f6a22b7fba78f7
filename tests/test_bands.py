"""Verification bands: the three rules on known reads, and ``edgeocr bands`` end to end."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from edgeocr.cli.main import cli
from edgeocr.data.labels import LabelRow, write_labels
from edgeocr.evaluation.bands import Candidate, choose, count, even_spread, read_bands
from tests.tinymodels import TinyModels, cached_build


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return cached_build(tmp_path_factory)


def test_rules_on_known_reads() -> None:
    # 100 photos: the budget (0.05 per photo) allows 5 false reads in all.
    cands = (
        [Candidate(0.6, True, 0.5)] * 4  # over the threshold: always kept
        + [Candidate(0.32, True, 0.95)] * 3  # kept by any band up to 0.30
        + [Candidate(0.12, True, 0.96)]  # only a strict band at 0.10 or under, level <= 0.95
        + [Candidate(0.42, False, 0.99, zoom_score=0.8)]  # only the zoom rule keeps these
        + [Candidate(0.40, False, 0.5, zoom_score=0.6)] * 2
        + [Candidate(0.9, True, 0.99, dropped=True)]  # never kept
    )
    assert count(cands, 0.5, 0.05) == 8 and count(cands, 0.5, 0.30) == 7
    assert count(cands, 0.5, 0.35) == 4
    choice = choose(cands, 100, 0.5)
    assert choice.chosen == 0.35
    # Under 0.35, levels 0.90/0.95 let the three 0.32 reads through; 0.97 keeps only the
    # four over the threshold, already at the lowest grid score.
    assert choice.strict_chosen == (0.05, 0.97)
    # Zoom scores of 0.6 would keep two more (7 > 5); from 0.65 only the 0.8 one (5).
    assert [r["fp_per_photo"] for r in choice.zoom_rows[:4]] == [0.07, 0.07, 0.07, 0.05]
    assert choice.zoom_keep_chosen == 0.65
    # The shipped rule (0.30; 0.15 at 0.99; zoom 0.55) keeps 4 + 3 + 1 + 2.
    assert choice.shipped_fp_per_photo == pytest.approx(0.10)
    v = choice.verification()
    assert v is not None
    assert (v.min_score, v.strict_score, v.strict_confidence, v.zoom_keep_score) == (
        0.35, 0.05, 0.97, 0.65)
    # Over budget at every grid score: no band, no verification.
    assert choose([Candidate(0.6, True, 0.5)] * 6, 100, 0.5).verification() is None


def test_bands_are_read_again_zooming_from_the_band_chosen(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from contextlib import contextmanager
    from types import SimpleNamespace
    from typing import Any

    import edgeocr.evaluation.bands as bands

    # 100 photos, budget 5: four reads over the threshold, two 0.22 plates that rule out
    # every band under 0.25, and two 0.27 detections whose read depends on the zoom: the
    # pipeline zooms from its band up, so with the band at 0.25 they are zoomed.
    case = ""

    def reads(zoom_from: float) -> list[Candidate]:
        zoomed = zoom_from <= 0.25
        plate_27 = case == "direct" or (case == "back_up" and zoomed)
        return ([Candidate(0.6, True, 0.5)] * 4 + [Candidate(0.22, True, 0.95)] * 2
                + [Candidate(0.27, plate_27, 0.95)] * 2)

    passes: list[float] = []

    def fake_collect(photos: Any, detector: Any, recognizer: Any, *, second_look: bool,
                     zoom: bool, zoom_from: float, antialias: bool,
                     progress: Any) -> tuple[list[Candidate], int]:
        passes.append(zoom_from)
        if progress is not None:
            progress(100)
        return reads(zoom_from), 100

    @contextmanager
    def ticks(zoom_from: float) -> Any:
        yield lambda n: None

    def run(name: str, zoom: bool = True) -> Any:
        nonlocal case
        case = name
        passes.clear()
        choice, n = bands.derive([], det, None, zoom=zoom,  # type: ignore[arg-type]
                                 progress_for=ticks)
        assert n == 100 and choice.settled
        return choice

    monkeypatch.setattr(bands, "collect", fake_collect)
    det = SimpleNamespace(operating_threshold=0.5)
    # Read from the shipped 0.30, the 0.27s are not plates and 0.25 looks free; read
    # again from 0.25 they still are not: 0.25 holds.
    choice = run("settles_lower")
    assert passes == [0.30, 0.25] and (choice.chosen, choice.zoom_from) == (0.25, 0.25)
    assert "the band chosen" in bands.report(choice)
    # Zoomed, the 0.27s read as plates, so 0.25 would keep 6: back to 0.30, which the
    # first pass read as it would be run.
    choice = run("back_up")
    assert passes == [0.30, 0.25] and (choice.chosen, choice.zoom_from) == (0.30, 0.30)
    # The shipped rule's figure is the first pass's: the four over the threshold.
    assert choice.shipped_fp_per_photo == pytest.approx(0.04)
    # Chosen where the first pass was zoomed from: one pass.
    choice = run("direct")
    assert passes == [0.30] and choice.chosen == 0.30
    # No zoom: the reads do not depend on the band, one pass.
    choice = run("back_up", zoom=False)
    assert passes == [0.30] and choice.chosen == 0.25
    # Never settling within MAX_PASSES is said in the report.
    unsettled = bands.choose(reads(0.30), 100, 0.5, zoom_from=0.40)
    assert not unsettled.settled and "NOT the band chosen" in bands.report(unsettled)


def test_even_spread_is_stable(tmp_path: Path) -> None:
    for i in range(10):
        (tmp_path / f"{i:02d}.jpg").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    picked = even_spread(tmp_path, 4)
    assert [p.name for p in picked] == ["00.jpg", "02.jpg", "05.jpg", "07.jpg"]
    assert len(even_spread(tmp_path)) == 10


def test_bands_cli(tiny_models: TinyModels, tmp_path: Path) -> None:
    negs = tmp_path / "negatives"
    negs.mkdir()
    for i in range(3):
        cv2.imwrite(str(negs / f"dark{i}.png"), np.full((240, 320, 3), 20, np.uint8))
    red = np.full((240, 320, 3), 20, np.uint8)
    red[96:128, 96:192] = (0, 0, 255)  # the tiny detector fires a plate on bright red cells
    cv2.imwrite(str(negs / "red.png"), red)
    (negs / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "bands.json"
    models = ["--detector", str(tiny_models.detector), "--recognizer",
              str(tiny_models.recognizer)]
    result = CliRunner().invoke(cli, ["bands", str(negs), *models, "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["photos"] == 4  # the broken file is skipped
    assert data["rows"][0]["fp_per_photo_without_verification"] > 0  # the red photo's box
    assert "band: lowest score within 0.05 FP/photo" in result.stdout
    v = read_bands(out)  # what `edgeocr eval --bands` reads
    assert v.min_score == data["chosen"]
    assert f"detect_verify_score = {data['chosen']}" in result.stdout

    empty = tmp_path / "empty"
    empty.mkdir()
    for args, reason in (([str(tmp_path / "missing")], "no such folder"),
                         ([str(empty)], "no .jpg"),
                         ([str(negs), "--detector", str(tmp_path / "x.tflite")], "x.tflite")):
        bad = CliRunner().invoke(cli, ["bands", *args])
        assert bad.exit_code == 2 and reason in bad.stderr, bad.output
        assert "Traceback" not in bad.output


def test_split_rule_on_known_reads() -> None:
    """100 photos allow 5 false plates. Band 0.30 lets a sixth through, so nothing under it
    is a split; band 0.40 is within the budget, and a zoom keep score of 0.50-0.70 keeps three
    more scene plates at no cost on the photos: the lowest such score is chosen."""
    from edgeocr.evaluation.band_split import Split, best, splits

    negatives = [Candidate(0.6, True, 0.5)] * 5 + [Candidate(0.35, True, 0.95)]
    right = ([Candidate(0.45, False, 0.5, zoom_score=0.7)] * 3
             + [Candidate(0.45, True, 0.95)] * 2)
    assert splits(negatives, 100, right, 0.5, 0.30) == []
    rows = splits(negatives, 100, right, 0.5, 0.40)
    assert rows and all(r.fp_per_photo == pytest.approx(0.05) for r in rows)
    plain = next(r for r in rows if r.strict is None and r.zoom_keep is None)
    assert plain.plates == 2
    chosen = best(rows)
    assert chosen is not None
    assert (chosen.plates, chosen.band, chosen.strict, chosen.zoom_keep) == (5, 0.40, None, 0.5)
    assert chosen.verification().zoom_keep_score == 0.5
    # Equal plates: fewer false plates per photo wins; then the earlier row.
    a, b = Split(5, 0.05, 0.25, None, None), Split(5, 0.03, 0.30, None, 0.9)
    assert best([a, b]) == b and best([b, replace(b, band=0.35)]) == b
    assert best([]) is None


def test_bands_cli_split_rule(tiny_models: TinyModels, tmp_path: Path) -> None:
    negs = tmp_path / "negatives"
    negs.mkdir()
    for i in range(2):
        cv2.imwrite(str(negs / f"dark{i}.png"), np.full((240, 320, 3), 20, np.uint8))
    scenes = tmp_path / "scenes"
    (scenes / "images").mkdir(parents=True)
    red = np.full((240, 320, 3), 20, np.uint8)
    red[96:128, 96:192] = (0, 0, 255)  # the tiny detector fires a plate on bright red cells
    cv2.imwrite(str(scenes / "images" / "red.png"), red)
    quad = ((96.0, 96.0), (192.0, 96.0), (192.0, 128.0), (96.0, 128.0))
    write_labels(scenes / "labels.csv", [LabelRow("images/red.png", "plate", "AB123", quad)])
    out = tmp_path / "split.json"
    models = ["--detector", str(tiny_models.detector), "--recognizer",
              str(tiny_models.recognizer)]
    result = CliRunner().invoke(cli, ["bands", str(negs), *models, "--scenes", str(scenes),
                                      "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["rule"] == "band_split" and data["photos"] == 2 and data["scene_plates"] == 1
    assert data["rows"] and data["chosen"] in (0.20, 0.25, 0.30, 0.35)
    assert read_bands(out).min_score == data["chosen"]
    assert "split rule:" in result.stdout
    assert f"detect_verify_score = {data['chosen']}" in result.stdout

    bad = CliRunner().invoke(cli, ["bands", str(negs), *models, "--scenes", str(negs)])
    assert bad.exit_code == 2 and "no labels.csv" in bad.stderr, bad.output
    assert "Traceback" not in bad.output
    bad = CliRunner().invoke(cli, ["bands", str(negs), "--scenes", str(scenes), "--no-zoom"])
    assert bad.exit_code == 2 and "drop --no-second-look" in bad.stderr
