"""The MQTT publisher against a real mosquitto: topics, payloads, availability, last will,
Home Assistant discovery, outages, restarts, MQTT 5 and password authentication."""

from __future__ import annotations

import getpass
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edgeocr.config import ConfigError, MqttConfig
from edgeocr.publish.mqtt import MqttPublisher
from edgeocr.publish.payload import ReadPayload, StatsPayload, latency_stats
from edgeocr.publish.queue import ReadQueue
from tests.conftest import Broker, free_port
from tests.test_publish_payload import sample_read

WAIT = 15.0  # generous: the CI machine has two shared cores
# Run as root, mosquitto switches to the "mosquitto" user, which cannot read pytest's tmp_path.
RUN_AS = f"user {getpass.getuser()}\n"


class Collector:
    """A test subscriber that records (topic, payload, retain, properties) in arrival order."""

    def __init__(self, broker: Broker, topics: tuple[str, ...] = ("#",), *, qos: int = 1,
                 client_id: str = "", clean: bool = True, v5: bool = False) -> None:
        self.messages: list[tuple[str, bytes, bool, object]] = []
        self.redelivered: list[bool] = []
        """Per message: the broker's DUP flag (a resend to this session of a message it may
        have had already, not a new publish)."""
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._topics = topics
        self._qos = qos
        # manual_ack: a message is acknowledged before it is recorded, so a message this
        # collector recorded is never delivered again to its persistent session.
        if v5:
            self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                      protocol=MQTTProtocolVersion.MQTTv5, manual_ack=True)
        else:
            self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                      clean_session=clean, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 1)
        self.client.connect(broker.host, broker.port, keepalive=5)
        self.client.loop_start()
        assert self._subscribed.wait(WAIT), "collector could not subscribe"

    def _on_connect(self, client: mqtt.Client, *args: object) -> None:
        client.subscribe([(t, self._qos) for t in self._topics])

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        client.ack(msg.mid, msg.qos)
        with self._cond:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain),
                                  getattr(msg, "properties", None)))
            self.redelivered.append(bool(msg.dup))
            self._cond.notify_all()

    def on(self, topic: str) -> list[bytes]:
        with self._cond:
            return [m[1] for m in self.messages if m[0] == topic]

    def wait(self, pred: Callable[[], bool], timeout: float = WAIT) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.2))
        return True

    def wait_count(self, topic: str, n: int, timeout: float = WAIT) -> list[bytes]:
        assert self.wait(lambda: len(self.on(topic)) >= n, timeout), (
            f"expected {n} messages on {topic}, got {len(self.on(topic))}")
        return self.on(topic)

    def clear(self) -> None:
        with self._cond:
            self.messages.clear()

    def close(self) -> None:
        # Disconnect while the loop still runs, so the acks already queued go out first.
        self.client.disconnect()
        self.client.loop_stop()


def retained(broker: Broker, topic: str) -> bytes:
    """The retained message of a topic, as a fresh subscriber sees it."""
    c = Collector(broker, (topic,))
    try:
        return c.wait_count(topic, 1)[0]
    finally:
        c.close()


@pytest.fixture
def collectors() -> Iterator[list[Collector]]:
    made: list[Collector] = []
    yield made
    for c in made:
        c.close()


@pytest.fixture
def publishers() -> Iterator[list[MqttPublisher]]:
    made: list[MqttPublisher] = []
    yield made
    for p in made:
        p.stop(timeout=2)


def make_publisher(broker_port: int, tmp_path: Path, made: list[MqttPublisher], *,
                   queue: ReadQueue | None = None, **cfg: object) -> MqttPublisher:
    config = MqttConfig.model_validate({"host": "127.0.0.1", "port": broker_port,
                                        "keepalive": 5, **cfg})
    pub = MqttPublisher(config, "dev1", queue or ReadQueue(tmp_path / "queue.db"),
                        cameras=["gate"], reconnect_delay=(1, 1))
    made.append(pub)
    return pub


