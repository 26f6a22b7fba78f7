"""Contact sheets: a grid of samples with their labels, for eyeballing synthetic data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import cv2
import numpy as np

from edgeocr.core.types import Image


def contact_sheet(
    images: Sequence[Image],
    captions: Sequence[str] = (),
    *,
    cols: int = 6,
    tile: tuple[int, int] = (256, 64),
    caption_height: int = 16,
) -> Image:
    """A BGR grid of ``images`` each resized to ``tile`` (width, height), a caption under each."""
    if not images:
        return np.zeros((tile[1] + caption_height, tile[0], 3), np.uint8)
    tw, th = tile
    rows = (len(images) + cols - 1) // cols
    sheet = np.full((rows * (th + caption_height), cols * tw, 3), 255, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        if img.ndim == 2:
            img = cast("Image", cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))
        y, x = r * (th + caption_height), c * tw
        sheet[y : y + th, x : x + tw] = cv2.resize(img, (tw, th), interpolation=cv2.INTER_NEAREST)
        if i < len(captions) and captions[i]:
            cv2.putText(
                sheet,
                captions[i][:40],
                (x + 3, y + th + caption_height - 4),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.4,
                (0, 0, 0),
                1,
                cv2.LINE_AA,
            )
    return sheet


def draw_objects(
    image: Image, quads: Sequence[Sequence[tuple[float, float]]], texts: Sequence[str]
) -> Image:
    """A copy of ``image`` with each quad outlined (first corner dotted) and its text."""
    out: Image = (
        image.copy() if image.ndim == 3 else cast("Image", cv2.cvtColor(image, cv2.COLOR_GRAY2BGR))
    )
    for quad, text in zip(quads, texts, strict=False):
        pts = np.asarray(quad, dtype=np.float64).reshape(4, 2)
        cv2.polylines(out, [np.round(pts).astype(np.int32)], True, (0, 0, 255), 1, cv2.LINE_AA)
        cv2.circle(out, (int(pts[0, 0]), int(pts[0, 1])), 2, (255, 0, 0), -1)
        cv2.putText(
            out,
            text,
            (int(pts[3, 0]), int(pts[3, 1]) + 11),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.35,
            (0, 255, 255),
            1,
            cv2.LINE_AA,
        )
    return out
