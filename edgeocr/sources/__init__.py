"""Frame sources, registered by name, and the capture thread that feeds the daemon.

A source is one module with one class (``files``, ``opencv``, ``picamera2``); optional
dependencies are imported only inside that module. ``create_source`` picks the module from
the camera's ``source`` string (or an explicit ``NAME:`` prefix) and imports it on use.

``Capture`` runs one source on its own thread and hands frames to inference through a
one-slot ``FrameSlot``: a live camera never waits for inference (an unconsumed frame is
replaced and counted as dropped), while a file played with ``realtime = false`` waits for
the slot so that every frame is processed.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from edgeocr.core.types import Frame, Image

if TYPE_CHECKING:
    from edgeocr.config import CameraConfig

log = logging.getLogger(__name__)

# name -> "module:class"; the class is built as ``cls(spec, camera)``.
SOURCES: dict[str, str] = {
    "files": "edgeocr.sources.files:ImageFolderSource",
    "opencv": "edgeocr.sources.opencv:OpenCVSource",
    "picamera2": "edgeocr.sources.picamera2:Picamera2Source",
}


class SourceError(Exception):
    """A source that cannot be opened or stopped delivering; the capture thread retries."""


@dataclass(frozen=True)
class RawFrame:
    """What a source delivers: the full-resolution image (H, W, 3) BGR, an optional
    low-resolution copy of the same moment, and for recorded media the frame's own time
    in seconds from the start of the recording (None for live sources)."""

    image: Image
    lores: Image | None = None
    media_time: float | None = None


class FrameSource(Protocol):
    """One camera, stream, file or folder. ``finite`` sources end (``read`` returns None);
    live ones raise ``SourceError`` when they fail and are reopened by ``Capture``."""

    finite: bool

    def open(self) -> None: ...

    def read(self) -> RawFrame | None: ...

    def close(self) -> None: ...


def source_kind(spec: str) -> tuple[str, str]:
    """(registered name, source spec without prefix) for a camera's ``source`` string.

    ``files:PATH``, ``opencv:SPEC`` and ``picamera2[:N]`` name a source explicitly;
    otherwise a directory is an image folder and anything else goes to OpenCV (V4L2
    index or ``/dev/videoN``, ``rtsp://``/``http://`` URL, or a video file).
    """
    name, sep, rest = spec.partition(":")
    if name == "picamera2":
        return "picamera2", rest
    if sep and name in SOURCES and not rest.startswith("//"):
        return name, rest
    if Path(spec).expanduser().is_dir():
        return "files", spec
    return "opencv", spec


def create_source(spec: str, camera: CameraConfig) -> FrameSource:
    """Build the source for ``spec`` (not opened yet)."""
    name, rest = source_kind(spec)
    module_name, attr = SOURCES[name].split(":")
    cls = getattr(importlib.import_module(module_name), attr)
    source: FrameSource = cls(rest, camera)
    return source


def is_finite(spec: str) -> bool:
    """True for sources that end: an image folder or a video file."""
    name, rest = source_kind(spec)
    if name == "files":
        return True
    if name == "opencv":
        from edgeocr.sources.opencv import parse_spec

        return parse_spec(rest)[0] == "file"
    return False


class FrameSlot:
    """A one-frame buffer between a capture thread and inference.

    ``put(block=False)`` replaces an unconsumed frame and counts it as dropped;
    ``put(block=True)`` waits until inference took the previous frame.
    """

    def __init__(self, wake: threading.Event | None = None) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._closed = False
        self._wake = wake
        self.dropped = 0

    def put(self, frame: Frame, block: bool) -> bool:
        """Offer a frame; False when the slot was closed while waiting."""
        with self._cond:
            while block and self._frame is not None and not self._closed:
                self._cond.wait(0.1)
            if self._closed:
                return False
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self._cond.notify_all()
        if self._wake is not None:
            self._wake.set()
        return True

    def take(self) -> Frame | None:
        with self._cond:
            frame, self._frame = self._frame, None
            self._cond.notify_all()
            return frame

    @property
    def empty(self) -> bool:
        with self._cond:
            return self._frame is None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class Capture:
    """Runs one camera's source on a thread: opens it (retrying with backoff), paces it,
    stamps frames and offers them to ``slot``.

    Pacing: a finite source with ``realtime = true`` is played at the camera's ``fps`` like
    a camera; with ``realtime = false`` it is read as fast as inference takes frames and
    each frame keeps its own time (start + media time). A live source is read continuously
    (so its driver buffer never goes stale) and offered at most ``fps`` times a second.
    """

    def __init__(
        self,
        name: str,
        camera: CameraConfig,
        wake: threading.Event | None = None,
        *,
        factory: Callable[[], FrameSource] | None = None,
        backoff: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        self.name = name
        self.camera = camera
        self.finite = is_finite(camera.source)
        self.blocking = self.finite and not camera.realtime
        self.slot = FrameSlot(wake)
        self._wake = wake
        self._factory = factory or (lambda: create_source(camera.source, camera))
        self._backoff = backoff
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capture-{name}", daemon=True)
        self.frames = 0
        self.reconnects = 0
        self.loops = 0
        self._last_stamp = 0.0
        self.finished = False
        self.connected = False

    @property
    def dropped(self) -> int:
        return self.slot.dropped

    @property
    def done(self) -> bool:
        """The source ended and its last frame was taken by inference."""
        return self.finished and self.slot.empty

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Ask the thread to end and wait up to ``timeout`` (0: do not wait). A driver stuck
        in a read is left behind: the thread is a daemon thread."""
        self._stop.set()
        self.slot.close()
        if timeout > 0 and self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        delay = self._backoff[0]
        index = 0
        t0 = time.time()
        while not self._stop.is_set():
            source = self._factory()
            try:
                source.open()
            except Exception as exc:  # any driver failure must not end the thread
                log.warning("camera %s: cannot open %s: %s; retrying in %.1f s",
                            self.name, self.camera.source, exc, delay)
                self._safe_close(source)
                self._stop.wait(delay)
                delay = min(delay * 2, self._backoff[1])
                self.reconnects += 1
                continue
            self.connected = True
            log.log(logging.DEBUG if self.loops else logging.INFO, "camera %s: opened %s",
                    self.name, self.camera.source)
            try:
                ended, index, got_frames = self._pump(source, index, t0)
            except Exception as exc:
                log.warning("camera %s: %s failed: %s; reopening", self.name,
                            self.camera.source, exc)
                ended, got_frames = False, True
            finally:
                self.connected = False
                self._safe_close(source)
            if ended and self.camera.loop and got_frames:
                # Play it again; frame times keep increasing across passes.
                self.loops += 1
                t0 = self._last_stamp + 1.0 / self.camera.fps
                continue
            if ended:
                self.finished = True
                if self._wake is not None:
                    self._wake.set()
                log.info("camera %s: end of %s after %d frames", self.name,
                         self.camera.source, index)
                return
            if got_frames:
                delay = self._backoff[0]
            if not self._stop.is_set():
                self.reconnects += 1
                self._stop.wait(delay)
                delay = min(delay * 2, self._backoff[1])

    def _pump(self, source: FrameSource, index: int, t0: float) -> tuple[bool, int, bool]:
        """Read until the source ends (True), fails or stop is asked (False)."""
        period = 1.0 / self.camera.fps
        next_due = time.monotonic()
        got = False
        played = 0  # frames of this pass
        while not self._stop.is_set():
            raw = source.read()
            if raw is None:
                if source.finite:
                    return True, index, got
                raise SourceError("no frame")
            got = True
            now = time.monotonic()
            if self.finite and self.camera.realtime:
                # Play a recording like a camera: one frame per period; if reading fell
                # behind, restart the schedule instead of bursting to catch up.
                if next_due > now:
                    if self._stop.wait(next_due - now):
                        break
                elif now - next_due > period:
                    next_due = now
                next_due += period
            elif not self.finite:
                if now < next_due:
                    continue  # drain the driver, offer at most fps frames a second
                next_due = max(next_due + period, now - period)
            if self.blocking:
                offset = raw.media_time if raw.media_time is not None else played * period
                stamp = t0 + offset
            else:
                stamp = time.time()
            frame = Frame(image=raw.image, timestamp=stamp, camera=self.name, index=index,
                          lores=raw.lores)
            index += 1
            played += 1
            self._last_stamp = stamp
            self.frames += 1
            if not self.slot.put(frame, block=self.blocking):
                break
        return False, index, got

    def _safe_close(self, source: FrameSource) -> None:
        try:
            source.close()
        except Exception as exc:
            log.debug("camera %s: close failed: %s", self.name, exc)
