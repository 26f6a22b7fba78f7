"""A folder of images played as a camera, in name order (numbers compared as numbers,
so ``frame2.png`` comes before ``frame10.png``)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edgeocr.sources import RawFrame, SourceError

if TYPE_CHECKING:
    from edgeocr.config import CameraConfig

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
_DIGITS = re.compile(r"(\d+)")


def natural_key(path: Path) -> tuple[tuple[int, int | str], ...]:
    parts = _DIGITS.split(path.name)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, in natural name order."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=natural_key)


class ImageFolderSource:
    """Every image of a folder once, as frames ``index / fps`` seconds apart."""

    finite = True

    def __init__(self, spec: str, camera: CameraConfig) -> None:
        self.folder = Path(spec).expanduser()
        self.fps = camera.fps
        self._files: list[Path] = []
        self._pos = 0

    def open(self) -> None:
        if not self.folder.is_dir():
            raise SourceError(f"{self.folder}: not a folder")
        self._files = list_images(self.folder)
        if not self._files:
            raise SourceError(f"{self.folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        self._pos = 0

    def read(self) -> RawFrame | None:
        while self._pos < len(self._files):
            path = self._files[self._pos]
            index = self._pos
            self._pos += 1
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                log.warning("%s: not a readable image, skipped", path)
                continue
            return RawFrame(image=image.astype(np.uint8, copy=False), media_time=index / self.fps)
        return None

    def close(self) -> None:
        self._files = []
