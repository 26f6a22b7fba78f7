"""Every MQTT topic name edgeocr uses, in one place.

Layout (``<prefix>`` is ``mqtt.topic_prefix``, ``<device>`` the ``device_id``)::

    <prefix>/<device>/availability          online / offline (retained; the last will is offline)
    <prefix>/<device>/stats                 periodic statistics (JSON)
    <prefix>/<device>/<camera>/read         one JSON message per read
    <prefix>/<device>/<camera>/last         the latest read (retained)
    <prefix>/<device>/<camera>/crop         JPEG of the read's crop (optional)
    <prefix>/<device>/<camera>/event        Home Assistant event payload, one per read
    <discovery>/<component>/<device>/<camera>_<object>/config   Home Assistant discovery

docs/mqtt.md documents the same layout for users; keep the two together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ONLINE = "online"
OFFLINE = "offline"
HA_BIRTH_ONLINE = "online"

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def _check_name(what: str, value: str) -> str:
    # Names end up as topic levels: '/', '+', '#' or an empty level would change the layout.
    if not _NAME.match(value):
        raise ValueError(f"{what} {value!r} may only use letters, digits, '_' and '-'")
    return value


def _check_prefix(what: str, value: str) -> str:
    if not value or "+" in value or "#" in value or value.startswith("/") or value.endswith("/"):
        raise ValueError(f"{what} {value!r} must be non-empty, without + or #, and must not "
                         "start or end with /")
    return value


@dataclass(frozen=True)
class Topics:
    """Topic names for one device."""

    prefix: str
    device_id: str
    discovery_prefix: str = "homeassistant"

    def __post_init__(self) -> None:
        _check_prefix("topic prefix", self.prefix)
        _check_name("device_id", self.device_id)
        _check_prefix("discovery prefix", self.discovery_prefix)

    @property
    def base(self) -> str:
        """``<prefix>/<device>``: everything this device publishes lives below it."""
        return f"{self.prefix}/{self.device_id}"

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def stats(self) -> str:
        return f"{self.base}/stats"

    def _camera(self, camera: str, leaf: str) -> str:
        return f"{self.base}/{_check_name('camera name', camera)}/{leaf}"

    def read(self, camera: str) -> str:
        return self._camera(camera, "read")

    def last(self, camera: str) -> str:
        return self._camera(camera, "last")

    def crop(self, camera: str) -> str:
        return self._camera(camera, "crop")

    def event(self, camera: str) -> str:
        return self._camera(camera, "event")

    def discovery(self, component: str, camera: str, object_id: str) -> str:
        """Home Assistant discovery config topic of one entity."""
        _check_name("camera name", camera)
        return (f"{self.discovery_prefix}/{_check_name('component', component)}/"
                f"{self.device_id}/{camera}_{_check_name('object id', object_id)}/config")
