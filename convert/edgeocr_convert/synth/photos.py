"""Real photo patches for the recognizer's crops: pictures printed on plates, and the world
around a plate.

Real US plates print pictures beside and behind the characters (an eagle, a lighthouse, a
seal, Olympic rings), and real crops show car parts, signs and street around the plate. A
model that only ever saw procedural shapes there reads a picture at the end of the row as a
leading ``4``, ``9`` or ``S``. Patches of real plate-free photos (``BackgroundPool``) carry
the texture of real pictures.

The pool is per process and optional: :func:`use` sets it (the recognizer trainer's worker
processes call it with ``--photos``), and every caller falls back to its procedural drawing
when :func:`patch` returns None, so the generator works the same without any photos.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import cast

import cv2
import numpy as np

from edgeocr.core.types import Image
from edgeocr_convert.synth.backgrounds import BackgroundPool

_state: dict[str, BackgroundPool | None] = {"pool": None}


@functools.lru_cache(maxsize=4)
def _open(folder: str) -> BackgroundPool:
    # Small photos only: patches are at most a plate wide, and the cache stays ~100 MB.
    return BackgroundPool(Path(folder), max_cached=1200, max_side=320)


def use(folder: Path | str | None) -> None:
    """Draw patches from the photos in ``folder`` in this process (None: none)."""
    _state["pool"] = _open(str(folder)) if folder is not None else None


def active() -> bool:
    pool = _state["pool"]
    return pool is not None and len(pool) > 0


def patch(rng: np.random.Generator, height: int, width: int, tint: bool = True) -> Image | None:
    """A (height, width) BGR patch of a random photo, colour-tinted at random when ``tint``
    (the photos are grey); None when no photos are in use."""
    pool = _state["pool"]
    if pool is None or height < 2 or width < 2:
        return None
    img = pool.sample(rng, height, width)
    if img is None:
        return None
    if tint and rng.random() < 0.7:
        # A picture in one or two hues: scale each channel by a random colour.
        gain = rng.uniform(0.35, 1.15, 3).astype(np.float32)
        img = cast("Image", np.clip(img.astype(np.float32) * gain, 0, 255).astype(np.uint8))
    return img


def paste_picture(rng: np.random.Generator, img: Image, box: tuple[int, int, int, int],
                  opacity: tuple[float, float] = (0.6, 1.0)) -> bool:
    """A photo patch pasted into ``box`` (x0, y0, x1, y1) of ``img`` in place, through an
    oval, rectangular or side-faded mask at an opacity drawn from ``opacity``; False when no
    photos are in use."""
    x0, y0, x1, y1 = box
    h, w = img.shape[:2]
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    ph, pw = y1 - y0, x1 - x0
    src = patch(rng, ph, pw)
    if src is None:
        return False
    mask = np.zeros((ph, pw), np.float32)
    shape = rng.random()
    if shape < 0.4:
        cv2.ellipse(mask, (pw // 2, ph // 2), (max(1, pw // 2), max(1, ph // 2)), 0, 0, 360,
                    1.0, -1, cv2.LINE_AA)
    else:
        mask[:] = 1.0
    if shape >= 0.75:  # a picture fading into the plate at its sides
        ramp = max(1, pw // 4)
        fade = np.ones(pw, np.float32)
        fade[:ramp] = np.linspace(0.0, 1.0, ramp)
        fade[pw - ramp :] = np.minimum(fade[pw - ramp :], np.linspace(1.0, 0.0, ramp))
        mask *= fade[None, :]
    alpha = mask[..., None] * float(rng.uniform(*opacity))
    roi = img[y0:y1, x0:x1].astype(np.float32)
    img[y0:y1, x0:x1] = (roi + (src.astype(np.float32) - roi) * alpha).astype(np.uint8)
    return True
