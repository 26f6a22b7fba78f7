"""Letterboxing: fit an image into a fixed network input keeping its aspect ratio.

The detector is trained on letterboxed images and the device letterboxes frames the same
way, so this is the single implementation both sides call. The image is scaled to fit
(height, width), centred, and the rest is filled with black.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from edgeocr.core.types import Image

PAD_VALUE = 0


def letterbox(image: Image, height: int, width: int) -> tuple[Image, float, tuple[int, int]]:
    """Scale ``image`` to fit (height, width) keeping its aspect ratio, centre it, pad.

    Returns ``(padded, scale, (pad_x, pad_y))``: a point (x, y) of ``image`` lands at
    (x * scale + pad_x, y * scale + pad_y) in ``padded``. Works for grey (H, W) and
    (H, W, C) images of any dtype; the output keeps the channel layout.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"letterbox size must be positive, got {height}x{width}")
    h, w = image.shape[:2]
    if h == 0 or w == 0:
        raise ValueError("cannot letterbox an empty image")
    scale = min(height / h, width / w)
    new_w = max(1, min(width, round(w * scale)))
    new_h = max(1, min(height, round(h * scale)))
    resized: npt.NDArray[np.generic]
    if (new_w, new_h) == (w, h):
        resized = image
    else:
        # INTER_AREA avoids aliasing when shrinking camera frames; LINEAR when enlarging.
        interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
        resized = cv2.resize(image, (new_w, new_h), interpolation=interp)
    pad_x = (width - new_w) // 2
    pad_y = (height - new_h) // 2
    out: Image = np.full((height, width, *image.shape[2:]), PAD_VALUE, dtype=image.dtype)
    out[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized.reshape(
        new_h, new_w, *image.shape[2:]
    )
    return out, float(scale), (int(pad_x), int(pad_y))


def unletterbox_points(
    points: npt.NDArray[np.floating], scale: float, pad: tuple[int, int]
) -> npt.NDArray[np.float64]:
    """Map (..., 2) points from the letterboxed input back to the original image's pixels."""
    pts = np.asarray(points, dtype=np.float64)
    return (pts - np.asarray(pad, dtype=np.float64)) / scale