def reads(n: int, start: int = 0) -> list[ReadPayload]:
    return [sample_read(f"r{i:03d}", text=f"AB{i:03d}") for i in range(start, start + n)]


def ids(messages: list[bytes]) -> list[str]:
    return [json.loads(m)["id"] for m in messages]


def test_reads_stats_and_availability(mosquitto: Broker, tmp_path: Path,
                                      collectors: list[Collector],
                                      publishers: list[MqttPublisher]) -> None:
    col = Collector(mosquitto, ("edgeocr/#",))
    collectors.append(col)
    pub = make_publisher(mosquitto.port, tmp_path, publishers)
    pub.start()
    assert pub.wait_connected(WAIT)
    sent = reads(3)
    for i, r in enumerate(sent):
        pub.publish_read(r, crop_jpeg=b"\xff\xd8jpeg" if i == 1 else None)
    assert pub.flush(WAIT)
    got = col.wait_count("edgeocr/dev1/gate/read", 3)
    assert [json.loads(m) for m in got] == [r.model_dump(mode="json") for r in sent]
    events = col.wait_count("edgeocr/dev1/gate/event", 3)
    assert [json.loads(m)["event_type"] for m in events] == ["read"] * 3
    assert ids(events) == ["r000", "r001", "r002"]
    assert col.wait_count("edgeocr/dev1/gate/crop", 1) == [b"\xff\xd8jpeg"]
    assert col.on("edgeocr/dev1/availability")[0] == b"online"
    assert json.loads(retained(mosquitto, "edgeocr/dev1/gate/last"))["id"] == "r002"
    assert retained(mosquitto, "edgeocr/dev1/availability") == b"online"

    stats = StatsPayload(device="dev1", time=datetime.now(UTC), uptime_seconds=3.0,
                         interval_seconds=3.0, cameras={},
                         latency_ms={"detect": latency_stats([1.0, 2.0, 3.0])}, dropped_frames=0)
    assert pub.publish_stats(stats)
    body = json.loads(col.wait_count("edgeocr/dev1/stats", 1)[0])
    assert body["reads_published"] == 3 and body["queue_depth"] == 0
    assert body["latency_ms"]["detect"]["median"] == 2.0
    assert len(pub.queue) == 0

    pub.stop()
    assert col.wait(lambda: col.on("edgeocr/dev1/availability")[-1:] == [b"offline"])
    assert retained(mosquitto, "edgeocr/dev1/availability") == b"offline"


def test_home_assistant_discovery_and_birth(mosquitto: Broker, tmp_path: Path,
                                            collectors: list[Collector],
                                            publishers: list[MqttPublisher]) -> None:
    col = Collector(mosquitto, ("homeassistant/#",))
    collectors.append(col)
    pub = make_publisher(mosquitto.port, tmp_path, publishers)
    pub.start()
    sensor_topic = "homeassistant/sensor/dev1/gate_last_read/config"
    event_topic = "homeassistant/event/dev1/gate_read/config"
    sensor = json.loads(col.wait_count(sensor_topic, 1)[0])
    assert sensor["availability_topic"] == "edgeocr/dev1/availability"
    assert sensor["state_topic"] == "edgeocr/dev1/gate/last"
    assert json.loads(col.wait_count(event_topic, 1)[0])["event_types"] == ["read"]
    assert json.loads(retained(mosquitto, event_topic))["state_topic"] == "edgeocr/dev1/gate/event"

    # Home Assistant restarts: its birth message makes the publisher send the configs again.
    col.clear()
    col.client.publish("homeassistant/status", "online", qos=1).wait_for_publish(WAIT)
    col.wait_count(sensor_topic, 1)
    col.wait_count(event_topic, 1)


