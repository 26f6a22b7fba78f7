"""The composition root: builds sources, the pipeline, the tracker and the publisher from an
``EdgeocrConfig`` and runs the loop.

Threads: one capture thread per camera (``edgeocr.sources.Capture``) fills a one-slot
buffer; the main thread takes the newest frame of each camera in turn, runs the pipeline,
feeds the tracker and hands finished reads to the publisher (whose queue and network thread
never block this loop). Stats, systemd watchdog pings and status lines come from the same
loop, so a hung pipeline is what the watchdog notices.

Ending: finite sources (files, folders) end the daemon once their last frame is processed
and every read is acknowledged by the broker. SIGTERM/SIGINT stop capture, finish the frames
already captured, end all tracks, flush the queue while the broker answers (bounded), publish
``offline`` and return 0, all within ``SHUTDOWN_SECONDS``.
"""

from __future__ import annotations

import json
import logging
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol

import cv2
import numpy as np

from edgeocr.core.geometry import offset_detection
from edgeocr.core.types import Detection, Frame, Image, Read
from edgeocr.sources import Capture, FrameSource
from edgeocr.stats import StatsCollector
from edgeocr.systemd_notify import Notifier
from edgeocr.track import Observation, TrackedRead, Tracker, TrackerSettings

if TYPE_CHECKING:
    from edgeocr.config import CameraConfig, EdgeocrConfig, LoggingConfig
    from edgeocr.publish.payload import ModelNames, ReadPayload, StatsPayload
    from edgeocr.publish.queue import ReadQueue

log = logging.getLogger(__name__)

SHUTDOWN_SECONDS = 5.0
FLUSH_SECONDS = 2.5
"""Of the shutdown budget, how long queued reads may take to reach the broker."""
IDLE_WAIT = 0.2
CROP_MARGIN = 0.15


class StageRead(Protocol):
    """What the pipeline returns per detection (``edgeocr.pipeline.PipelineRead``)."""

    @property
    def detection(self) -> Detection: ...
    @property
    def read(self) -> Read: ...
    @property
    def format(self) -> str | None: ...
    @property
    def timings_ms(self) -> dict[str, float]: ...


class Stage(Protocol):
    """Anything with the pipeline's ``process``: the real ``Pipeline`` or a test double."""

    def process(self, image: Image, lores: Image | None = None) -> Sequence[StageRead]: ...


class Publisher(Protocol):
    """What the daemon needs of ``edgeocr.publish.MqttPublisher``."""

    def start(self) -> None: ...
    def publish_read(self, payload: ReadPayload, crop_jpeg: bytes | None = None) -> None: ...
    def publish_stats(self, stats: StatsPayload) -> object: ...
    def flush(self, timeout: float) -> bool: ...
    def stop(self, timeout: float) -> None: ...


