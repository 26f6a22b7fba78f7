"""Soak and reconnect-storm measurement of the daemon: memory over time on a looping clip,
and what a broker that keeps dropping away costs.

    .venv/bin/python benchmarks/soak.py [--minutes 10] [--storm-cycles 30] [--json OUT]

It starts a real mosquitto on a free loopback port (persistent, so a subscriber's session
and its queued QoS 1 messages survive the restarts), runs ``edgeocr daemon`` as a child
process on a clip played in real time with ``loop = true``, and subscribes to its reads
and stats with a persistent session. Phase 1 (calm) samples the daemon's resident memory
(VmRSS, VmHWM from /proc) every few seconds for ``--minutes``. Phase 2 (storm) stops and
restarts the broker ``--storm-cycles`` times (``--down`` s away, ``--up`` s back) while
frames keep coming; then the broker stays up for ``--settle`` s. Reported: RSS at 1 min and
at the end of the calm phase, daemon CPU per minute (calm vs storm), frames processed and
dropped, reads published vs received, duplicates (QoS 1 is at-least-once) and reads lost.
Linux only (/proc).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "edgeocr" / "assets" / "demo.mp4"
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mosquitto:
    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {folder}/\nlog_dest none\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([exe, "-c", str(self.conf)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


class Listener:
    """Persistent-session subscriber: counts reads by id and keeps the latest stats."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.ids: list[str] = []
        self.stats: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="soak-listener", clean_session=False
        )
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe(
            [("soak/+/+/read", 1), ("soak/+/stats", 1)]
        )
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.1, 1)
        self.client.connect_async("127.0.0.1", port, 10)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        payload = json.loads(msg.payload)
        with self.lock:
            if msg.topic.endswith("/read"):
                self.ids.append(str(payload["id"]))
            else:
                self.stats.append(payload)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def proc_memory(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of the process so far."""
    parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / TICKS


def config_text(clip: Path, fps: float, port: int, queue: Path, threads: int,
                realtime: bool = True) -> str:
    return f"""device_id = "soak"
[cameras.cam]
source = "{clip}"
fps = {fps}
realtime = {"true" if realtime else "false"}
loop = true
[models]
threads = {threads}
[reads]
min_frames = 2
dedupe_seconds = 1.0
[mqtt]
host = "127.0.0.1"
port = {port}
topic_prefix = "soak"
stats_interval_seconds = 5.0
[mqtt.homeassistant]
enabled = false
[queue]
path = "{queue}"
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", type=Path, default=CLIP)
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--sample-seconds", type=float, default=5.0)
    ap.add_argument("--storm-cycles", type=int, default=30)
    ap.add_argument("--down", type=float, default=2.0)
    ap.add_argument("--up", type=float, default=2.0)
    ap.add_argument("--settle", type=float, default=30.0)
    ap.add_argument("--fast", action="store_true",
                    help="Play the clip as fast as the pipeline goes (realtime = false): "
                         "end-to-end frames/s instead of a camera's pace.")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    exe = Path(sys.executable).parent / "edgeocr"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        broker = Mosquitto(folder)
        broker.start()
        listener = Listener(broker.port)
        conf = folder / "edgeocr.toml"
        conf.write_text(config_text(args.clip, args.fps, broker.port, folder / "q.db",
                                    args.threads, realtime=not args.fast))
        log = (folder / "daemon.log").open("w")
        daemon = subprocess.Popen([str(exe), "daemon", "--config", str(conf)], stderr=log)
        t0 = time.monotonic()
        samples: list[dict[str, float]] = []

        def sample(phase: str) -> None:
            rss, hwm = proc_memory(daemon.pid)
            samples.append({"t": round(time.monotonic() - t0, 1), "rss_mib": round(rss, 1),
                            "hwm_mib": round(hwm, 1), "cpu_s": round(proc_cpu(daemon.pid), 2),
                            "phase": phase})  # type: ignore[dict-item]

        calm_end = t0 + args.minutes * 60
        while time.monotonic() < calm_end and daemon.poll() is None:
            sample("calm")
            time.sleep(args.sample_seconds)
        sample("calm")
        # Steady state: from the 1-minute sample (start-up and model loading excluded).
        warm = min(samples, key=lambda s: abs(s["t"] - 60))
        calm_cpu = samples[-1]["cpu_s"] - warm["cpu_s"]
        calm_s = samples[-1]["t"] - warm["t"]
        storm_t0 = time.monotonic()
        cpu0 = proc_cpu(daemon.pid)
        for i in range(args.storm_cycles):
            broker.stop()
            time.sleep(args.down)
            broker.start()
            time.sleep(args.up)
            sample("storm")
            print(f"storm cycle {i + 1}/{args.storm_cycles}", file=sys.stderr)
        storm_s = time.monotonic() - storm_t0
        storm_cpu = proc_cpu(daemon.pid) - cpu0
        time.sleep(args.settle)
        sample("settled")
        daemon.send_signal(signal.SIGTERM)
        rc = daemon.wait(30)
        time.sleep(2)
        listener.close()
        broker.stop()
        log.close()
        log_tail = (folder / "daemon.log").read_text().splitlines()[-15:]
    with listener.lock:
        ids, stats = list(listener.ids), list(listener.stats)
    published = max((s.get("reads_published", 0) for s in stats), default=0)
    frames = {}
    for s in stats:
        for cam, c in s["cameras"].items():
            frames[cam] = c
    one_min = min(samples, key=lambda s: abs(s["t"] - 60))
    # Frames/s per stats interval, skipping the first (start-up) and the last (shutdown).
    steady = [s["cameras"]["cam"]["fps"] for s in stats[1:-1] if "cam" in s["cameras"]]
    result = {
        "clip": str(args.clip), "fps": args.fps, "threads": args.threads,
        "realtime": not args.fast,
        "e2e_fps_median": float(sorted(steady)[len(steady) // 2]) if steady else None,
        "latency_ms": stats[-2]["latency_ms"] if len(stats) > 1 else None,
        "calm_steady_seconds": calm_s,
        "rss_mib_at_1min": one_min["rss_mib"],
        "rss_mib_end_calm": [s for s in samples if s["phase"] == "calm"][-1]["rss_mib"],
        "rss_mib_end": samples[-1]["rss_mib"],
        "peak_rss_mib": samples[-1]["hwm_mib"],
        "cpu_s_per_min_calm": round(calm_cpu / max(calm_s, 1) * 60, 2),
        "storm": {"cycles": args.storm_cycles, "down_s": args.down, "up_s": args.up,
                  "seconds": round(storm_s, 1),
                  "cpu_s_per_min": round(storm_cpu / storm_s * 60, 2)},
        "reads_received": len(ids), "reads_unique": len(set(ids)),
        "duplicates": len(ids) - len(set(ids)),
        "reads_published_last_stats": published,
        "last_camera_stats": frames,
        "last_stats": stats[-1] if stats else None,
        "daemon_exit": rc,
        "samples": samples,
        "daemon_log_tail": log_tail,
    }
    text = json.dumps(result, indent=2)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("samples",)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
