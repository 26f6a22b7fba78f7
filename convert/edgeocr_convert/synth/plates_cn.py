"""Chinese-style plates: a province character the recognizer must skip, then the plate code.

Mainland plates start with a Chinese province character, which is outside the recognizer's
A-Z0-9 charset; evaluation (like users) keeps only what follows it. Without such plates in
training the model reads the province character as the nearest Latin shape (``6`` mostly).
No CJK font is assumed on the machine, so the character is a procedural block of strokes with
the density and weight of a hanzi: enough to teach "ignore the dense glyph on the left", which
is what the model has to learn, not the characters themselves.
"""

from __future__ import annotations

import cv2
import numpy as np

from edgeocr_convert.synth import draw
from edgeocr_convert.synth.draw import Rendered
from edgeocr_convert.synth.fonts import Mask, fit_mask
from edgeocr_convert.synth.layout import DIGITS, main_text, pattern_text

# Mainland plates use no I or O, so the code never confuses them with 1 and 0.
CN_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


def pseudo_hanzi(rng: np.random.Generator, size: int = 48) -> Mask:
    """A square alpha mask of 7-12 strokes (bars, hooks, dots, a box) like one hanzi."""
    mask = np.zeros((size, size), np.uint8)
    t = max(2, round(size * rng.uniform(0.06, 0.1)))
    lo, hi = t, size - t - 1
    for _ in range(int(rng.integers(7, 13))):
        kind = rng.random()
        a, b = sorted(rng.integers(lo, hi + 1, 2).tolist())
        c = int(rng.integers(lo, hi + 1))
        if kind < 0.35:  # horizontal bar
            cv2.line(mask, (a, c), (max(b, a + size // 4), c), 255, t, cv2.LINE_AA)
        elif kind < 0.6:  # vertical bar
            cv2.line(mask, (c, a), (c, max(b, a + size // 4)), 255, t, cv2.LINE_AA)
        elif kind < 0.8:  # falling or rising stroke
            d = int(rng.integers(size // 6, size // 2))
            sign = 1 if rng.random() < 0.5 else -1
            cv2.line(
                mask,
                (c, a),
                (int(np.clip(c + sign * d, lo, hi)), min(hi, a + d)),
                255,
                t,
                cv2.LINE_AA,
            )
        elif kind < 0.9:  # dot
            cv2.line(mask, (c, a), (min(hi, c + t), min(hi, a + t)), 255, t, cv2.LINE_AA)
        else:  # enclosed box
            cv2.rectangle(
                mask,
                (a, c // 2 + lo),
                (max(b, a + size // 4), min(hi, c + size // 4)),
                255,
                t,
                cv2.LINE_AA,
            )
    return mask


def render_cn(rng: np.random.Generator) -> Rendered:
    """A blue (or, 15%, green new-energy) plate: hanzi, a letter, a dot, then 5-6 characters."""
    h = 100
    green = rng.random() < 0.15
    w = int(h * (rng.uniform(3.3, 3.6) if green else rng.uniform(3.0, 3.3)))
    if green:
        img = draw.vertical_gradient(
            h,
            w,
            draw.jitter_colour(rng, (235, 245, 235), 10),
            draw.jitter_colour(rng, (90, 200, 70), 25),
        )
        ink = draw.jitter_colour(rng, (20, 20, 20), 12)
        tail = "".join(str(rng.choice(list(DIGITS + CN_LETTERS[:10]))) for _ in range(6))
    else:
        img = np.empty((h, w, 3), np.uint8)
        img[:] = draw.jitter_colour(rng, (170, 70, 10), 30)
        ink = draw.jitter_colour(rng, (245, 245, 245), 10)
        digits_only = rng.random() < 0.5
        tail = (
            pattern_text(rng, "99999")
            if digits_only
            else "".join(str(rng.choice(list(DIGITS + CN_LETTERS))) for _ in range(5))
        )
    letter = CN_LETTERS[int(rng.integers(len(CN_LETTERS)))]
    text = letter + tail
    cv2.rectangle(img, (4, 4), (w - 5, h - 5), ink, int(rng.integers(1, 4)))
    y0, y1 = int(h * 0.14), int(h * 0.86)
    cell = int((y1 - y0) * rng.uniform(0.6, 0.8))
    x = int(w * 0.04)
    draw.paint(img, fit_mask(pseudo_hanzi(rng), cell, y1 - y0), x, y0, ink)
    main_text(
        rng,
        img,
        [letter, tail],
        (x + cell + int(w * 0.02), y0, w - int(w * 0.04), y1),
        ink,
        font_role=str(rng.choice(["condensed", "plate", "stroke"], p=[0.45, 0.3, 0.25])),
        separator="dot",
        squeeze=float(rng.uniform(0.55, 0.75)),
    )
    return Rendered(img, text, draw.rounded_mask(h, w, int(h * 0.06)), "cn")
