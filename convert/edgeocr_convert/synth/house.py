"""House-number plaques and numbers painted on walls or doors.

Labels are 1-5 characters: digits, sometimes with a letter suffix (``502B``). Street names
under the number are decoration, not part of the label.
"""

from __future__ import annotations

from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from edgeocr_convert.synth import draw
from edgeocr_convert.synth.backgrounds import procedural
from edgeocr_convert.synth.draw import Colour, Rendered
from edgeocr_convert.synth.fonts import Mask, fit_mask, font_set, text_mask
from edgeocr_convert.synth.layout import LETTERS

STREETS = (
    "Main St",
    "Oak Avenue",
    "RUE DE LA PAIX",
    "Elm Street",
    "Hauptstrasse",
    "Rua das Flores",
    "Church Rd",
    "Park Lane",
    "AV. PAULISTA",
    "Mill Road",
    "Station Rd",
    "High Street",
)


# Share of wall digits in the wall's own colour, standing out by edge and shadow only (the
# grey-on-concrete building numbers of real campus photos).
RELIEF = 0.2


def house_text(rng: np.random.Generator) -> str:
    n = int(rng.choice([1, 2, 3, 4, 5], p=[0.16, 0.3, 0.32, 0.17, 0.05]))
    first = str(int(rng.integers(1, 10)))
    text = first + "".join(str(int(d)) for d in rng.integers(0, 10, n - 1))
    if len(text) < 5 and rng.random() < 0.12:
        text += LETTERS[int(rng.integers(0, 8))]  # suffixes are usually early letters
    return text


