"""The daemon with real TFLite interpreters (no stage double): tiny hand-set models always,
the shipped models and the demo when they exist."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from edgeocr.cli.demo import DEMO_CLIP, DEMO_EXPECTED
from edgeocr.cli.main import cli
from edgeocr.config import load_config
from edgeocr.daemon import Daemon, build_pipeline
from edgeocr.publish.payload import ReadPayload
from tests.conftest import REPO, Broker
from tests.test_daemon_support import Collector, config_text
from tests.test_detect import _house_scene
from tests.tinymodels import TinyModels, cached_build

SHIPPED = [REPO / "edgeocr" / "models" / f"{m}.tflite" for m in ("detector", "recognizer")]


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return cached_build(tmp_path_factory)


def test_tiny_models_through_the_daemon(tmp_path: Path, mosquitto: Broker,
                                        tiny_models: TinyModels) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    scene = _house_scene("11A")
    for i in range(6):
        cv2.imwrite(str(folder / f"{i}.png"), scene)
    cfg = tmp_path / "c.toml"
    # The hand-set recognizer is not confident; the tracker's threshold is not under test.
    models = (f'[models]\ndetector = "{tiny_models.detector}"\n'
              f'recognizer = "{tiny_models.recognizer}"\ndetect_score = 0.3\n'
              'detect_tiles = 1\n')  # the 64 px toy model would tile a 512 px frame
    cfg.write_text(config_text(mosquitto.port, tmp_path / "q.db", {"cam": str(folder)},
                               reads="min_confidence = 0.0") + models)
    config = load_config(cfg)
    # What one frame reads is what six identical frames must vote for.
    single = build_pipeline(config).process(scene)
    assert len(single) == 1 and single[0].read.text
    sub = Collector(mosquitto.host, mosquitto.port)
    daemon = Daemon(config)
    assert daemon.run(install_signals=False) == 0
    reads = sub.wait_reads(1)
    sub.stop()
    assert [(r["kind"], r["text"]) for r in reads] == [("house_number",
                                                         single[0].read.text)]
    payload = ReadPayload.model_validate(reads[0])
    assert payload.models.detector == "detector.tflite"
    assert payload.frames >= 2 and payload.frame_size == (512, 512)
    assert daemon.stats.total_frames["cam"] == 6


def test_verification_bands_come_from_the_config(tmp_path: Path,
                                                 tiny_models: TinyModels) -> None:
    from edgeocr.pipeline import STRICT_VERIFY_SCORE, VERIFY_SCORE, ZOOM_KEEP_SCORE, Pipeline

    def built(extra: str) -> Pipeline:
        cfg = tmp_path / "c.toml"
        cfg.write_text(config_text(1883, tmp_path / "q.db", {"cam": str(tmp_path)})
                       + f'[models]\ndetector = "{tiny_models.detector}"\n'
                       f'recognizer = "{tiny_models.recognizer}"\n{extra}')
        pipe = build_pipeline(load_config(cfg))
        assert isinstance(pipe, Pipeline)
        return pipe

    default = built("")
    assert default.verify is not None
    assert (default.verify.min_score, default.verify.strict_score) == (VERIFY_SCORE,
                                                                         STRICT_VERIFY_SCORE)
    assert default.detector.score_threshold == STRICT_VERIFY_SCORE
    custom = built("detect_verify_score = 0.4\ndetect_verify_strict_score = 0.2\n"
                   "detect_verify_strict_confidence = 0.97\n")
    assert custom.verify is not None and custom.verify.floor == 0.2
    assert custom.verify.strict_confidence == 0.97
    assert default.verify.strict_confidence == 0.99
    off = built("detect_verify_strict_score = 1.0\n")
    assert off.verify is not None and off.verify.floor == VERIFY_SCORE
    assert default.zoom and default.verify.zoom_keep_score == ZOOM_KEEP_SCORE
    keep = built("detect_zoom_keep_score = 0.8\n")
    assert keep.verify is not None and keep.verify.zoom_keep_score == 0.8
    # No zoom pass, no zoom score to keep anything by.
    nozoom = built("zoom = false\ndetect_zoom_keep_score = 0.8\n")
    assert not nozoom.zoom and nozoom.verify is not None
    assert nozoom.verify.zoom_keep_score is None


def test_own_models_with_default_bands_warn(tmp_path: Path, tiny_models: TinyModels,
                                           caplog: pytest.LogCaptureFixture) -> None:
    def warned(extra: str) -> list[str]:
        cfg = tmp_path / "c.toml"
        cfg.write_text(config_text(1883, tmp_path / "q.db", {"cam": str(tmp_path)})
                       + f'[models]\ndetector = "{tiny_models.detector}"\n'
                       f'recognizer = "{tiny_models.recognizer}"\n{extra}')
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="edgeocr.daemon"):
            build_pipeline(load_config(cfg))
        return [r.getMessage() for r in caplog.records if "edgeocr bands" in r.getMessage()]

    msgs = warned("")
    assert len(msgs) == 1 and "own detector and recognizer" in msgs[0]
    assert warned("detect_verify_score = 0.3\n") == []  # the user chose the bands
    assert warned("detect_verify_score = 1.0\n") == []
    if all(p.is_file() for p in SHIPPED):  # the shipped pair is what the defaults were made for
        cfg = tmp_path / "shipped.toml"
        cfg.write_text(config_text(1883, tmp_path / "q.db", {"cam": str(tmp_path)}))
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="edgeocr.daemon"):
            build_pipeline(load_config(cfg))
        assert not [r for r in caplog.records if "edgeocr bands" in r.getMessage()]


@pytest.mark.skipif(not all(p.is_file() for p in SHIPPED),
                    reason="no shipped models in edgeocr/models/ yet")
def test_demo_with_shipped_models(mosquitto: Broker) -> None:
    result = CliRunner().invoke(cli, ["demo", "--fast", "--broker",
                                      f"{mosquitto.host}:{mosquitto.port}"])
    assert result.exit_code == 0, result.output
    expected = json.loads(DEMO_EXPECTED.read_text())
    lines = result.output.splitlines()
    summary = next(line for line in lines if line.startswith("-- ") and "frames" in line)
    assert f"from {expected['frames']} frames" in summary
    assert any(line.startswith("-- the clip shows 4") for line in lines)
    assert DEMO_CLIP.stat().st_size < 2_000_000


def test_demo_command_with_embedded_broker(tiny_models: TinyModels) -> None:
    """The demo's plumbing (embedded amqtt broker, daemon, subscriber, summary) with the
    tiny models: what they read on the clip is meaningless, the run must still end by
    itself and account for every frame."""
    result = CliRunner().invoke(cli, ["demo", "--fast", "--detector", str(tiny_models.detector),
                                      "--recognizer", str(tiny_models.recognizer)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("edgeocr demo: demo.mp4 as fast as it goes, embedded broker on "
                               "127.0.0.1:")
    frames = json.loads(DEMO_EXPECTED.read_text())["frames"]
    assert any(line.startswith("-- ") and f"from {frames} frames" in line for line in lines)
