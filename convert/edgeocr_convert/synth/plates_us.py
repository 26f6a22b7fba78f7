"""US-like plates: state name above, slogan below, stickers, graphics, stacked small characters."""

from __future__ import annotations

from typing import cast

import cv2
import numpy as np

from edgeocr.core.types import Image
from edgeocr_convert.synth import draw, photos
from edgeocr_convert.synth.draw import Colour, Rendered
from edgeocr_convert.synth.fonts import font_set
from edgeocr_convert.synth.layout import (
    LETTERS,
    main_text,
    pattern_text,
    small_logo,
    split_groups,
)

US_STATES = (
    "WASHINGTON",
    "Connecticut",
    "Nebraska",
    "COLORADO",
    "NEW MEXICO",
    "New Jersey",
    "West Virginia",
    "IDAHO",
    "Maryland",
    "MISSISSIPPI",
    "Wyoming",
    "CALIFORNIA",
    "Texas",
    "FLORIDA",
    "Ohio",
    "ILLINOIS",
    "New York",
    "Arizona",
    "OREGON",
    "Utah",
    "Nevada",
    "MICHIGAN",
    "Georgia",
    "Virginia",
    "Pennsylvania",
    "MONTANA",
    "Alaska",
    "Hawaii",
    "KANSAS",
    "Iowa",
    "Maine",
    "Vermont",
    "Kentucky",
    "Tennessee",
    "LOUISIANA",
    "Oklahoma",
    "Minnesota",
    "WISCONSIN",
    "Indiana",
    "Missouri",
)
US_SLOGANS = (
    "EVERGREEN STATE",
    "Constitution State",
    "LAND OF ENCHANTMENT",
    "Garden State",
    "Wild, Wonderful",
    "FAMOUS POTATOES",
    "www.state.gov",
    "TAXATION WITHOUT REPRESENTATION",
    "Centennial",
    "Sunshine State",
    "Live Free or Die",
    "Great Lakes",
    "Empire State",
    "Grand Canyon State",
    "Land of Lincoln",
    "Keystone State",
    "Big Sky Country",
    "Lone Star State",
    "Beautiful",
    "DRIVE SAFELY",
    "Pure Michigan",
    "The Natural State",
    "America's Dairyland",
)
VANITY = (
    "FRESPCH",
    "GOBLUE",
    "LUVMYCAR",
    "BIGDOG",
    "SURFUP",
    "MOMSCAR",
    "TESLA",
    "NOPE",
    "GOFAST",
    "DADSTAXI",
    "ROADTRIP",
    "HIKER",
    "COFFEE",
    "ZOOMZOOM",
    "BEEKEEP",
    "OLDNSLO",
    "JEEPGRL",
    "CATMOM",
)
US_PATTERNS = (
    ("999LLL", 3),
    ("9L9999", 2),
    ("LLL999", 3),
    ("LLL9999", 3),
    ("9LLL999", 3),
    ("99L999", 1),
    ("LL9999", 1),
    ("999L999", 1),
    ("L99999", 1),
    ("LLL99L", 1),
    ("99999", 1),
    ("LL99LL", 1),
    ("999999", 1),
    ("LLLL99", 1),
    ("9L99L9", 1),
    ("9LL999L", 2),
    ("9L9999", 1),
    ("999LL9", 1),
    ("LL999L", 1),
    ("??????", 3),  # letters and digits anywhere, so no fixed layout can be learned
    ("???????", 3),
    ("?????", 1),
)


