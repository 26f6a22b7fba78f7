"""Painting primitives shared by the plate, plaque, negative and scene renderers.

Images are BGR uint8 (H, W, 3); masks are uint8 alpha (H, W). Colours are BGR tuples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from edgeocr.core.types import Image
from edgeocr_convert.synth.fonts import Mask, fit_mask, text_mask

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Rendered:
    """A rendered plate or plaque face: the whole ``image`` is the object; its four image
    corners are the labelled quad. ``alpha`` is the object's silhouette (rounded corners)."""

    image: Image
    text: str
    alpha: Mask
    style: str
    # Where the characters (and their shadow) are, for faces that can also be drawn straight
    # onto a scene's own surface (digits mounted on a wall); None for plates and plaques.
    ink: Mask | None = None


def paint(img: Image, mask: Mask, x: int, y: int, colour: Colour, opacity: float = 1.0) -> None:
    """Alpha-blend ``colour`` through ``mask`` placed with its top-left at (x, y), clipped."""
    h, w = mask.shape[:2]
    ih, iw = img.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, iw), min(y + h, ih)
    if x1 <= x0 or y1 <= y0:
        return
    m = mask[y0 - y : y1 - y, x0 - x : x1 - x]
    if opacity < 1.0:
        m = cast("Mask", cv2.convertScaleAbs(m, alpha=opacity))
    roi = img[y0:y1, x0:x1]
    # Saturating uint8 arithmetic in OpenCV: roi * (1 - m) + colour * m, about 4x faster than
    # the same blend in float numpy on these small regions.
    m3 = cv2.cvtColor(m, cv2.COLOR_GRAY2BGR) if roi.ndim == 3 else m
    keep = cv2.multiply(roi, cv2.bitwise_not(m3), scale=1.0 / 255.0)
    solid = np.empty_like(roi)
    solid[:] = colour if roi.ndim == 3 else colour[0]
    ink = cv2.multiply(solid, m3, scale=1.0 / 255.0)
    img[y0:y1, x0:x1] = cv2.add(keep, ink)


def paint_text(
    img: Image,
    font: Path,
    text: str,
    box: tuple[int, int, int, int],
    colour: Colour,
    *,
    small: bool = False,
    caps_only: bool = True,
    squeeze: float = 1.0,
    align: str = "center",
    spacing: float = 0.0,
    opacity: float = 1.0,
) -> tuple[int, int]:
    """Render ``text`` to fit box (x0, y0, x1, y1) by height, squeezed horizontally by
    ``squeeze`` and shrunk further to fit the width. Returns the painted (x0, x1)."""
    x0, y0, x1, y1 = box
    bh, bw = max(1, y1 - y0), max(1, x1 - x0)
    m = text_mask(font, text, small=small, caps_only=caps_only, spacing=spacing)
    w = round(m.shape[1] * bh / max(1, m.shape[0]) * squeeze)
    w = max(1, min(w, bw))
    fitted = fit_mask(m, w, bh)
    if align == "left":
        x = x0
    elif align == "right":
        x = x1 - w
    else:
        x = x0 + (bw - w) // 2
    paint(img, fitted, x, y0, colour, opacity)
    return x, x + w


def vertical_gradient(h: int, w: int, top: Colour, bottom: Colour) -> Image:
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    a = np.asarray(top, dtype=np.float32)
    b = np.asarray(bottom, dtype=np.float32)
    col = (a + (b - a) * t).astype(np.uint8)  # (h, 1, 3)
    out: Image = cast("Image", cv2.resize(col, (w, h), interpolation=cv2.INTER_NEAREST))
    return out


def rounded_mask(h: int, w: int, radius: int) -> Mask:
    mask = np.full((h, w), 255, dtype=np.uint8)
    r = max(0, min(radius, h // 2, w // 2))
    if r == 0:
        return mask
    corner = np.zeros((r, r), dtype=np.uint8)
    cv2.circle(corner, (r, r), r, 255, -1, lineType=cv2.LINE_AA)
    mask[:r, :r] = corner
    mask[:r, w - r :] = corner[:, ::-1]
    mask[h - r :, :r] = corner[::-1, :]
    mask[h - r :, w - r :] = corner[::-1, ::-1]
    return mask


def jitter_colour(rng: np.random.Generator, colour: Colour, amount: int = 20) -> Colour:
    d = rng.integers(-amount, amount + 1, 3).tolist()
    return (
        min(255, max(0, colour[0] + d[0])),
        min(255, max(0, colour[1] + d[1])),
        min(255, max(0, colour[2] + d[2])),
    )


def random_colour(rng: np.random.Generator, lo: int = 0, hi: int = 256) -> Colour:
    c = rng.integers(lo, hi, 3).tolist()
    return int(c[0]), int(c[1]), int(c[2])


def luminance(colour: Colour) -> float:
    b, g, r = colour
    return 0.114 * b + 0.587 * g + 0.299 * r


def contrasting(rng: np.random.Generator, bg: Colour) -> Colour:
    """A random text colour that reads well on ``bg``."""
    if luminance(bg) > 128:
        return random_colour(rng, 0, 90)
    return random_colour(rng, 190, 256)


def noise_texture(
    rng: np.random.Generator, h: int, w: int, scale: int, amp: float
) -> npt.NDArray[np.float32]:
    """Smooth value noise in [-amp, amp] (upsampled random grid), (h, w) float32."""
    gh, gw = max(2, h // max(scale, 1) + 2), max(2, w // max(scale, 1) + 2)
    grid = rng.uniform(-amp, amp, (gh, gw)).astype(np.float32)
    out: npt.NDArray[np.float32] = cast(
        "npt.NDArray[np.float32]", cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    )
    return out


def add_texture(img: Image, tex: npt.NDArray[np.float32]) -> Image:
    """``img`` plus a (H, W) float texture, saturated (cv2 saturates in one pass, no clip)."""
    t = cv2.cvtColor(tex, cv2.COLOR_GRAY2BGR) if img.ndim == 3 else tex
    out: Image = cast("Image", cv2.add(img, t, dtype=cv2.CV_8U))
    return out


def rescale(obj: Rendered, width: float) -> Rendered:
    """``obj`` shrunk to ``width`` pixels wide (never enlarged). Faces are rendered at a fixed
    size; shrinking them before context and effects keeps every later step cheap."""
    h, w = obj.image.shape[:2]
    if width >= w:
        return obj
    f = max(width, 8.0) / w
    size = (max(1, round(w * f)), max(1, round(h * f)))
    img: Image = cast("Image", cv2.resize(obj.image, size, interpolation=cv2.INTER_AREA))
    alpha: Mask = cast("Mask", cv2.resize(obj.alpha, size, interpolation=cv2.INTER_AREA))
    ink = None
    if obj.ink is not None:
        ink = cast("Mask", cv2.resize(obj.ink, size, interpolation=cv2.INTER_AREA))
    return Rendered(img, obj.text, alpha, obj.style, ink)
