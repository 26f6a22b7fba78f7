"""Frame sources and the capture thread."""

from __future__ import annotations

import sys
import threading
import types
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edgeocr.config import CameraConfig
from edgeocr.core.types import Frame
from edgeocr.sources import Capture, RawFrame, SourceError, create_source, source_kind
from edgeocr.sources.files import ImageFolderSource
from edgeocr.sources.opencv import OpenCVSource, parse_spec
from edgeocr.sources.picamera2 import INSTALL_HINT, Picamera2Source, lores_size


def cam(source: str, **kw: Any) -> CameraConfig:
    return CameraConfig(source=source, **kw)


def folder_of(tmp_path: Path, n: int) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(n):
        img = np.full((24, 32, 3), i, np.uint8)
        cv2.imwrite(str(folder / f"img{i}.png"), img)
    return folder


def test_source_kind_dispatch(tmp_path: Path) -> None:
    assert source_kind("picamera2") == ("picamera2", "")
    assert source_kind("picamera2:1") == ("picamera2", "1")
    assert source_kind("/dev/video0") == ("opencv", "/dev/video0")
    assert source_kind("rtsp://cam.local/stream") == ("opencv", "rtsp://cam.local/stream")
    assert source_kind(str(tmp_path)) == ("files", str(tmp_path))
    assert source_kind("files:/srv/x") == ("files", "/srv/x")
    assert source_kind("opencv:0") == ("opencv", "0")
    assert parse_spec("0") == ("v4l2", 0)
    assert parse_spec("/dev/video2") == ("v4l2", "/dev/video2")
    assert parse_spec("http://host/mjpg") == ("stream", "http://host/mjpg")
    assert parse_spec("clip.mp4")[0] == "file"


def test_image_folder_is_sorted_naturally_and_skips_unreadable(tmp_path: Path) -> None:
    folder = folder_of(tmp_path, 12)
    (folder / "img5.png").write_bytes(b"not a png")
    (folder / "notes.txt").write_text("ignored")
    src = create_source(str(folder), cam(str(folder), fps=4))
    assert isinstance(src, ImageFolderSource)
    src.open()
    values, times = [], []
    while (raw := src.read()) is not None:
        values.append(int(raw.image[0, 0, 0]))
        times.append(raw.media_time)
    src.close()
    assert values == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11]  # img10 after img9
    assert times[:3] == [0.0, 0.25, 0.5]


def test_empty_or_missing_folder_fails_to_open(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no images"):
        ImageFolderSource(str(tmp_path), cam(str(tmp_path))).open()
    with pytest.raises(SourceError, match="not a folder"):
        ImageFolderSource(str(tmp_path / "nope"), cam("x")).open()


def test_video_file_plays_to_the_end_with_its_own_times(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 10.0, (64, 48))
    for i in range(6):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    src = OpenCVSource(str(path), cam(str(path)))
    assert src.finite
    src.open()
    frames = []
    while (raw := src.read()) is not None:
        frames.append(raw)
    src.close()
    assert len(frames) == 6
    assert frames[0].image.shape == (48, 64, 3)
    assert [round(f.media_time or 0, 2) for f in frames] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]


def test_missing_camera_or_file_raises_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such video file"):
        OpenCVSource(str(tmp_path / "x.mp4"), cam("x")).open()
    with pytest.raises(SourceError, match="cannot open"):
        OpenCVSource("/dev/video99", cam("/dev/video99")).open()


