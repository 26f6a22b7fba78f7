"""Rectify stage: warp a detection's quad flat to the recognizer's input size.

Detection may run on a low-resolution frame; the warp always samples the full-resolution
one, so small plates keep their detail. :func:`refine_quad` optionally snaps predicted
corners to the plate border found in the image; it is off by default until measured.
"""

from __future__ import annotations

from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from edgeocr.core.geometry import expand_quad, order_corners, quad_corner_error, warp_quad
from edgeocr.core.types import Detection, Image, Quad

MARGIN: tuple[float, float] = (0.04, 0.08)
"""(x, y) fractions the quad grows by before warping: predicted corners are a few pixels
off, and a character clipped at the border is lost while a thin border strip is harmless.
Calibration and real-data training crops use the same margin."""

FloatArray = npt.NDArray[np.float64]


def pad_to_margin(image: Image, margin: tuple[float, float] = MARGIN) -> Image:
    """A whole crop image (a crop file: the plate's own extent) grown by ``margin`` on each
    side with its border pixels repeated, so the recognizer sees it framed the way it sees a
    detection warped with the same margin. Images under 2 px a side are returned as they
    are (the recognizer refuses them with its own message)."""
    h, w = image.shape[:2]
    if h < 2 or w < 2:
        return image
    px, py = round(margin[0] * w), round(margin[1] * h)
    if px == 0 and py == 0:
        return image
    return cast("Image", cv2.copyMakeBorder(image, py, py, px, px, cv2.BORDER_REPLICATE))


def scaled_quad(det: Detection, scale: float = 1.0) -> FloatArray:
    """(4, 2) corners of ``det`` times ``scale`` (low-res frame -> full-resolution frame)."""
    return np.asarray(det.corners, dtype=np.float64).reshape(4, 2) * scale


def rectify(image: Image, det: Detection, width: int, height: int, scale: float = 1.0,
            margin: tuple[float, float] = MARGIN, refine: bool = False,
            antialias: bool = False) -> Image:
    """The (height, width) crop of ``det`` from ``image``, corners TL, TR, BR, BL to the
    crop's corners; same channels as ``image``.

    ``scale`` maps detection coordinates to ``image`` (full width / low-res width);
    ``antialias`` shrinks a big quad by area averaging (``warp_quad``).
    """
    quad: Quad | FloatArray = scaled_quad(det, scale)
    if refine:
        quad = refine_quad(image, order_corners(quad))
    return warp_quad(image, quad, width, height, margin, antialias)


def refine_quad(image: Image, quad: Quad, search: float = 0.25,
                max_shift: float = 0.2) -> Quad:
    """Snap ``quad`` to the plate's outline when one is clearly visible near it.

    Looks in the quad grown by ``search`` (fractions of its size) for closed edge contours
    of similar area, fits each with approxPolyDP (four vertices) or else minAreaRect,
    and takes the fit closest to the prediction. The fit is accepted only when its mean
    corner distance is under ``max_shift`` times the quad's shorter side; otherwise the
    prediction is returned unchanged.
    """
    q = np.asarray(quad, dtype=np.float64).reshape(4, 2)
    h_img, w_img = image.shape[:2]
    region = expand_quad(q, search, search)
    x1, y1 = np.floor(region.min(axis=0)).astype(int)
    x2, y2 = np.ceil(region.max(axis=0)).astype(int)
    x1, y1 = max(x1, 0), max(y1, 0)
    x2, y2 = min(x2, w_img), min(y2, h_img)
    if x2 - x1 < 8 or y2 - y1 < 8:
        return order_corners(q)
    roi = image[y1:y2, x1:x2]
    grey = roi if roi.ndim == 2 else cv2.cvtColor(
        roi, cv2.COLOR_BGR2GRAY if roi.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)
    grey = cv2.GaussianBlur(grey, (3, 3), 0)
    hi_t, _ = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    edges = cv2.Canny(grey, 0.5 * hi_t, hi_t)
    edges = cv2.dilate(edges, np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(edges, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)

    local = q - (x1, y1)
    area = abs(float(cv2.contourArea(local.astype(np.float32))))
    sides = np.linalg.norm(np.roll(local, -1, axis=0) - local, axis=1)
    limit = max_shift * float(sides.min())
    best: FloatArray | None = None
    best_err = limit
    for cnt in contours:
        c_area = float(cv2.contourArea(cnt))
        if not 0.5 * area <= c_area <= 2.0 * area:
            continue
        approx = cv2.approxPolyDP(cnt, 0.02 * cv2.arcLength(cnt, True), True)
        if len(approx) == 4 and cv2.isContourConvex(approx):
            pts = approx.reshape(4, 2).astype(np.float64)
        else:
            pts = cv2.boxPoints(cv2.minAreaRect(cnt)).astype(np.float64)
        fitted = np.asarray(order_corners(pts), dtype=np.float64)
        err = quad_corner_error(fitted, local)
        if err < best_err:
            best, best_err = fitted, err
    if best is None:
        return order_corners(q)
    return order_corners(best + np.array([x1, y1], dtype=np.float64))
