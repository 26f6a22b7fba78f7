"""Home Assistant MQTT discovery: the entity configs and the per-read event payload.

Per camera two entities belong to one device:
- a ``sensor`` whose state is the last read's text and whose attributes are the whole read
  (both from the retained ``.../last`` topic);
- an ``event`` entity (event type ``read``) fired for every read, so an automation triggers
  again when the same car comes back (a sensor whose state does not change would not).
Both follow the device's availability topic, which the MQTT last will sets to ``offline``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from edgeocr import __version__
from edgeocr.publish.topics import OFFLINE, ONLINE, Topics

SENSOR_OBJECT = "last_read"
EVENT_OBJECT = "read"
EVENT_TYPE = "read"


def device_block(device_id: str) -> dict[str, Any]:
    return {
        "identifiers": [f"edgeocr_{device_id}"],
        "name": f"edgeocr {device_id}",
        "manufacturer": "edgeocr",
        "model": "edgeocr reader",
        "sw_version": __version__,
    }


def _common(topics: Topics, camera: str, object_id: str) -> dict[str, Any]:
    return {
        "unique_id": f"edgeocr_{topics.device_id}_{camera}_{object_id}",
        "availability_topic": topics.availability,
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "device": device_block(topics.device_id),
        "origin": {"name": "edgeocr", "sw_version": __version__},
    }


def sensor_config(topics: Topics, camera: str) -> dict[str, Any]:
    """The discovery payload of the camera's last-read sensor."""
    config = _common(topics, camera, SENSOR_OBJECT)
    config.update({
        "name": f"{camera} last read",
        "icon": "mdi:card-text-outline",
        "state_topic": topics.last(camera),
        "value_template": "{{ value_json.text }}",
        "json_attributes_topic": topics.last(camera),
    })
    return config


def event_config(topics: Topics, camera: str) -> dict[str, Any]:
    """The discovery payload of the camera's read event entity."""
    config = _common(topics, camera, EVENT_OBJECT)
    config.update({
        "name": f"{camera} read",
        "icon": "mdi:car-search",
        "state_topic": topics.event(camera),
        "event_types": [EVENT_TYPE],
    })
    return config


def discovery_messages(topics: Topics, cameras: Sequence[str]) -> list[tuple[str, bytes]]:
    """(topic, JSON payload) of every discovery config, to publish retained."""
    messages: list[tuple[str, bytes]] = []
    for camera in cameras:
        messages.append((topics.discovery("sensor", camera, SENSOR_OBJECT),
                         json.dumps(sensor_config(topics, camera)).encode()))
        messages.append((topics.discovery("event", camera, EVENT_OBJECT),
                         json.dumps(event_config(topics, camera)).encode()))
    return messages


def event_payload(read_json: bytes) -> bytes:
    """The event entity's payload for one read: ``{"event_type": "read", <read fields>}``.

    Home Assistant takes ``event_type`` to pick the event and keeps the other keys as the
    event's attributes, so automations can use ``trigger.to_state.attributes.text``.
    """
    read = json.loads(read_json)
    return json.dumps({"event_type": EVENT_TYPE, **read}).encode()
