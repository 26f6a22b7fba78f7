"""Geometry and degradations that make rendered faces look like camera captures.

Geometry: a 3-D rotation (yaw up to +-40 deg, pitch +-20, roll +-10) of a flat object seen by a
pinhole camera, as one homography. Photometry: lighting gradients, shadows, glare, dirt,
low contrast, colour casts (green-tinted traffic cameras), night/IR looks, motion and defocus
blur, sensor noise and JPEG artefacts. Everything is driven by the caller's ``rng`` so output
is reproducible by seed.
"""

from __future__ import annotations

import functools
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from edgeocr.core.types import Image

F64 = npt.NDArray[np.float64]


def rotation_homography(
    rng: np.random.Generator,
    width: int,
    height: int,
    centre: tuple[float, float],
    *,
    max_yaw: float = 40.0,
    max_pitch: float = 20.0,
    max_roll: float = 10.0,
) -> F64:
    """Homography of the image plane rotated in 3-D about ``centre`` and re-projected.

    Angles are drawn with most mass near zero (real cameras mostly face plates), the
    focal length from a wide to a normal lens.
    """
    yaw = np.deg2rad(max_yaw * float(np.clip(rng.normal(0, 0.45), -1, 1)))
    pitch = np.deg2rad(max_pitch * float(np.clip(rng.normal(0, 0.45), -1, 1)))
    roll = np.deg2rad(max_roll * float(np.clip(rng.normal(0, 0.45), -1, 1)))
    f = max(width, height) * float(rng.uniform(0.9, 3.0))
    cy_, sy_ = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    ry = np.array([[cy_, 0, sy_], [0, 1, 0], [-sy_, 0, cy_]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    r = rz @ rx @ ry
    cx, cy = centre
    # Plane point (x - cx, y - cy, 0) rotated, pushed to depth f, projected with focal f.
    k = np.array([[f, 0, cx], [0, f, cy], [0, 0, 1]])
    rt = np.column_stack([r[:, 0], r[:, 1], np.array([0.0, 0.0, f])])
    to_centre = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], dtype=np.float64)
    h: F64 = k @ rt @ to_centre
    out: F64 = h / h[2, 2]
    return out


def apply_homography(points: F64, h: F64) -> F64:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    homo = np.column_stack([pts, np.ones(len(pts))]) @ h.T
    out: F64 = homo[:, :2] / homo[:, 2:3]
    return out


def _lighting_gain(rng: np.random.Generator, h: int, w: int) -> npt.NDArray[np.float32]:
    """A linear brightness ramp in a random direction, times an overall exposure."""
    ang = rng.uniform(0, 2 * np.pi)
    xs = np.linspace(0.0, 1.0, w, dtype=np.float32) * np.float32(np.cos(ang))
    ys = np.linspace(0.0, 1.0, h, dtype=np.float32) * np.float32(np.sin(ang))
    ramp = ys[:, None] + xs[None, :]
    ramp -= ramp.min()
    ramp /= max(float(ramp.max()), 1e-6)
    lo, hi = sorted(rng.uniform(0.45, 1.25, 2))
    gain: npt.NDArray[np.float32] = (np.float32(lo) + np.float32(hi - lo) * ramp) * np.float32(
        rng.uniform(0.8, 1.15)
    )
    return gain


def _shadow_gain(rng: np.random.Generator, h: int, w: int) -> npt.NDArray[np.float32]:
    """A hard-edged shadow polygon cast across part of the image."""
    mask = np.zeros((h, w), np.float32)
    n = int(rng.integers(3, 6))
    pts = np.stack([rng.uniform(-0.3, 1.3, n) * w, rng.uniform(-0.3, 1.3, n) * h], 1).astype(
        np.int32
    )
    cv2.fillPoly(mask, [cv2.convexHull(pts)], 1.0)
    k = int(rng.integers(0, 3)) * 2 + 1
    if k > 1:
        mask = cast("npt.NDArray[np.float32]", cv2.GaussianBlur(mask, (k * 3, k * 3), 0))
    gain: npt.NDArray[np.float32] = 1.0 - mask * np.float32(rng.uniform(0.3, 0.7))
    return gain


