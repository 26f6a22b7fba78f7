"""The Raspberry Pi camera through picamera2, with two streams of the same moment: the full
resolution ``main`` stream (crops are warped from it) and a small ``lores`` stream the
detector runs on.

picamera2 and libcamera exist only on Raspberry Pi OS: ``sudo apt install
python3-picamera2`` and a venv made with ``--system-site-packages``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from edgeocr.sources import RawFrame, SourceError

if TYPE_CHECKING:
    from edgeocr.config import CameraConfig

INSTALL_HINT = (
    "picamera2 is not installed: on Raspberry Pi OS run `sudo apt install python3-picamera2` "
    "and create the venv with --system-site-packages"
)
MAIN_SIZE = (1280, 720)


def lores_size(main: tuple[int, int], lores_width: int) -> tuple[int, int]:
    """The lores stream's (width, height): ``lores_width`` wide, the main stream's aspect
    ratio, both even (the ISP's YUV420 output needs even sizes)."""
    width = min(lores_width, main[0]) // 2 * 2
    height = max(2, round(width * main[1] / main[0]) // 2 * 2)
    return width, height


def yuv420_to_bgr(yuv: np.ndarray[Any, Any], width: int) -> np.ndarray[Any, Any]:
    """A picamera2 YUV420 array (H * 3/2, stride) to (H, W, 3) BGR."""
    bgr = cv2.cvtColor(np.ascontiguousarray(yuv), cv2.COLOR_YUV2BGR_I420)
    return np.ascontiguousarray(bgr[:, :width])


class Picamera2Source:
    """``source = "picamera2"`` (camera 0) or ``"picamera2:N"``."""

    finite = False

    def __init__(self, spec: str, camera: CameraConfig) -> None:
        text = spec.strip() or "0"
        if not text.isdigit():
            raise SourceError(f"picamera2:{spec}: the camera number must be a whole number")
        self.camera_num = int(text)
        self.fps = camera.fps
        self.lores = lores_size(MAIN_SIZE, camera.lores_width)
        self._cam: Any = None

    def open(self) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise SourceError(f"{INSTALL_HINT} ({exc})") from None
        try:
            cam = Picamera2(self.camera_num)
        except (IndexError, RuntimeError) as exc:
            raise SourceError(f"picamera2 camera {self.camera_num}: {exc}") from None
        # "RGB888" is stored B, G, R in memory: OpenCV's order without a conversion.
        config = cam.create_video_configuration(
            main={"size": MAIN_SIZE, "format": "RGB888"},
            lores={"size": self.lores, "format": "YUV420"},
            controls={"FrameRate": float(self.fps)},
            buffer_count=4,
        )
        try:
            cam.configure(config)
            cam.start()
        except Exception as exc:
            cam.close()
            raise SourceError(f"picamera2 camera {self.camera_num}: {exc}") from None
        self._cam = cam

    def read(self) -> RawFrame | None:
        if self._cam is None:
            raise SourceError("not open")
        request = self._cam.capture_request()
        try:
            main = np.array(request.make_array("main"), copy=True)
            lores_yuv = request.make_array("lores")
        finally:
            request.release()
        if main.ndim == 3 and main.shape[2] == 4:
            main = np.ascontiguousarray(main[:, :, :3])
        lores = yuv420_to_bgr(lores_yuv, self.lores[0])
        return RawFrame(image=main, lores=lores)

    def close(self) -> None:
        if self._cam is not None:
            cam, self._cam = self._cam, None
            try:
                cam.stop()
            finally:
                cam.close()