class FakeRequest:
    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays
        self.released = False

    def make_array(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def release(self) -> None:
        self.released = True


def fake_picamera2_module(log: list[Any]) -> types.ModuleType:
    class Picamera2:
        def __init__(self, num: int = 0) -> None:
            log.append(("init", num))

        def create_video_configuration(self, **kw: Any) -> dict[str, Any]:
            return kw

        def configure(self, config: dict[str, Any]) -> None:
            log.append(("configure", config))
            self.config = config

        def start(self) -> None:
            log.append(("start",))

        def capture_request(self) -> FakeRequest:
            mw, mh = self.config["main"]["size"]
            lw, lh = self.config["lores"]["size"]
            main = np.zeros((mh, mw, 4), np.uint8)  # XRGB8888-style padding channel
            main[..., 2] = 200
            yuv = np.full((lh * 3 // 2, lw), 128, np.uint8)
            yuv[:lh] = 180  # luma
            req = FakeRequest({"main": main, "lores": yuv})
            log.append(req)
            return req

        def stop(self) -> None:
            log.append(("stop",))

        def close(self) -> None:
            log.append(("close",))

    module = types.ModuleType("picamera2")
    module.Picamera2 = Picamera2  # type: ignore[attr-defined]
    return module


def test_picamera2_main_and_lores_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[Any] = []
    monkeypatch.setitem(sys.modules, "picamera2", fake_picamera2_module(log))
    src = create_source("picamera2:1", cam("picamera2:1", fps=10, lores_width=320))
    assert isinstance(src, Picamera2Source) and not src.finite
    src.open()
    raw = src.read()
    src.close()
    assert raw is not None and raw.lores is not None
    assert raw.image.shape == (720, 1280, 3) and raw.image[0, 0, 2] == 200
    assert raw.lores.shape == (180, 320, 3)
    # Y=180, U=V=128 is grey (BT.601 video range stretches 180 to 191).
    b, g, r = (int(v) for v in raw.lores[0, 0])
    assert b == g == r and 180 <= b <= 192
    assert log[0] == ("init", 1)
    config = log[1][1]
    assert config["lores"] == {"size": (320, 180), "format": "YUV420"}
    assert config["controls"]["FrameRate"] == 10.0
    assert log[3].released and log[-2:] == [("stop",), ("close",)]
    assert lores_size((1280, 720), 641) == (640, 360)


def test_picamera2_missing_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(SourceError, match="apt install python3-picamera2"):
        Picamera2Source("", cam("picamera2")).open()
    assert "system-site-packages" in INSTALL_HINT


def take_all(capture: Capture, until_done: bool = True) -> list[Frame]:
    frames: list[Frame] = []
    for _ in range(2000):
        frame = capture.slot.take()
        if frame is not None:
            frames.append(frame)
        elif capture.done:
            break
        else:
            threading.Event().wait(0.005)
    return frames


def test_non_realtime_file_delivers_every_frame_with_media_times(tmp_path: Path) -> None:
    folder = folder_of(tmp_path, 10)
    capture = Capture("c", cam(str(folder), fps=5, realtime=False))
    assert capture.blocking
    capture.start()
    frames = take_all(capture)
    capture.stop()
    assert [f.index for f in frames] == list(range(10))
    assert capture.dropped == 0
    assert abs((frames[9].timestamp - frames[0].timestamp) - 9 / 5) < 1e-6
    assert all(f.camera == "c" for f in frames)


def test_looping_folder_plays_again_with_increasing_times(tmp_path: Path) -> None:
    folder = folder_of(tmp_path, 4)
    capture = Capture("c", cam(str(folder), fps=5, realtime=False, loop=True))
    capture.start()
    frames: list[Frame] = []
    for _ in range(4000):
        frame = capture.slot.take()
        if frame is not None:
            frames.append(frame)
            if len(frames) == 10:
                break
        else:
            threading.Event().wait(0.002)
    capture.stop()
    assert len(frames) == 10
    assert [f.index for f in frames] == list(range(10))
    # Pixel value i marks file i: the third pass starts again at the first file.
    assert [int(f.image[0, 0, 0]) for f in frames] == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    steps = np.diff([f.timestamp for f in frames])
    assert np.allclose(steps, 1 / 5)
    assert capture.loops >= 2 and not capture.finished and not capture.done


def test_realtime_drops_frames_nobody_took(tmp_path: Path) -> None:
    folder = folder_of(tmp_path, 10)
    capture = Capture("c", cam(str(folder), fps=500))
    capture.start()
    for _ in range(2000):
        if capture.finished:
            break
        threading.Event().wait(0.005)
    frame = capture.slot.take()
    capture.stop()
    assert frame is not None and frame.index == 9
    assert capture.dropped == 9 and capture.done


class FlakyCamera:
    """A live source that fails to open twice, then gives 3 frames and fails."""

    finite = False
    opens = 0

    def open(self) -> None:
        FlakyCamera.opens += 1
        if FlakyCamera.opens <= 2:
            raise SourceError("not plugged in")

    def read(self) -> RawFrame | None:
        self.n = getattr(self, "n", 0) + 1
        if self.n > 3:
            raise SourceError("cable pulled")
        return RawFrame(np.zeros((4, 4, 3), np.uint8))

    def close(self) -> None:
        pass


def test_capture_reconnects_with_backoff(caplog: pytest.LogCaptureFixture) -> None:
    FlakyCamera.opens = 0
    capture = Capture("c", cam("/dev/video0", fps=1000), factory=FlakyCamera,
                      backoff=(0.01, 0.02))
    with caplog.at_level("WARNING", logger="edgeocr.sources"):
        capture.start()
        got = 0
        for _ in range(2000):
            if capture.slot.take() is not None:
                got += 1
            if FlakyCamera.opens >= 4 and got >= 2:
                break
            threading.Event().wait(0.002)
        capture.stop()
    assert FlakyCamera.opens >= 4 and got >= 2
    messages = [r.getMessage() for r in caplog.records]
    assert any("cannot open /dev/video0: not plugged in" in m for m in messages)
    assert any("cable pulled" in m for m in messages)
    assert not capture.finished
