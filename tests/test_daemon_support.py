"""Helpers for the daemon tests (no tests here): a stage double that "reads" what the test
put into each frame, clip folders whose frames carry their camera and index in their first row,
an MQTT collector, and a ``python -m tests.test_daemon_support`` entry point to run the
daemon with the double in a child process (for SIGTERM / SIGKILL tests).

The daemon, tracker and publisher are what is under test, so the stage is a side channel:
frame (camera id, index) -> the detections and texts of that frame, independent of any
model's accuracy.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edgeocr.core.geometry import box_to_quad
from edgeocr.core.types import Detection, Image, Read

FRAME_W, FRAME_H = 160, 120


@dataclass(frozen=True)
class FakeRead:
    detection: Detection
    read: Read
    format: str | None
    timings_ms: dict[str, float] = field(default_factory=dict)


def stamp(image: Image, camera_id: int, index: int) -> None:
    # The whole first row, so that a region of interest starting at y = 0 keeps it.
    image[0, :] = (index & 255, index >> 8, camera_id)


def unstamp(image: Image) -> tuple[int, int]:
    b, g, r = (int(v) for v in image[0, 0])
    return r, b + (g << 8)


def write_folder(folder: Path, camera_id: int, frames: int) -> Path:
    """``frames`` lossless PNG frames that carry (camera_id, index)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(frames):
        img = np.full((FRAME_H, FRAME_W, 3), 90, np.uint8)
        stamp(img, camera_id, i)
        cv2.imwrite(str(folder / f"f{i}.png"), img)
    return folder


Scenario = dict[int, dict[int, list[dict[str, Any]]]]
"""camera id -> frame index -> objects {kind, text, box, conf}."""


def add_object(scenario: Scenario, camera_id: int, kind: str, text: str,
               frames: Iterable[int], box: tuple[float, float, float, float],
               step: tuple[float, float] = (0.0, 0.0), conf: float = 0.9,
               misreads: dict[int, str] | None = None) -> None:
    """An object seen in ``frames``, its box moving by ``step`` per frame; ``misreads`` maps
    a frame to a wrong text read (at a lower confidence) in that frame."""
    cam = scenario.setdefault(camera_id, {})
    for n, i in enumerate(frames):
        x1, y1, x2, y2 = box
        dx, dy = step[0] * n, step[1] * n
        wrong = (misreads or {}).get(i)
        cam.setdefault(i, []).append({
            "kind": kind, "text": wrong or text, "conf": 0.5 if wrong else conf,
            "box": [x1 + dx, y1 + dy, x2 + dx, y2 + dy],
        })


class FakeStage:
    """Returns, for each frame, the objects the scenario says are in it."""

    def __init__(self, scenario: Scenario,
                 hook: Callable[[int, int], None] | None = None) -> None:
        self.scenario = scenario
        self.hook = hook
        self.calls = 0
        self.last_timings_ms: dict[str, float] = {}

    def process(self, image: Image, lores: Image | None = None) -> list[FakeRead]:
        self.calls += 1
        camera_id, index = unstamp(image)
        if self.hook is not None:
            self.hook(camera_id, index)
        out = []
        for obj in self.scenario.get(camera_id, {}).get(index, []):
            box = tuple(float(v) for v in obj["box"])
            det = Detection(obj["kind"], 0.9, box, box_to_quad(box))  # type: ignore[arg-type]
            text = obj["text"]
            read = Read(text, tuple([float(obj["conf"])] * len(text)), obj["kind"])
            out.append(FakeRead(det, read, None, {"detect": 1.0, "rectify": 0.1,
                                                  "recognize": 0.5}))
        self.last_timings_ms = {"detect": 1.0}
        return out

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps({str(c): {str(i): objs for i, objs in frames.items()}
                                    for c, frames in self.scenario.items()}))

    @classmethod
    def load(cls, path: Path) -> FakeStage:
        raw = json.loads(path.read_text())
        return cls({int(c): {int(i): objs for i, objs in frames.items()}
                    for c, frames in raw.items()})


def config_text(port: int, queue: Path, cameras: dict[str, str], *, realtime: bool = False,
                fps: float = 5.0, extra: str = "", reads: str = "") -> str:
    cams = "".join(f'[cameras.{name}]\nsource = "{src}"\nfps = {fps}\n'
                   f"realtime = {'true' if realtime else 'false'}\n"
                   for name, src in cameras.items())
    return (f'device_id = "testdev"\n{cams}[mqtt]\nhost = "127.0.0.1"\nport = {port}\n'
            f'topic_prefix = "t"\n{extra}\n[reads]\nmin_frames = 2\n{reads}\n'
            f'[queue]\npath = "{queue}"\n')


class Collector:
    """Subscribes to everything under ``prefix`` and keeps reads and other messages."""

    def __init__(self, host: str, port: int, prefix: str = "t", client_id: str = "",
                 persistent: bool = False) -> None:
        self.reads: list[dict[str, Any]] = []
        self.messages: list[tuple[str, bytes, bool]] = []
        self.subscribed = threading.Event()
        self.lock = threading.Lock()
        self.prefix = prefix
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=not persistent)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 1)
        self.client.connect(host, port, 30)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            raise RuntimeError("collector could not subscribe")

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                    props: Any) -> None:
        client.subscribe(f"{self.prefix}/#", qos=1)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        with self.lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))
            if msg.topic.endswith("/read"):
                self.reads.append(json.loads(msg.payload))

    def unique_reads(self) -> list[dict[str, Any]]:
        """Reads in arrival order, each id once (delivery is at least once)."""
        seen: set[str] = set()
        out = []
        with self.lock:
            for r in self.reads:
                if r["id"] not in seen:
                    seen.add(r["id"])
                    out.append(r)
        return out

    def wait_reads(self, n: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.unique_reads()) < n:
            time.sleep(0.05)
        return self.unique_reads()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def main(argv: list[str]) -> int:
    from edgeocr.config import load_config
    from edgeocr.daemon import Daemon, setup_logging

    config = load_config(Path(argv[0]))
    setup_logging(config.logging, 1)
    daemon = Daemon(config, stage=FakeStage.load(Path(argv[1])), backoff=(0.1, 0.5))
    return daemon.run()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