def test_last_will_on_sigkill(mosquitto: Broker, tmp_path: Path,
                              collectors: list[Collector]) -> None:
    col = Collector(mosquitto, ("edgeocr/dev1/availability",))
    collectors.append(col)
    child = spawn_publisher(mosquitto.port, tmp_path / "q.db", n_reads=0)
    try:
        col.wait(lambda: col.on("edgeocr/dev1/availability")[-1:] == [b"online"])
        assert col.on("edgeocr/dev1/availability")[-1] == b"online"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert col.wait(lambda: col.on("edgeocr/dev1/availability")[-1:] == [b"offline"])
    assert retained(mosquitto, "edgeocr/dev1/availability") == b"offline"


_CHILD = """
import sys, time
from pathlib import Path
from edgeocr.config import ConfigError, MqttConfig
from edgeocr.publish.mqtt import MqttPublisher
from edgeocr.publish.queue import ReadQueue
from tests.test_publish_payload import sample_read
port, path, n = int(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
cfg = MqttConfig(host="127.0.0.1", port=port, keepalive=5)
pub = MqttPublisher(cfg, "dev1", ReadQueue(path), cameras=["gate"], reconnect_delay=(1, 1))
pub.start()
for i in range(n):
    pub.publish_read(sample_read(f"k{i}"))
print("ready", flush=True)
time.sleep(60)
"""


def spawn_publisher(port: int, queue_path: Path, n_reads: int) -> subprocess.Popen[str]:
    repo = Path(__file__).resolve().parents[1]
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(port), str(queue_path),
                              str(n_reads)], stdout=subprocess.PIPE, text=True, cwd=repo)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    return child


def test_queue_survives_sigkill_and_replays_on_next_start(
        mosquitto: Broker, tmp_path: Path, collectors: list[Collector],
        publishers: list[MqttPublisher]) -> None:
    path = tmp_path / "q.db"
    # No broker on this port: the reads can only be stored.
    child = spawn_publisher(free_port(), path, n_reads=4)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    queue = ReadQueue(path)
    assert len(queue) == 4
    col = Collector(mosquitto, ("edgeocr/dev1/gate/read",))
    collectors.append(col)
    pub = make_publisher(mosquitto.port, tmp_path, publishers, queue=queue)
    pub.start()
    assert pub.flush(WAIT)
    assert ids(col.wait_count("edgeocr/dev1/gate/read", 4)) == ["k0", "k1", "k2", "k3"]
    assert len(queue) == 0 and pub.reads_published == 4


@pytest.fixture
def persistent_broker(tmp_path: Path) -> Iterator[Broker]:
    """A mosquitto that keeps sessions over a restart, so the test's subscriber misses
    nothing whoever reconnects first."""
    port = free_port()
    store = tmp_path / "mosquitto-db"
    store.mkdir()
    conf = tmp_path / "persist.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                    f"persistence_location {store}/\n{RUN_AS}log_dest stderr\nlog_type error\n")
    broker = Broker("127.0.0.1", port, conf)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def collect_over_outage(broker: Broker, before: Callable[[], None],
                        outage: Callable[[], None], after: Callable[[], None],
                        settle: int = 0) -> list[str]:
    """Read ids on the read topic, seen by one persistent session over a broker restart.

    The subscriber disconnects cleanly before the outage and comes back at the end, so the
    broker restart cannot leave a message half-delivered to it. With ``settle`` it first
    waits until it has recorded that many messages: a message recorded is acknowledged, and
    disconnecting while one is still on its way would have the broker deliver it again.
    """
    topic = "edgeocr/dev1/gate/read"
    col = Collector(broker, (topic,), client_id="collector", clean=False)
    try:
        before()
        assert col.wait(lambda: len(col.on(topic)) >= settle), col.on(topic)
    finally:
        col.close()
    seen = ids(col.on(topic))
    broker.stop()
    outage()
    broker.start()
    after()
    col = Collector(broker, (topic,), client_id="collector", clean=False)
    try:
        col.wait(lambda: False, timeout=0.5)  # a duplicate would arrive in this time
    finally:
        col.close()
    # The broker may resend to this test session a message it delivered just before the
    # restart if the session's acknowledgement was not yet stored (flagged DUP); that is the
    # test subscriber's session, not the publisher, so such resends of reads already seen are
    # left out. A publisher sending a read twice makes a new PUBLISH, which has no DUP flag.
    after_ids = ids([m[1] for m, dup in zip(col.messages, col.redelivered, strict=True)
                     if m[0] == topic and not (dup and ids([m[1]])[0] in seen)])
    return seen + after_ids


