"""``edgeocr read``: the JSON-lines contract, folders, bad files, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from edgeocr.cli.main import cli
from tests.test_detect import _house_scene
from tests.tinymodels import (
    TinyModels,
    cached_build,
    draw_crop_file,
    draw_text_crop,
)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return cached_build(tmp_path_factory)


def _run(args: list[str]) -> tuple[int, list[str], str]:
    result = CliRunner().invoke(cli, ["read", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout.splitlines(), result.stderr


def _lines(out: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out]


@pytest.fixture
def crops(tmp_path: Path) -> Path:
    """Crops in every layout the contract names, plus a broken file and a non-image."""
    d = tmp_path / "crops"
    (d / "sub").mkdir(parents=True)
    grey = draw_crop_file("AB17")
    bgr = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    cv2.imwrite(str(d / "a_grey.png"), grey)
    cv2.imwrite(str(d / "b_rgba.PNG"), cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(d / "sub" / "c_16bit.png"), grey.astype(np.uint16) * 257)
    cv2.imwrite(str(d / "sub" / "d_colour.bmp"), bgr)
    (d / "e_broken.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    (d / "notes.txt").write_text("not an image")
    return d


def test_crops_json_lines(tiny_models: TinyModels, crops: Path) -> None:
    code, out, err = _run(["--crops", "--json", "--threads", "1",
                         "--recognizer", str(tiny_models.recognizer), str(crops)])
    rows = _lines(out)
    names = [Path(r["image"]).name for r in rows]
    # folders are walked recursively, sorted, any-case suffixes, non-images skipped
    assert names == ["a_grey.png", "b_rgba.PNG", "e_broken.png", "c_16bit.png",
                     "d_colour.bmp"]
    by_name = {Path(r["image"]).name: r for r in rows}
    broken = by_name.pop("e_broken.png")
    assert set(broken) == {"image", "error"} and broken["error"]
    for name, row in by_name.items():
        assert set(row) == {"image", "reads", "ms"}, name
        assert row["reads"] == [{"kind": "plate", "text": "AB17",
                                 "confidence": row["reads"][0]["confidence"]}], name
        assert 0 < row["reads"][0]["confidence"] <= 1
        assert isinstance(row["ms"], float) and row["ms"] >= 0
    assert code == 1  # the broken file
    assert "grfmt" not in err  # OpenCV's own decoder noise is silenced


def test_crops_sorted_within_a_folder(tiny_models: TinyModels, tmp_path: Path) -> None:
    for name in ["z.png", "b.jpg", "a.JPEG", "m.bmp"]:
        cv2.imwrite(str(tmp_path / name), draw_text_crop("1A", 32, 128))
    code, out, _ = _run(["--crops", "--json", "--kind", "house_number",
                         "--recognizer", str(tiny_models.recognizer), str(tmp_path)])
    rows = _lines(out)
    assert code == 0
    assert [Path(r["image"]).name for r in rows] == ["a.JPEG", "b.jpg", "m.bmp", "z.png"]
    png = rows[-1]["reads"][0]
    assert (png["kind"], png["text"]) == ("house_number", "1A")


def test_full_pipeline_json(tiny_models: TinyModels, tmp_path: Path) -> None:
    scene = tmp_path / "scene.png"
    cv2.imwrite(str(scene), _house_scene("11A"))
    empty = tmp_path / "empty.png"
    cv2.imwrite(str(empty), np.zeros((80, 120, 3), np.uint8))
    code, out, _ = _run(["--json", "--detector", str(tiny_models.detector), "--tiles", "1",
                         "--recognizer", str(tiny_models.recognizer), str(scene), str(empty)])
    assert code == 0
    first, second = _lines(out)
    assert first["image"] == str(scene) and second == {"image": str(empty), "reads": [],
                                                       "ms": second["ms"]}
    (read,) = first["reads"]
    assert set(read) == {"kind", "text", "confidence", "box", "corners"}
    assert read["kind"] == "house_number"
    assert isinstance(read["text"], str) and 0 <= read["confidence"] <= 1
    np.testing.assert_allclose(read["box"], [256, 128, 384, 256], atol=3)
    assert len(read["corners"]) == 4 and all(len(p) == 2 for p in read["corners"])
    (tlx, tly), (trx, _), (_, bry), (blx, bly) = read["corners"]
    assert tlx < trx and tly < bly and blx < trx and bry > tly  # clockwise from top-left


def test_table_output(tiny_models: TinyModels, crops: Path) -> None:
    code, out, _ = _run(["--crops", "--recognizer", str(tiny_models.recognizer), str(crops)])
    assert code == 1
    assert out[0].split() == ["IMAGE", "KIND", "TEXT", "CONF", "MS"]
    assert any("AB17" in line for line in out)
    assert any("error:" in line for line in out)
    starts = {line.index("plate") for line in out[1:] if " plate " in line}
    assert len(starts) == 1  # aligned columns


def test_missing_path_is_exit_2(tiny_models: TinyModels, tmp_path: Path) -> None:
    code, out, err = _run(["--crops", "--recognizer", str(tiny_models.recognizer),
                           str(tmp_path / "nope")])
    assert code == 2 and out == []
    assert err.strip() == f"edgeocr: {tmp_path / 'nope'}: no such file or directory"


def test_folder_without_images_is_exit_2(tiny_models: TinyModels, tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("x")
    code, _, err = _run(["--crops", "--recognizer", str(tiny_models.recognizer),
                         str(tmp_path)])
    assert code == 2 and "no images found" in err and len(err.strip().splitlines()) == 1


def test_missing_model_is_exit_2(crops: Path, tmp_path: Path) -> None:
    missing = tmp_path / "none.tflite"
    code, out, err = _run(["--crops", "--json", "--recognizer", str(missing), str(crops)])
    assert code == 2 and out == []
    assert err.strip() == f"edgeocr: {missing}: model file not found"


def test_wrong_model_role_is_exit_2(tiny_models: TinyModels, crops: Path) -> None:
    code, _, err = _run(["--crops", "--recognizer", str(tiny_models.detector), str(crops)])
    assert code == 2 and "expected a recognizer" in err
    assert "Traceback" not in err


def test_tiny_crop_is_an_error_line(tiny_models: TinyModels, tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "dot.png"), np.zeros((2, 2), np.uint8))
    code, out, _ = _run(["--crops", "--json", "--recognizer", str(tiny_models.recognizer),
                         str(tmp_path / "dot.png")])
    assert code == 1
    (row,) = _lines(out)
    assert "too small" in row["error"]


def test_formats_option_picks_the_packs(tiny_models: TinyModels, tmp_path: Path) -> None:
    crop = tmp_path / "a817.png"
    cv2.imwrite(str(crop), draw_crop_file("A817"))
    base = ["--crops", "--json", "--threads", "1", "--recognizer", str(tiny_models.recognizer)]
    _, out, _ = _run([*base, str(crop)])
    assert _lines(out)[0]["reads"][0]["text"] == "A817"  # default packs: us fits as read
    # German layouts have letters before digits: the 8 in a letter's place is a B.
    _, out, _ = _run([*base, "--formats", "eu", str(crop)])
    assert _lines(out)[0]["reads"][0]["text"] == "AB17"
    code, out, err = _run([*base, "--formats", "us,mars", str(crop)])
    assert code == 2 and out == []
    assert err.strip() == ("edgeocr: --formats: unknown format pack(s) mars "
                           "(known: us, eu, br, cn, house_number)")
