"""``edgeocr bench`` on tiny real int8 models, and the BENCHMARKS.md formatter."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

import edgeocr.detect
from edgeocr import benchmark as b
from edgeocr.cli.bench import pair_variants, parse_threads, parse_variant
from edgeocr.cli.main import cli
from tests.tinymodels import TinyModels, cached_build, draw_text_crop

REPO = Path(__file__).resolve().parents[1]
TOP_KEYS = {"schema", "mode", "created", "command", "machine", "versions", "settings",
            "variants", "runs"}
RUN_KEYS = {"variant", "delegate", "threads", "available", "reason", "items", "seconds",
            "per_second", "reads_per_frame", "stages", "rss_mib"}
STAT_KEYS = {"unit", "count", "median_ms", "p95_ms", "mean_ms"}


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return cached_build(tmp_path_factory)


@pytest.fixture
def frames_dir(tmp_path: Path) -> Path:
    """Three 640x480 scenes; each has a red cell the tiny detector reports as a plate."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        img = np.full((480, 640, 3), 40, np.uint8)
        # In the 64x64 letterboxed detector input (scale 0.1, 8 px bars at the top) this
        # covers one whole 16x16 cell.
        x = 160 * (i + 1)
        img[80:240, x:x + 160] = (0, 0, 255)
        # White stripes keep the red mean bright and give the tiny recognizer a read of
        # several characters (a plate read shorter than 4 is never kept).
        for sx in range(x + 8, x + 160, 32):
            img[80:240, sx:sx + 16] = 255
        cv2.imwrite(str(folder / f"scene{i}.jpg"), img)
    return folder


def _run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["bench", *args], catch_exceptions=False)


def _models(tm: TinyModels) -> list[str]:
    return ["--detector", str(tm.detector), "--recognizer", str(tm.recognizer)]


def test_pipeline_all_stages_json_and_plot(tiny_models: TinyModels, frames_dir: Path,
                                           tmp_path: Path) -> None:
    out, png = tmp_path / "bench.json", tmp_path / "bench.png"
    res = _run("--frames", "6", "--warmup", "1", "--threads", "1,2", "--delegate",
               "cpu,edgetpu", "--images", str(frames_dir), "--json", str(out), "--plot",
               str(png), *_models(tiny_models))
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert set(doc) == TOP_KEYS
    assert doc["schema"] == b.SCHEMA and doc["mode"] == "pipeline"
    assert doc["machine"]["cores"] >= 1 and doc["machine"]["cpu"]
    assert doc["versions"]["python"] and doc["versions"]["numpy"] and doc["versions"]["opencv"]
    assert doc["settings"]["size"] == [640, 480] and doc["settings"]["distinct_inputs"] == 3
    assert doc["variants"][0]["detector"]["dtype"] == "int8"
    cpu = [r for r in doc["runs"] if r["delegate"] == "cpu"]
    assert [r["threads"] for r in cpu] == [1, 2]
    for run in cpu:
        assert set(run) == RUN_KEYS and run["available"]
        assert run["per_second"] > 0 and run["reads_per_frame"] >= 1
        assert run["rss_mib"]["peak"] > 0 and run["rss_mib"]["current"] > 0
        assert set(run["stages"]) == set(b.PIPELINE_STAGES)
        for name, stat in run["stages"].items():
            assert set(stat) == STAT_KEYS
            assert stat["count"] >= 6, name
            assert stat["median_ms"] > 0 and stat["p95_ms"] >= stat["median_ms"], name
            assert stat["unit"] == ("read" if name in b.PER_READ else "frame")
    tpu = [r for r in doc["runs"] if r["delegate"] == "edgetpu"]
    assert len(tpu) == 1
    # No Edge TPU here: reported with the reason, never a crash.
    assert tpu[0]["available"] is False and "edgetpu" in tpu[0]["reason"].lower()
    assert "unavailable" in res.stdout and "decode" in res.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_crops_and_model_only(tiny_models: TinyModels, tmp_path: Path) -> None:
    crops = tmp_path / "crops"
    crops.mkdir()
    for i, text in enumerate(["AB17", "8A", "71B"]):
        cv2.imwrite(str(crops / f"c{i}.png"), draw_text_crop(text, 40, 160))
    out = tmp_path / "crops.json"
    res = _run("--crops", str(crops), "--frames", "9", "--warmup", "1", "--threads", "1",
               "--delegate", "cpu", "--recognizer", str(tiny_models.recognizer),
               "--json", str(out))
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert doc["mode"] == "crops" and doc["variants"][0]["detector"] is None
    (run,) = doc["runs"]
    assert set(run["stages"]) == set(b.CROP_STAGES)
    assert all(s["count"] == 9 and s["median_ms"] > 0 for s in run["stages"].values())
    assert "target" in res.stdout

    out = tmp_path / "model.json"
    res = _run("--model-only", "--frames", "5", "--warmup", "0", "--threads", "1",
               "--delegate", "cpu", "--json", str(out), *_models(tiny_models))
    assert res.exit_code == 0, res.output
    (run,) = json.loads(out.read_text())["runs"]
    assert set(run["stages"]) == set(b.MODEL_STAGES)
    assert all(s["count"] == 5 and s["median_ms"] > 0 for s in run["stages"].values())