def test_reads_during_an_outage_arrive_once_in_order(
        persistent_broker: Broker, tmp_path: Path, publishers: list[MqttPublisher]) -> None:
    pub = make_publisher(persistent_broker.port, tmp_path, publishers)

    def before() -> None:
        pub.start()
        for r in reads(5):
            pub.publish_read(r)
        assert pub.flush(WAIT)

    def outage() -> None:
        assert _wait_false(lambda: pub.connected)
        for r in reads(5, start=5):
            pub.publish_read(r)  # returns at once although the broker is down
        assert len(pub.queue) == 5

    got = collect_over_outage(persistent_broker, before, outage, lambda: pub.flush(WAIT),
                              settle=5)
    assert got == [f"r{i:03d}" for i in range(10)], got
    assert len(pub.queue) == 0 and pub.reads_published == 10


def test_reads_in_flight_when_the_broker_dies_are_not_lost(
        persistent_broker: Broker, tmp_path: Path, publishers: list[MqttPublisher]) -> None:
    pub = make_publisher(persistent_broker.port, tmp_path, publishers)

    def before() -> None:
        pub.start()
        assert pub.wait_connected(WAIT)
        for r in reads(10):
            pub.publish_read(r)  # some are still on their way when the broker stops

    def outage() -> None:
        for r in reads(5, start=10):
            pub.publish_read(r)

    got = collect_over_outage(persistent_broker, before, outage, lambda: pub.flush(WAIT))
    # QoS 1 is at least once: a read whose PUBACK died with the broker may come twice, but
    # none is lost and first arrivals keep the publishing order.
    first = list(dict.fromkeys(got))
    assert first == [f"r{i:03d}" for i in range(15)]
    assert len(pub.queue) == 0


def _wait_false(pred: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_mqtt5(mosquitto: Broker, tmp_path: Path, collectors: list[Collector],
               publishers: list[MqttPublisher]) -> None:
    col = Collector(mosquitto, ("edgeocr/#",), v5=True)
    collectors.append(col)
    pub = make_publisher(mosquitto.port, tmp_path, publishers, protocol="5", qos=2)
    pub.start()
    for r in reads(3):
        pub.publish_read(r, crop_jpeg=b"jpeg")
    assert pub.flush(WAIT)
    got = col.wait_count("edgeocr/dev1/gate/read", 3)
    assert ids(got) == ["r000", "r001", "r002"]
    props = next(m[3] for m in col.messages if m[0] == "edgeocr/dev1/gate/read")
    assert getattr(props, "ContentType", None) == "application/json"
    col.wait_count("edgeocr/dev1/gate/crop", 3)
    crop_props = next(m[3] for m in col.messages if m[0] == "edgeocr/dev1/gate/crop")
    assert getattr(crop_props, "UserProperty", None) == [("read_id", "r000")]
    pub.stop()
    assert col.wait(lambda: col.on("edgeocr/dev1/availability")[-1:] == [b"offline"])


def test_password_from_file_and_wrong_password(tmp_path: Path, collectors: list[Collector],
                                               publishers: list[MqttPublisher],
                                               caplog: pytest.LogCaptureFixture) -> None:
    passwd = shutil.which("mosquitto_passwd")
    if passwd is None:
        pytest.fail("mosquitto_passwd is missing (Debian package mosquitto)")
    users = tmp_path / "users"
    subprocess.run([passwd, "-c", "-b", str(users), "edge", "s3cret"], check=True,
                   capture_output=True)
    port = free_port()
    conf = tmp_path / "auth.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\n"
                    f"password_file {users}\n{RUN_AS}"
                    "persistence false\nlog_dest stderr\nlog_type error\n")
    broker = Broker("127.0.0.1", port, conf)
    broker.start()
    try:
        good = tmp_path / "good.txt"
        good.write_text("s3cret\n")
        pub = make_publisher(port, tmp_path, publishers, username="edge", password_file=good)
        pub.start()
        assert pub.wait_connected(WAIT)
        pub.publish_read(sample_read("p1"))
        assert pub.flush(WAIT)

        caplog.set_level(logging.ERROR, logger="edgeocr.publish.mqtt")
        bad = tmp_path / "bad.txt"
        bad.write_text("wrong\n")
        rejected = make_publisher(port, tmp_path / "other", publishers, username="edge",
                                  password_file=bad, client_id="edgeocr-rejected")
        rejected.start()
        assert _wait_false(lambda: rejected.last_error is None)
        assert not rejected.connected
        assert "refused the connection" in caplog.text
        assert "authori" in caplog.text.lower() or "password" in caplog.text.lower()
    finally:
        for p in publishers:
            p.stop(timeout=2)
        broker.stop()


