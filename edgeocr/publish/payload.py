"""The JSON payloads edgeocr publishes, as pydantic models, and their JSON Schemas.

``docs/schemas/read.json`` and ``docs/schemas/stats.json`` are generated from these models
(``python -m edgeocr.publish.payload docs/schemas``); a test keeps them in step.
Times are ISO 8601 in UTC with a ``Z`` suffix and millisecond precision.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from edgeocr.core.types import Detection, Kind, Read

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def format_utc(moment: datetime) -> str:
    """``2026-11-23T22:27:09.123Z``: UTC, milliseconds, ``Z`` suffix."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


UtcTime = Annotated[
    AwareDatetime,
    AfterValidator(lambda moment: moment.astimezone(UTC)),
    PlainSerializer(format_utc, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time",
                    "description": "ISO 8601 in UTC with Z, e.g. 2026-11-23T22:27:09.123Z"},
                   mode="serialization"),
]
"""A timezone-aware time. Epoch seconds (float) are accepted too, as UTC."""

Confidence = Annotated[float, Field(ge=0.0, le=1.0)]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CharConfidence(_Payload):
    """One character of the read and how sure the recognizer was of it."""

    char: Annotated[str, Field(min_length=1, max_length=1)]
    confidence: Confidence


class ModelNames(_Payload):
    """Which models produced the read (file name, optionally with a hash)."""

    detector: str | None = None
    recognizer: str | None = None


class ReadPayload(_Payload):
    """One read: published on ``<prefix>/<device>/<camera>/read`` and ``.../last``."""

    id: Annotated[str, Field(min_length=1, max_length=64,
                             description="unique id; new_read_id() makes time-sortable ones")]
    device: str
    camera: str
    kind: Kind
    text: str = Field(description="the voted text, A-Z0-9")
    confidence: Confidence = Field(description="the weakest character's confidence")
    chars: list[CharConfidence]
    format: str | None = Field(description="format pack the text matched (us, eu, br, "
                                           "house_number), null when none matched")
    known: str | None = Field(description="label of the known plate it matched, else null")
    first_seen: UtcTime
    last_seen: UtcTime
    frames: Annotated[int, Field(ge=1, description="frames that voted for this read")]
    box: tuple[float, float, float, float] = Field(
        description="x1, y1, x2, y2 in pixels of the full-resolution frame")
    corners: tuple[tuple[float, float], tuple[float, float], tuple[float, float],
                   tuple[float, float]] = Field(
        description="four [x, y] corners in pixels, clockwise from top-left")
    frame_size: tuple[int, int] = Field(description="width, height of the frame in pixels")
    models: ModelNames


class LatencyStats(_Payload):
    """Latency of one pipeline stage over the stats interval, in milliseconds."""

    median: float
    p95: float
    count: Annotated[int, Field(ge=0)]


class CameraStats(_Payload):
    """One camera over the stats interval."""

    fps: Annotated[float, Field(ge=0.0, description="frames processed per second")]
    frames: Annotated[int, Field(ge=0)]
    dropped_frames: Annotated[int, Field(ge=0, description="frames skipped because the "
                                                           "pipeline was busy")]
    reads: Annotated[int, Field(ge=0)]


class StatsPayload(_Payload):
    """Periodic statistics: published on ``<prefix>/<device>/stats``.

    ``queue_depth``, ``queue_dropped`` and ``reads_published`` are filled in by the publisher.
    """

    device: str
    time: UtcTime
    uptime_seconds: Annotated[float, Field(ge=0.0)]
    interval_seconds: Annotated[float, Field(ge=0.0)]
    cameras: dict[str, CameraStats]
    latency_ms: dict[str, LatencyStats] = Field(
        description="per stage (detect, rectify, recognize, total, ...)")
    dropped_frames: Annotated[int, Field(ge=0, description="sum over cameras")]
    queue_depth: Annotated[int, Field(ge=0, description="reads waiting in the offline queue")] = 0
    queue_dropped: Annotated[int, Field(ge=0, description="reads dropped because the queue was "
                                                          "full, since start")] = 0
    reads_published: Annotated[int, Field(ge=0, description="reads the broker acknowledged, "
                                                            "since start")] = 0


def latency_stats(samples_ms: Sequence[float]) -> LatencyStats:
    """Median and 95th percentile of stage latencies (zeros for no samples)."""
    if len(samples_ms) == 0:
        return LatencyStats(median=0.0, p95=0.0, count=0)
    arr = np.asarray(samples_ms, dtype=np.float64)
    return LatencyStats(median=round(float(np.median(arr)), 3),
                        p95=round(float(np.percentile(arr, 95)), 3), count=int(arr.size))


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_id_lock = threading.Lock()
_last_id: tuple[int, int] = (0, 0)


def _b32(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(out))


def new_read_id(now: float | None = None) -> str:
    """A 26-character ULID-style id: 48-bit milliseconds then 80 random bits, Crockford
    base32. Ids sort by creation time as strings; within one millisecond in one process the
    random part is incremented, so they still sort in creation order."""
    global _last_id
    ms = int((time.time() if now is None else now) * 1000)
    with _id_lock:
        last_ms, last_rand = _last_id
        if ms <= last_ms:
            # Same (or a stepped-back) clock: stay monotonic rather than trust the clock.
            ms, rand = last_ms, (last_rand + 1) & ((1 << 80) - 1)
        else:
            rand = int.from_bytes(os.urandom(10), "big")
        _last_id = (ms, rand)
    return _b32(ms, 10) + _b32(rand, 16)


def char_list(text: str, confidences: Sequence[float]) -> list[CharConfidence]:
    """Pair each character of ``text`` with its confidence."""
    if len(text) != len(confidences):
        raise ValueError(f"{len(text)} characters but {len(confidences)} confidences")
    return [CharConfidence(char=c, confidence=float(p)) for c, p in zip(text, confidences,
                                                                         strict=True)]


def make_read_payload(
    *,
    device: str,
    camera: str,
    read: Read,
    detection: Detection,
    first_seen: float | datetime,
    last_seen: float | datetime,
    frames: int,
    frame_size: tuple[int, int],
    format: str | None = None,
    known: str | None = None,
    models: ModelNames | None = None,
    read_id: str | None = None,
) -> ReadPayload:
    """Build a ReadPayload from pipeline records (times as epoch seconds or aware datetimes)."""
    return ReadPayload.model_validate({
        "id": read_id or new_read_id(),
        "device": device,
        "camera": camera,
        "kind": read.kind,
        "text": read.text,
        "confidence": read.confidence,
        "chars": char_list(read.text, read.char_confidences),
        "format": format,
        "known": known,
        "first_seen": first_seen,
        "last_seen": last_seen,
        "frames": frames,
        "box": detection.box,
        "corners": detection.corners,
        "frame_size": frame_size,
        "models": models or ModelNames(),
    })


SCHEMAS: dict[str, type[BaseModel]] = {"read.json": ReadPayload, "stats.json": StatsPayload}


def schema_documents() -> dict[str, str]:
    """File name -> JSON Schema text (what docs/schemas/ must hold)."""
    docs: dict[str, str] = {}
    for name, model in SCHEMAS.items():
        schema: dict[str, Any] = {"$schema": SCHEMA_DIALECT}
        schema.update(model.model_json_schema(mode="serialization"))
        docs[name] = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    return docs


def write_schemas(directory: Path) -> list[Path]:
    """Write every schema document into ``directory``; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in schema_documents().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/schemas")
    for written_path in write_schemas(target):
        print(written_path)
