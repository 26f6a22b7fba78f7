"""EU-like, Brazilian (old grey and Mercosul) and generic plates."""

from __future__ import annotations

import cv2
import numpy as np

from edgeocr_convert.synth import draw
from edgeocr_convert.synth.draw import Rendered
from edgeocr_convert.synth.fonts import font_set
from edgeocr_convert.synth.layout import DIGITS, LETTERS, main_text, pattern_text, split_groups

BR_CITIES = (
    "SAO PAULO - SP",
    "RIO DE JANEIRO - RJ",
    "CURITIBA - PR",
    "BELO HORIZONTE - MG",
    "CAMPINAS - SP",
    "PORTO ALEGRE - RS",
    "SALVADOR - BA",
    "RECIFE - PE",
    "FORTALEZA - CE",
    "GOIANIA - GO",
    "SANTOS - SP",
    "MARINGA - PR",
    "JOINVILLE - SC",
    "BRASILIA - DF",
)
EU_COUNTRIES = (
    "D",
    "F",
    "I",
    "PL",
    "NL",
    "E",
    "CZ",
    "SK",
    "A",
    "B",
    "P",
    "RO",
    "H",
    "S",
    "FIN",
    "LT",
)
EU_PATTERNS = (
    "LL999LL",
    "LLL9999",
    "LL9999LL",
    "L999LLL",
    "LL99LLL",
    "LLL999",
    "L9999LL",
    "LL999L",
)