def test_publish_read_does_not_wait_for_an_absent_broker(tmp_path: Path,
                                                         publishers: list[MqttPublisher]) -> None:
    pub = make_publisher(free_port(), tmp_path, publishers)
    pub.start()
    for r in reads(50):
        pub.publish_read(r)
    assert len(pub.queue) == 50
    assert not pub.flush(0.2)
    pub.stop(timeout=1)
    assert len(pub.queue) == 50


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, crt = directory / f"{name}.key", directory / f"{name}.crt"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "2", "-subj", f"/CN={name}")
    return key, crt


def test_tls_verifies_the_broker(tmp_path: Path, publishers: list[MqttPublisher],
                                 caplog: pytest.LogCaptureFixture) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    ca_key, ca_crt = _make_ca(tmp_path, "test-ca")
    _, other_ca = _make_ca(tmp_path, "other-ca")
    key, csr, crt = tmp_path / "server.key", tmp_path / "server.csr", tmp_path / "server.crt"
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    ext = tmp_path / "san.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
             "-CAcreateserial", "-out", str(crt), "-days", "2", "-extfile", str(ext))
    port = free_port()
    conf = tmp_path / "tls.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\ncafile {ca_crt}\n"
                    f"certfile {crt}\nkeyfile {key}\n{RUN_AS}persistence false\n"
                    "log_dest stderr\nlog_type error\n")
    broker = Broker("127.0.0.1", port, conf)
    broker.start()
    try:
        pub = make_publisher(port, tmp_path, publishers, tls={"ca_file": str(ca_crt)})
        pub.start()
        pub.publish_read(sample_read("t1"))
        assert pub.flush(WAIT) and pub.reads_published == 1

        caplog.set_level(logging.ERROR, logger="edgeocr.publish.mqtt")
        wrong = make_publisher(port, tmp_path / "other", publishers, client_id="edgeocr-wrong",
                               tls={"ca_file": str(other_ca)})
        wrong.start()
        assert _wait_false(lambda: wrong.last_error is None)
        assert not wrong.connected
        assert "certificate verify failed" in caplog.text
    finally:
        for p in publishers:
            p.stop(timeout=2)
        broker.stop()


def test_unreadable_password_file_fails_at_construction(tmp_path: Path) -> None:
    config = MqttConfig.model_validate({"username": "edge",
                                        "password_file": str(tmp_path / "missing.txt")})
    with pytest.raises(ConfigError, match=r"mqtt\.password_file: cannot read"):
        MqttPublisher(config, "dev1", ReadQueue(tmp_path / "q.db"))
