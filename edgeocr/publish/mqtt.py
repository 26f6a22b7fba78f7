"""The MQTT publisher: paho-mqtt 2.x (callback API VERSION2) with the on-disk read queue.

Threads and who does what:
- the caller (capture/inference loop) only inserts into SQLite and sets an event in
  ``publish_read``; it never waits for the network;
- paho's network thread (``loop_start``) connects, reconnects with backoff, runs the
  callbacks; the callbacks only set flags, append acknowledgements and publish small
  control messages (availability, discovery);
- the pump thread hands queued reads to paho in insertion order, at most ``WINDOW``
  unacknowledged at a time, and removes them from the queue when their ack arrives.

paho calls ``on_publish`` while holding its own outgoing-message lock, and ``publish()``
takes that lock too: so no lock of ours is ever held around a paho call, and the ack is
passed to the pump thread through a deque instead of touching SQLite in the callback.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import ssl
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edgeocr.config import HomeAssistantConfig, MqttConfig
from edgeocr.publish.homeassistant import discovery_messages, event_payload
from edgeocr.publish.payload import ReadPayload, StatsPayload
from edgeocr.publish.queue import QueuedRead, ReadQueue
from edgeocr.publish.topics import HA_BIRTH_ONLINE, OFFLINE, ONLINE, Topics

log = logging.getLogger(__name__)
_paho_log = logging.getLogger(f"{__name__}.paho")
_PAHO_LEVELS: dict[int, int] = {int(k): v for k, v in mqtt.LOGGING_LEVEL.items()}

WINDOW = 20
"""Reads handed to paho and not yet acknowledged, at most. Keeps paho's in-memory copy
small during a long replay; the rest wait on disk."""

EVENT_MAX_AGE_S = 300.0
"""A read older than this when finally delivered (replayed after an outage or a restart)
still goes to ``read`` and ``last`` but fires no Home Assistant event: an automation must
not open a gate for a car that left long ago."""

_CROPS_KEPT = 16


class MqttPublisher:
    """Publishes reads, stats and availability for one device; see docs/mqtt.md.

    ``queue`` is owned by the caller (``stop`` does not close it). ``ha`` defaults to
    ``config.homeassistant``; ``cameras`` are the names that get discovery entities.
    ``reconnect_delay`` is paho's (min, max) backoff in whole seconds. Raises ConfigError
    when ``mqtt.password_file`` cannot be read.
    """

    def __init__(
        self,
        config: MqttConfig,
        device_id: str,
        queue: ReadQueue,
        ha: HomeAssistantConfig | None = None,
        cameras: Sequence[str] = (),
        *,
        reconnect_delay: tuple[int, int] = (1, 60),
    ) -> None:
        self.config = config
        self.device_id = device_id
        self.queue = queue
        self.ha = ha if ha is not None else config.homeassistant
        self.cameras = list(cameras)
        self.topics = Topics(config.topic_prefix, device_id, self.ha.discovery_prefix)
        self.client_id = config.client_id or f"edgeocr-{device_id}"
        # Read now, so an unreadable password file fails at construction, not in start().
        self._password = config.resolve_password() if config.username is not None else None
        self._reconnect_delay = reconnect_delay
        self._v5 = config.protocol == "5"
        self._json_props = self._properties(PacketTypes.PUBLISH, content_type="application/json")

        self._client: mqtt.Client | None = None
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._progress = threading.Condition()
        self._acks: collections.deque[tuple[int, bool]] = collections.deque()
        self._crops: collections.OrderedDict[str, bytes] = collections.OrderedDict()
        self._crops_lock = threading.Lock()
        self._pump: threading.Thread | None = None
        # Pump-thread state: mid -> queue seq of reads paho holds, and the last seq handed.
        self._handed: dict[int, int] = {}
        self._handed_upto = 0
        # After a reconnect paho re-sends the reads it still holds; new ones wait for them.
        self._resending = False
        self.reads_published = 0
        self.last_error: str | None = None
        self._fail_streak = 0

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background and start publishing; returns at once."""
        if self._client is not None:
            raise RuntimeError("MqttPublisher.start() called twice")
        client = self._make_client()
        self._client = client
        self._pump = threading.Thread(target=self._pump_main, name="edgeocr-mqtt-pump",
                                      daemon=True)
        self._pump.start()
        cfg = self.config
        log.info("connecting to MQTT broker %s:%d (MQTT %s) as %s", cfg.host, cfg.port,
                 cfg.protocol, self.client_id)
        if self._v5:
            client.connect_async(cfg.host, cfg.port, cfg.keepalive, clean_start=True,
                                 properties=self._properties(PacketTypes.CONNECT))
        else:
            client.connect_async(cfg.host, cfg.port, cfg.keepalive)
        client.loop_start()

    def _make_client(self) -> mqtt.Client:
        cfg = self.config
        protocol = MQTTProtocolVersion.MQTTv5 if self._v5 else MQTTProtocolVersion.MQTTv311
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            # Our durable state is the SQLite queue, not a broker session; v5 sets
            # clean_start on connect instead (clean_session must be None there).
            clean_session=None if self._v5 else True,
            protocol=protocol,
        )
        client.on_log = self._on_log
        if cfg.username is not None:
            client.username_pw_set(cfg.username, self._password)
        if cfg.tls is not None:
            tls = cfg.tls
            client.tls_set(
                ca_certs=str(tls.ca_file) if tls.ca_file else None,
                certfile=str(tls.cert_file) if tls.cert_file else None,
                keyfile=str(tls.key_file) if tls.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
            if tls.insecure:
                log.warning("MQTT TLS: the broker's host name is not verified (tls.insecure)")
                client.tls_insecure_set(True)
        client.will_set(self.topics.availability, OFFLINE, qos=1, retain=True,
                        properties=self._properties(PacketTypes.WILLMESSAGE))
        client.reconnect_delay_set(*self._reconnect_delay)
        client.max_inflight_messages_set(WINDOW * 4)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def stop(self, timeout: float = 5.0) -> None:
        """Publish ``offline`` (retained), wait for it up to ``timeout``, disconnect.

        Reads not yet acknowledged stay in the queue for the next start; call ``flush``
        first to give them a chance.
        """
        client = self._client
        if client is None or self._stopping.is_set():
            return
        self._stopping.set()
        if self._connected.is_set():
            info = client.publish(self.topics.availability, OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError) as exc:
                log.warning("could not publish offline before disconnecting: %s", exc)
        client.disconnect()
        client.loop_stop()
        self._wake.set()
        if self._pump is not None:
            self._pump.join(timeout)
        log.info("MQTT publisher stopped (%d reads left in the queue)", self.queue.depth)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    # -- publishing ----------------------------------------------------------------------

    def publish_read(self, payload: ReadPayload, crop_jpeg: bytes | None = None) -> None:
        """Store the read in the queue and let the pump publish it; never blocks on the
        network. ``crop_jpeg`` is published after the read when the broker is reachable
        (crops are not stored on disk)."""
        data = payload.model_dump_json().encode()
        self.queue.put(payload.id, payload.camera, data)
        if crop_jpeg is not None:
            with self._crops_lock:
                self._crops[payload.id] = crop_jpeg
                while len(self._crops) > _CROPS_KEPT:
                    self._crops.popitem(last=False)
        self._wake.set()

    def publish_stats(self, stats: StatsPayload) -> bool:
        """Publish statistics (QoS 0, not retained) if connected; False when skipped."""
        stats = stats.model_copy(update={
            "queue_depth": self.queue.depth,
            "queue_dropped": self.queue.dropped,
            "reads_published": self.reads_published,
        })
        return self._publish_now(self.topics.stats, stats.model_dump_json().encode(), qos=0,
                                 retain=False, props=self._json_props)

    def flush(self, timeout: float) -> bool:
        """Wait until every queued read has been acknowledged; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._progress:
            while self.queue.depth > 0 or self._handed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._wake.set()
                self._progress.wait(min(remaining, 0.1))
        return True

    def publish_discovery(self) -> None:
        """(Re)publish the Home Assistant discovery configs, retained."""
        if not self.ha.enabled:
            return
        for topic, body in discovery_messages(self.topics, self.cameras):
            self._publish_now(topic, body, qos=1, retain=True, props=self._json_props)
        log.info("published Home Assistant discovery for %d camera(s)", len(self.cameras))

    def _publish_now(self, topic: str, body: bytes, qos: int, retain: bool,
                     props: Properties | None = None) -> bool:
        # Fire-and-forget messages are skipped while disconnected: otherwise paho would
        # keep every QoS>0 one in memory for the whole outage.
        client = self._client
        if client is None or not self._connected.is_set():
            return False
        info = client.publish(topic, body, qos=qos, retain=retain, properties=props)
        return info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    # -- paho callbacks (network thread) -------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: mqtt.ConnectFlags,
                    reason_code: ReasonCode, properties: Properties | None) -> None:
        cfg = self.config
        if reason_code.is_failure:
            self.last_error = str(reason_code)
            self._connected.clear()
            log.error("MQTT broker %s:%d refused the connection: %s", cfg.host, cfg.port,
                      reason_code)
            return
        self.last_error = None
        self._fail_streak = 0
        log.info("connected to MQTT broker %s:%d", cfg.host, cfg.port)
        client.publish(self.topics.availability, ONLINE, qos=1, retain=True)
        self._connected.set()
        if self.ha.enabled:
            client.subscribe(self.ha.birth_topic, qos=1)
            self.publish_discovery()
        self._wake.set()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        # paho calls this inside its ``except OSError`` block, so the error is at hand.
        err = sys.exc_info()[1]
        self.last_error = str(err) if err is not None else "connection failed"
        if isinstance(err, ssl.SSLError):
            level = logging.ERROR  # a certificate problem will not fix itself
        else:
            # A broker that is down is logged once per outage, not at every retry.
            level = logging.WARNING if self._fail_streak == 0 else logging.DEBUG
        self._fail_streak += 1
        log.log(level, "cannot connect to MQTT broker %s:%d: %s; retrying (reads are queued)",
                self.config.host, self.config.port, self.last_error)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any,
                       flags: mqtt.DisconnectFlags, reason_code: ReasonCode,
                       properties: Properties | None) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        self._resending = True
        if self._stopping.is_set():
            log.info("disconnected from MQTT broker")
        elif was_connected:
            log.warning("lost MQTT broker %s:%d (%s); reconnecting, reads are queued",
                        self.config.host, self.config.port, reason_code)
        self._wake.set()

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int,
                    reason_code: ReasonCode, properties: Properties) -> None:
        self._acks.append((mid, reason_code.is_failure))
        self._wake.set()

    def _on_log(self, client: mqtt.Client, userdata: Any, level: int, buf: str) -> None:
        std_level = _PAHO_LEVELS.get(level, logging.DEBUG)
        if buf.startswith("Client is not connected"):
            # paho's loop says this at every retry while the broker is away and after our own
            # disconnect(); _on_connect_fail already reports an outage, once.
            std_level = logging.DEBUG
        _paho_log.log(std_level, "%s", buf)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == self.ha.birth_topic and msg.payload.decode(errors="replace").strip() \
                == HA_BIRTH_ONLINE:
            log.info("Home Assistant came online: republishing discovery")
            self.publish_discovery()

    # -- pump thread ---------------------------------------------------------------------

    def _pump_main(self) -> None:
        while True:
            self._wake.wait(0.5)
            self._wake.clear()
            try:
                self._drain_acks()
                if self._stopping.is_set():
                    break
                if self._connected.is_set():
                    self._fill()
            except Exception:
                # A broken queue must not silently kill publishing: log and keep trying.
                log.exception("MQTT publisher pump failed; retrying")
                time.sleep(1.0)
            with self._progress:
                self._progress.notify_all()
        with self._progress:
            self._progress.notify_all()

    def _drain_acks(self) -> None:
        while self._acks:
            mid, failed = self._acks.popleft()
            seq = self._handed.pop(mid, None)
            if seq is None:
                continue  # availability, last, event, stats or discovery
            if failed:
                # The broker refused it (MQTT 5 reason code): retrying would not help.
                log.warning("broker refused read message (seq %d); dropping it", seq)
            else:
                self.reads_published += 1
            self.queue.remove(seq)
        if self._resending and not self._handed:
            self._resending = False

    def _fill(self) -> None:
        if self._resending and self._handed:
            return  # keep the order: paho first re-sends what it held over the outage
        client = self._client
        room = WINDOW - len(self._handed)
        if client is None or room <= 0:
            return
        for row in self.queue.peek(self._handed_upto, room):
            if not self._connected.is_set() or not self._hand(client, row):
                return

    def _hand(self, client: mqtt.Client, row: QueuedRead) -> bool:
        qos = self.config.qos
        info = client.publish(self.topics.read(row.camera), row.payload, qos=qos,
                              retain=False, properties=self._json_props)
        if qos == 0:
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return False  # stays queued; the next connect replays it
            self.queue.remove(row.seq)
            self.reads_published += 1
        else:
            # Even with rc NO_CONN paho keeps a QoS>0 message and sends it on reconnect.
            self._handed[info.mid] = row.seq
        self._handed_upto = row.seq
        self._publish_derived(client, row)
        return True

    def _publish_derived(self, client: mqtt.Client, row: QueuedRead) -> None:
        qos = self.config.qos
        client.publish(self.topics.last(row.camera), row.payload, qos=qos, retain=True,
                       properties=self._json_props)
        if self.ha.enabled and time.time() - row.created <= EVENT_MAX_AGE_S:
            with contextlib.suppress(ValueError):
                client.publish(self.topics.event(row.camera), event_payload(row.payload),
                               qos=qos, retain=False, properties=self._json_props)
        with self._crops_lock:
            crop = self._crops.pop(row.read_id, None)
        if crop is not None:
            props = self._properties(PacketTypes.PUBLISH, content_type="image/jpeg",
                                     read_id=row.read_id)
            client.publish(self.topics.crop(row.camera), crop, qos=0, retain=False,
                           properties=props)

    # -- MQTT 5 properties ---------------------------------------------------------------

    def _properties(self, packet_type: int, content_type: str | None = None,
                    read_id: str | None = None) -> Properties | None:
        if not self._v5:
            return None
        props = Properties(packet_type)  # type: ignore[no-untyped-call]
        if packet_type == PacketTypes.CONNECT:
            # The session ends with the connection: replay comes from our own queue.
            props.SessionExpiryInterval = 0
        if content_type is not None:
            props.ContentType = content_type
            if content_type.startswith("application/json"):
                props.PayloadFormatIndicator = 1
        if read_id is not None:
            props.UserProperty = ("read_id", read_id)
        return props
