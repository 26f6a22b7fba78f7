"""Config loading, validation messages and ``edgeocr check-config``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeocr.cli.main import cli
from edgeocr.config import (
    PASSWORD_ENV,
    CameraConfig,
    ConfigError,
    EdgeocrConfig,
    HomeAssistantConfig,
    LoggingConfig,
    ModelsConfig,
    MqttConfig,
    QueueConfig,
    ReadsConfig,
    TlsConfig,
    file_problems,
    load_config,
    loads_config,
)

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "deploy" / "config.example.toml"

MINIMUM = """\
device_id = "gate"
[mqtt]
host = "127.0.0.1"
port = 1883
topic_prefix = "edgeocr"
[cameras.front]
source = "/path/to/clip.mp4"   # or a folder of images, "picamera2", "/dev/video0", "rtsp://..."
fps = 5
[queue]
path = "/var/lib/edgeocr/queue.db"
"""


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return info.value.problems


def test_minimum_config_loads_with_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMUM))
    assert isinstance(cfg, EdgeocrConfig)
    assert cfg.device_id == "gate"
    assert list(cfg.cameras) == ["front"]
    cam = cfg.cameras["front"]
    assert cam.source == "/path/to/clip.mp4"
    assert cam.fps == 5.0 and cam.realtime and cam.enabled and cam.roi is None
    assert cam.lores_width == 640
    assert (cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.topic_prefix) == ("127.0.0.1", 1883, "edgeocr")
    assert cfg.mqtt.protocol == "3.1.1" and cfg.mqtt.qos == 1 and cfg.mqtt.tls is None
    assert cfg.mqtt.homeassistant.enabled
    assert cfg.mqtt.homeassistant.birth_topic == "homeassistant/status"
    assert cfg.queue.path == Path("/var/lib/edgeocr/queue.db")
    assert cfg.queue.max_items == 10000
    assert cfg.models.detector is None and cfg.models.delegate == "cpu"
    assert cfg.models.detect_score is None and cfg.models.detect_iou == 0.45
    assert cfg.reads.kinds == ["plate", "house_number"]
    assert cfg.reads.formats == ["us", "eu", "br", "house_number"]
    assert cfg.reads.min_frames == 2 and cfg.reads.known_plates == {}
    assert cfg.logging.level == "INFO" and cfg.logging.json is False


def test_example_file_loads_and_covers_every_key() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.device_id == "gate"
    assert cfg.cameras["front"].source == "/dev/video0"
    text = EXAMPLE.read_text(encoding="utf-8")
    # Every field of every section appears in the example, set or commented out.
    sections = {
        "cameras.front": cfg.cameras["front"],
        "models": cfg.models,
        "reads": cfg.reads,
        "mqtt": cfg.mqtt,
        "mqtt.homeassistant": cfg.mqtt.homeassistant,
        "queue": cfg.queue,
        "logging": cfg.logging,
    }
    for section, model in sections.items():
        for name, field in type(model).model_fields.items():
            key = field.alias or name
            written = (f"\n{key} =", f"\n# {key} =", f"[{section}.{key}]")
            assert any(w in text for w in written), f"{section}.{key} missing"
    for key in ("ca_file", "cert_file", "key_file", "insecure"):
        assert f"{key} =" in text


def test_example_defaults_match_the_models() -> None:
    # The example documents defaults: a file with only the required keys must equal it,
    # apart from the values marked "example".
    cfg = load_config(EXAMPLE)
    bare = loads_config('device_id = "gate"\n[cameras.front]\nsource = "/dev/video0"\n')
    assert cfg.model_dump() == bare.model_dump()


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    text = MINIMUM.replace('host = "127.0.0.1"', 'hots = "127.0.0.1"')
    assert problems_of(tmp_path, text) == ["mqtt.hots: unknown key"]


def test_unknown_top_level_section(tmp_path: Path) -> None:
    assert problems_of(tmp_path, MINIMUM + "[camera.x]\nsource = 'a'\n") == ["camera: unknown key"]


def test_wrong_types_are_reported_with_the_value(tmp_path: Path) -> None:
    text = MINIMUM.replace("port = 1883", 'port = "1883"').replace("fps = 5", "fps = 0")
    text += "[logging]\njson = 'yes'\n"
    problems = problems_of(tmp_path, text)
    assert "cameras.front.fps: Input should be greater than 0" in problems
    assert "mqtt.port: Input should be a valid integer (got '1883')" in problems
    assert any(p.startswith("logging.json: Input should be a valid boolean") for p in problems)
    assert len(problems) == 3


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('port = 0', "mqtt.port: Input should be greater than or equal to 1"),
        ('port = 70000', "mqtt.port: Input should be less than or equal to 65535"),
        ('qos = 3', "mqtt.qos: Input should be 0, 1 or 2"),
        ('topic_prefix = "a/#"', "mqtt.topic_prefix: MQTT wildcards + and # cannot appear"),
    ],
)
def test_mqtt_values_are_checked(tmp_path: Path, extra: str, expected: str) -> None:
    text = MINIMUM.replace("port = 1883\n", "").replace('topic_prefix = "edgeocr"\n', "")
    text = text.replace("[mqtt]\n", f"[mqtt]\n{extra}\n")
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_mqtt_protocol_five_as_number(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMUM.replace("[mqtt]\n", "[mqtt]\nprotocol = 5\n")))
    assert cfg.mqtt.protocol == "5"


@pytest.mark.parametrize(
    ("roi", "message"),
    [
        ("[0.5, 0.0, 0.2, 1.0]", "needs x1 < x2 and y1 < y2"),
        ("[0.0, 0.0, 1.5, 1.0]", "must lie in [0, 1]"),
        ("[0.0, 0.0, 1.0]", "cameras.front.roi"),
    ],
)
def test_roi_is_checked(tmp_path: Path, roi: str, message: str) -> None:
    problems = problems_of(tmp_path, MINIMUM.replace("fps = 5", f"fps = 5\nroi = {roi}"))
    assert len(problems) == 1
    assert problems[0].startswith("cameras.front.roi") and message in problems[0]


def test_roi_accepts_fractions(tmp_path: Path) -> None:
    text = MINIMUM.replace("fps = 5", "fps = 5\nroi = [0, 0.25, 1, 0.75]")
    cfg = load_config(write(tmp_path, text))
    assert cfg.cameras["front"].roi == (0.0, 0.25, 1.0, 0.75)


def test_reads_kinds_formats_and_known_plates(tmp_path: Path) -> None:
    good = MINIMUM + '[reads]\nkinds = ["plate"]\nformats = ["eu"]\n' \
        '[reads.known_plates]\n"ab-123 cd" = "Alice"\n'
    cfg = load_config(write(tmp_path, good))
    assert cfg.reads.kinds == ["plate"] and cfg.reads.formats == ["eu"]
    assert cfg.reads.known_plates == {"AB123CD": "Alice"}

    bad = MINIMUM + '[reads]\nkinds = ["car"]\nformats = ["fr"]\n' \
        '[reads.known_plates]\n"AB 1" = "x"\n"ab-1" = "y"\n'
    problems = problems_of(tmp_path, bad)
    assert "reads.kinds.0: Input should be 'plate' or 'house_number' (got 'car')" in problems
    assert "reads.formats.0: Input should be 'us', 'eu', 'br', 'cn' or 'house_number' (got 'fr')" \
        in problems
    assert any(p.startswith("reads.known_plates: plate 'ab-1' is the same") for p in problems)


def test_cameras_required_and_named(tmp_path: Path) -> None:
    assert problems_of(tmp_path, 'device_id = "gate"\ncameras = {}\n') == [
        "cameras: at least one camera is needed ([cameras.NAME] with a source)"
    ]
    assert problems_of(tmp_path, 'device_id = "gate"\n') == ["cameras: missing required key"]
    problems = problems_of(tmp_path, 'device_id = "my gate"\n[cameras."a b"]\nsource = "x"\n')
    assert problems == [
        "device_id: use only letters, digits, '_' and '-' (got 'my gate')",
        "cameras.a b: use only letters, digits, '_' and '-' (got 'a b')",
    ]
    assert problems_of(tmp_path, 'device_id = "g"\n[cameras.a]\nfps = 2\n') == [
        "cameras.a.source: missing required key"
    ]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [f"(file): not found: {path}"]
    assert info.value.path == path
    assert str(info.value) == f"{path}: (file): not found: {path}"


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, 'device_id = "gate"\n[mqtt]\nport = = 3\n')
    assert problems == ["(toml): line 3: Invalid value (column 8)"]
    problems = problems_of(tmp_path, 'device_id = "gate"\nx = "open')
    assert problems == ["(toml): line 2: Unterminated string (at end of file)"]


def test_infinite_and_nan_numbers_are_rejected(tmp_path: Path) -> None:
    text = MINIMUM.replace("fps = 5", "fps = inf") + "[reads]\nmin_confidence = nan\n"
    assert problems_of(tmp_path, text) == [
        "cameras.front.fps: Input should be a finite number",
        "reads.min_confidence: Input should be a finite number",
    ]


def test_home_directory_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = load_config(write(tmp_path, MINIMUM.replace('"/var/lib/edgeocr/queue.db"', '"~/q.db"')))
    assert cfg.queue.path == tmp_path / "q.db"


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    text = MINIMUM.replace('"/var/lib/edgeocr/queue.db"', '"state/queue.db"')
    text += '[models]\nrecognizer = "models/r.tflite"\n'
    cfg = load_config(write(tmp_path, text))
    assert cfg.queue.path == tmp_path.resolve() / "state" / "queue.db"
    assert cfg.models.recognizer == tmp_path.resolve() / "models" / "r.tflite"
    assert file_problems(cfg) == [f"models.recognizer: not found: {cfg.models.recognizer}"]


def test_password_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "from-env")
    secret = tmp_path / "mqtt-password"
    secret.write_text("s3cret\n", encoding="utf-8")
    text = MINIMUM.replace("[mqtt]\n", '[mqtt]\nusername = "u"\npassword_file = "mqtt-password"\n')
    cfg = load_config(write(tmp_path, text))
    assert cfg.mqtt.password_file == tmp_path.resolve() / "mqtt-password"
    assert cfg.mqtt.resolve_password() == "s3cret"

    secret.unlink()
    with pytest.raises(ConfigError) as info:
        cfg.mqtt.resolve_password()
    assert info.value.problems[0].startswith(f"mqtt.password_file: cannot read {secret}: ")
    assert file_problems(cfg) == info.value.problems


def test_password_inline_env_and_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    assert MqttConfig().resolve_password() is None
    monkeypatch.setenv(PASSWORD_ENV, "from-env")
    assert MqttConfig().resolve_password() == "from-env"
    inline = MqttConfig.model_validate({"password": "inline"})
    assert inline.resolve_password() == "inline"
    assert "inline" not in repr(inline)  # a SecretStr never shows in logs


def test_password_and_password_file_exclusive(tmp_path: Path) -> None:
    text = MINIMUM.replace("[mqtt]\n", '[mqtt]\npassword = "a"\npassword_file = "b"\n')
    assert problems_of(tmp_path, text) == ["mqtt: set password or password_file, not both"]


def test_wrong_password_type_does_not_echo_the_value(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, MINIMUM.replace("[mqtt]\n", "[mqtt]\npassword = 123456\n"))
    assert len(problems) == 1 and problems[0].startswith("mqtt.password: ")
    assert "123456" not in problems[0]


def test_tls_cert_needs_key(tmp_path: Path) -> None:
    text = MINIMUM + '[mqtt.tls]\ncert_file = "c.pem"\n'
    assert problems_of(tmp_path, text) == [
        "mqtt.tls: cert_file and key_file go together: set both or neither"
    ]


def test_cli_ok(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMUM)
    result = CliRunner().invoke(cli, ["check-config", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"{path}: OK"
    assert any("camera front: /path/to/clip.mp4 at 5 fps" in line for line in lines)
    assert any("broker: mqtt://127.0.0.1:1883" in line for line in lines)


def test_cli_reports_each_problem_and_exits_2(tmp_path: Path) -> None:
    text = MINIMUM.replace('host = "127.0.0.1"', 'hots = "127.0.0.1"')
    text = text.replace("fps = 5", "fps = -1")
    path = write(tmp_path, text)
    result = CliRunner().invoke(cli, ["check-config", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert sorted(result.stderr.splitlines()) == sorted([
        f"{path}: cameras.front.fps: Input should be greater than 0",
        f"{path}: mqtt.hots: unknown key",
    ])
    assert "Traceback" not in result.output


def test_cli_missing_file_and_syntax_error(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = tmp_path / "nope.toml"
    result = runner.invoke(cli, ["check-config", str(missing)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"{missing}: (file): not found: {missing}"
    broken = write(tmp_path, "device_id = \n")
    result = runner.invoke(cli, ["check-config", str(broken)])
    assert result.exit_code == 2 and "(toml): line 1: " in result.stderr


def test_cli_checks_named_files(tmp_path: Path) -> None:
    text = MINIMUM + '[models]\ndetector = "missing.tflite"\n'
    path = write(tmp_path, text)
    result = CliRunner().invoke(cli, ["check-config", str(path)])
    assert result.exit_code == 2
    assert f"models.detector: not found: {tmp_path.resolve() / 'missing.tflite'}" in result.stderr


def test_example_through_cli() -> None:
    result = CliRunner().invoke(cli, ["check-config", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert os.fspath(EXAMPLE) in result.stdout


def test_reference_documents_every_key() -> None:
    doc = (REPO / "docs" / "config.md").read_text(encoding="utf-8")
    models = (EdgeocrConfig, CameraConfig, ModelsConfig, ReadsConfig, MqttConfig, TlsConfig,
              HomeAssistantConfig, QueueConfig, LoggingConfig)
    for model in models:
        for name, field in model.model_fields.items():
            assert f"| `{field.alias or name}` |" in doc, f"{model.__name__}.{name} not in docs"


def test_verify_score_default_is_the_pipelines() -> None:
    from edgeocr.config import ModelsConfig
    from edgeocr.pipeline import (
        STRICT_VERIFY_CONFIDENCE,
        STRICT_VERIFY_SCORE,
        VERIFY_SCORE,
        ZOOM_KEEP_SCORE,
    )

    assert ModelsConfig().detect_verify_strict_confidence == STRICT_VERIFY_CONFIDENCE
    assert ModelsConfig().detect_zoom_keep_score == ZOOM_KEEP_SCORE
    assert ModelsConfig().detect_verify_score == VERIFY_SCORE
    assert ModelsConfig().detect_verify_strict_score == STRICT_VERIFY_SCORE
    assert ModelsConfig(detect_verify_strict_score=None).detect_verify_strict_score is None
    assert ModelsConfig(detect_verify_score=None).detect_verify_score is None
