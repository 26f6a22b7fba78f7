"""Text that is not a plate or a house number: signs, stickers, logos, shop fronts, words.

These are composited into scenes unlabelled, so the detector learns that text alone does not
make a plate.
"""

from __future__ import annotations

import cv2
import numpy as np

from edgeocr_convert.synth import draw
from edgeocr_convert.synth.draw import Rendered
from edgeocr_convert.synth.fonts import font_set

WORDS = (
    "OPEN",
    "STOP",
    "EXIT",
    "SALE",
    "Pizza",
    "Coffee",
    "PHARMACY",
    "Bakery",
    "NO PARKING",
    "Hotel",
    "Welcome",
    "PUSH",
    "PULL",
    "Taxi",
    "BUS",
    "Police",
    "Bar & Grill",
    "Parking",
    "Entrance",
    "Market",
    "Open 24h",
    "FOR RENT",
    "Dentist",
    "Salon",
    "Garage",
    "ONE WAY",
    "School",
    "Bank",
    "Farmacia",
    "Padaria",
    "Sorveteria",
    "Restaurant",
    "Station",
    "Kiosk",
    "Library",
    "Gym",
    "fresh daily",
    "Drive Thru",
    "Car Wash",
    "Tyres",
    "Hardware",
    "Books",
    "Cinema",
    "Oficina",
)


def _random_word(rng: np.random.Generator) -> str:
    if rng.random() < 0.6:
        return WORDS[int(rng.integers(len(WORDS)))]
    n = int(rng.integers(3, 10))
    letters = "abcdefghijklmnopqrstuvwxyz"
    word = "".join(letters[int(i)] for i in rng.integers(0, 26, n))
    return word.upper() if rng.random() < 0.5 else word.capitalize()


def render_negative(rng: np.random.Generator) -> Rendered:
    """A sign, sticker, logo or word block; ``text`` is empty (never labelled)."""
    kind = str(
        rng.choice(
            ["sign", "sticker", "logo", "multiline", "banner"], p=[0.3, 0.2, 0.15, 0.2, 0.15]
        )
    )
    f = font_set()
    if kind == "logo":
        h = w = int(rng.integers(60, 120))
        img = np.empty((h, w, 3), np.uint8)
        img[:] = draw.random_colour(rng)
        col = draw.contrasting(rng, img[0, 0].tolist())
        if rng.random() < 0.5:
            cv2.circle(img, (w // 2, h // 2), int(h * 0.4), col, max(2, h // 12), cv2.LINE_AA)
        else:
            pts = rng.uniform(0.1, 0.9, (int(rng.integers(3, 7)), 2)) * [w, h]
            cv2.fillPoly(img, [cv2.convexHull(pts.astype(np.int32))], col, cv2.LINE_AA)
        if rng.random() < 0.6:
            draw.paint_text(
                img,
                f.pick(rng, "sans"),
                _random_word(rng)[:4],
                (int(w * 0.2), int(h * 0.4), int(w * 0.8), int(h * 0.6)),
                draw.contrasting(rng, col),
            )
        return Rendered(img, "", draw.rounded_mask(h, w, int(h * rng.uniform(0, 0.5))), "logo")
    lines = 1 if kind in ("sign", "sticker", "banner") else int(rng.integers(2, 4))
    words = [_random_word(rng) for _ in range(lines)]
    longest = max(len(wd) for wd in words)
    line_h = 40
    h = line_h * lines + int(line_h * rng.uniform(0.3, 0.9))
    aspect = 0.55 * longest * (rng.uniform(1.0, 1.5) if kind != "banner" else rng.uniform(1.5, 3.0))
    w = max(int(line_h * aspect), 40)
    bg = draw.random_colour(rng)
    img = draw.vertical_gradient(h, w, bg, draw.jitter_colour(rng, bg, 30))
    ink = draw.contrasting(rng, bg)
    role = str(rng.choice(["sans", "serif", "script", "condensed"]))
    y = (h - line_h * lines) // 2
    for wd in words:
        draw.paint_text(
            img,
            f.pick(rng, role),
            wd,
            (int(w * 0.06), y + 4, int(w * 0.94), y + line_h - 4),
            ink,
            caps_only=False,
        )
        y += line_h
    if kind == "sticker" or rng.random() < 0.3:
        cv2.rectangle(img, (2, 2), (w - 3, h - 3), ink, max(1, h // 25))
    radius = int(h * (0.45 if kind == "sticker" else rng.uniform(0.0, 0.2)))
    return Rendered(img, "", draw.rounded_mask(h, w, radius), kind)
