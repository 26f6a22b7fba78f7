"""The configuration tree, loaded from TOML.

Every model forbids unknown keys, so a typo is an error and never a silent default.
Types are strict (TOML already gives real numbers and booleans, so ``port = "1883"`` is a
mistake worth reporting); only paths and tuples are converted from strings and arrays.
Relative paths are taken relative to the directory of the config file, ``~`` is expanded.

``load_config`` turns every failure (missing file, TOML syntax, validation) into a
``ConfigError`` whose ``problems`` are ``key.path: message`` lines.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    Strict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from edgeocr.core.charset import normalize_text
from edgeocr.core.types import KINDS, Delegate, Kind

PASSWORD_ENV = "EDGEOCR_MQTT_PASSWORD"
FormatPack = Literal["us", "eu", "br", "cn", "house_number"]
FORMAT_PACKS: tuple[FormatPack, ...] = ("us", "eu", "br", "house_number")
"""The default packs (edgeocr.formats.DEFAULT_PACKS); ``cn`` is opt-in."""
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
NAME_PATTERN = r"^[A-Za-z0-9_-]+$"


class ConfigError(Exception):
    """A config file that cannot be used. ``problems`` holds one ``key.path: message`` per
    problem; ``path`` is the file (None for text loaded from a string)."""

    def __init__(self, problems: list[str], path: Path | None = None) -> None:
        self.problems = list(problems)
        self.path = path
        prefix = f"{path}: " if path is not None else ""
        super().__init__(prefix + "; ".join(self.problems))


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    value = value.expanduser()
    base = info.context.get("base_dir") if isinstance(info.context, dict) else None
    if base is not None and not value.is_absolute():
        value = Path(base) / value
    return value


# Paths come from TOML strings, so they are the one place strict typing is relaxed.
ConfigPath = Annotated[Path, Strict(False), AfterValidator(_resolve_path)]
Name = Annotated[str, Field(pattern=NAME_PATTERN)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class CameraConfig(_Model):
    """One frame source: a video file, a folder of images, ``picamera2``, a V4L2 device
    (``/dev/video0``) or a stream URL (``rtsp://...``)."""

    source: Annotated[str, Field(min_length=1)]
    fps: Annotated[float, Field(gt=0)] = 5.0
    realtime: bool = True
    loop: bool = False
    roi: Annotated[tuple[float, float, float, float], Strict(False)] | None = None
    lores_width: Annotated[int, Field(ge=32)] = 640
    enabled: bool = True

    @field_validator("roi")
    @classmethod
    def _check_roi(
        cls, roi: tuple[float, float, float, float] | None
    ) -> tuple[float, float, float, float] | None:
        if roi is None:
            return None
        x1, y1, x2, y2 = roi
        if not all(0.0 <= v <= 1.0 for v in roi):
            raise ValueError("roi values are fractions of the frame and must lie in [0, 1]")
        if not (x1 < x2 and y1 < y2):
            raise ValueError("roi is [x1, y1, x2, y2] and needs x1 < x2 and y1 < y2")
        return roi


class ModelsConfig(_Model):
    """Model files and the inference backend (None = the models shipped in the package)."""

    detector: ConfigPath | None = None
    recognizer: ConfigPath | None = None
    delegate: Delegate = "cpu"
    threads: Annotated[int, Field(ge=0)] = 0
    detect_score: Annotated[float, Field(ge=0, le=1)] | None = None
    detect_iou: Annotated[float, Field(ge=0, le=1)] = 0.45
    detect_tiles: Literal[1, 2] | None = None
    # Same default as edgeocr.pipeline.VERIFY_SCORE (kept apart: config imports no OpenCV).
    detect_verify_score: Annotated[float, Field(ge=0, le=1)] | None = 0.30
    # Same default as edgeocr.pipeline.STRICT_VERIFY_SCORE.
    detect_verify_strict_score: Annotated[float, Field(ge=0, le=1)] | None = 0.15
    # Same default as edgeocr.pipeline.STRICT_VERIFY_CONFIDENCE.
    detect_verify_strict_confidence: Annotated[float, Field(ge=0, le=1)] = 0.99
    second_look: bool = True
    zoom: bool = True
    # Same default as edgeocr.pipeline.ZOOM_KEEP_SCORE.
    detect_zoom_keep_score: Annotated[float, Field(ge=0, le=1)] | None = 0.55


class ReadsConfig(_Model):
    """Which reads are kept and published."""

    kinds: Annotated[list[Kind], Field(min_length=1)] = Field(
        default_factory=lambda: list(KINDS)
    )
    min_confidence: Annotated[float, Field(ge=0, le=1)] = 0.6
    formats: list[FormatPack] = Field(default_factory=lambda: list(FORMAT_PACKS))
    dedupe_seconds: Annotated[float, Field(ge=0)] = 60.0
    known_plates: dict[str, str] = Field(default_factory=dict)
    known_max_distance: Annotated[int, Field(ge=0)] = 1
    min_frames: Annotated[int, Field(ge=1)] = 2
    track_timeout_seconds: Annotated[float, Field(gt=0)] = 1.5
    publish_crop: bool = False

    @field_validator("kinds", "formats")
    @classmethod
    def _no_duplicates(cls, values: list[str]) -> list[str]:
        dupes = sorted({v for v in values if values.count(v) > 1})
        if dupes:
            raise ValueError(f"listed more than once: {', '.join(dupes)}")
        return values

    @field_validator("known_plates")
    @classmethod
    def _normalise_known(cls, plates: dict[str, str]) -> dict[str, str]:
        # Reads are normalised to A-Z0-9 before lookup, so keys must be too.
        out: dict[str, str] = {}
        for key, label in plates.items():
            norm = normalize_text(key)
            if not norm:
                raise ValueError(f"plate {key!r} has no letters or digits")
            if norm in out:
                raise ValueError(f"plate {key!r} is the same as another entry once normalised "
                                 f"({norm})")
            out[norm] = label
        return out


class TlsConfig(_Model):
    """TLS for the broker connection; with no ca_file the system trust store is used."""

    ca_file: ConfigPath | None = None
    cert_file: ConfigPath | None = None
    key_file: ConfigPath | None = None
    insecure: bool = False

    @model_validator(mode="after")
    def _cert_and_key(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together: set both or neither")
        return self


class HomeAssistantConfig(_Model):
    """Home Assistant MQTT discovery."""

    enabled: bool = True
    discovery_prefix: Annotated[str, Field(min_length=1)] = "homeassistant"
    birth_topic: Annotated[str, Field(min_length=1)] = "homeassistant/status"


def _protocol_as_str(value: Any) -> Any:
    # ``protocol = 5`` is the natural way to write it in TOML.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class MqttConfig(_Model):
    """The MQTT broker and how to publish to it."""

    host: Annotated[str, Field(min_length=1)] = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    client_id: str | None = None
    username: str | None = None
    password_file: ConfigPath | None = None
    password: Annotated[SecretStr, Strict(False)] | None = None
    tls: TlsConfig | None = None
    protocol: Annotated[Literal["3.1.1", "5"], BeforeValidator(_protocol_as_str)] = "3.1.1"
    topic_prefix: Annotated[str, Field(min_length=1)] = "edgeocr"
    qos: Literal[0, 1, 2] = 1
    keepalive: Annotated[int, Field(ge=5, le=65535)] = 30
    stats_interval_seconds: Annotated[float, Field(gt=0)] = 60.0
    homeassistant: HomeAssistantConfig = Field(default_factory=HomeAssistantConfig)

    @field_validator("topic_prefix")
    @classmethod
    def _check_prefix(cls, prefix: str) -> str:
        if "+" in prefix or "#" in prefix:
            raise ValueError("MQTT wildcards + and # cannot appear in a topic prefix")
        if prefix.startswith("/") or prefix.endswith("/"):
            raise ValueError("topic prefix must not start or end with /")
        return prefix

    @model_validator(mode="after")
    def _one_password_source(self) -> MqttConfig:
        if self.password is not None and self.password_file is not None:
            raise ValueError("set password or password_file, not both")
        return self

    def resolve_password(self) -> str | None:
        """The broker password: from ``password_file`` (trailing newline dropped), else
        ``password``, else the environment variable ``EDGEOCR_MQTT_PASSWORD``, else None.

        Raises ConfigError (``mqtt.password_file: ...``) when the file cannot be read.
        """
        if self.password_file is not None:
            try:
                text = self.password_file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                raise ConfigError(
                    [f"mqtt.password_file: cannot read {self.password_file}: {reason}"]
                ) from None
            return text.rstrip("\r\n")
        if self.password is not None:
            return self.password.get_secret_value()
        env = os.environ.get(PASSWORD_ENV)
        return env if env else None


class QueueConfig(_Model):
    """The offline queue that holds messages while the broker is unreachable."""

    path: ConfigPath = Path("/var/lib/edgeocr/queue.db")
    max_items: Annotated[int, Field(ge=1)] = 10000


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


class LoggingConfig(_Model):
    """Log level and format of the daemon. The TOML key ``json`` is stored as
    ``json_format`` because a field named ``json`` would shadow ``BaseModel.json``; the
    ``json`` property reads it back."""

    level: Annotated[LogLevel, BeforeValidator(_upper)] = "INFO"
    json_format: bool = Field(default=False, alias="json")

    @property
    def json(self) -> bool:  # type: ignore[override]
        """Log one JSON object per line (for journald/log shippers) instead of text."""
        return self.json_format


class EdgeocrConfig(_Model):
    """The whole configuration of one device."""

    device_id: Annotated[str, Field(pattern=NAME_PATTERN)]
    cameras: Annotated[dict[Name, CameraConfig], Field(min_length=1)]
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    reads: ReadsConfig = Field(default_factory=ReadsConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    queue: QueueConfig = Field(default_factory=QueueConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)


_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "missing required key",
    "string_pattern_mismatch": "use only letters, digits, '_' and '-'",
}


def _shows_input(error_type: str, loc: tuple[int | str, ...]) -> bool:
    # Echoing the offending value helps, except for secrets.
    if any("password" in str(part) for part in loc):
        return False
    return error_type in ("literal_error", "string_pattern_mismatch") or error_type.endswith(
        ("_type", "_parsing")
    )


def _format_errors(err: ValidationError) -> list[str]:
    problems: list[str] = []
    for e in err.errors(include_url=False):
        loc = tuple(e["loc"])
        if loc and loc[-1] == "[key]":
            loc = loc[:-1]  # a bad dict key (camera name) is reported at the key itself
        where = ".".join(str(p) for p in loc) or "(config)"
        msg = _MESSAGES.get(e["type"], e["msg"])
        if e["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        elif e["type"] == "too_short" and loc == ("cameras",):
            msg = "at least one camera is needed ([cameras.NAME] with a source)"
        value = e.get("input")
        if _shows_input(e["type"], loc) and isinstance(value, str | int | float | bool):
            msg += f" (got {value!r})"
        problems.append(f"{where}: {msg}")
    return problems


def parse_config(data: dict[str, Any], *, base_dir: Path | None = None,
                 path: Path | None = None) -> EdgeocrConfig:
    """Validate an already-parsed TOML table. Relative paths are resolved against
    ``base_dir`` when given. Raises ConfigError."""
    try:
        return EdgeocrConfig.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc), path) from None


def loads_config(text: str, *, base_dir: Path | None = None) -> EdgeocrConfig:
    """Parse and validate TOML text. Raises ConfigError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_toml_problem(exc, text)]) from None
    return parse_config(data, base_dir=base_dir)


def _toml_problem(exc: tomllib.TOMLDecodeError, text: str) -> str:
    # Python 3.11-3.13 put "(at line L, column C)" at the end of the message; 3.14 also
    # has lineno/colno/msg attributes. Either way, lead with the line.
    lineno = getattr(exc, "lineno", None)
    colno = getattr(exc, "colno", None)
    msg = getattr(exc, "msg", None) if lineno is not None else None
    if lineno is None:
        match = re.fullmatch(r"(?s)(.*) \(at line (\d+), column (\d+)\)", str(exc))
        if match is None:
            head, sep, _ = str(exc).rpartition(" (at end of document)")
            if sep:
                return f"(toml): line {text.count(chr(10)) + 1}: {head} (at end of file)"
            return f"(toml): {exc}"
        msg, lineno, colno = match.group(1), int(match.group(2)), int(match.group(3))
    column = f" (column {colno})" if colno is not None else ""
    return f"(toml): line {lineno}: {msg or exc}{column}"


def load_config(path: Path) -> EdgeocrConfig:
    """Load and validate a TOML config file. Raises ConfigError with ``key.path: message``
    problems (``(file): ...`` for an unreadable file, ``(toml): line N: ...`` for syntax)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"(file): not found: {path}"], path) from None
    except IsADirectoryError:
        raise ConfigError([f"(file): is a directory, not a file: {path}"], path) from None
    except OSError as exc:
        raise ConfigError([f"(file): cannot read {path}: {exc.strerror or exc}"], path) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"(file): not UTF-8 text: {path}: {exc.reason}"], path) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_toml_problem(exc, text)], path) from None
    return parse_config(data, base_dir=path.resolve().parent, path=path)


def file_problems(config: EdgeocrConfig) -> list[str]:
    """Problems with files the config names (model files, TLS files, password file) that
    validation alone cannot see, as ``key.path: message`` lines."""
    problems: list[str] = []
    named: list[tuple[str, Path | None]] = [
        ("models.detector", config.models.detector),
        ("models.recognizer", config.models.recognizer),
    ]
    if config.mqtt.tls is not None:
        tls = config.mqtt.tls
        named += [("mqtt.tls.ca_file", tls.ca_file), ("mqtt.tls.cert_file", tls.cert_file),
                  ("mqtt.tls.key_file", tls.key_file)]
    for key, path in named:
        if path is not None and not path.is_file():
            problems.append(f"{key}: not found: {path}")
    try:
        config.mqtt.resolve_password()
    except ConfigError as exc:
        problems.extend(exc.problems)
    return problems
