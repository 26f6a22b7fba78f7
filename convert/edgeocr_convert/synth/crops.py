"""Recognizer training crops made the way the device makes them.

A plate or plaque face is rendered, set into context (car body, wall, procedural texture),
tilted in 3-D, scaled to a camera-like size, degraded, then warped back from its true corners
plus the error a real detector leaves, with ``edgeocr.core.geometry.warp_quad`` (stretched,
see CONTRACTS "Recognizer input convention").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np

from edgeocr.core.geometry import expand_quad, warp_quad
from edgeocr.core.types import Image, Kind
from edgeocr_convert.synth import augment, photos
from edgeocr_convert.synth.backgrounds import car_body, procedural
from edgeocr_convert.synth.draw import Rendered, rescale
from edgeocr_convert.synth.house import render_house_number
from edgeocr_convert.synth.plates import render_plate

PLATE_SHARE = 0.8
# Face widths on the sensor, log-uniform between these bounds (pixels).
MAX_FACE_WIDTH = 360.0
MIN_CHAR_PX = 9.0
MIN_FACE_HEIGHT = 14.0
# With real photos in use (``photos.use``), the share of crops set into a patch of a photo
# rather than a procedural car body or texture.
PHOTO_CONTEXT = 0.3


def render_object(rng: np.random.Generator, kind: Kind, style: str | None = None) -> Rendered:
    if kind == "plate":
        return render_plate(rng, style)
    if kind == "house_number":
        return render_house_number(rng)
    raise ValueError(f"unknown kind {kind!r}; expected 'plate' or 'house_number'")


@dataclass(frozen=True)
class Captured:
    """An object captured in context: ``image`` BGR and the object's quad in it (TL, TR, BR, BL)."""

    image: Image
    quad: np.ndarray
    text: str
    style: str = ""


def in_context(rng: np.random.Generator, obj: Rendered, kind: Kind) -> tuple[Image, np.ndarray]:
    """The face composited (through its alpha) onto a larger context canvas; returns the canvas
    and the face's quad in it."""
    fh, fw = obj.image.shape[:2]
    mx = int(fw * rng.uniform(0.15, 0.45))
    my = int(fh * rng.uniform(0.3, 0.9))
    ch, cw = fh + 2 * my, fw + 2 * mx
    box = (mx, my, mx + fw, my + fh)
    photo = photos.patch(rng, ch, cw) if photos.active() and rng.random() < PHOTO_CONTEXT else None
    if photo is not None:
        canvas = photo  # the world around a real crop: bumpers, signs, street
    elif kind == "plate" and rng.random() < 0.75:
        canvas = car_body(rng, ch, cw, box)
    else:
        canvas = procedural(rng, ch, cw)
    a = obj.alpha.astype(np.float32)[..., None] / 255.0
    roi = canvas[my : my + fh, mx : mx + fw].astype(np.float32)
    canvas[my : my + fh, mx : mx + fw] = (roi + (obj.image.astype(np.float32) - roi) * a).astype(
        np.uint8
    )
    quad = np.array([[mx, my], [mx + fw, my], [mx + fw, my + fh], [mx, my + fh]], dtype=np.float64)
    return canvas, quad