class StartupError(Exception):
    """The daemon cannot start; ``problems`` are ``key.path: message`` lines."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


BAND_KEYS = frozenset({"detect_verify_score", "detect_verify_strict_score",
                       "detect_verify_strict_confidence", "detect_zoom_keep_score"})
"""The [models] keys ``edgeocr bands`` chooses for a detector and recognizer pair."""


def _custom_models(detector: Path, recognizer: Path) -> list[str]:
    """The roles whose model file differs from the one shipped in the package."""
    from edgeocr.core.sidecar import sha256_file
    from edgeocr.detect import DEFAULT_MODEL as SHIPPED_DETECTOR
    from edgeocr.recognize import DEFAULT_MODEL as SHIPPED_RECOGNIZER

    out = []
    for role, path, shipped in (("detector", detector, SHIPPED_DETECTOR),
                                ("recognizer", recognizer, SHIPPED_RECOGNIZER)):
        try:
            if (path.resolve() != shipped.resolve() and shipped.is_file()
                    and sha256_file(path) != sha256_file(shipped)):
                out.append(role)
        except OSError:
            continue
    return out


def build_pipeline(config: EdgeocrConfig) -> Stage:
    """The real detect -> rectify -> recognize pipeline from ``config.models``/``reads``
    (None paths load the models shipped in the package). Raises StartupError."""
    from edgeocr.core.sidecar import SidecarError
    from edgeocr.detect import Detector
    from edgeocr.pipeline import Pipeline, Verification
    from edgeocr.recognize import Recognizer
    from edgeocr.runtime import RuntimeBackendError

    m = config.models
    try:
        detector = Detector(m.detector, m.delegate, m.threads, score_threshold=m.detect_score,
                            iou_threshold=m.detect_iou, tiles=m.detect_tiles)
    except (SidecarError, RuntimeBackendError, OSError, ValueError) as exc:
        raise StartupError([f"models.detector: {exc}"]) from None
    try:
        recognizer = Recognizer(m.recognizer, m.delegate, m.threads)
    except (SidecarError, RuntimeBackendError, OSError, ValueError) as exc:
        raise StartupError([f"models.recognizer: {exc}"]) from None
    custom = _custom_models(detector.model.path, recognizer.model.path)
    if custom and m.detect_verify_score is not None and not (BAND_KEYS & m.model_fields_set):
        log.warning("models: own %s with the verification bands chosen for the shipped "
                    "models; choose bands for this pair with `edgeocr bands NEGATIVES "
                    "--detector ... --recognizer ...` (docs/training.md)", " and ".join(custom))
    verify = (None if m.detect_verify_score is None
              else Verification(min_score=m.detect_verify_score,
                                strict_score=m.detect_verify_strict_score,
                                strict_confidence=m.detect_verify_strict_confidence,
                                zoom_keep_score=m.detect_zoom_keep_score if m.zoom else None))
    return Pipeline(detector, recognizer, config.reads.formats, verify=verify,
                    second_look=m.second_look, zoom=m.zoom)


def build_publisher(config: EdgeocrConfig) -> tuple[Publisher, ReadQueue]:
    """The MQTT publisher and its on-disk queue (the caller closes the queue after
    stopping the publisher). Raises StartupError."""
    from edgeocr.config import ConfigError
    from edgeocr.publish import MqttPublisher, ReadQueue
    from edgeocr.publish.queue import QueueError

    try:
        queue = ReadQueue.from_config(config.queue)
    except QueueError as exc:
        raise StartupError([f"queue.path: {exc}"]) from None
    cameras = [name for name, cam in config.cameras.items() if cam.enabled]
    try:
        publisher: Publisher = MqttPublisher(config.mqtt, config.device_id, queue,
                                             config.mqtt.homeassistant, cameras)
    except ConfigError as exc:
        queue.close()
        raise StartupError(exc.problems) from None
    return publisher, queue


def model_names(stage: object) -> ModelNames:
    from edgeocr.publish.payload import ModelNames

    def name(part: str) -> str | None:
        path = getattr(getattr(stage, part, None), "path", None)
        return getattr(path, "name", None)

    return ModelNames(detector=name("detector"), recognizer=name("recognizer"))


def crop_box(image: Image, det: Detection, margin: float = CROP_MARGIN) -> Image:
    """The detection's box with a margin, clipped to the image (for the optional crop)."""
    x1, y1, x2, y2 = det.box
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    h, w = image.shape[:2]
    a, b = max(0, int(x1 - mx)), max(0, int(y1 - my))
    c, d = min(w, math.ceil(x2 + mx)), min(h, math.ceil(y2 + my))
    return image[b:max(d, b + 1), a:max(c, a + 1)].copy()


@dataclass
class _Camera:
    name: str
    config: CameraConfig
    capture: Capture
    frame_size: tuple[int, int] = (0, 0)
    flushed: bool = False


@dataclass
class Summary:
    """What a run did (for the demo and tests)."""

    frames: dict[str, int] = field(default_factory=dict)
    reads: int = 0
    seconds: float = 0.0
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return sum(self.frames.values()) / self.seconds if self.seconds > 0 else 0.0