# With real photos in use (``photos.use``): the share of edge marks that are pictures, and of
# plates with a faint picture across the face.
PICTURE_SHARE = 0.45
SCENIC_SHARE = 0.15


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
    idx = int(rng.choice(len(schemes), p=[0.32, 0.18, 0.08, 0.12, 0.07, 0.03, 0.03, 0.07, 0.1]))
    top, bottom, ink = schemes[idx]
    top, bottom = draw.jitter_colour(rng, top, 12), draw.jitter_colour(rng, bottom, 12)
    img = draw.vertical_gradient(h, w, top, bottom)
    dark_bg = draw.luminance(top) < 128
    g = rng.random()
    if g < 0.3:  # mountains along the lower half
        n = int(rng.integers(3, 7))
        xs = np.linspace(-w * 0.1, w * 1.1, n * 2 + 1)
        ys = (
            np.where(
                np.arange(xs.size) % 2 == 1,
                rng.uniform(0.35, 0.65, xs.size),
                rng.uniform(0.7, 0.9, xs.size),
            )
            * h
        )
        pts = np.concatenate([np.stack([xs, ys], 1), [[w * 1.1, h], [-w * 0.1, h]]]).astype(
            np.int32
        )
        col = draw.jitter_colour(rng, (150, 160, 140) if not dark_bg else (90, 60, 40), 40)
        overlay = img.copy()
        cv2.fillPoly(overlay, [pts], col, cv2.LINE_AA)
        a = float(rng.uniform(0.25, 0.6))
        img = cast("Image", cv2.addWeighted(overlay, a, img, 1.0 - a, 0))
    elif g < 0.5:  # sun / circle graphic or waves
        overlay = img.copy()
        col = draw.random_colour(rng, 80, 255)
        if rng.random() < 0.5:
            cv2.circle(
                overlay,
                (int(rng.uniform(0.2, 0.8) * w), int(rng.uniform(0.3, 0.7) * h)),
                int(rng.uniform(0.15, 0.4) * h),
                col,
                -1,
                cv2.LINE_AA,
            )
        else:
            xs = np.arange(w, dtype=np.float64)
            for k in range(int(rng.integers(1, 4))):
                ys = (
                    h * rng.uniform(0.55, 0.9)
                    + np.sin(xs / w * np.pi * rng.uniform(1, 4) + k) * h * 0.06
                )
                pts = np.concatenate([np.stack([xs, ys], 1), [[w, h], [0, h]]]).astype(np.int32)
                cv2.fillPoly(overlay, [pts], draw.jitter_colour(rng, col, 40), cv2.LINE_AA)
        img = cast("Image", cv2.addWeighted(overlay, 0.35, img, 0.65, 0))
    elif g < 0.6:  # a faint shape behind the characters (state silhouette, emblem)
        overlay = img.copy()
        n = int(rng.integers(5, 10))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = rng.uniform(0.2, 0.4, n) * h
        pts = np.stack([w / 2 + rad * 1.6 * np.cos(ang), h / 2 + rad * np.sin(ang)], 1).astype(
            np.int32
        )
        cv2.fillPoly(overlay, [pts], draw.random_colour(rng, 100, 255), cv2.LINE_AA)
        img = cast("Image", cv2.addWeighted(overlay, 0.3, img, 0.7, 0))
    if photos.active() and rng.random() < SCENIC_SHARE:
        # A scenic plate: a faint picture across the face (a real photo's texture).
        x0 = int(w * rng.uniform(0.0, 0.4))
        photos.paste_picture(rng, img, (x0, 0, x0 + int(w * rng.uniform(0.3, 0.9)), h),
                             opacity=(0.12, 0.35))
    if rng.random() < 0.25:
        ink = draw.contrasting(rng, top)
    return img, draw.jitter_colour(rng, ink, 15)


