"""Licence plate faces in US-like, EU-like, Brazilian (old grey and Mercosul) and generic styles.

Each renderer returns a ``Rendered`` plate whose label is what a human would write: A-Z0-9
only, without state names, slogans, stickers, separators or small stacked characters.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from edgeocr_convert.synth import draw
from edgeocr_convert.synth.draw import Colour, Rendered
from edgeocr_convert.synth.fonts import fit_mask, font_set, text_mask

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"

US_STATES = (
    "WASHINGTON", "Connecticut", "Nebraska", "COLORADO", "NEW MEXICO", "New Jersey", "West Virginia",
    "IDAHO", "Maryland", "MISSISSIPPI", "Wyoming", "CALIFORNIA", "Texas", "FLORIDA", "Ohio",
    "ILLINOIS", "New York", "Arizona", "OREGON", "Utah", "Nevada", "MICHIGAN", "Georgia", "Virginia",
    "Pennsylvania", "MONTANA", "Alaska", "Hawaii", "KANSAS", "Iowa", "Maine", "Vermont", "Kentucky",
    "Tennessee", "LOUISIANA", "Oklahoma", "Minnesota", "WISCONSIN", "Indiana", "Missouri",
)
US_SLOGANS = (
    "EVERGREEN STATE", "Constitution State", "LAND OF ENCHANTMENT", "Garden State",
    "Wild, Wonderful", "FAMOUS POTATOES", "www.state.gov", "TAXATION WITHOUT REPRESENTATION",
    "Centennial", "Sunshine State", "Live Free or Die", "Great Lakes", "Empire State",
    "Grand Canyon State", "Land of Lincoln", "Keystone State", "Big Sky Country", "Lone Star State",
    "Beautiful", "DRIVE SAFELY", "Pure Michigan", "The Natural State", "America's Dairyland",
)
VANITY = (
    "FRESPCH", "GOBLUE", "LUVMYCAR", "BIGDOG", "SURFUP", "MOMSCAR", "TESLA", "NOPE", "GOFAST",
    "DADSTAXI", "ROADTRIP", "HIKER", "COFFEE", "ZOOMZOOM", "BEEKEEP", "OLDNSLO", "JEEPGRL", "CATMOM",
)
BR_CITIES = (
    "SAO PAULO - SP", "RIO DE JANEIRO - RJ", "CURITIBA - PR", "BELO HORIZONTE - MG", "CAMPINAS - SP",
    "PORTO ALEGRE - RS", "SALVADOR - BA", "RECIFE - PE", "FORTALEZA - CE", "GOIANIA - GO",
    "SANTOS - SP", "MARINGA - PR", "JOINVILLE - SC", "BRASILIA - DF",
)
EU_COUNTRIES = ("D", "F", "I", "PL", "NL", "E", "CZ", "SK", "A", "B", "P", "RO", "H", "S", "FIN", "LT")
EU_PATTERNS = ("LL999LL", "LLL9999", "LL9999LL", "L999LLL", "LL99LLL", "LLL999", "L9999LL", "LL999L")
US_PATTERNS = (
    ("999LLL", 3), ("9L9999", 2), ("LLL999", 3), ("LLL9999", 3), ("9LLL999", 3), ("99L999", 1),
    ("LL9999", 1), ("999L999", 1), ("L99999", 1), ("LLL99L", 1), ("99999", 1), ("LL99LL", 1),
    ("999999", 1), ("LLLL99", 1), ("9L99L9", 1),
)


def pattern_text(rng: np.random.Generator, pattern: str) -> str:
    """Fill a pattern: L = letter, 9 = digit, X = either."""
    out = []
    for p in pattern:
        if p == "L":
            out.append(LETTERS[int(rng.integers(26))])
        elif p == "9":
            out.append(DIGITS[int(rng.integers(10))])
        elif p == "X":
            out.append((LETTERS + DIGITS)[int(rng.integers(36))])
        else:
            out.append(p)
    return "".join(out)


def _split_groups(rng: np.random.Generator, text: str) -> list[str]:
    """Where a plate would show a gap: at letter/digit boundaries, else in the middle."""
    cuts = [i for i in range(1, len(text)) if text[i].isdigit() != text[i - 1].isdigit()]
    if not cuts or rng.random() < 0.2:
        cuts = [len(text) // 2] if len(text) >= 4 else []
    if len(cuts) > 1:
        cuts = [cuts[int(rng.integers(len(cuts)))]] if rng.random() < 0.6 else cuts[:2]
    groups, last = [], 0
    for c in cuts:
        groups.append(text[last:c])
        last = c
    groups.append(text[last:])
    return [g for g in groups if g]


def _main_text(
    rng: np.random.Generator,
    img: np.ndarray,
    groups: list[str],
    box: tuple[int, int, int, int],
    colour: Colour,
    *,
    font_role: str = "plate",
    separator: str | None = None,
    squeeze: float | None = None,
) -> None:
    """The big characters: groups rendered side by side with gaps or separators."""
    fonts = font_set()
    font = fonts.pick(rng, font_role)  # type: ignore[arg-type]
    x0, y0, x1, y1 = box
    h = y1 - y0
    sq = squeeze if squeeze is not None else float(rng.uniform(0.75, 1.15))
    spacing = float(rng.uniform(-0.02, 0.12))
    masks = []
    for g in groups:
        m = text_mask(font, g, spacing=spacing)
        masks.append(fit_mask(m, max(1, int(m.shape[1] * h / max(1, m.shape[0]) * sq)), h))
    sep = separator if separator is not None else str(
        rng.choice(["gap", "dash", "dot", "space", "logo", "none"], p=[0.3, 0.25, 0.12, 0.15, 0.1, 0.08])
    )
    gap = int(h * (0.25 if sep in ("gap", "space", "none") else 0.45)) if sep != "none" else int(h * 0.08)
    total = sum(m.shape[1] for m in masks) + gap * (len(masks) - 1)
    avail = x1 - x0
    if total > avail:
        f = avail / total
        masks = [fit_mask(m, max(1, int(m.shape[1] * f)), h) for m in masks]
        gap = int(gap * f)
        total = sum(m.shape[1] for m in masks) + gap * (len(masks) - 1)
    x = x0 + (avail - total) // 2
    # Embossed plates show a faint offset shadow under the characters.
    emboss = rng.random() < 0.35
    for i, m in enumerate(masks):
        if emboss:
            draw.paint(img, m, x + 2, y0 + 2, (60, 60, 60), 0.35)
        draw.paint(img, m, x, y0, colour)
        x += m.shape[1]
        if i < len(masks) - 1:
            cx, cy = x + gap // 2, y0 + h // 2
            if sep == "dash":
                hw, hh = max(2, gap // 3), max(1, h // 14)
                cv2.rectangle(img, (cx - hw, cy - hh), (cx + hw, cy + hh), colour, -1)
            elif sep == "dot":
                cv2.circle(img, (cx, cy), max(2, h // 12), colour, -1, cv2.LINE_AA)
            elif sep == "logo":
                _small_logo(rng, img, cx, cy, max(4, int(gap * 0.45)), colour)
            x += gap


def _small_logo(rng: np.random.Generator, img: np.ndarray, cx: int, cy: int, r: int, colour: Colour) -> None:
    kind = int(rng.integers(4))
    col = draw.random_colour(rng) if rng.random() < 0.5 else colour
    if kind == 0:
        cv2.circle(img, (cx, cy), r, col, -1, cv2.LINE_AA)
    elif kind == 1:
        pts = np.array([[cx, cy - r], [cx + r, cy + r], [cx - r, cy + r]], np.int32)
        cv2.fillPoly(img, [pts], col, cv2.LINE_AA)
    elif kind == 2:
        ang = np.linspace(0, 2 * np.pi, 11)[:-1]
        rad = np.where(np.arange(10) % 2 == 0, r, r * 0.45)
        pts = np.stack([cx + rad * np.sin(ang), cy - rad * np.cos(ang)], 1).astype(np.int32)
        cv2.fillPoly(img, [pts], col, cv2.LINE_AA)
    else:
        cv2.circle(img, (cx, cy), r, col, max(1, r // 3), cv2.LINE_AA)
        cv2.line(img, (cx - r, cy), (cx + r, cy), col, max(1, r // 4))


def _us_background(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, Colour]:
    schemes: list[tuple[Colour, Colour, Colour]] = [
        ((250, 250, 250), (235, 235, 240), (120, 40, 20)),  # white, dark blue text
        ((245, 245, 245), (245, 225, 200), (20, 20, 20)),
        ((215, 245, 252), (180, 230, 250), (20, 30, 30)),  # yellow-ish
        ((240, 230, 210), (230, 200, 160), (110, 30, 10)),  # light blue gradient
        ((235, 250, 235), (170, 215, 170), (30, 70, 20)),  # green-ish
        ((100, 40, 20), (140, 70, 30), (235, 235, 235)),  # dark blue, white text
        ((30, 30, 30), (50, 50, 50), (240, 240, 240)),  # black, white text
        ((70, 190, 240), (40, 160, 230), (20, 20, 20)),  # yellow/orange
        ((250, 250, 250), (250, 250, 250), (40, 40, 170)),  # white, red text
    ]
    idx = int(rng.choice(len(schemes), p=[0.28, 0.16, 0.08, 0.12, 0.07, 0.07, 0.05, 0.07, 0.1]))
    top, bottom, ink = schemes[idx]
    top, bottom = draw.jitter_colour(rng, top, 12), draw.jitter_colour(rng, bottom, 12)
    img = draw.vertical_gradient(h, w, top, bottom)
    dark_bg = draw.luminance(top) < 128
    g = rng.random()
    if g < 0.3:  # mountains along the lower half
        n = int(rng.integers(3, 7))
        xs = np.linspace(-w * 0.1, w * 1.1, n * 2 + 1)
        ys = np.where(np.arange(xs.size) % 2 == 1, rng.uniform(0.35, 0.65, xs.size), rng.uniform(0.7, 0.9, xs.size)) * h
        pts = np.concatenate([np.stack([xs, ys], 1), [[w * 1.1, h], [-w * 0.1, h]]]).astype(np.int32)
        col = draw.jitter_colour(rng, (150, 160, 140) if not dark_bg else (90, 60, 40), 40)
        overlay = img.copy()
        cv2.fillPoly(overlay, [pts], col, cv2.LINE_AA)
        a = float(rng.uniform(0.25, 0.6))
        img = cv2.addWeighted(overlay, a, img, 1.0 - a, 0)
    elif g < 0.5:  # sun / circle graphic or waves
        overlay = img.copy()
        col = draw.random_colour(rng, 80, 255)
        if rng.random() < 0.5:
            cv2.circle(overlay, (int(rng.uniform(0.2, 0.8) * w), int(rng.uniform(0.3, 0.7) * h)),
                       int(rng.uniform(0.15, 0.4) * h), col, -1, cv2.LINE_AA)
        else:
            xs = np.arange(w)
            for k in range(int(rng.integers(1, 4))):
                ys = (h * rng.uniform(0.55, 0.9) + np.sin(xs / w * np.pi * rng.uniform(1, 4) + k) * h * 0.06)
                pts = np.concatenate([np.stack([xs, ys], 1), [[w, h], [0, h]]]).astype(np.int32)
                cv2.fillPoly(overlay, [pts], draw.jitter_colour(rng, col, 40), cv2.LINE_AA)
        img = cv2.addWeighted(overlay, 0.35, img, 0.65, 0)
    elif g < 0.6:  # a faint shape behind the characters (state silhouette, emblem)
        overlay = img.copy()
        n = int(rng.integers(5, 10))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = rng.uniform(0.2, 0.4, n) * h
        pts = np.stack([w / 2 + rad * 1.6 * np.cos(ang), h / 2 + rad * np.sin(ang)], 1).astype(np.int32)
        cv2.fillPoly(overlay, [pts], draw.random_colour(rng, 100, 255), cv2.LINE_AA)
        img = cv2.addWeighted(overlay, 0.3, img, 0.7, 0)
    if rng.random() < 0.25:
        ink = draw.contrasting(rng, top)
    return img, draw.jitter_colour(rng, ink, 15)


def render_us(rng: np.random.Generator) -> Rendered:
    h = 100
    w = int(h * rng.uniform(1.85, 2.1))
    img, ink = _us_background(rng, h, w)
    fonts = font_set()
    if rng.random() < 0.12:
        text = VANITY[int(rng.integers(len(VANITY)))]
        text = text[: int(rng.integers(4, len(text) + 1))] if len(text) > 7 else text
    else:
        pats, wts = zip(*US_PATTERNS, strict=True)
        text = pattern_text(rng, str(rng.choice(pats, p=np.asarray(wts) / sum(wts))))
    top_h = int(h * rng.uniform(0.14, 0.24))
    bot_h = int(h * rng.uniform(0.08, 0.16))
    state_col = ink if rng.random() < 0.6 else draw.random_colour(rng, 0, 200)
    state = US_STATES[int(rng.integers(len(US_STATES)))]
    role = str(rng.choice(["script", "serif", "sans", "plate"], p=[0.3, 0.25, 0.3, 0.15]))
    tx = int(w * rng.uniform(0.18, 0.3))
    draw.paint_text(img, fonts.pick(rng, role), state, (tx, 4, w - tx, 4 + top_h), state_col,  # type: ignore[arg-type]
                    small=True, caps_only=state.isupper(), squeeze=float(rng.uniform(0.8, 1.3)))
    if rng.random() < 0.8:
        slogan = US_SLOGANS[int(rng.integers(len(US_SLOGANS)))]
        draw.paint_text(img, fonts.pick(rng, str(rng.choice(["serif", "sans", "script"]))),  # type: ignore[arg-type]
                        slogan, (int(w * 0.12), h - 4 - bot_h, int(w * 0.88), h - 4), state_col,
                        small=True, caps_only=slogan.isupper())
    # Registration stickers in the top corners.
    for corner in range(2):
        if rng.random() < 0.45:
            sw, sh = int(w * rng.uniform(0.1, 0.16)), int(h * rng.uniform(0.12, 0.2))
            sx = 5 if corner == 0 else w - 5 - sw
            col = draw.random_colour(rng, 40, 255)
            cv2.rectangle(img, (sx, 4), (sx + sw, 4 + sh), col, -1)
            draw.paint_text(img, fonts.pick(rng, "sans"), str(int(rng.integers(1, 99))),
                            (sx + 2, 6, sx + sw - 2, 4 + sh - 2), draw.contrasting(rng, col), small=True)
    main_top = 4 + top_h + int(h * rng.uniform(0.02, 0.07))
    main_bot = h - 4 - bot_h - int(h * rng.uniform(0.02, 0.06))
    left, right = int(w * 0.05), int(w * 0.95)
    # Small stacked characters or a small letter beside the main text (not part of the label).
    extra = rng.random()
    if extra < 0.15:
        stack = pattern_text(rng, str(rng.choice(["LL", "L9", "99"])))
        sw = int(w * 0.08)
        mid = (main_top + main_bot) // 2
        sx = right - sw if rng.random() < 0.5 else left
        f = fonts.pick(rng, "plate")
        draw.paint_text(img, f, stack[0], (sx, main_top, sx + sw, mid - 2), ink)
        draw.paint_text(img, f, stack[1], (sx, mid + 2, sx + sw, main_bot), ink)
        if sx == left:
            left += sw + 4
        else:
            right -= sw + 4
    elif extra < 0.25:
        sw = int(w * 0.07)
        draw.paint_text(img, fonts.pick(rng, "plate"), LETTERS[int(rng.integers(26))],
                        (left, main_top + (main_bot - main_top) // 2, left + sw, main_bot), ink)
        left += sw + 4
    if rng.random() < 0.9:
        _main_text(rng, img, _split_groups(rng, text), (left, main_top, right, main_bot), ink)
    else:
        _main_text(rng, img, [text], (left, main_top, right, main_bot), ink, separator="none")
    if rng.random() < 0.5:
        cv2.rectangle(img, (1, 1), (w - 2, h - 2), draw.jitter_colour(rng, ink, 30), int(rng.integers(1, 4)))
    return Rendered(img, text, draw.rounded_mask(h, w, int(h * rng.uniform(0.02, 0.1))), "us")


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
            cv2.circle(img, (int(cx + r * np.cos(a)), int(cy + r * np.sin(a))), max(1, band // 16),
                       (0, 200, 255), -1)
        code = EU_COUNTRIES[int(rng.integers(len(EU_COUNTRIES)))]
        draw.paint_text(img, font_set().pick(rng, "sans"), code, (3, int(h * 0.62), band - 3, int(h * 0.88)),
                        (250, 250, 250), small=True)
    text = pattern_text(rng, str(rng.choice(EU_PATTERNS)))
    ink = draw.jitter_colour(rng, (20, 20, 20), 15)
    role = "condensed" if rng.random() < 0.7 else "plate"
    sq = float(rng.uniform(0.6, 0.85))
    if not two_line:
        _main_text(rng, img, _split_groups(rng, text), (band + int(w * 0.03), int(h * 0.14), w - int(w * 0.03),
                   int(h * 0.86)), ink, font_role=role, squeeze=sq,
                   separator=str(rng.choice(["gap", "dash", "space", "logo"])))
    else:
        cut = int(rng.integers(2, len(text) - 1))
        _main_text(rng, img, [text[:cut]], (band + 6, int(h * 0.08), w - 6, int(h * 0.46)), ink, font_role=role, squeeze=sq)
        _main_text(rng, img, [text[cut:]], (band + 6, int(h * 0.54), w - 6, int(h * 0.92)), ink, font_role=role, squeeze=sq)
    cv2.rectangle(img, (1, 1), (w - 2, h - 2), ink, int(rng.integers(1, 4)))
    return Rendered(img, text, draw.rounded_mask(h, w, int(h * 0.06)), "eu")


def render_br_old(rng: np.random.Generator) -> Rendered:
    h = 100
    w = int(h * rng.uniform(2.9, 3.2))
    kind = rng.random()
    if kind < 0.8:
        bg, ink = draw.jitter_colour(rng, (190, 190, 190), 25), draw.jitter_colour(rng, (25, 25, 25), 15)
    elif kind < 0.93:
        bg, ink = draw.jitter_colour(rng, (40, 40, 190), 25), draw.jitter_colour(rng, (240, 240, 240), 10)
    else:
        bg, ink = draw.jitter_colour(rng, (240, 240, 240), 10), draw.jitter_colour(rng, (30, 30, 30), 10)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = bg
    text = pattern_text(rng, "LLL9999")
    city = BR_CITIES[int(rng.integers(len(BR_CITIES)))]
    draw.paint_text(img, font_set().pick(rng, "sans"), city, (int(w * 0.2), 5, int(w * 0.8), int(h * 0.2)), ink,
                    small=True)
    _main_text(rng, img, [text[:3], text[3:]], (int(w * 0.04), int(h * 0.27), int(w * 0.96), int(h * 0.92)), ink,
               font_role="condensed" if rng.random() < 0.6 else "plate",
               separator="dash" if rng.random() < 0.9 else "gap", squeeze=float(rng.uniform(0.7, 1.0)))
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
    draw.paint_text(img, f.pick(rng, "sans"), "BRASIL", (int(w * 0.3), 3, int(w * 0.7), band_h - 3), (250, 250, 250),
                    small=True)
    fw = int(band_h * 1.3)
    cv2.rectangle(img, (w - fw - 6, 4), (w - 6, band_h - 4), (60, 160, 0), -1)
    cv2.circle(img, (w - 6 - fw // 2, band_h // 2), max(2, band_h // 5), (140, 40, 0), -1)
    draw.paint_text(img, f.pick(rng, "sans"), "BR", (6, 4, int(w * 0.1), band_h - 4), (250, 250, 250), small=True)
    text = pattern_text(rng, "LLL9L99" if rng.random() < 0.75 else "LLL9999")
    ink = draw.jitter_colour(rng, (20, 20, 20), 12)
    _main_text(rng, img, [text], (int(w * 0.05), band_h + int(h * 0.1), int(w * 0.95), h - int(h * 0.1)), ink,
               font_role="condensed", separator="none", squeeze=float(rng.uniform(0.65, 0.9)))
    cv2.rectangle(img, (1, 1), (w - 2, h - 2), (40, 40, 40), 2)
    return Rendered(img, text, draw.rounded_mask(h, w, 8), "br_mercosul")


def render_generic(rng: np.random.Generator) -> Rendered:
    two_line = rng.random() < 0.3
    h = 100 if not two_line else 150
    w = int(h * (rng.uniform(2.0, 4.5) if not two_line else rng.uniform(1.2, 2.0)))
    bg = draw.random_colour(rng)
    img = draw.vertical_gradient(h, w, bg, draw.jitter_colour(rng, bg, 40))
    ink = draw.contrasting(rng, bg)
    n = int(rng.integers(4, 9))
    text = "".join((LETTERS + DIGITS)[int(i)] for i in rng.integers(0, 36, n))
    role = str(rng.choice(["plate", "mono", "condensed", "sans", "serif"], p=[0.4, 0.15, 0.15, 0.2, 0.1]))
    if not two_line:
        _main_text(rng, img, _split_groups(rng, text), (int(w * 0.05), int(h * 0.15), int(w * 0.95), int(h * 0.85)),
                   ink, font_role=role)
    else:
        cut = int(rng.integers(1, n))
        top_frac = float(rng.uniform(0.3, 0.5))
        _main_text(rng, img, [text[:cut]], (int(w * 0.08), int(h * 0.06), int(w * 0.92), int(h * (0.06 + top_frac * 0.9))),
                   ink, font_role=role)
        _main_text(rng, img, [text[cut:]], (int(w * 0.06), int(h * (0.12 + top_frac * 0.9)), int(w * 0.94), int(h * 0.94)),
                   ink, font_role=role)
    if rng.random() < 0.6:
        cv2.rectangle(img, (2, 2), (w - 3, h - 3), ink, int(rng.integers(1, 5)))
    return Rendered(img, text, draw.rounded_mask(h, w, int(h * rng.uniform(0, 0.15))), "generic")


STYLES: dict[str, Callable[[np.random.Generator], Rendered]] = {
    "us": render_us,
    "eu": render_eu,
    "br_old": render_br_old,
    "br_mercosul": render_br_mercosul,
    "generic": render_generic,
}
STYLE_WEIGHTS = {"us": 0.4, "eu": 0.17, "br_old": 0.18, "br_mercosul": 0.1, "generic": 0.15}


def render_plate(rng: np.random.Generator, style: str | None = None) -> Rendered:
    """A random plate face; ``style`` picks one of STYLES, None draws by STYLE_WEIGHTS."""
    if style is None:
        names = list(STYLE_WEIGHTS)
        style = names[int(rng.choice(len(names), p=np.asarray(list(STYLE_WEIGHTS.values()))))]
    if style not in STYLES:
        raise ValueError(f"unknown plate style {style!r}; known: {', '.join(STYLES)}")
    return STYLES[style](rng)
