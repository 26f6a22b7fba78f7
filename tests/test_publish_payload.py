"""Payload models, ids, topics, Home Assistant configs and the committed JSON Schemas."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from edgeocr.core.types import Detection, Read
from edgeocr.publish.homeassistant import discovery_messages, event_payload
from edgeocr.publish.payload import (
    ModelNames,
    ReadPayload,
    StatsPayload,
    latency_stats,
    make_read_payload,
    new_read_id,
    schema_documents,
)
from edgeocr.publish.topics import Topics
from tests.conftest import REPO


def sample_read(read_id: str | None = None, text: str = "AB12CDE") -> ReadPayload:
    det = Detection("plate", 0.9, (10.0, 20.0, 110.0, 50.0),
                    ((10.0, 20.0), (110.0, 21.0), (109.0, 50.0), (11.0, 49.0)))
    return make_read_payload(
        device="dev1", camera="gate", read=Read(text, tuple(0.9 for _ in text)),
        detection=det, first_seen=1_790_000_000.25, last_seen=1_790_000_001.5, frames=4,
        frame_size=(1920, 1080), format="eu", known=None,
        models=ModelNames(detector="detector.tflite", recognizer="recognizer.tflite"),
        read_id=read_id)


def test_read_payload_json_shape() -> None:
    data = json.loads(sample_read("r1").model_dump_json())
    assert set(data) == {"id", "device", "camera", "kind", "text", "confidence", "chars",
                         "format", "known", "first_seen", "last_seen", "frames", "box",
                         "corners", "frame_size", "models"}
    assert data["id"] == "r1"
    assert data["chars"][0] == {"char": "A", "confidence": 0.9}
    assert data["first_seen"] == "2026-09-21T14:13:20.250Z"
    assert data["last_seen"].endswith("Z")
    assert data["corners"][1] == [110.0, 21.0]
    assert data["frame_size"] == [1920, 1080]
    assert data["known"] is None
    assert data["models"] == {"detector": "detector.tflite", "recognizer": "recognizer.tflite"}
    # A round trip through JSON gives the same payload back (consumers can use the model).
    assert ReadPayload.model_validate_json(json.dumps(data)) == sample_read("r1")


def test_times_are_normalised_to_utc_and_naive_times_rejected() -> None:
    base = sample_read("r1").model_dump()
    plus2 = timezone(timedelta(hours=2))
    base["first_seen"] = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=plus2)
    payload = ReadPayload.model_validate(base)
    assert json.loads(payload.model_dump_json())["first_seen"] == "2026-01-01T10:00:00.123Z"
    base["first_seen"] = datetime(2026, 1, 1, 12, 0, 0)
    with pytest.raises(ValidationError, match="timezone"):
        ReadPayload.model_validate(base)


def test_read_ids_are_unique_and_sort_in_creation_order() -> None:
    ids = [new_read_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", i) for i in ids)
    # The time part comes first, so ids of later moments sort later.
    t = datetime.now(UTC).timestamp() + 3600
    assert new_read_id(now=t) > ids[-1]


def test_latency_stats() -> None:
    stats = latency_stats([float(v) for v in range(1, 101)])
    assert stats.median == 50.5
    assert 95.0 <= stats.p95 <= 96.0
    assert stats.count == 100
    assert latency_stats([]).count == 0


def test_topics_layout_and_name_checks() -> None:
    t = Topics("edgeocr", "dev1")
    assert t.availability == "edgeocr/dev1/availability"
    assert t.stats == "edgeocr/dev1/stats"
    assert t.read("gate") == "edgeocr/dev1/gate/read"
    assert t.last("gate") == "edgeocr/dev1/gate/last"
    assert t.crop("gate") == "edgeocr/dev1/gate/crop"
    assert t.event("gate") == "edgeocr/dev1/gate/event"
    assert t.discovery("sensor", "gate", "last_read") == \
        "homeassistant/sensor/dev1/gate_last_read/config"
    with pytest.raises(ValueError, match="camera name"):
        t.read("front/back")
    with pytest.raises(ValueError, match="topic prefix"):
        Topics("home/#", "dev1")


def test_home_assistant_discovery_configs() -> None:
    t = Topics("edgeocr", "dev1", "ha")
    msgs = dict(discovery_messages(t, ["gate", "door"]))
    assert set(msgs) == {"ha/sensor/dev1/gate_last_read/config", "ha/event/dev1/gate_read/config",
                         "ha/sensor/dev1/door_last_read/config", "ha/event/dev1/door_read/config"}
    sensor = json.loads(msgs["ha/sensor/dev1/gate_last_read/config"])
    assert sensor["state_topic"] == sensor["json_attributes_topic"] == "edgeocr/dev1/gate/last"
    assert sensor["value_template"] == "{{ value_json.text }}"
    assert sensor["availability_topic"] == "edgeocr/dev1/availability"
    assert sensor["device"]["identifiers"] == ["edgeocr_dev1"]
    event = json.loads(msgs["ha/event/dev1/gate_read/config"])
    assert event["event_types"] == ["read"]
    assert event["state_topic"] == "edgeocr/dev1/gate/event"
    assert event["unique_id"] != sensor["unique_id"]
    fired = json.loads(event_payload(sample_read("r9").model_dump_json().encode()))
    assert fired["event_type"] == "read"
    assert fired["id"] == "r9" and fired["text"] == "AB12CDE"


def test_stats_payload_defaults() -> None:
    stats = StatsPayload(device="dev1", time=datetime.now(UTC), uptime_seconds=5.0,
                         interval_seconds=5.0, cameras={}, latency_ms={"detect": latency_stats([])},
                         dropped_frames=0)
    data = json.loads(stats.model_dump_json())
    assert data["queue_depth"] == 0 and data["time"].endswith("Z")


def test_committed_schemas_match_the_models() -> None:
    for name, text in schema_documents().items():
        path = REPO / "docs" / "schemas" / name
        assert path.is_file(), f"{path} missing: run python -m edgeocr.publish.payload docs/schemas"
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} is stale: run python -m edgeocr.publish.payload docs/schemas")


def test_docs_name_every_topic_and_field() -> None:
    doc = (REPO / "docs" / "mqtt.md").read_text(encoding="utf-8")
    for leaf in ("availability", "stats", "/read", "/last", "/crop", "/event",
                 "homeassistant/status"):
        assert leaf in doc, leaf
    for field in (*ReadPayload.model_fields, *StatsPayload.model_fields):
        assert f"`{field}`" in doc or f'"{field}"' in doc, field