def capture(rng: np.random.Generator, kind: Kind, style: str | None = None) -> Captured:
    """Render, set in context, tilt, scale to camera size and degrade one object."""
    obj = render_object(rng, kind, style)
    # Face width on the sensor: log-uniform from small to large, so low resolution is common.
    # Real scene plates run from ~60 px wide (US street photos, ~9 px per character) to
    # ~370 px (Brazilian traffic cameras), whatever the style (session 16).
    hi = MAX_FACE_WIDTH
    # Below ~9 px per character or ~14 px of face height little is readable, and an
    # unreadable crop with a label only teaches the model to guess.
    fh, fw = obj.image.shape[:2]
    lo = max(40.0, MIN_CHAR_PX * len(obj.text), MIN_FACE_HEIGHT * fw / fh)
    target = float(np.exp(rng.uniform(np.log(lo), np.log(max(hi, lo * 1.5)))))
    obj = rescale(obj, target * 1.4)
    face = augment.surface_effects(rng, obj.image)
    obj = Rendered(face, obj.text, obj.alpha, obj.style)
    canvas, quad = in_context(rng, obj, kind)
    ir = rng.random() < 0.12
    if ir:
        # Retro-reflective plates glow under IR light while the rest stays dark.
        grey = cv2.cvtColor(canvas, cv2.COLOR_BGR2GRAY).astype(np.float32)
        mask = np.zeros(grey.shape, np.float32)
        cv2.fillConvexPoly(mask, quad.astype(np.int32), 1.0)
        gain = float(rng.uniform(0.15, 0.6)) + mask * float(rng.uniform(0.5, 1.0))
        grey = np.clip(grey * gain + mask * float(rng.uniform(0, 60)), 0, 255).astype(np.uint8)
        canvas = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    ch, cw = canvas.shape[:2]
    centre = (float(quad[:, 0].mean()), float(quad[:, 1].mean()))
    h = augment.rotation_homography(rng, cw, ch, centre)
    s = target / float(quad[1, 0] - quad[0, 0])
    # Only the neighbourhood a loose detector crop can reach is rendered: the plate's box
    # grown by ~35% of its width and 70% of its height, within the warped canvas.
    corners = np.array([[0, 0], [cw, 0], [cw, ch], [0, ch]], dtype=np.float64)
    warped = augment.apply_homography(corners, h) * s
    wq = augment.apply_homography(quad, h) * s
    qlo, qhi = wq.min(axis=0), wq.max(axis=0)
    grow = (qhi - qlo) * np.array([0.35, 0.7])
    lo = np.maximum(warped.min(axis=0), qlo - grow)
    hi = np.minimum(warped.max(axis=0), qhi + grow)
    size = np.ceil(hi - lo).astype(int) + 1
    t = np.array([[s, 0, -lo[0]], [0, s, -lo[1]], [0, 0, 1]], dtype=np.float64)
    m = t @ h
    out_w, out_h = int(min(size[0], 2000)), int(min(size[1], 2000))
    interp = cv2.INTER_AREA if s < 0.7 else cv2.INTER_LINEAR
    img = cast(
        "Image",
        cv2.warpPerspective(canvas, m, (out_w, out_h), flags=interp, borderMode=cv2.BORDER_REFLECT),
    )
    img = augment.camera_effects(
        rng,
        img,
        strength=float(
            rng.uniform(0.8, 1.5) if obj.style.startswith("br") else rng.uniform(0.3, 1.3)
        ),
        blur_scale=float(np.clip(target / 130.0, 0.35, 1.3)),
    )
    return Captured(img, augment.apply_homography(quad, m), obj.text, obj.style)


def detector_quad(rng: np.random.Generator, quad: np.ndarray) -> np.ndarray:
    """The true quad disturbed the way a detector's corners are: per-corner jitter of a few
    percent, sometimes a loose crop with margin (like traffic-camera crops), sometimes tight."""
    q = np.asarray(quad, dtype=np.float64).reshape(4, 2)
    w = float(np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[2] - q[3])) / 2
    h = float(np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2
    r = rng.random()
    if r < 0.3:
        mx, my = float(rng.uniform(0.01, 0.1)), float(rng.uniform(0.05, 0.35))
    elif r < 0.45:
        mx, my = float(rng.uniform(-0.03, 0.0)), float(rng.uniform(-0.06, 0.0))
    else:
        mx, my = float(rng.uniform(-0.01, 0.04)), float(rng.uniform(-0.02, 0.08))
    if rng.random() < 0.2:
        # An axis-aligned box detector (or a box label) frames rotated text loosely.
        lo, hi = q.min(axis=0), q.max(axis=0)
        q = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
    q = expand_quad(q, mx, my)
    sigma = float(rng.uniform(0.005, 0.035))
    out: np.ndarray = q + rng.normal(0, sigma, (4, 2)) * np.array([w, h])
    return out


def make_crop(rng: np.random.Generator, kind: Kind, height: int, width: int) -> tuple[Image, str]:
    """A grey uint8 (height, width) recognizer input for ``kind`` and its label."""
    if height < 4 or width < 4:
        raise ValueError(f"crop size {width}x{height} is too small")
    cap = capture(rng, kind)
    grey = cast("Image", cv2.cvtColor(cap.image, cv2.COLOR_BGR2GRAY))
    # IR traffic cameras often show BR plates with light characters on a dark plate.
    if rng.random() < (0.3 if cap.style == "br_old" else 0.05):
        grey = 255 - grey  # some IR cameras deliver negative-looking plates
    crop: Image = warp_quad(grey, detector_quad(rng, cap.quad), width, height)
    return crop, cap.text


def make_crop_mixed(rng: np.random.Generator, height: int, width: int) -> tuple[Image, str, Kind]:
    """A crop whose kind is drawn 80% plate / 20% house number; returns (crop, label, kind)."""
    kind: Kind = "plate" if rng.random() < PLATE_SHARE else "house_number"
    crop, text = make_crop(rng, kind, height, width)
    return crop, text, kind
