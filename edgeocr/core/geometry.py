"""Boxes, quadrilaterals and the perspective warp of a quad to a canonical crop.

All coordinates are (x, y) pixels; quads are clockwise from top-left (TL, TR, BR, BL)
in image coordinates (y down).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from edgeocr.core.types import Box, Detection, Image, Quad

FloatArray = npt.NDArray[np.float64]


def order_corners(points: Sequence[Sequence[float]] | npt.NDArray[np.floating]) -> Quad:
    """Order four points clockwise from top-left.

    Points are sorted by angle around their centroid (clockwise on screen), then rotated so
    the first is the one with the smallest x + y. Works for convex quads rotated by less
    than 45 degrees, which covers plates and plaques.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if pts.shape != (4, 2):
        raise ValueError(f"expected 4 points, got {pts.shape[0]}")
    centre = pts.mean(axis=0)
    angles = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
    # With y pointing down, increasing atan2 angle runs clockwise on screen.
    ordered = pts[np.argsort(angles)]
    start = int(np.argmin(ordered[:, 0] + ordered[:, 1]))
    ordered = np.roll(ordered, -start, axis=0)
    return _as_quad(ordered)


def _as_quad(arr: FloatArray) -> Quad:
    return (
        (float(arr[0, 0]), float(arr[0, 1])),
        (float(arr[1, 0]), float(arr[1, 1])),
        (float(arr[2, 0]), float(arr[2, 1])),
        (float(arr[3, 0]), float(arr[3, 1])),
    )


def quad_to_box(quad: Quad | FloatArray) -> Box:
    """The axis-aligned box enclosing a quad."""
    arr = np.asarray(quad, dtype=np.float64).reshape(4, 2)
    x1, y1 = arr.min(axis=0)
    x2, y2 = arr.max(axis=0)
    return float(x1), float(y1), float(x2), float(y2)


def box_to_quad(box: Box) -> Quad:
    """The four corners of an axis-aligned box, clockwise from top-left."""
    x1, y1, x2, y2 = box
    return (x1, y1), (x2, y1), (x2, y2), (x1, y2)


def box_area(box: Box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def intersection(a: Box, b: Box) -> float:
    """Area shared by two axis-aligned boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return ix * iy


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two axis-aligned boxes (0 when either is empty)."""
    inter = intersection(a, b)
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > 0 else 0.0


def covered(a: Box, b: Box) -> float:
    """Share of box ``a``'s area that lies inside box ``b`` (0 when ``a`` is empty)."""
    area = box_area(a)
    return intersection(a, b) / area if area > 0 else 0.0


def iou_matrix(a: FloatArray, b: FloatArray) -> FloatArray:
    """Pairwise IoU of (N, 4) and (M, 4) x1y1x2y2 arrays -> (N, M)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0.0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    out: FloatArray = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
    return out


def expand_quad(quad: Quad | FloatArray, margin_x: float, margin_y: float) -> FloatArray:
    """Grow a quad outward along its own axes by fractions of its width and height."""
    q = np.asarray(quad, dtype=np.float64).reshape(4, 2)
    top = q[1] - q[0]
    left = q[3] - q[0]
    right = q[2] - q[1]
    bottom = q[2] - q[3]
    dx0, dx1 = top * margin_x, bottom * margin_x
    dy0, dy1 = left * margin_y, right * margin_y
    return np.array(
        [q[0] - dx0 - dy0, q[1] + dx0 - dy1, q[2] + dx1 + dy1, q[3] - dx1 + dy0],
        dtype=np.float64,
    )


def warp_quad(
    image: Image,
    quad: Quad | FloatArray,
    width: int,
    height: int,
    margin: tuple[float, float] = (0.0, 0.0),
    antialias: bool = False,
) -> Image:
    """Warp the quad (TL, TR, BR, BL) of ``image`` flat into a ``width`` x ``height`` crop.

    ``margin`` grows the quad by (x, y) fractions first, so a slightly loose crop keeps
    characters that touch the plate border. Border pixels are replicated. With
    ``antialias``, a quad bigger than the crop along an axis is warped at its own size along
    that axis and then shrunk by area averaging (a direct bilinear warp samples only the
    pixels nearest each output pixel and aliases thin strokes when it shrinks).
    """
    src = expand_quad(quad, *margin) if margin != (0.0, 0.0) else np.asarray(quad).reshape(4, 2)
    out_w, out_h = width, height
    if antialias:
        pts = np.asarray(src, dtype=np.float64).reshape(4, 2)
        qw = max(np.linalg.norm(pts[1] - pts[0]), np.linalg.norm(pts[2] - pts[3]))
        qh = max(np.linalg.norm(pts[3] - pts[0]), np.linalg.norm(pts[2] - pts[1]))
        # Capped at 8x: beyond that the area average is as smooth as it gets.
        out_w = int(min(max(width, np.ceil(qw)), 8 * width))
        out_h = int(min(max(height, np.ceil(qh)), 8 * height))
    dst = np.array(
        [[0, 0], [out_w - 1, 0], [out_w - 1, out_h - 1], [0, out_h - 1]], dtype=np.float32
    )
    m = cv2.getPerspectiveTransform(src.astype(np.float32), dst)
    out = cv2.warpPerspective(
        image, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    if (out_w, out_h) != (width, height):
        out = cv2.resize(out, (width, height), interpolation=cv2.INTER_AREA)
    return np.asarray(out, dtype=np.uint8)


def quad_corner_error(pred: Quad | FloatArray, truth: Quad | FloatArray) -> float:
    """Mean Euclidean distance between corresponding corners, in pixels."""
    p = np.asarray(pred, dtype=np.float64).reshape(4, 2)
    t = np.asarray(truth, dtype=np.float64).reshape(4, 2)
    return float(np.linalg.norm(p - t, axis=1).mean())


def clip_box(box: Box, width: int, height: int) -> Box:
    return (
        min(max(box[0], 0.0), float(width)),
        min(max(box[1], 0.0), float(height)),
        min(max(box[2], 0.0), float(width)),
        min(max(box[3], 0.0), float(height)),
    )


def offset_detection(det: Detection, dx: float, dy: float) -> Detection:
    """``det`` moved by (dx, dy): from a tile's, window's or region's pixels to the frame's."""
    if dx == 0 and dy == 0:
        return det
    x1, y1, x2, y2 = det.box
    c = det.corners
    return Detection(det.kind, det.score, (x1 + dx, y1 + dy, x2 + dx, y2 + dy),
                     ((c[0][0] + dx, c[0][1] + dy), (c[1][0] + dx, c[1][1] + dy),
                      (c[2][0] + dx, c[2][1] + dy), (c[3][0] + dx, c[3][1] + dy)))


def scale_detection(det: Detection, scale: float) -> Detection:
    """``det`` with box and corners times ``scale``: from a downscaled copy's pixels to the
    full-resolution frame's."""
    if scale == 1.0:
        return det
    x1, y1, x2, y2 = det.box
    c = det.corners
    return Detection(det.kind, det.score, (x1 * scale, y1 * scale, x2 * scale, y2 * scale),
                     ((c[0][0] * scale, c[0][1] * scale), (c[1][0] * scale, c[1][1] * scale),
                      (c[2][0] * scale, c[2][1] * scale), (c[3][0] * scale, c[3][1] * scale)))
