"""``edgeocr watch`` and the helpers the demo shares with it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner
from paho.mqtt.enums import CallbackAPIVersion

from edgeocr.cli.main import cli
from edgeocr.cli.watch import format_read, parse_broker
from edgeocr.core.geometry import box_to_quad
from edgeocr.core.types import Detection, Read
from edgeocr.publish.payload import make_read_payload
from tests.conftest import REPO, Broker


def sample_read(text: str = "ABC123", known: str | None = "Alice") -> bytes:
    box = (10.0, 20.0, 110.0, 50.0)
    payload = make_read_payload(
        device="gate", camera="front", read=Read(text, (0.9,) * len(text)),
        detection=Detection("plate", 0.9, box, box_to_quad(box)), first_seen=1.7e9,
        last_seen=1.7e9 + 2, frames=7, frame_size=(640, 480), format="us", known=known)
    return payload.model_dump_json().encode()


def test_parse_broker() -> None:
    assert parse_broker("10.0.0.2:1884") == ("10.0.0.2", 1884)
    assert parse_broker("broker.lan") == ("broker.lan", 1883)
    for bad in ("host:", ":1883", "host:port", "host:70000"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            parse_broker(bad)
    result = CliRunner().invoke(cli, ["watch", "--broker", "host:port"])
    assert result.exit_code == 2 and "HOST:PORT" in result.output


def test_format_read_line() -> None:
    line = format_read(json.loads(sample_read()))
    assert "gate/front" in line and "ABC123" in line and "0.90" in line
    assert "7 frames, us" in line and "known: Alice" in line


def test_watch_prints_reads_as_they_arrive(mosquitto: Broker) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from edgeocr.cli.main import cli; cli()", "watch",
         "--broker", f"{mosquitto.host}:{mosquitto.port}", "--prefix", "edgeocr"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None and proc.stdout is not None
        assert "watching edgeocr/#" in proc.stderr.readline()
        pub = mqtt.Client(CallbackAPIVersion.VERSION2)
        pub.connect(mosquitto.host, mosquitto.port)
        pub.loop_start()
        pub.publish("edgeocr/gate/availability", b"online", qos=1).wait_for_publish(5)
        pub.publish("edgeocr/gate/front/read", sample_read(), qos=1).wait_for_publish(5)
        pub.disconnect()
        pub.loop_stop()
        first = proc.stdout.readline()
        second = proc.stdout.readline()
    finally:
        time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)  # generous: a loaded 2-core CI box
    assert first.strip() == "-- gate is online"
    assert "ABC123" in second and "known: Alice" in second
    assert code == 0