def _material(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, Colour]:
    """A plaque or wall surface and an ink colour that contrasts with it."""
    kind = str(
        rng.choice(
            ["enamel", "metal", "ceramic", "wood", "wall", "door", "dark"],
            p=[0.2, 0.15, 0.15, 0.12, 0.18, 0.1, 0.1],
        )
    )
    if kind == "enamel":
        bg = draw.jitter_colour(
            rng,
            [(140, 60, 10), (250, 250, 250), (40, 120, 20), (30, 30, 160)][int(rng.integers(4))],
            20,
        )
        img = np.empty((h, w, 3), np.uint8)
        img[:] = bg
    elif kind == "metal":
        base = draw.jitter_colour(
            rng, [(180, 180, 180), (60, 150, 200), (90, 110, 130)][int(rng.integers(3))], 20
        )
        img = draw.vertical_gradient(h, w, draw.jitter_colour(rng, base, 40), base)
        streaks = cast(
            "npt.NDArray[np.float32]",
            cv2.resize(rng.normal(0, 10, (1, w)).astype(np.float32), (w, h)),
        )
        img = draw.add_texture(img, streaks)
        bg = base
    elif kind == "ceramic":
        bg = draw.jitter_colour(rng, (235, 240, 245), 15)
        img = np.empty((h, w, 3), np.uint8)
        img[:] = bg
        border = draw.jitter_colour(rng, (160, 80, 20), 60)
        cv2.rectangle(img, (3, 3), (w - 4, h - 4), border, max(2, h // 18))
    elif kind == "wood":
        bg = draw.jitter_colour(rng, (50, 100, 150), 30)
        img = np.empty((h, w, 3), np.uint8)
        img[:] = bg
        grain = (
            np.sin(
                np.arange(h, dtype=np.float32)[:, None] * rng.uniform(0.3, 0.9)
                + draw.noise_texture(rng, h, w, 40, 4.0)
            )
            * 14
        )
        img = draw.add_texture(img, grain.astype(np.float32))
    elif kind == "dark":
        bg = draw.random_colour(rng, 0, 70)
        img = np.empty((h, w, 3), np.uint8)
        img[:] = bg
    else:  # wall or door: textured, numbers painted straight on it
        bg = draw.random_colour(rng, 60, 250)
        img = np.empty((h, w, 3), np.uint8)
        img[:] = bg
        img = draw.add_texture(
            img, draw.noise_texture(rng, h, w, 6, 12.0) + draw.noise_texture(rng, h, w, 60, 20.0)
        )
    ink = draw.contrasting(rng, bg)
    if kind in ("enamel", "dark") and draw.luminance(bg) < 110 and rng.random() < 0.6:
        ink = draw.jitter_colour(rng, (245, 245, 245), 10)
    return img, ink


def render_wall_digits(rng: np.random.Generator) -> Rendered:
    """Digits painted on, or mounted on, a wall or door: the face is the text's own box with
    a thin margin of wall around it, as a labeller would draw it. Fonts are often regular
    weight, suffix letters often lower case (the label stays upper case)."""
    text = house_text(rng)
    shown = text
    if text[-1].isalpha() and rng.random() < 0.5:
        shown = text[:-1] + text[-1].lower()
    role = str(rng.choice(["sans", "serif", "script", "plate"], p=[0.5, 0.2, 0.15, 0.15]))
    font = font_set().pick(rng, role)
    mask = text_mask(
        font,
        shown,
        caps_only=shown.isupper() or shown.isdigit(),
        # Digits mounted one by one on a facade often stand far apart.
        spacing=float(rng.uniform(0.0, 0.25) if rng.random() < 0.6 else rng.uniform(0.25, 0.7)),
    )
    th = 70
    tw = max(8, int(mask.shape[1] * th / max(1, mask.shape[0]) * rng.uniform(0.8, 1.2)))
    mask = fit_mask(mask, tw, th)
    mv, mh = int(th * rng.uniform(0.04, 0.2)), int(th * rng.uniform(0.04, 0.3))
    h, w = th + 2 * mv, tw + 2 * mh
    wall = str(
        rng.choice(
            ["bricks", "noise", "stripes", "asphalt", "gradient"], p=[0.3, 0.3, 0.15, 0.15, 0.1]
        )
    )
    img = procedural(rng, h, w, wall)
    bg = (int(img[..., 0].mean()), int(img[..., 1].mean()), int(img[..., 2].mean()))
    ink = draw.contrasting(rng, bg)
    if rng.random() < 0.3:  # brushed-metal or brass digits, where they still stand out
        metal = draw.jitter_colour(rng, [(190, 190, 190), (60, 150, 190)][int(rng.integers(2))], 25)
        if abs(draw.luminance(metal) - draw.luminance(bg)) > 70:
            ink = metal
    relief = rng.random() < RELIEF
    if relief:
        # Digits cut from the facade's own material: barely darker or lighter than the wall,
        # seen by their edges and their shadow.
        step = float(rng.uniform(25, 55)) * (1 if draw.luminance(bg) < 128 else -1)
        b, g, r = (int(np.clip(c + step, 0, 255)) for c in bg)
        ink = (b, g, r)
    ink_mask = np.zeros((h, w), np.uint8)
    ink_mask[mv : mv + th, mh : mh + tw] = mask
    if relief or rng.random() < 0.4:
        # Digits mounted off the wall cast a soft shadow.
        dx, dy = int(rng.integers(-6, 7)), int(rng.integers(1, 8))
        soft = cast("Mask", cv2.GaussianBlur(mask, (5, 5), 0))
        draw.paint(img, soft, mh + dx, mv + dy, (20, 20, 20), float(rng.uniform(0.3, 0.7)))
        shadow = np.zeros((h, w), np.uint8)
        draw.paint(shadow, soft, mh + dx, mv + dy, (255, 255, 255))
        ink_mask = np.maximum(ink_mask, shadow)
    draw.paint(img, mask, mh, mv, ink)
    return Rendered(img, text, np.full((h, w), 255, np.uint8), "house_wall", ink=ink_mask)


def render_house_number(rng: np.random.Generator) -> Rendered:
    if rng.random() < 0.4:
        return render_wall_digits(rng)
    text = house_text(rng)
    street = rng.random() < 0.25
    h = 100 if not street else 130
    char_w = float(rng.uniform(0.5, 0.85))
    w = int(h * max(0.9, len(text) * char_w * (0.75 if street else 1.0) + rng.uniform(0.3, 0.7)))
    img, ink = _material(rng, h, w)
    f = font_set()
    role = str(
        rng.choice(
            ["plate", "sans", "serif", "script", "condensed"], p=[0.25, 0.25, 0.25, 0.15, 0.1]
        )
    )
    font = f.pick(rng, role)
    top, bottom = (
        int(h * rng.uniform(0.08, 0.18)),
        int(h * (0.62 if street else rng.uniform(0.82, 0.92))),
    )
    if text[-1].isalpha() and rng.random() < 0.4:
        # The suffix letter drawn smaller beside the digits.
        _x0, x1 = draw.paint_text(
            img,
            font,
            text[:-1],
            (int(w * 0.06), top, int(w * 0.8), bottom),
            ink,
            squeeze=float(rng.uniform(0.8, 1.2)),
        )
        mid = top + (bottom - top) // 3
        draw.paint_text(
            img, font, text[-1], (x1 + 3, mid, min(w - 3, x1 + 3 + (bottom - mid)), bottom), ink
        )
    else:
        draw.paint_text(
            img,
            font,
            text,
            (int(w * 0.07), top, int(w * 0.93), bottom),
            ink,
            squeeze=float(rng.uniform(0.8, 1.25)),
            spacing=float(rng.uniform(0.0, 0.1)),
        )
    if street:
        name = STREETS[int(rng.integers(len(STREETS)))]
        draw.paint_text(
            img,
            f.pick(rng, "sans"),
            name,
            (int(w * 0.08), int(h * 0.72), int(w * 0.92), int(h * 0.88)),
            ink,
            small=True,
            caps_only=name.isupper(),
        )
    radius = int(h * rng.uniform(0.0, 0.2))
    if rng.random() < 0.3:
        cv2.rectangle(img, (4, 4), (w - 5, h - 5), ink, max(1, h // 30))
    return Rendered(img, text, draw.rounded_mask(h, w, radius), "house")