def _glare_add(rng: np.random.Generator, h: int, w: int) -> npt.NDArray[np.float32]:
    """A soft bright spot (sun or headlight reflection)."""
    spot = np.zeros((h, w), np.float32)
    cv2.ellipse(
        spot,
        (int(rng.uniform(0, w)), int(rng.uniform(0, h))),
        (max(1, int(w * rng.uniform(0.05, 0.35))), max(1, int(h * rng.uniform(0.1, 0.5)))),
        float(rng.uniform(0, 180)),
        0,
        360,
        1.0,
        -1,
    )
    s = max(3, (min(h, w) // 4) | 1)
    spot = cast("npt.NDArray[np.float32]", cv2.GaussianBlur(spot, (s, s), 0))
    add: npt.NDArray[np.float32] = spot * np.float32(rng.uniform(80, 220))
    return add


def _dirt_gain(rng: np.random.Generator, h: int, w: int) -> npt.NDArray[np.float32]:
    """Blotches and specks darkening the surface."""
    grid = rng.random((max(2, h // 6), max(2, w // 6))).astype(np.float32)
    blot = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    thresh = float(rng.uniform(0.72, 0.92))
    mask = np.clip((blot - thresh) * np.float32(1.0 / (1 - thresh)), 0, 1) * np.float32(
        rng.uniform(0.15, 0.5)
    )
    ys = rng.integers(0, h, int(h * w * rng.uniform(0.0, 0.002)))
    xs = rng.integers(0, w, ys.size)
    mask[ys, xs] += 0.25
    gain: npt.NDArray[np.float32] = 1.0 - np.minimum(mask, 0.9)
    return gain


def apply_gain(
    img: Image,
    gain: npt.NDArray[np.float32] | None,
    add: npt.NDArray[np.float32] | None = None,
    channel_gain: npt.NDArray[np.float32] | None = None,
) -> Image:
    """img * gain (H, W) * channel_gain (3,) + add (H, W), saturated to uint8 (cv2 arithmetic
    saturates in place of separate clip passes)."""
    colour = img.ndim == 3
    out: Image = img
    if gain is not None or channel_gain is not None:
        g = gain if gain is not None else np.ones(img.shape[:2], np.float32)
        if colour:
            g3 = cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)
            if channel_gain is not None:
                g3 = g3 * channel_gain
            out = cast("Image", cv2.multiply(out, g3, dtype=cv2.CV_8U))
        else:
            out = cast("Image", cv2.multiply(out, g, dtype=cv2.CV_8U))
    if add is not None:
        a = cv2.cvtColor(add, cv2.COLOR_GRAY2BGR) if colour else add
        out = cast("Image", cv2.add(out, a, dtype=cv2.CV_8U))
    return out


def lighting(rng: np.random.Generator, img: Image) -> Image:
    return apply_gain(img, _lighting_gain(rng, *img.shape[:2]))


def shadow(rng: np.random.Generator, img: Image) -> Image:
    return apply_gain(img, _shadow_gain(rng, *img.shape[:2]))


def glare(rng: np.random.Generator, img: Image) -> Image:
    return apply_gain(img, None, _glare_add(rng, *img.shape[:2]))


def dirt(rng: np.random.Generator, img: Image) -> Image:
    return apply_gain(img, _dirt_gain(rng, *img.shape[:2]))


def _cast_gains(rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """Per-channel (B, G, R) gains: green traffic cameras, warm sodium light, cool daylight."""
    kind = rng.random()
    if kind < 0.4:
        gains = np.array([rng.uniform(0.7, 0.95), rng.uniform(1.0, 1.25), rng.uniform(0.7, 0.95)])
    elif kind < 0.7:
        gains = np.array([rng.uniform(0.6, 0.9), rng.uniform(0.9, 1.05), rng.uniform(1.05, 1.3)])
    else:
        gains = rng.uniform(0.8, 1.2, 3)
    out: npt.NDArray[np.float32] = gains.astype(np.float32)
    return out


def colour_cast(rng: np.random.Generator, img: Image) -> Image:
    if img.ndim != 3:
        return img
    return apply_gain(img, None, None, _cast_gains(rng))


def contrast(rng: np.random.Generator, img: Image, low: bool = False) -> Image:
    """Contrast/brightness/gamma change; ``low`` squeezes the range hard (haze, fog, flat light)."""
    c = float(rng.uniform(0.25, 0.6)) if low else float(rng.uniform(0.75, 1.3))
    b = float(rng.uniform(-40, 60)) if low else float(rng.uniform(-30, 30))
    g = float(rng.uniform(0.6, 1.6))
    lut = np.arange(256, dtype=np.float32) / 255.0
    lut = np.power(lut, g) * 255.0
    lut = np.clip((lut - 128.0) * c + 128.0 + b, 0, 255).astype(np.uint8)
    out: Image = cast("Image", cv2.LUT(img, lut))
    return out


def motion_blur(rng: np.random.Generator, img: Image, max_len: int) -> Image:
    n = int(rng.integers(2, max(3, max_len + 1)))
    k = np.zeros((n, n), np.float32)
    k[n // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D(((n - 1) / 2, (n - 1) / 2), float(rng.normal(0, 15)), 1.0)
    k = cast("npt.NDArray[np.float32]", cv2.warpAffine(k, rot, (n, n)))
    k /= max(float(k.sum()), 1e-6)
    out: Image = cast("Image", cv2.filter2D(img, -1, k))
    return out


def defocus_blur(rng: np.random.Generator, img: Image, max_sigma: float) -> Image:
    sigma = float(rng.uniform(0.4, max(0.5, max_sigma)))
    out: Image = cast("Image", cv2.GaussianBlur(img, (0, 0), sigma))
    return out


_NOISE_BANK_SIDE = 1024


@functools.lru_cache(maxsize=1)
def _noise_bank() -> npt.NDArray[np.float32]:
    """Unit Gaussian noise drawn once from a fixed seed; samples take random windows of it.
    Drawing fresh normals per image costs more than everything else in a crop."""
    bank: npt.NDArray[np.float32] = np.random.default_rng(12345).standard_normal(
        (_NOISE_BANK_SIDE, _NOISE_BANK_SIDE), dtype=np.float32
    )
    return bank


def noise_field(rng: np.random.Generator, h: int, w: int, sigma: float) -> npt.NDArray[np.float32]:
    """(h, w) Gaussian noise of std ``sigma`` from a random window of the bank (tiled if large)."""
    bank = _noise_bank()
    side = _NOISE_BANK_SIDE
    if h > side or w > side:
        reps = (h // side + 1, w // side + 1)
        big = np.tile(bank, reps)
        y, x = (
            int(rng.integers(0, big.shape[0] - h + 1)),
            int(rng.integers(0, big.shape[1] - w + 1)),
        )
        out: npt.NDArray[np.float32] = big[y : y + h, x : x + w] * np.float32(sigma)
        return out
    y, x = int(rng.integers(0, side - h + 1)), int(rng.integers(0, side - w + 1))
    out2: npt.NDArray[np.float32] = bank[y : y + h, x : x + w] * np.float32(sigma)
    return out2


def noise(rng: np.random.Generator, img: Image) -> Image:
    return apply_gain(
        img, None, noise_field(rng, img.shape[0], img.shape[1], float(rng.uniform(1.5, 9)))
    )


def jpeg(rng: np.random.Generator, img: Image, lo: int = 20, hi: int = 90) -> Image:
    q = int(rng.integers(lo, hi + 1))
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
    if not ok:
        return img
    out: Image = cast("Image", cv2.imdecode(buf, cv2.IMREAD_UNCHANGED))
    return out


def surface_effects(rng: np.random.Generator, img: Image) -> Image:
    """Effects that belong to the object's surface (before perspective)."""
    h, w = img.shape[:2]
    gain = None
    if rng.random() < 0.3:
        gain = _dirt_gain(rng, h, w)
    if rng.random() < 0.25:
        sh = _shadow_gain(rng, h, w)
        gain = sh if gain is None else gain * sh
    return apply_gain(img, gain)


def camera_effects(
    rng: np.random.Generator, img: Image, *, strength: float = 1.0, blur_scale: float = 1.0
) -> Image:
    """Effects of light and camera, applied at the captured resolution.

    ``blur_scale`` bounds blur to the object's size in pixels: a 40-px plate blurred by
    2 px is unreadable, and an unreadable crop with a label only teaches the model to guess.
    Gains and offsets are fused into one float pass, since per-effect passes dominated the cost.
    """
    h, w = img.shape[:2]
    gain = _lighting_gain(rng, h, w) if rng.random() < 0.6 else None
    add = _glare_add(rng, h, w) if rng.random() < 0.12 * strength else None
    cast = _cast_gains(rng) if img.ndim == 3 and rng.random() < 0.35 else None
    img = apply_gain(img, gain, add, cast)
    img = contrast(rng, img, low=rng.random() < 0.2 * strength)
    r = rng.random()
    if r < 0.3 * strength:
        img = motion_blur(rng, img, max_len=max(2, int(4 * strength * blur_scale)))
    elif r < 0.65 * strength:
        img = defocus_blur(rng, img, max_sigma=1.5 * strength * blur_scale)
    if rng.random() < 0.5:
        img = noise(rng, img)
    if rng.random() < 0.6:
        img = jpeg(rng, img)
    return img