def render_eu(rng: np.random.Generator) -> Rendered:
    two_line = rng.random() < 0.12
    h = 100 if not two_line else 160
    w = int(h * (rng.uniform(4.2, 4.8) if not two_line else rng.uniform(1.3, 1.8)))
    bg = (250, 250, 250) if rng.random() < 0.8 else (40, 200, 245)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = draw.jitter_colour(rng, bg, 8)
    band = int(w * (0.085 if not two_line else 0.12)) if rng.random() < 0.9 else 0
    if band:
        img[:, :band] = draw.jitter_colour(rng, (150, 50, 0), 20)
        r = band * 0.32
        cx, cy = band / 2, h * 0.3
        for a in np.linspace(0, 2 * np.pi, 13)[:-1]:
            cv2.circle(
                img,
                (int(cx + r * np.cos(a)), int(cy + r * np.sin(a))),
                max(1, band // 16),
                (0, 200, 255),
                -1,
            )
        code = EU_COUNTRIES[int(rng.integers(len(EU_COUNTRIES)))]
        draw.paint_text(
            img,
            font_set().pick(rng, "sans"),
            code,
            (3, int(h * 0.62), band - 3, int(h * 0.88)),
            (250, 250, 250),
            small=True,
        )
    text = pattern_text(rng, str(rng.choice(EU_PATTERNS)))
    ink = draw.jitter_colour(rng, (20, 20, 20), 15)
    role = str(rng.choice(["condensed", "din", "plate"], p=[0.5, 0.25, 0.25]))
    sq = float(rng.uniform(0.6, 0.85))
    if not two_line:
        main_text(
            rng,
            img,
            split_groups(rng, text),
            (band + int(w * 0.03), int(h * 0.14), w - int(w * 0.03), int(h * 0.86)),
            ink,
            font_role=role,
            squeeze=sq,
            separator=str(rng.choice(["gap", "dash", "space", "logo"])),
        )
    else:
        cut = int(rng.integers(2, len(text) - 1))
        main_text(
            rng,
            img,
            [text[:cut]],
            (band + 6, int(h * 0.08), w - 6, int(h * 0.46)),
            ink,
            font_role=role,
            squeeze=sq,
        )
        main_text(
            rng,
            img,
            [text[cut:]],
            (band + 6, int(h * 0.54), w - 6, int(h * 0.92)),
            ink,
            font_role=role,
            squeeze=sq,
        )
    cv2.rectangle(img, (1, 1), (w - 2, h - 2), ink, int(rng.integers(1, 4)))
    return Rendered(img, text, draw.rounded_mask(h, w, int(h * 0.06)), "eu")


def render_br_old(rng: np.random.Generator) -> Rendered:
    h = 100
    w = int(h * rng.uniform(2.9, 3.2))
    kind = rng.random()
    # Grey private plates; red commercial ones (taxis, trucks: common in traffic photos) with
    # white characters; a few white ones.
    if kind < 0.72:
        bg, ink = (
            draw.jitter_colour(rng, (190, 190, 190), 25),
            draw.jitter_colour(rng, (25, 25, 25), 15),
        )
    elif kind < 0.93:
        bg, ink = (
            draw.jitter_colour(rng, (40, 40, 190), 25),
            draw.jitter_colour(rng, (240, 240, 240), 10),
        )
    else:
        bg, ink = (
            draw.jitter_colour(rng, (240, 240, 240), 10),
            draw.jitter_colour(rng, (30, 30, 30), 10),
        )
    img = np.empty((h, w, 3), np.uint8)
    img[:] = bg
    text = pattern_text(rng, "LLL9999")
    city = BR_CITIES[int(rng.integers(len(BR_CITIES)))]
    draw.paint_text(
        img,
        font_set().pick(rng, "sans"),
        city,
        (int(w * 0.2), 5, int(w * 0.8), int(h * 0.2)),
        ink,
        small=True,
    )
    role = str(
        rng.choice(
            ["stroke_br", "stroke", "din", "condensed", "plate"], p=[0.45, 0.2, 0.15, 0.12, 0.08]
        )
    )
    if role == "stroke_br":
        # The die's characters are about 0.8 of their height wide and half the plate tall.
        box = (int(w * 0.04), int(h * rng.uniform(0.28, 0.34)), int(w * 0.96),
               int(h * rng.uniform(0.8, 0.88)))
        squeeze = float(rng.uniform(0.85, 1.05))
    else:
        box = (int(w * 0.04), int(h * 0.27), int(w * 0.96), int(h * 0.92))
        squeeze = float(rng.uniform(0.7, 1.0))
    main_text(
        rng,
        img,
        [text[:3], text[3:]],
        box,
        ink,
        font_role=role,
        separator=str(rng.choice(["dash", "dot", "gap"], p=[0.6, 0.3, 0.1])),
        squeeze=squeeze,
    )
    cv2.rectangle(img, (2, 2), (w - 3, h - 3), ink, int(rng.integers(1, 4)))
    return Rendered(img, text, draw.rounded_mask(h, w, 6), "br_old")


def render_br_mercosul(rng: np.random.Generator) -> Rendered:
    h = 100
    w = int(h * rng.uniform(2.9, 3.2))
    img = np.empty((h, w, 3), np.uint8)
    img[:] = draw.jitter_colour(rng, (248, 248, 248), 8)
    band_h = int(h * rng.uniform(0.2, 0.26))
    img[:band_h] = draw.jitter_colour(rng, (160, 60, 0), 20)
    f = font_set()
    draw.paint_text(
        img,
        f.pick(rng, "sans"),
        "BRASIL",
        (int(w * 0.3), 3, int(w * 0.7), band_h - 3),
        (250, 250, 250),
        small=True,
    )
    fw = int(band_h * 1.3)
    cv2.rectangle(img, (w - fw - 6, 4), (w - 6, band_h - 4), (60, 160, 0), -1)
    cv2.circle(img, (w - 6 - fw // 2, band_h // 2), max(2, band_h // 5), (140, 40, 0), -1)
    draw.paint_text(
        img,
        f.pick(rng, "sans"),
        "BR",
        (6, 4, int(w * 0.1), band_h - 4),
        (250, 250, 250),
        small=True,
    )
    text = pattern_text(rng, "LLL9L99" if rng.random() < 0.75 else "LLL9999")
    ink = draw.jitter_colour(rng, (20, 20, 20), 12)
    main_text(
        rng,
        img,
        [text],
        (int(w * 0.05), band_h + int(h * 0.1), int(w * 0.95), h - int(h * 0.1)),
        ink,
        font_role="stroke" if rng.random() < 0.35 else "condensed",
        separator="none",
        squeeze=float(rng.uniform(0.65, 0.9)),
    )
    cv2.rectangle(img, (1, 1), (w - 2, h - 2), (40, 40, 40), 2)
    return Rendered(img, text, draw.rounded_mask(h, w, 8), "br_mercosul")


def render_generic(rng: np.random.Generator) -> Rendered:
    two_line = rng.random() < 0.15
    h = 100 if not two_line else 150
    w = int(h * (rng.uniform(2.0, 4.5) if not two_line else rng.uniform(1.2, 2.0)))
    bg = draw.random_colour(rng)
    img = draw.vertical_gradient(h, w, bg, draw.jitter_colour(rng, bg, 40))
    ink = draw.contrasting(rng, bg)
    n = int(rng.integers(4, 9))
    text = "".join((LETTERS + DIGITS)[int(i)] for i in rng.integers(0, 36, n))
    role = str(
        rng.choice(["plate", "mono", "condensed", "sans", "serif"], p=[0.4, 0.15, 0.15, 0.2, 0.1])
    )
    if not two_line:
        main_text(
            rng,
            img,
            split_groups(rng, text),
            (int(w * 0.05), int(h * 0.15), int(w * 0.95), int(h * 0.85)),
            ink,
            font_role=role,
        )
    else:
        cut = int(rng.integers(1, n))
        top_frac = float(rng.uniform(0.3, 0.5))
        main_text(
            rng,
            img,
            [text[:cut]],
            (int(w * 0.08), int(h * 0.06), int(w * 0.92), int(h * (0.06 + top_frac * 0.9))),
            ink,
            font_role=role,
        )
        main_text(
            rng,
            img,
            [text[cut:]],
            (int(w * 0.06), int(h * (0.12 + top_frac * 0.9)), int(w * 0.94), int(h * 0.94)),
            ink,
            font_role=role,
        )
    if rng.random() < 0.6:
        cv2.rectangle(img, (2, 2), (w - 3, h - 3), ink, int(rng.integers(1, 5)))
    return Rendered(img, text, draw.rounded_mask(h, w, int(h * rng.uniform(0, 0.15))), "generic")
