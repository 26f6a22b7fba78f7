"""Frames through OpenCV: a V4L2 camera (index or ``/dev/videoN``), an RTSP/HTTP stream,
or a video file (which ends)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import cv2

from edgeocr.sources import RawFrame, SourceError

if TYPE_CHECKING:
    from edgeocr.config import CameraConfig

SpecKind = Literal["v4l2", "stream", "file"]
_DEV_VIDEO = re.compile(r"^/dev/video(\d+)$")


def parse_spec(spec: str) -> tuple[SpecKind, int | str]:
    """What an OpenCV source string names: ``("v4l2", index or device path)``,
    ``("stream", url)`` or ``("file", path)``."""
    text = spec.strip()
    if text.isdigit():
        return "v4l2", int(text)
    if _DEV_VIDEO.match(text) or text.startswith("/dev/"):
        return "v4l2", text
    if "://" in text:
        return "stream", text
    return "file", str(Path(text).expanduser())


class OpenCVSource:
    """``cv2.VideoCapture`` on a camera, stream or file. A camera or stream that stops
    delivering raises ``SourceError`` (the capture thread reopens it); a file ends."""

    def __init__(self, spec: str, camera: CameraConfig) -> None:
        self.kind, self.target = parse_spec(spec)
        self.finite = self.kind == "file"
        self.fps = camera.fps
        self._cap: Any = None
        self._index = 0

    def open(self) -> None:
        if self.kind == "file" and not Path(str(self.target)).is_file():
            raise SourceError(f"{self.target}: no such video file")
        if self.kind == "v4l2":
            cap = cv2.VideoCapture(self.target, cv2.CAP_V4L2)
        else:
            cap = cv2.VideoCapture(self.target)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.target}: OpenCV cannot open it")
        if not self.finite:
            # Keep the driver's queue short so the frame we read is the latest one.
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        if self.kind == "v4l2":
            cap.set(cv2.CAP_PROP_FPS, float(self.fps))
        self._cap = cap
        self._index = 0

    def read(self) -> RawFrame | None:
        if self._cap is None:
            raise SourceError("not open")
        ok, image = self._cap.read()
        if not ok or image is None:
            if self.finite:
                return None
            raise SourceError(f"{self.target}: no frame (camera or stream lost)")
        media_time: float | None = None
        if self.finite:
            msec = float(self._cap.get(cv2.CAP_PROP_POS_MSEC))
            # Some containers report 0 for every frame; fall back to index / fps.
            media_time = msec / 1000.0 if msec > 0 or self._index == 0 else self._index / self.fps
            self._index += 1
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        return RawFrame(image=image, media_time=media_time)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
