"""Shared plate layout: character patterns, groups, the big characters and separators."""

from __future__ import annotations

import cv2
import numpy as np

from edgeocr_convert.synth import draw
from edgeocr_convert.synth.draw import Colour
from edgeocr_convert.synth.fonts import fit_mask, font_set, text_mask
from edgeocr_convert.synth.strokefont import BR_DIE, stroke_params, stroke_text_mask

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
_ALNUM = LETTERS + DIGITS


def pattern_text(rng: np.random.Generator, pattern: str) -> str:
    """Fill a pattern: L = letter, 9 = digit, X = either; other characters are kept."""
    # One draw per sample, not per character: rng calls dominate for short strings.
    u = rng.random(len(pattern)).tolist()
    out = []
    for p, r in zip(pattern, u, strict=True):
        if p == "L":
            out.append(LETTERS[int(r * 26)])
        elif p == "9":
            out.append(DIGITS[int(r * 10)])
        elif p == "X":
            out.append(_ALNUM[int(r * 36)])
        else:
            out.append(p)
    return "".join(out)


def split_groups(rng: np.random.Generator, text: str) -> list[str]:
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


def main_text(
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
    """The big characters: groups rendered side by side with gaps or separators.

    ``font_role`` "stroke" draws them in the plate stroke font (strokefont.py), "stroke_br" in
    its Brazilian-die variant."""
    stroke = font_role in ("stroke", "stroke_br")
    font = font_set().pick(rng, "plate" if stroke else font_role)
    x0, y0, x1, y1 = box
    h = y1 - y0
    sq = squeeze if squeeze is not None else float(rng.uniform(0.75, 1.15))
    spacing = float(rng.uniform(-0.02, 0.12))
    # One draw per plate keeps every group in the same stroke weight and width.
    params = stroke_params(rng) if stroke else None
    if params is not None and font_role == "stroke_br":
        params = (params[0], params[1], BR_DIE, params[3])
    masks = []
    for g in groups:
        if params is not None:
            m = stroke_text_mask(g, *params)
        else:
            m = text_mask(font, g, spacing=spacing)
        masks.append(fit_mask(m, max(1, int(m.shape[1] * h / max(1, m.shape[0]) * sq)), h))
    sep = (
        separator
        if separator is not None
        else str(
            rng.choice(
                ["gap", "dash", "dot", "space", "logo", "picture", "none"],
                p=[0.27, 0.22, 0.11, 0.13, 0.09, 0.1, 0.08],
            )
        )
    )
    gap = (
        int(h * (0.25 if sep in ("gap", "space", "none") else 0.45))
        if sep != "none"
        else int(h * 0.08)
    )
    if sep == "picture":
        gap = int(h * rng.uniform(0.55, 0.95))
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
                small_logo(rng, img, cx, cy, max(4, int(gap * 0.45)), colour)
            elif sep == "picture":
                picture(rng, img, (x + gap // 10, y0, x + gap - gap // 10, y0 + h), colour)
            x += gap


def small_logo(
    rng: np.random.Generator, img: np.ndarray, cx: int, cy: int, r: int, colour: Colour
) -> None:
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


def picture(
    rng: np.random.Generator, img: np.ndarray, box: tuple[int, int, int, int], colour: Colour
) -> None:
    """A character-sized picture between character groups (US plates put a state outline,
    a lighthouse, a peach or a cowboy there): a few filled ellipses, polygons and thick
    strokes in one or two colours, so the model learns that a blob is not a character."""
    ih, iw = img.shape[:2]
    x0, y0, x1, y1 = max(0, box[0]), max(0, box[1]), min(iw, box[2]), min(ih, box[3])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    # Draw into a view of the box: OpenCV clips there, so no shape spills onto a character.
    view = img[y0:y1, x0:x1]
    w, h = x1 - x0, y1 - y0
    x0 = y0 = 0
    cols = [colour if rng.random() < 0.4 else draw.random_colour(rng) for _ in range(2)]
    for _ in range(int(rng.integers(2, 6))):
        col = cols[int(rng.integers(2))]
        cx = int(x0 + w * rng.uniform(0.2, 0.8))
        cy = int(y0 + h * rng.uniform(0.15, 0.85))
        shape = rng.random()
        if shape < 0.4:
            axes = (max(1, int(w * rng.uniform(0.1, 0.45))), max(1, int(h * rng.uniform(0.1, 0.4))))
            cv2.ellipse(view, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, col, -1,
                        cv2.LINE_AA)
        elif shape < 0.75:
            n = int(rng.integers(3, 7))
            pts = np.stack([x0 + rng.uniform(0, 1, n) * w, y0 + rng.uniform(0, 1, n) * h], 1)
            cv2.fillPoly(view, [pts.astype(np.int32)], col, cv2.LINE_AA)
        else:
            p2 = (int(x0 + w * rng.uniform(0, 1)), int(y0 + h * rng.uniform(0, 1)))
            cv2.line(view, (cx, cy), p2, col, max(1, int(min(w, h) * rng.uniform(0.06, 0.2))),
                     cv2.LINE_AA)
