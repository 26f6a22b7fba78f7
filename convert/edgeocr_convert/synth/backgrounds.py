"""Backgrounds: real photos loaded lazily from a folder, procedural textures, car-like bodies.

The real photos (``/work/shared/backgrounds/real-negatives``) are greyscale JPEGs without
plates. ``BackgroundPool`` takes the folder as an argument; nothing here knows its location.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import cv2
import numpy as np

from edgeocr.core.types import Image
from edgeocr_convert.synth import draw
from edgeocr_convert.synth.augment import noise_field

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")

CAR_COLOURS: tuple[draw.Colour, ...] = (
    (245, 245, 245),
    (20, 20, 20),
    (150, 150, 150),
    (190, 190, 195),
    (40, 40, 160),
    (140, 60, 20),
    (60, 60, 60),
    (30, 90, 30),
    (200, 210, 220),
    (20, 20, 90),
    (90, 140, 200),
    (40, 150, 220),
)


class BackgroundPool:
    """Photos from ``paths`` (files or folders), decoded on first use and kept in memory.

    ``max_cached`` bounds memory; past it, photos are decoded again when drawn. Images larger
    than ``max_side`` are shrunk once on load, which keeps patches cheap to cut.
    """

    def __init__(
        self, paths: Sequence[Path] | Path, max_cached: int = 2000, max_side: int = 800
    ) -> None:
        items = [paths] if isinstance(paths, Path) else list(paths)
        files: list[Path] = []
        for p in items:
            if p.is_dir():
                files.extend(sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES))
            elif p.is_file():
                files.append(p)
            else:
                raise FileNotFoundError(f"{p}: no such background file or folder")
        self.files = files
        self.max_cached = max_cached
        self.max_side = max_side
        self._cache: dict[int, Image] = {}

    def __len__(self) -> int:
        return len(self.files)

    def _load(self, i: int) -> Image | None:
        if i in self._cache:
            return self._cache[i]
        # Kept grey: the shipped photos are greyscale, and one channel is a third of the memory.
        img = cast("Image | None", cv2.imread(str(self.files[i]), cv2.IMREAD_GRAYSCALE))
        if img is None:
            log.warning("%s: cannot decode background, skipping", self.files[i])
            return None
        s = self.max_side / max(img.shape[:2])
        if s < 1.0:
            img = cast("Image", cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA))
        if len(self._cache) < self.max_cached:
            self._cache[i] = img
        return img

    def sample(self, rng: np.random.Generator, height: int, width: int) -> Image | None:
        """A random (height, width) BGR patch of a random photo, rescaled and flipped at random;
        None when the pool is empty or the drawn file cannot be decoded."""
        if not self.files:
            return None
        img = self._load(int(rng.integers(len(self.files))))
        if img is None:
            return None
        ih, iw = img.shape[:2]
        # Cut a window of random scale, then resize it to the requested size.
        scale = float(rng.uniform(0.35, 1.0))
        ch = max(8, int(min(ih, iw * height / max(width, 1)) * scale))
        cw = max(8, int(ch * width / max(height, 1)))
        ch, cw = min(ch, ih), min(cw, iw)
        y = int(rng.integers(0, ih - ch + 1))
        x = int(rng.integers(0, iw - cw + 1))
        patch = cv2.resize(
            img[y : y + ch, x : x + cw], (width, height), interpolation=cv2.INTER_LINEAR
        )
        patch = cv2.cvtColor(patch, cv2.COLOR_GRAY2BGR)
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        out: Image = np.ascontiguousarray(patch)
        return out


@functools.lru_cache(maxsize=1)
def package_pool() -> BackgroundPool:
    """A pool of the photos found by ``find_package_photos`` (possibly empty)."""
    return BackgroundPool(find_package_photos(), max_cached=64)


def find_package_photos() -> list[Path]:
    """Sample photographs shipped inside installed Python packages (scikit-image data,
    matplotlib sample_data), if any are installed. Nothing is downloaded."""
    found: list[Path] = []
    for mod, sub in (("skimage", "data"), ("matplotlib", "mpl-data/sample_data")):
        try:
            m = __import__(mod)
        except ImportError:
            continue
        if not m.__file__:
            continue
        base = Path(m.__file__).parent / sub
        if base.is_dir():
            for f in sorted(base.rglob("*")):
                if f.suffix.lower() in (".jpg", ".jpeg", ".png") and f.stat().st_size > 20_000:
                    found.append(f)
    return found


PROCEDURAL_KINDS = ("noise", "gradient", "bricks", "asphalt", "stripes", "car")


def procedural(
    rng: np.random.Generator, height: int, width: int, kind_name: str | None = None
) -> Image:
    """A procedural texture: noise, gradient, bricks, asphalt, stripes or car-like blobs
    (``kind_name`` one of PROCEDURAL_KINDS, or None for a random one)."""
    if kind_name is None:
        kind = int(rng.choice(6, p=[0.2, 0.15, 0.15, 0.2, 0.1, 0.2]))
    else:
        kind = PROCEDURAL_KINDS.index(kind_name)
    h, w = height, width
    base = draw.random_colour(rng, 20, 235)
    if kind == 0:  # smooth value noise at several scales
        img = np.empty((h, w, 3), np.uint8)
        img[:] = base
        tex = draw.noise_texture(rng, h, w, int(rng.integers(8, 80)), 50.0) + draw.noise_texture(
            rng, h, w, 3, 12.0
        )
        return draw.add_texture(img, tex)
    if kind == 1:
        return draw.vertical_gradient(h, w, base, draw.random_colour(rng, 20, 235))
    if kind == 2:  # bricks
        img = np.empty((h, w, 3), np.uint8)
        mortar = draw.jitter_colour(rng, (170, 180, 190), 30)
        img[:] = mortar
        bh = int(rng.integers(8, 30))
        bw = int(bh * rng.uniform(2.0, 3.5))
        brick = draw.jitter_colour(rng, (50, 70, 150), 40)
        for row, y in enumerate(range(0, h, bh)):
            off = (bw // 2) * (row % 2)
            for x in range(-off, w, bw):
                cv2.rectangle(
                    img,
                    (x + 1, y + 1),
                    (x + bw - 2, y + bh - 2),
                    draw.jitter_colour(rng, brick, 18),
                    -1,
                )
        return draw.add_texture(img, draw.noise_texture(rng, h, w, 3, 10.0))
    if kind == 3:  # asphalt / concrete
        g = int(rng.integers(50, 170))
        img = np.full((h, w, 3), g, np.uint8)
        speck = noise_field(rng, h, w, 18.0)
        img = draw.add_texture(img, speck + draw.noise_texture(rng, h, w, 40, 20.0))
        if rng.random() < 0.4:
            y = int(rng.uniform(0, h))
            cv2.line(
                img,
                (0, y),
                (w, int(y + rng.uniform(-h, h) * 0.3)),
                (230, 230, 230),
                int(rng.integers(2, 10)),
            )
        return img
    if kind == 4:  # stripes / siding
        img = np.empty((h, w, 3), np.uint8)
        img[:] = base
        step = int(rng.integers(4, 24))
        dark = draw.jitter_colour(rng, base, 50)
        for y in range(0, h, step):
            cv2.line(img, (0, y), (w, y), dark, max(1, step // 5))
        return img
    return car_body(rng, h, w)


def car_body(
    rng: np.random.Generator,
    height: int,
    width: int,
    plate_box: tuple[int, int, int, int] | None = None,
) -> Image:
    """A car-like rear or front: body colour with a gradient, a bumper, lights, a grille
    or a dark recess around ``plate_box`` (x0, y0, x1, y1) when given."""
    h, w = height, width
    body = draw.jitter_colour(rng, CAR_COLOURS[int(rng.integers(len(CAR_COLOURS)))], 15)
    img = draw.vertical_gradient(h, w, draw.jitter_colour(rng, body, 35), body)
    if plate_box is None:
        plate_box = (int(w * 0.35), int(h * 0.45), int(w * 0.65), int(h * 0.65))
    x0, y0, x1, y1 = plate_box
    pw, ph = x1 - x0, y1 - y0
    r = rng.random()
    if r < 0.5:  # bumper line below and/or above the plate
        by = int(y1 + ph * rng.uniform(0.1, 0.8))
        cv2.rectangle(
            img,
            (0, by),
            (w, h),
            draw.jitter_colour(rng, (40, 40, 40), 30) if rng.random() < 0.6 else body,
            -1,
        )
        cv2.line(img, (0, by), (w, by), draw.jitter_colour(rng, body, 60), max(1, ph // 10))
    if rng.random() < 0.4:  # recessed plate holder
        m = int(ph * rng.uniform(0.08, 0.35))
        cv2.rectangle(
            img, (x0 - m, y0 - m), (x1 + m, y1 + m), draw.jitter_colour(rng, (30, 30, 30), 25), -1
        )
    if rng.random() < 0.4:  # tail lights / grille
        ly = int(y0 - ph * rng.uniform(0.2, 1.5))
        lw = int(pw * rng.uniform(0.4, 0.9))
        col = (
            draw.jitter_colour(rng, (40, 40, 190), 40)
            if rng.random() < 0.6
            else draw.jitter_colour(rng, (40, 40, 40), 20)
        )
        cv2.rectangle(img, (x0 - lw - int(pw * 0.3), ly), (x0 - int(pw * 0.3), ly + ph), col, -1)
        cv2.rectangle(img, (x1 + int(pw * 0.3), ly), (x1 + lw + int(pw * 0.3), ly + ph), col, -1)
    if rng.random() < 0.3:  # a badge or trunk text (not a plate)
        cv2.ellipse(
            img,
            ((x0 + x1) // 2, int(y0 - ph * 0.9)),
            (max(2, pw // 8), max(2, ph // 5)),
            0,
            0,
            360,
            draw.jitter_colour(rng, (200, 200, 200), 40),
            -1,
        )
    if y0 > 2.5 * ph and rng.random() < 0.7:
        # Rear window: dark glass above the boot lid, narrower at the top.
        gy1 = int(y0 - ph * rng.uniform(1.3, 2.2))
        gy0 = max(0, int(gy1 - ph * rng.uniform(1.5, 4.0)))
        inset = int(w * rng.uniform(0.05, 0.15))
        slope = int((gy1 - gy0) * rng.uniform(0.2, 0.6))
        pts = np.array(
            [[inset + slope, gy0], [w - inset - slope, gy0], [w - inset, gy1], [inset, gy1]],
            np.int32,
        )
        glass = draw.jitter_colour(rng, (45, 40, 35), 25)
        cv2.fillPoly(img, [pts], glass, cv2.LINE_AA)
    if h - y1 > 1.5 * ph and rng.random() < 0.6:
        # Tyres and the shadow under the car at the bottom corners.
        ty = h - int(ph * rng.uniform(0.2, 0.8))
        tr = int(ph * rng.uniform(1.0, 1.8))
        for tx in (int(w * rng.uniform(0.0, 0.12)), int(w * rng.uniform(0.88, 1.0))):
            cv2.ellipse(img, (tx, ty), (max(2, tr // 2), tr), 0, 0, 360, (25, 25, 25), -1)
    return draw.add_texture(img, draw.noise_texture(rng, h, w, 30, 10.0))