def _one_line_exit_2(res: Any) -> str:
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgeocr: "), res.stderr
    return str(lines[0])


def test_missing_model_is_one_line_exit_2(tmp_path: Path, frames_dir: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nope.tflite"
    line = _one_line_exit_2(_run("--images", str(frames_dir), "--detector", str(missing)))
    assert str(missing) in line and "not found" in line
    monkeypatch.setattr(edgeocr.detect, "DEFAULT_MODEL", tmp_path / "models" / "detector.tflite")
    line = _one_line_exit_2(_run("--images", str(frames_dir)))
    assert "detector.tflite" in line and "missing" in line


@pytest.mark.parametrize(("args", "needle"), [
    (["--variant", "onlyname"], "NAME:DETECTOR:RECOGNIZER"),
    (["--size", "big"], "--size"),
    (["--threads", "one"], "--threads"),
    (["--delegate", "gpu"], "unknown delegate"),
    (["--model-only", "--crops", "."], "--crops"),
])
def test_bad_options_one_line(args: list[str], needle: str) -> None:
    assert needle in _one_line_exit_2(_run(*args))


def test_images_folder_without_images(tmp_path: Path, tiny_models: TinyModels) -> None:
    line = _one_line_exit_2(_run("--images", str(tmp_path), *_models(tiny_models)))
    assert str(tmp_path) in line and "no images" in line


def test_scene_files_follow_meta_geometry(tmp_path: Path) -> None:
    images = tmp_path / "images" / "src"
    images.mkdir(parents=True)
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        cv2.imwrite(str(images / name), np.zeros((20, 20, 3), np.uint8))
    (tmp_path / "meta.csv").write_text(
        "image,geometry\nimages/src/a.jpg,box\nimages/src/b.jpg,crop\nimages/src/c.jpg,quad\n")
    found = [p.name for p in b.scene_files(tmp_path / "images")]
    assert found == ["a.jpg", "c.jpg", "d.jpg"]  # the crop goes, an unlisted image stays


def test_variant_parsing() -> None:
    assert parse_threads("1,2,1") == (1, 2)
    assert parse_variant("f32:d.tflite:r.tflite") == b.Variant("f32", Path("d.tflite"),
                                                                Path("r.tflite"))
    assert parse_variant("int8::") == b.Variant("int8")
    pairs = pair_variants([Path("d.tflite")], [Path("r8.tflite"), Path("r32.tflite")])
    assert [(v.name, v.detector) for v in pairs] == [
        ("d+r8", Path("d.tflite")), ("d+r32", Path("d.tflite"))]
    with pytest.raises(b.BenchError):
        pair_variants([Path("a"), Path("b")], [Path("c"), Path("d"), Path("e")])


# --- benchmarks/make_doc.py ---------------------------------------------------------------

def _make_doc() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_doc", REPO / "benchmarks" / "make_doc.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_eval() -> dict[str, Any]:
    """An eval JSON built with the evaluation package's own report classes, so its layout
    is the one ``edgeocr eval --json`` writes; the numbers are made up."""
    from edgeocr.evaluation.metrics import DetectionScore, TextScore
    from edgeocr.evaluation.recognition import score_crops
    from edgeocr.evaluation.samples import CropSample
    from edgeocr.evaluation.scenes import SceneReport

    crop = np.zeros((8, 16), np.uint8)
    samples = [CropSample(f"images/{src}/{i}.jpg", src, "plate", text, "box", crop)
               for i, (src, text) in enumerate([("ccpd", "A12345"), ("ccpd", "B67890"),
                                                ("openalpr_us", "7ABC123")])]
    ours = score_crops("edgeocr int8 (formats)", lambda c, k: "A12345", samples)
    peer = score_crops("tesseract", lambda c, k: "7ABC123", samples)
    scenes = SceneReport(threshold=0.5, images=2, frame_ms=[10.0, 12.0])
    det = DetectionScore(0.5)
    det.add_image([((0, 0, 10, 10), 0.9)], [(0, 0, 10, 10)], 0.5)
    scenes.detection = {"plate": {0.5: det}}
    scenes.detection_by_source = {"plate/ccpd": det}
    e2e = TextScore()
    e2e.add("A12345", "A12345")
    scenes.e2e = {"plate": e2e, "plate/ccpd": e2e}
    scenes.found_anywhere = {"plate": [True, False], "plate/ccpd": [True, False]}
    return {"data": "/fake/dev", "crops": [ours.as_dict(), peer.as_dict()],
            "scenes": scenes.as_dict(),
            "peer_scenes_found": {"tesseract": {"plate": 0.5, "plate/ccpd": 0.0,
                                                "ms_per_image": 250.0}}}


def _fake_bench() -> dict[str, Any]:
    stat = {"unit": "frame", "count": 10, "median_ms": 1.5, "p95_ms": 2.5, "mean_ms": 1.7}
    run = {"variant": "int8", "delegate": "cpu", "threads": 1, "available": True,
           "reason": None, "items": 10, "seconds": 0.2, "per_second": 50.0,
           "reads_per_frame": 1.2, "stages": {s: stat for s in b.PIPELINE_STAGES},
           "rss_mib": {"peak": 120.0, "current": 110.0}}
    gone = {"variant": "int8", "delegate": "edgetpu", "threads": None, "available": False,
            "reason": "libedgetpu.so.1 not found"}
    settings = {"frames": 10, "warmup": 2, "size": [640, 480], "source": "/fake/images",
                "distinct_inputs": 5, "threads": [1], "delegates": ["cpu", "edgetpu"],
                "camera_fps": 5.0}
    info = {"path": "edgeocr/models/detector.tflite", "bytes": 950_000, "dtype": "int8"}
    return b.document("pipeline", "edgeocr bench --frames 10", settings,
                      [{"name": "int8", "detector": info, "recognizer": info}], [run, gone])


def test_make_doc_renders_from_json(tmp_path: Path) -> None:
    """A formatter test: make_doc.py turns a small fake-but-well-formed eval JSON and bench
    JSON into the document; no model runs and the numbers mean nothing."""
    ev, bench = tmp_path / "eval.json", tmp_path / "bench.json"
    ev.write_text(json.dumps(_fake_eval()))
    bench.write_text(json.dumps(_fake_bench()))
    cmds = tmp_path / "commands.txt"
    cmds.write_text("edgeocr eval dev --json eval.json\nedgeocr bench --json bench.json\n")
    soak = tmp_path / "soak.json"
    soak.write_text(json.dumps({
        "clip": "/x/demo.mp4", "fps": 10.0, "threads": 1, "calm_steady_seconds": 540.0,
        "rss_mib_at_1min": 122.4, "rss_mib_end_calm": 123.0, "rss_mib_end": 123.5,
        "peak_rss_mib": 124.0, "cpu_s_per_min_calm": 4.5,
        "storm": {"cycles": 30, "down_s": 2.0, "up_s": 2.0, "seconds": 121.0,
                  "cpu_s_per_min": 5.0},
        "reads_received": 60, "reads_unique": 59, "duplicates": 1,
        "reads_published_last_stats": 59, "daemon_exit": 0}))
    two = _fake_eval()
    two["threads"] = 2
    two["peer_scenes_found"]["tesseract"]["ms_per_image"] = 140.0
    ev2 = tmp_path / "eval2.json"
    ev2.write_text(json.dumps(two))
    out = tmp_path / "docs" / "BENCHMARKS.md"
    make_doc = _make_doc()
    assert make_doc.main(["--eval", str(ev), "--bench", str(bench), "--commands", str(cmds),
                          "--soak", str(soak), "--eval-more", str(ev2), "--out", str(out)]) == 0
    text = out.read_text()
    # ours next to the peer, per source
    assert "| source | n | edgeocr int8 (formats) | tesseract |" in text
    assert "| ccpd | 2 | 50.0% | 0.0% |" in text
    assert "| openalpr_us | 1 | 0.0% | 100.0% |" in text
    assert "| plate/ccpd | 2 | 50.0% | 0.0% |" in text  # found anywhere: ours, tesseract
    assert "| median ms / image |  | 11.00 | 250.00 |" in text
    assert "| engine | ? thread(s) | 2 thread(s) |" in text  # the first fake has no threads
    assert "| tesseract: ms / image | 250.00 | 140.00 |" in text
    assert "| resident memory after 10 min | 123.0 MiB |" in text
    assert "| reads received / unique / duplicates | 60 / 59 / 1 |" in text
    assert "| int8 | cpu | 1 | 50.0 | 1.20 | 1.50 / 2.50 |" in text
    assert "libedgetpu.so.1 not found" in text
    assert "edgeocr bench --json bench.json" in text and "| CPU |" in text
    for link in ("img/accuracy_by_source.png", "img/bench_0_pipeline.png"):
        assert f"]({link})" in text
        assert (out.parent / link).read_bytes()[:4] == b"\x89PNG"


def test_make_doc_rejects_other_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bench.json"
    bad.write_text(json.dumps({"hello": 1}))
    assert _make_doc().main(["--bench", str(bad), "--out", str(tmp_path / "x.md")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0]


def test_run_all_script_parses() -> None:
    subprocess.run(["bash", "-n", str(REPO / "benchmarks" / "run_all.sh")], check=True)


def test_make_doc_never_copies_photo_galleries(tmp_path: Path) -> None:
    """Plots from the eval report are copied next to the document; the failure galleries
    (they show the evaluation photos) are only named, never copied."""
    ev = tmp_path / "eval.json"
    ev.write_text(json.dumps(_fake_eval()))
    report = tmp_path / "report"
    report.mkdir()
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 16
    for name in ("pr_curve.png", "worst_misses.png", "crop_failures.png"):
        (report / name).write_bytes(png)
    out = tmp_path / "docs" / "BENCHMARKS.md"
    assert _make_doc().main(["--eval", str(ev), "--eval-report", str(report),
                             "--out", str(out)]) == 0
    copied = sorted(p.name for p in (out.parent / "img").iterdir())
    assert "eval_pr_curve.png" in copied
    assert not any("worst" in n or "crop_failures" in n for n in copied)
    assert str(report / "worst_misses.png") in out.read_text()
