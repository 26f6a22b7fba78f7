"""Publishing reads over MQTT: topics, payload schema, the offline queue, the publisher.

Names are imported lazily so that ``import edgeocr.publish`` does not pull in paho.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgeocr.publish.mqtt import MqttPublisher
    from edgeocr.publish.payload import (
        CameraStats,
        CharConfidence,
        LatencyStats,
        ModelNames,
        ReadPayload,
        StatsPayload,
        latency_stats,
        make_read_payload,
        new_read_id,
    )
    from edgeocr.publish.queue import QueueError, ReadQueue
    from edgeocr.publish.topics import Topics

_EXPORTS = {
    "MqttPublisher": "edgeocr.publish.mqtt",
    "CameraStats": "edgeocr.publish.payload",
    "CharConfidence": "edgeocr.publish.payload",
    "LatencyStats": "edgeocr.publish.payload",
    "ModelNames": "edgeocr.publish.payload",
    "ReadPayload": "edgeocr.publish.payload",
    "StatsPayload": "edgeocr.publish.payload",
    "latency_stats": "edgeocr.publish.payload",
    "make_read_payload": "edgeocr.publish.payload",
    "new_read_id": "edgeocr.publish.payload",
    "QueueError": "edgeocr.publish.queue",
    "ReadQueue": "edgeocr.publish.queue",
    "Topics": "edgeocr.publish.topics",
}

__all__ = [
    "CameraStats",
    "CharConfidence",
    "LatencyStats",
    "ModelNames",
    "MqttPublisher",
    "QueueError",
    "ReadPayload",
    "ReadQueue",
    "StatsPayload",
    "Topics",
    "latency_stats",
    "make_read_payload",
    "new_read_id",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edgeocr.publish' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