def _edge_clutter(
    rng: np.random.Generator,
    img: np.ndarray,
    left: int,
    right: int,
    top: int,
    bot: int,
    ink: Colour,
) -> tuple[int, int]:
    """State graphics, bolts, small stickers and tiny words at the left/right ends of the
    character row (not part of the label); returns the row's narrowed (left, right).

    Real crops show such marks right beside the first character, and a model that never saw
    them reads them as a leading ``Z``, ``P`` or ``5``."""
    h, w = img.shape[:2]
    for side in (0, 1):
        if rng.random() > 0.35:
            continue
        if photos.active() and rng.random() < PICTURE_SHARE:
            # A real picture (bird, lighthouse, seal) right beside the row, often taller.
            cw = int(w * rng.uniform(0.08, 0.2))
            x0 = left if side == 0 else right - cw
            rh = bot - top
            y0 = top - int(rh * rng.uniform(0.0, 0.25))
            y1 = bot + int(rh * rng.uniform(-0.2, 0.2))
            photos.paste_picture(rng, img, (x0, y0, x0 + cw, y1))
            gap = int(rng.integers(1, 6))
            if side == 0:
                left += cw + gap
            else:
                right -= cw + gap
            continue
        cw = int(w * rng.uniform(0.06, 0.12))
        x0 = left if side == 0 else right - cw
        cy = int(rng.uniform(top, bot))
        kind = int(rng.integers(5))
        col = ink if rng.random() < 0.5 else draw.random_colour(rng, 0, 230)
        if kind == 0:  # bolt hole
            r = max(2, int(h * rng.uniform(0.03, 0.06)))
            cv2.circle(
                img,
                (x0 + cw // 2, cy),
                r,
                draw.jitter_colour(rng, (150, 150, 150), 60),
                -1,
                cv2.LINE_AA,
            )
        elif kind == 1:  # sticker or decal
            sh = int((bot - top) * rng.uniform(0.3, 0.8))
            y0 = int(rng.uniform(top, max(top + 1, bot - sh)))
            cv2.rectangle(img, (x0, y0), (x0 + cw, y0 + sh), col, -1)
        elif kind == 2:  # emblem: star, circle, state silhouette
            small_logo(rng, img, x0 + cw // 2, cy, max(3, cw // 2), col)
        elif kind == 3:  # tiny stacked letters or a vertical word
            word = str(rng.choice(["COUNTY", "DEALER", "TRUCK", "VET", "USA", "PASS", "2026"]))
            n = min(len(word), int(rng.integers(2, 5)))
            step = (bot - top) // n
            f = font_set().pick(rng, "sans")
            for k in range(n):
                draw.paint_text(
                    img,
                    f,
                    word[k],
                    (x0, top + k * step, x0 + cw, top + (k + 1) * step - 1),
                    col,
                    small=True,
                )
        else:  # a slanted stroke or wedge of a background graphic
            pts = np.array(
                [
                    [x0, bot],
                    [x0 + cw, top + int((bot - top) * rng.uniform(0, 0.6))],
                    [x0 + cw, bot],
                ],
                np.int32,
            )
            cv2.fillPoly(img, [pts], col, cv2.LINE_AA)
        if rng.random() < 0.7:  # usually the clutter takes space; sometimes it crowds in
            if side == 0:
                left += cw + 3
            else:
                right -= cw + 3
    return left, right


def render_us(rng: np.random.Generator) -> Rendered:
    h = 100
    w = int(h * rng.uniform(1.85, 2.1))
    img, ink = _us_background(rng, h, w)
    fonts = font_set()
    vanity = rng.random() < 0.12
    if vanity:
        if rng.random() < 0.5:
            text = VANITY[int(rng.integers(len(VANITY)))]
            text = text[: int(rng.integers(4, len(text) + 1))] if len(text) > 7 else text
        else:  # random letters so the model does not learn the word list
            text = pattern_text(rng, "L" * int(rng.integers(4, 8)))
    else:
        pats, wts = zip(*US_PATTERNS, strict=True)
        pat = str(rng.choice(pats, p=np.asarray(wts) / sum(wts)))
        if "?" in pat:  # each position a letter or a digit with equal odds
            pat = "".join("L" if u < 0.5 else "9" for u in rng.random(len(pat)).tolist())
        text = pattern_text(rng, pat)
    top_h = int(h * rng.uniform(0.15, 0.26))
    bot_h = int(h * rng.uniform(0.09, 0.16))
    state_col = ink if rng.random() < 0.6 else draw.random_colour(rng, 0, 200)
    state = US_STATES[int(rng.integers(len(US_STATES)))]
    role = str(rng.choice(["script", "serif", "sans", "plate"], p=[0.3, 0.25, 0.15, 0.3]))
    tx = int(w * rng.uniform(0.18, 0.3))
    draw.paint_text(
        img,
        fonts.pick(rng, role),
        state,
        (tx, 4, w - tx, 4 + top_h),
        state_col,
        small=True,
        caps_only=state.isupper(),
        squeeze=float(rng.uniform(0.8, 1.3)),
    )
    if rng.random() < 0.8:
        slogan = US_SLOGANS[int(rng.integers(len(US_SLOGANS)))]
        draw.paint_text(
            img,
            fonts.pick(rng, str(rng.choice(["serif", "sans", "script"]))),
            slogan,
            (int(w * 0.12), h - 4 - bot_h, int(w * 0.88), h - 4),
            state_col,
            small=True,
            caps_only=slogan.isupper(),
        )
    # Registration stickers in the top corners.
    for corner in range(2):
        if rng.random() < 0.45:
            sw, sh = int(w * rng.uniform(0.1, 0.16)), int(h * rng.uniform(0.12, 0.2))
            sx = 5 if corner == 0 else w - 5 - sw
            col = draw.random_colour(rng, 40, 255)
            cv2.rectangle(img, (sx, 4), (sx + sw, 4 + sh), col, -1)
            draw.paint_text(
                img,
                fonts.pick(rng, "sans"),
                str(int(rng.integers(1, 99))),
                (sx + 2, 6, sx + sw - 2, 4 + sh - 2),
                draw.contrasting(rng, col),
                small=True,
            )
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
        draw.paint_text(
            img,
            fonts.pick(rng, "plate"),
            LETTERS[int(rng.integers(26))],
            (left, main_top + (main_bot - main_top) // 2, left + sw, main_bot),
            ink,
        )
        left += sw + 4
    left, right = _edge_clutter(rng, img, left, right, main_top, main_bot, ink)
    face = str(rng.choice(["stroke", "din", "plate"], p=[0.45, 0.15, 0.4]))
    if not vanity and rng.random() < 0.9:
        main_text(
            rng,
            img,
            split_groups(rng, text),
            (left, main_top, right, main_bot),
            ink,
            font_role=face,
        )
    else:
        main_text(
            rng,
            img,
            [text],
            (left, main_top, right, main_bot),
            ink,
            separator="none",
            font_role=face,
        )
    if rng.random() < 0.5:
        cv2.rectangle(
            img, (1, 1), (w - 2, h - 2), draw.jitter_colour(rng, ink, 30), int(rng.integers(1, 4))
        )
    return Rendered(img, text, draw.rounded_mask(h, w, int(h * rng.uniform(0.02, 0.1))), "us")
