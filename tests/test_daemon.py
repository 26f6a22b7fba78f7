"""The daemon end to end with a real mosquitto: folders of frames -> stage double ->
tracker -> queue -> broker -> a subscriber; systemd notify over a real unix socket."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest

from edgeocr.config import load_config
from edgeocr.core.types import Detection, Read
from edgeocr.daemon import Daemon
from edgeocr.systemd_notify import Notifier
from tests.conftest import Broker
from tests.test_daemon_support import (
    Collector,
    FakeStage,
    Scenario,
    add_object,
    config_text,
    write_folder,
)


def gate_and_door() -> tuple[Scenario, list[tuple[str, str, str, str | None]]]:
    """Two cameras; returns the scenario and the reads a correct daemon publishes, as
    (camera, kind, text, known label) in per-camera order."""
    s: Scenario = {}
    # gate (id 0): two plates at once, one misread frame, moving right.
    add_object(s, 0, "plate", "ABC123", range(0, 10), (10, 60, 40, 72), step=(6, 0),
               misreads={3: "A8C123", 4: "ABC12"})
    add_object(s, 0, "plate", "DEF456", range(0, 10), (100, 20, 130, 32), step=(-5, 1))
    add_object(s, 0, "plate", "ABC123", range(20, 28), (10, 60, 40, 72), step=(6, 0))
    add_object(s, 0, "plate", "XYZ789", range(30, 38), (60, 60, 90, 72))  # known, 1 edit away
    add_object(s, 0, "plate", "QQQ111", [40], (60, 60, 90, 72))  # one frame: below min_frames
    add_object(s, 0, "plate", "ABC123", range(48, 56), (10, 60, 40, 72), step=(6, 0))
    add_object(s, 0, "plate", "LOW999", range(60, 66), (60, 60, 90, 72), conf=0.3)
    # door (id 1): a house number in view the whole time, and a plate also seen at the gate.
    add_object(s, 1, "house_number", "42", range(0, 70), (70, 10, 90, 24))
    add_object(s, 1, "plate", "ABC123", range(10, 16), (20, 80, 50, 92), step=(3, 0))
    expected = [
        ("gate", "plate", "ABC123", None),
        ("gate", "plate", "DEF456", None),
        ("gate", "plate", "XYZ789", "Alice"),
        ("gate", "plate", "ABC123", None),
        ("door", "house_number", "42", None),
        ("door", "plate", "ABC123", None),
    ]
    return s, expected


def test_two_cameras_publish_exactly_the_expected_reads(tmp_path: Path,
                                                        mosquitto: Broker) -> None:
    scenario, expected = gate_and_door()
    gate = write_folder(tmp_path / "gate", 0, 70)
    door = write_folder(tmp_path / "door", 1, 70)
    cfg = tmp_path / "edgeocr.toml"
    cfg.write_text(config_text(
        mosquitto.port, tmp_path / "q.db", {"gate": str(gate), "door": str(door)},
        reads='dedupe_seconds = 3.0\n[reads.known_plates]\nXYZ780 = "Alice"\n'))
    config = load_config(cfg)

    notify_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(notify_path)
    sock.settimeout(0.5)
    notifier = Notifier({"NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": "2000000"})

    sub = Collector(mosquitto.host, mosquitto.port)
    daemon = Daemon(config, stage=FakeStage(scenario), notifier=notifier)
    assert daemon.run(install_signals=False) == 0
    reads = sub.wait_reads(len(expected))
    sub.stop()

    got = {cam: [(r["camera"], r["kind"], r["text"], r["known"]) for r in reads
                 if r["camera"] == cam] for cam in ("gate", "door")}
    want = {cam: [e for e in expected if e[0] == cam] for cam in ("gate", "door")}
    # Within one camera the order is the order the appearances became final; the two
    # plates of frames 0-9 end in the same frame, so compare those as a set.
    assert sorted(got["gate"][:2]) == sorted(want["gate"][:2])
    assert got["gate"][2:] == want["gate"][2:]
    assert got["door"] == want["door"]
    assert len(reads) == len(expected)
    abc = next(r for r in reads if r["text"] == "ABC123" and r["camera"] == "gate")
    # Emitted as soon as five frames agreed (the vote was stable), not when it left.
    assert abc["frames"] == 5 and abc["frame_size"] == [160, 120]
    assert [c["char"] for c in abc["chars"]] == list("ABC123")
    assert daemon.summary.frames == {"gate": 70, "door": 70}
    assert daemon.summary.dropped == {"gate": 0, "door": 0}

    msgs: list[str] = []
    while True:
        try:
            msgs.extend(sock.recv(4096).decode().split("\n"))
        except TimeoutError:
            break
    sock.close()
    assert "READY=1" in msgs and "STOPPING=1" in msgs and "WATCHDOG=1" in msgs
    assert any(m.startswith("STATUS=") for m in msgs)


def test_stats_are_published(tmp_path: Path, mosquitto: Broker) -> None:
    scenario: Scenario = {}
    add_object(scenario, 0, "plate", "ABC123", range(0, 6), (10, 60, 40, 72))
    folder = write_folder(tmp_path / "f", 0, 6)
    cfg = tmp_path / "c.toml"
    cfg.write_text(config_text(mosquitto.port, tmp_path / "q.db", {"cam": str(folder)},
                               extra="stats_interval_seconds = 0.05"))
    sub = Collector(mosquitto.host, mosquitto.port)
    daemon = Daemon(load_config(cfg), stage=FakeStage(scenario))
    assert daemon.run(install_signals=False) == 0
    sub.wait_reads(1)
    sub.stop()
    stats = [json.loads(p) for t, p, _ in sub.messages if t == "t/testdev/stats"]
    assert stats, "no stats message"
    last = stats[-1]
    assert set(last["cameras"]) == {"cam"}
    assert sum(s["cameras"]["cam"]["frames"] for s in stats) == 6
    assert {"detect", "total", "track"} <= set(last["latency_ms"]) or any(
        {"detect", "total"} <= set(s["latency_ms"]) for s in stats)
    assert last["uptime_seconds"] > 0


def test_slow_broker_does_not_stall_capture(tmp_path: Path) -> None:
    """A broker that accepts the TCP connection and never answers: every frame is still
    processed and every read waits in the queue."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    port = server.getsockname()[1]
    scenario: Scenario = {}
    for k in range(5):
        add_object(scenario, 0, "plate", f"SLOW{k}0", range(k * 12, k * 12 + 4),
                   (10, 60, 40, 72))
    folder = write_folder(tmp_path / "f", 0, 60)
    cfg = tmp_path / "c.toml"
    cfg.write_text(config_text(port, tmp_path / "q.db", {"cam": str(folder)}))
    daemon = Daemon(load_config(cfg), stage=FakeStage(scenario))
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(daemon.run(install_signals=False)))
    thread.start()
    try:
        deadline = threading.Event()
        for _ in range(200):
            if daemon.summary.reads == 5 and all(c.capture.done for c in daemon.cameras):
                break
            deadline.wait(0.05)
        assert daemon.stats.total_frames["cam"] == 60
        assert daemon.summary.reads == 5
    finally:
        daemon.stop()
        thread.join(10)
        server.close()
    assert result == [0]
    from edgeocr.publish.queue import ReadQueue

    with ReadQueue(tmp_path / "q.db") as q:
        assert q.depth == 5