class Daemon:
    """Runs cameras -> pipeline -> tracker -> publisher until the sources end or ``stop()``.

    ``stage`` and ``publisher`` default to the real ones built from the config; tests
    inject doubles (stages are plain objects). ``sources`` optionally maps a camera name to
    a factory of its ``FrameSource``.
    """

    def __init__(
        self,
        config: EdgeocrConfig,
        *,
        stage: Stage | None = None,
        publisher: Publisher | None = None,
        sources: Mapping[str, Callable[[], FrameSource]] | None = None,
        backoff: tuple[float, float] = (0.5, 30.0),
        tracker: TrackerSettings | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.config = config
        if not any(cam.enabled for cam in config.cameras.values()):
            raise StartupError(["cameras: every camera has enabled = false; nothing to do"])
        self.stage: Stage = stage if stage is not None else build_pipeline(config)
        self._queue: ReadQueue | None = None
        if publisher is None:
            publisher, self._queue = build_publisher(config)
        self.publisher: Publisher = publisher
        self.models = model_names(self.stage)
        self.tracker = Tracker(tracker or TrackerSettings.from_config(config.reads))
        self.notifier = notifier or Notifier()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.cameras: list[_Camera] = []
        for name, cam in config.cameras.items():
            if not cam.enabled:
                continue
            factory = (sources or {}).get(name)
            capture = Capture(name, cam, self._wake, factory=factory, backoff=backoff)
            self.cameras.append(_Camera(name, cam, capture))
        self.stats = StatsCollector(config.device_id, [c.name for c in self.cameras])
        self.summary = Summary()
        self.kinds = set(config.reads.kinds)
        self.errors = 0

    def stop(self) -> None:
        """Ask the loop to shut down (thread- and signal-safe)."""
        self._stop.set()
        self._wake.set()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        self.stop()

    def run(self, install_signals: bool = True) -> int:
        """Run until the sources end (after every read is published) or ``stop()``;
        returns the exit code (0)."""
        previous: dict[signal.Signals, Any] = {}
        if install_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, self._on_signal)
        started = time.monotonic()
        try:
            self.publisher.start()
            for cam in self.cameras:
                cam.capture.start()
            self.notifier.ready(self._status_line())
            log.info("running %d camera(s): %s", len(self.cameras),
                     ", ".join(f"{c.name}={c.config.source}" for c in self.cameras))
            finished = self._loop()
            self._shutdown(finished, started)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    def _loop(self) -> bool:
        """The main loop; True when every source ended, False when stopped."""
        interval = self.config.mqtt.stats_interval_seconds
        next_stats = time.monotonic() + interval
        while not self._stop.is_set():
            self._wake.clear()
            worked = False
            for cam in self.cameras:
                frame = cam.capture.slot.take()
                if frame is not None:
                    self._process(cam, frame)
                    worked = True
            self._expire()
            now = time.monotonic()
            if now >= next_stats:
                next_stats = now + interval
                self._publish_stats()
            self.notifier.watchdog()
            if self.cameras and all(c.capture.done for c in self.cameras):
                return True
            if not worked:
                self._wake.wait(IDLE_WAIT)
        return False

    def _expire(self) -> None:
        now = time.time()
        for cam in self.cameras:
            if cam.capture.done and not cam.flushed:
                cam.flushed = True
                self._publish_all(self.tracker.expire(cam.name, math.inf))
            elif not cam.capture.blocking:
                # Frames carry wall-clock times here, so a stalled camera still ends tracks.
                self._publish_all(self.tracker.expire(cam.name, now))

    def _process(self, cam: _Camera, frame: Frame) -> None:
        t0 = time.perf_counter()
        cam.frame_size = frame.size
        image, lores, (dx, dy) = self._roi(cam.config, frame)
        width = cam.config.lores_width
        if lores is None and image.shape[1] > width:
            # The detector only needs a small copy; the warp still samples ``image``.
            height = max(1, round(image.shape[0] * width / image.shape[1]))
            lores = np.asarray(cv2.resize(image, (width, height),
                                          interpolation=cv2.INTER_AREA), dtype=np.uint8)
        try:
            results = self.stage.process(image, lores)
        except Exception:
            # A bad frame must not stop the service; a broken stage must not flood the log.
            self.errors += 1
            if self.errors <= 3 or self.errors % 100 == 0:
                log.exception("camera %s: pipeline failed on frame %d (%d failures so far)",
                              cam.name, frame.index, self.errors)
            return
        observations: list[Observation] = []
        for r in results:
            if r.detection.kind not in self.kinds:
                continue
            det = offset_detection(r.detection, dx, dy)
            crop = crop_box(frame.image, det) if self.config.reads.publish_crop else None
            observations.append(Observation(det, r.read, r.format, crop))
            for stage in ("zoom", "rectify", "recognize"):
                if stage in r.timings_ms:
                    self.stats.latency(stage, r.timings_ms[stage])
        timings = dict(getattr(self.stage, "last_timings_ms", None) or {})
        if "detect" not in timings and results and "detect" in results[0].timings_ms:
            timings["detect"] = results[0].timings_ms["detect"]
        t1 = time.perf_counter()
        ended = self.tracker.update(cam.name, frame.timestamp, observations)
        timings["track"] = (time.perf_counter() - t1) * 1000.0
        timings["total"] = (time.perf_counter() - t0) * 1000.0
        self.stats.frame(cam.name, timings)
        self._publish_all(ended)

    @staticmethod
    def _roi(cam: CameraConfig, frame: Frame) -> tuple[Image, Image | None, tuple[int, int]]:
        if cam.roi is None:
            return frame.image, frame.lores, (0, 0)
        h, w = frame.image.shape[:2]
        x1, y1, x2, y2 = cam.roi
        a, b = int(x1 * w), int(y1 * h)
        c, d = max(a + 1, int(x2 * w)), max(b + 1, int(y2 * h))
        lores = None
        if frame.lores is not None:
            lh, lw = frame.lores.shape[:2]
            lores = frame.lores[int(y1 * lh):max(int(y1 * lh) + 1, int(y2 * lh)),
                                int(x1 * lw):max(int(x1 * lw) + 1, int(x2 * lw))]
        return frame.image[b:d, a:c], lores, (a, b)

    def _publish_all(self, reads: Sequence[TrackedRead]) -> None:
        for tr in reads:
            self._publish(tr)

    def _publish(self, tr: TrackedRead) -> None:
        from edgeocr.publish.payload import make_read_payload

        size = next((c.frame_size for c in self.cameras if c.name == tr.camera), (0, 0))
        payload = make_read_payload(
            device=self.config.device_id, camera=tr.camera,
            read=Read(tr.text, tr.char_confidences, tr.kind),
            detection=Detection(tr.kind, 1.0, tr.box, tr.corners),
            first_seen=tr.first_seen, last_seen=tr.last_seen, frames=tr.frames,
            frame_size=(max(1, size[0]), max(1, size[1])), format=tr.format,
            known=tr.known_label, models=self.models,
        )
        crop_jpeg: bytes | None = None
        if tr.crop is not None and tr.crop.size:
            ok, buf = cv2.imencode(".jpg", tr.crop, [cv2.IMWRITE_JPEG_QUALITY, 85])
            crop_jpeg = buf.tobytes() if ok else None
        log.info("read %s %s %r conf %.2f frames %d%s", tr.camera, tr.kind, tr.text,
                 tr.confidence, tr.frames, f" known {tr.known_label!r}" if tr.known_label else "")
        self.publisher.publish_read(payload, crop_jpeg)
        self.stats.read(tr.camera)
        self.summary.reads += 1

    def _publish_stats(self) -> None:
        payload = self.stats.snapshot({c.name: c.capture.dropped for c in self.cameras})
        self.publisher.publish_stats(payload)
        self.notifier.status(self._status_line(payload))

    def _status_line(self, payload: StatsPayload | None = None) -> str:
        if payload is None:
            return f"{len(self.cameras)} camera(s) starting"
        fps = ", ".join(f"{n} {c.fps:.1f} fps" for n, c in payload.cameras.items())
        return f"{fps}; {sum(self.stats.total_reads.values())} reads"

    def _shutdown(self, finished: bool, started: float) -> None:
        stop_at = time.monotonic() + SHUTDOWN_SECONDS - 0.3
        for cam in self.cameras:
            cam.capture.stop(timeout=0)  # all at once, then wait for them together
        joined_by = time.monotonic() + 0.7
        for cam in self.cameras:
            cam.capture.stop(timeout=max(0.0, joined_by - time.monotonic()))
        if not finished:
            # Frames already captured are finished; nothing new is taken.
            for cam in self.cameras:
                frame = cam.capture.slot.take()
                if frame is not None:
                    self._process(cam, frame)
        self._publish_all(self.tracker.flush())
        self._publish_stats()
        if finished:
            # A finished recording waits as long as the broker needs (unless stopped):
            # every read must be delivered before the process ends.
            waited = 0
            while not self._stop.is_set() and not self.publisher.flush(1.0):
                self.notifier.watchdog()
                waited += 1
                if waited % 10 == 0:
                    log.warning("end of input: waiting for the broker to take queued reads")
            stop_at = time.monotonic() + SHUTDOWN_SECONDS - 0.3
        self.notifier.stopping()
        flush_for = max(0.0, min(FLUSH_SECONDS, stop_at - time.monotonic() - 1.0))
        if not self.publisher.flush(flush_for):
            log.warning("stopping with reads still queued; they are sent on the next start")
        # stop() may wait its timeout twice (the offline message, then its thread).
        self.publisher.stop(max(0.1, (stop_at - time.monotonic()) / 2))
        if self._queue is not None:
            self._queue.close()
        self.summary.seconds = time.monotonic() - started
        self.summary.frames = dict(self.stats.total_frames)
        self.summary.dropped = {c.name: c.capture.dropped for c in self.cameras}
        log.info("stopped after %.1f s: %d frames, %d reads", self.summary.seconds,
                 sum(self.summary.frames.values()), self.summary.reads)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"time": round(record.created, 3), "level": record.levelname,
               "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup_logging(config: LoggingConfig, verbose: int = 0) -> None:
    """Log to stderr (journald takes it under systemd): the config's level unless ``-v``
    flags ask for more; one JSON object per line with ``logging.json = true``."""
    level = logging.getLevelName(config.level)
    if verbose:
        level = min(level, logging.WARNING - 10 * verbose)
    handler = logging.StreamHandler(sys.stderr)
    if config.json:
        handler.setFormatter(_JsonFormatter())
    else:
        # journald adds its own timestamps; the level and logger are what matter.
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=max(level, logging.DEBUG), handlers=[handler], force=True)
    # paho logs every packet at DEBUG; keep it one level quieter than ours.
    logging.getLogger("paho").setLevel(max(level, logging.INFO))
