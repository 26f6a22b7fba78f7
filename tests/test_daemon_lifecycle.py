"""The daemon's life with a real mosquitto: broker outage, SIGKILL with reads queued,
SIGTERM, a bad config."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from edgeocr.config import load_config
from edgeocr.daemon import Daemon
from tests.conftest import REPO, Broker, free_port
from tests.test_daemon_support import (
    Collector,
    FakeStage,
    Scenario,
    add_object,
    config_text,
    write_folder,
)

CLI = [sys.executable, "-c", "from edgeocr.cli.main import cli; cli()"]


def sequential_plates(n: int, every: int = 15, length: int = 4) -> tuple[Scenario, list[str]]:
    """``n`` plates one after another at the same spot, each in view for ``length``
    frames; the gaps (2.2 s at 5 fps) are longer than the track timeout."""
    s: Scenario = {}
    texts = [f"PL{k:02d}X{k % 10}" for k in range(n)]
    for k, text in enumerate(texts):
        add_object(s, 0, "plate", text, range(k * every, k * every + length), (10, 60, 40, 72))
    return s, texts


def queued(path: Path) -> int:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute("SELECT COUNT(*) FROM reads").fetchone()[0])
    except sqlite3.Error:
        return 0


def start_daemon(tmp_path: Path, config: Path, scenario: FakeStage, name: str
                 ) -> subprocess.Popen[bytes]:
    stage_file = tmp_path / f"{name}.json"
    scenario.dump(stage_file)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.test_daemon_support", str(config), str(stage_file)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=open(tmp_path / f"{name}.log", "wb"))


def test_broker_outage_every_read_arrives_once_in_order(tmp_path: Path) -> None:
    port = free_port()
    # mosquitto started as root drops to its own user, which cannot enter pytest's
    # private tmp_path: its store lives in a world-writable directory of its own.
    store = Path(tempfile.mkdtemp(prefix="edgeocr-mosquitto-"))
    store.chmod(0o777)
    conf = tmp_path / "mosquitto.conf"
    # Persistence keeps the collector's session (and the reads queued for it) over the
    # restart, so what is tested is the daemon's delivery, not the collector's luck.
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                    f"persistence_location {store}/\nlog_dest stderr\nlog_type error\n")
    broker = Broker("127.0.0.1", port, conf)
    broker.start()
    try:
        scenario, texts = sequential_plates(12)

        def outage(camera_id: int, index: int) -> None:
            if index == 40:
                broker.stop()
            elif index == 120:
                time.sleep(1.5)  # long enough for the publisher to notice the outage
                broker.start()

        folder = write_folder(tmp_path / "f", 0, 180)
        cfg = tmp_path / "c.toml"
        cfg.write_text(config_text(port, tmp_path / "q.db", {"cam": str(folder)}))
        sub = Collector("127.0.0.1", port, client_id="outage-collector", persistent=True)
        daemon = Daemon(load_config(cfg), stage=FakeStage(scenario, hook=outage))
        assert daemon.run(install_signals=False) == 0
        reads = sub.wait_reads(len(texts), timeout=30)
        sub.stop()
    finally:
        broker.stop()
        shutil.rmtree(store, ignore_errors=True)
    assert [r["text"] for r in reads] == texts
    assert len({r["id"] for r in reads}) == len(texts)
    assert [r["id"] for r in reads] == sorted(r["id"] for r in reads)
    assert queued(tmp_path / "q.db") == 0


def test_sigkill_with_reads_queued_then_restart_delivers_them(tmp_path: Path,
                                                              mosquitto: Broker) -> None:
    mosquitto.stop()  # the broker is down for the first run
    scenario, texts = sequential_plates(5)
    folder = write_folder(tmp_path / "f", 0, 75)
    cfg = tmp_path / "c.toml"
    cfg.write_text(config_text(mosquitto.port, tmp_path / "q.db", {"cam": str(folder)}))
    proc = start_daemon(tmp_path, cfg, FakeStage(scenario), "first")
    try:
        deadline = time.monotonic() + 30
        while queued(tmp_path / "q.db") < len(texts) and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "first.log").read_text()
            time.sleep(0.05)
        assert queued(tmp_path / "q.db") == len(texts)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    mosquitto.start()
    sub = Collector(mosquitto.host, mosquitto.port)
    empty = write_folder(tmp_path / "empty", 0, 3)  # nothing in view this time
    cfg.write_text(config_text(mosquitto.port, tmp_path / "q.db", {"cam": str(empty)}))
    proc = start_daemon(tmp_path, cfg, FakeStage({}), "second")
    assert proc.wait(30) == 0, (tmp_path / "second.log").read_text()
    reads = sub.wait_reads(len(texts))
    sub.stop()
    assert [r["text"] for r in reads] == texts
    assert queued(tmp_path / "q.db") == 0


def test_sigterm_publishes_offline_retained_and_exits_0(tmp_path: Path,
                                                        mosquitto: Broker) -> None:
    scenario: Scenario = {}
    add_object(scenario, 0, "plate", "TERM01", range(0, 400), (10, 60, 40, 72))
    folder = write_folder(tmp_path / "f", 0, 400)  # 80 s at 5 fps: still running
    cfg = tmp_path / "c.toml"
    cfg.write_text(config_text(mosquitto.port, tmp_path / "q.db", {"cam": str(folder)},
                               realtime=True))
    sub = Collector(mosquitto.host, mosquitto.port)
    proc = start_daemon(tmp_path, cfg, FakeStage(scenario), "term")
    try:
        reads = sub.wait_reads(1)
        assert [r["text"] for r in reads] == ["TERM01"]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(15)
    sub.stop()
    log = (tmp_path / "term.log").read_text()
    assert code == 0, log
    assert "received SIGTERM" in log

    late = Collector(mosquitto.host, mosquitto.port)
    deadline = time.monotonic() + 5
    retained: list[tuple[str, bytes, bool]] = []
    while time.monotonic() < deadline and not retained:
        with late.lock:
            retained = [m for m in late.messages if m[0] == "t/testdev/availability"]
        time.sleep(0.05)
    late.stop()
    assert retained == [("t/testdev/availability", b"offline", True)]


def test_bad_config_exits_2_with_key_messages(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('device_id = "x"\n[cameras.front]\nsource = "/dev/video0"\nfps = -1\n'
                   "colour = 3\n")
    proc = subprocess.run([*CLI, "daemon", "--config", str(bad)], capture_output=True,
                          text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert f"{bad}: cameras.front.fps: Input should be greater than 0" in lines
    assert f"{bad}: cameras.front.colour: unknown key" in lines
    assert "Traceback" not in proc.stderr

    missing = tmp_path / "missing-model.toml"
    missing.write_text('device_id = "x"\n[cameras.front]\nsource = "/dev/video0"\n'
                       '[models]\ndetector = "nope.tflite"\n')
    proc = subprocess.run([*CLI, "daemon", "-c", str(missing)], capture_output=True,
                          text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 2
    assert f"models.detector: not found: {tmp_path / 'nope.tflite'}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_stop_from_another_thread_is_bounded(tmp_path: Path, mosquitto: Broker) -> None:
    """stop() while a live-paced source runs: run() returns 0 and the track in view is
    still published on the way out."""
    scenario: Scenario = {}
    add_object(scenario, 0, "plate", "OPEN42", range(0, 3), (10, 60, 40, 72))
    folder = write_folder(tmp_path / "f", 0, 100)
    cfg = tmp_path / "c.toml"
    cfg.write_text(config_text(mosquitto.port, tmp_path / "q.db", {"cam": str(folder)},
                               realtime=True, fps=20))
    sub = Collector(mosquitto.host, mosquitto.port)
    daemon = Daemon(load_config(cfg), stage=FakeStage(scenario))
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(daemon.run(False)))
    thread.start()
    while daemon.stats.total_frames.get("cam", 0) < 3:
        time.sleep(0.02)
    daemon.stop()
    thread.join(10)
    reads = sub.wait_reads(1)
    sub.stop()
    assert result == [0]
    assert [r["text"] for r in reads] == ["OPEN42"]