def test_camera_that_fails_to_open_retries_and_logs(tmp_path: Path, mosquitto: Broker,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    scenario: Scenario = {}
    add_object(scenario, 0, "plate", "GOOD12", range(0, 5), (10, 60, 40, 72))
    folder = write_folder(tmp_path / "f", 0, 5)
    cfg = tmp_path / "c.toml"
    cfg.write_text(config_text(mosquitto.port, tmp_path / "q.db",
                               {"good": str(folder), "broken": "/dev/video99"}))
    sub = Collector(mosquitto.host, mosquitto.port)
    daemon = Daemon(load_config(cfg), stage=FakeStage(scenario), backoff=(0.02, 0.05))
    broken = next(c for c in daemon.cameras if c.name == "broken")
    result: list[int] = []
    with caplog.at_level("WARNING", logger="edgeocr.sources"):
        thread = threading.Thread(target=lambda: result.append(daemon.run(False)))
        thread.start()
        reads = sub.wait_reads(1)
        waiter = threading.Event()
        for _ in range(200):
            if broken.capture.reconnects >= 3:
                break
            waiter.wait(0.05)
        assert thread.is_alive()
        daemon.stop()
        thread.join(10)
    sub.stop()
    assert result == [0]
    assert [r["text"] for r in reads] == ["GOOD12"]
    assert broken.capture.reconnects >= 3
    retries = [r for r in caplog.records if "cannot open /dev/video99" in r.getMessage()]
    assert len(retries) >= 3


def test_region_of_interest_and_published_crop(tmp_path: Path, mosquitto: Broker) -> None:
    scenario: Scenario = {}
    # The stage sees only the right half of the frame: its boxes are in that half's pixels.
    add_object(scenario, 0, "plate", "ROI123", range(0, 4), (10, 60, 40, 72))
    folder = write_folder(tmp_path / "f", 0, 4)
    cfg = tmp_path / "c.toml"
    cfg.write_text(config_text(mosquitto.port, tmp_path / "q.db", {"cam": str(folder)},
                               reads="publish_crop = true")
                   .replace("realtime = false\n", "realtime = false\nroi = [0.5, 0.0, 1.0, 1.0]\n"))
    sub = Collector(mosquitto.host, mosquitto.port)
    stage = FakeStage(scenario)
    seen_widths: list[int] = []
    inner = stage.process

    def spy(image, lores=None):  # type: ignore[no-untyped-def]
        seen_widths.append(image.shape[1])
        return inner(image, lores)

    stage.process = spy  # type: ignore[method-assign]
    assert Daemon(load_config(cfg), stage=stage).run(install_signals=False) == 0
    (read,) = sub.wait_reads(1)
    for _ in range(100):
        crops = [p for t, p, _ in sub.messages if t == "t/testdev/cam/crop"]
        if crops:
            break
        threading.Event().wait(0.05)
    sub.stop()
    assert set(seen_widths) == {80}
    assert read["box"] == [90.0, 60.0, 120.0, 72.0]
    assert read["corners"][0] == [90.0, 60.0] and read["frame_size"] == [160, 120]
    assert len(crops) == 1 and crops[0][:2] == b"\xff\xd8"  # a JPEG


def test_bundled_demo_clip_gives_one_read_per_appearance(tmp_path: Path,
                                                         mosquitto: Broker) -> None:
    """The demo clip through OpenCV, the tracker and the broker, with a stage that knows
    what each frame shows (demo_expected.json): each plate and the house number once."""
    from edgeocr.cli.demo import DEMO_CLIP, DEMO_EXPECTED
    from edgeocr.core.geometry import quad_to_box
    from tests.test_daemon_support import FakeRead

    expected = json.loads(DEMO_EXPECTED.read_text())
    objects = expected["objects"]

    class ClipStage:
        """Frames arrive in order (realtime = false never drops): the n-th call is frame n."""

        calls = 0

        def process(self, image, lores=None):  # type: ignore[no-untyped-def]
            index = self.calls
            self.calls += 1
            out = []
            for obj in objects[index]:
                quad = tuple(tuple(p) for p in obj["quad"])
                det = Detection(obj["kind"], 0.9, quad_to_box(quad), quad)
                out.append(FakeRead(det, Read(obj["text"], (0.9,) * len(obj["text"]),
                                              obj["kind"]), None))
            return out

    cfg = tmp_path / "c.toml"
    cfg.write_text(config_text(mosquitto.port, tmp_path / "q.db", {"demo": str(DEMO_CLIP)},
                               fps=expected["fps"]))
    sub = Collector(mosquitto.host, mosquitto.port)
    stage = ClipStage()
    assert Daemon(load_config(cfg), stage=stage).run(install_signals=False) == 0
    reads = sub.wait_reads(len(expected["reads"]))
    sub.stop()
    assert stage.calls == expected["frames"]
    assert sorted((r["kind"], r["text"]) for r in reads) == sorted(
        (e["kind"], e["text"]) for e in expected["reads"])
    assert {r["camera"] for r in reads} == {"demo"}
    assert [r["frame_size"] for r in reads] == [expected["size"]] * len(reads)
