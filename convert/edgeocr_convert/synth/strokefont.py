"""A parametric stroke font shaped like US and Brazilian licence-plate lettering.

Desktop fonts draw ``1`` with a base serif and a long flag, ``0`` as wide as ``O`` and ``4``
closed, so a recognizer trained only on them reads real plate ``1`` as ``I`` and ``0`` as
``D``/``O``. Plate dies use uniform strokes in a condensed cell; the disambiguating cues are
the ones drawn here: ``1`` is a bare bar with a small flag, ``I`` has serifs, ``0`` is a
narrow stadium, ``O`` a wider ellipse, ``D`` has a straight back and square corners, ``8``
has two round bowls while ``B`` has a straight back, ``4`` has a clear crossbar.

Glyphs are polylines in a unit cell (x right, y down, both 0..1) drawn with anti-aliased
OpenCV lines; masks are cached per (character, width, stroke, variant) bucket.

Variant ``BR_DIE`` (never drawn by ``stroke_params``; old Brazilian plates ask for it) is the
Brazilian die's letter bowls: ``O`` and ``Q`` are rounded rectangles with straight sides and
``D`` has square left corners and rounded right ones, so that, on old grey plates, a real
``O`` no longer looks more like the generator's ``D`` than its ``O``. The die cuts wide,
boxy characters (about 0.8 of the cap height wide, where the other variants are 0.46-0.64)
and its ``O`` is a rounded rectangle with small corners, close to its ``D`` but for the left
corners: ``BR_DIE_WIDTH`` widens every cell of the variant. Its ``5``, ``6``,
``8`` and ``9`` have square-shouldered bowls, a straight back and flat arms, as the die cuts
them: with only round digits to learn from, a recognizer reads the die's ``6`` (straight
back, flat top arm) as ``5``. ``0`` stays the narrow stadium: on those plates the layout
fixes letter against digit, and the session-4 attempt that gave ``0`` the same bowl on every
plate taught the model to read US ``0`` as ``O``.
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from edgeocr_convert.synth.fonts import Mask

Stroke = list[tuple[float, float]]
CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CAP = 48  # cap height of cached glyphs in pixels
WIDTHS = (0.46, 0.52, 0.58, 0.64)  # cell width / cap height buckets
STROKES = (0.11, 0.135, 0.16, 0.19)  # stroke width / cap height buckets
VARIANTS = 2
BR_DIE = 2  # the Brazilian die's bowls; see the module docstring
BR_DIE_WIDTH = 1.35
"""Cell width factor of the Brazilian die (WIDTHS 0.46-0.64 -> 0.62-0.86 of the cap height:
old Brazilian plates measured 0.75-0.85 wide per character)."""


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float) -> Stroke:
    """Points on an ellipse from angle a0 to a1 (degrees; 0 = right, 90 = down)."""
    n = max(4, int(abs(a1 - a0) / 12))
    return [
        (cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
        for a in np.linspace(a0, a1, n + 1).tolist()
    ]


def _stadium(x0: float, x1: float, y0: float, y1: float) -> Stroke:
    """Closed oval with straight sides (plate ``0``)."""
    r = (x1 - x0) / 2
    cx = (x0 + x1) / 2
    ry = min(r * 1.1, (y1 - y0) / 2)
    return _arc(cx, y0 + ry, r, ry, 180, 360) + _arc(cx, y1 - ry, r, ry, 0, 180) + [(x0, y0 + ry)]


def _rrect(x0: float, x1: float, y0: float, y1: float, rx: float, ry: float) -> Stroke:
    """Closed rounded rectangle with elliptical corners of radii (rx, ry)."""
    return (
        _arc(x1 - rx, y0 + ry, rx, ry, 270, 360)
        + _arc(x1 - rx, y1 - ry, rx, ry, 0, 90)
        + _arc(x0 + rx, y1 - ry, rx, ry, 90, 180)
        + _arc(x0 + rx, y0 + ry, rx, ry, 180, 270)
        + [(x1 - rx, y0)]
    )


_BR_BOWL = _rrect(0.06, 0.94, 0.0, 1.0, 0.22, 0.15)
_BR_RX, _BR_RY = 0.3, 0.16  # corner radii of the die's square-shouldered digit bowls


def _br_six() -> Stroke:
    """The die's ``6``: a flat top arm ending in a square cut at the upper right, a straight
    back and a square-shouldered lower bowl (``9`` is the same turned half a turn)."""
    rx, ry = _BR_RX, _BR_RY
    return [
        (0.9, 0.0),
        *_arc(0.08 + rx, ry, rx, ry, 270, 180),
        *_arc(0.08 + rx, 1.0 - ry, rx, ry, 180, 90),
        *_arc(0.92 - rx, 1.0 - ry, rx, ry, 90, 0),
        *_arc(0.92 - rx, 0.44 + ry, rx, ry, 0, -90),
        (0.08, 0.44),
    ]


def _br_five() -> Stroke:
    """The die's ``5``: top bar, short back, a square-shouldered bowl open at the lower left."""
    rx, ry = _BR_RX, _BR_RY
    return [
        (0.9, 0.0),
        (0.12, 0.0),
        (0.1, 0.44),
        (0.92 - rx, 0.44),
        *_arc(0.92 - rx, 0.44 + ry, rx, ry, 270, 360),
        *_arc(0.92 - rx, 1.0 - ry, rx, ry, 0, 90),
        (0.3, 1.0),
        (0.06, 0.9),
    ]


def _half_turn(s: Stroke) -> Stroke:
    return [(1.0 - x, 1.0 - y) for x, y in s]


_BR_DIE_GLYPHS: dict[str, list[Stroke]] = {
    "O": [_BR_BOWL],
    "Q": [_BR_BOWL, [(0.62, 0.78), (0.9, 1.08)]],
    "D": [
        [
            (0.08, 0.0),
            (0.08, 1.0),
            *_arc(0.6, 0.74, 0.32, 0.26, 90, 0),
            *_arc(0.6, 0.26, 0.32, 0.26, 0, -90),
            (0.08, 0.0),
        ]
    ],
    "5": [_br_five()],
    "6": [_br_six()],
    "9": [_half_turn(_br_six())],
    "8": [_rrect(0.14, 0.86, 0.0, 0.47, 0.26, 0.14), _rrect(0.08, 0.92, 0.47, 1.0, 0.3, 0.16)],
}


def _glyph_strokes(ch: str, variant: int) -> list[Stroke]:
    """Polylines for one character; ``variant`` picks between common plate-die shapes."""
    if variant == BR_DIE:
        if ch in _BR_DIE_GLYPHS:
            return _BR_DIE_GLYPHS[ch]
        variant = 1
    v = variant
    g: dict[str, list[Stroke]] = {
        "0": [_stadium(0.08, 0.92, 0.0, 1.0)],
        "1": [[(0.62, 1.0), (0.62, 0.0), (0.3 if v == 0 else 0.4, 0.2 if v == 0 else 0.12)]],
        "2": [[*_arc(0.5, 0.27, 0.43, 0.27, 190, 360), (0.93, 0.3), (0.05, 1.0), (0.97, 1.0)]],
        "3": [
            _arc(0.5, 0.25, 0.42, 0.25, 200, 450) + _arc(0.5, 0.73, 0.46, 0.27, 270, 520),
        ]
        if v == 0
        else [[(0.08, 0.0), (0.9, 0.0), (0.45, 0.42), *_arc(0.5, 0.71, 0.45, 0.29, 270, 520)]],
        "4": [[(0.72, 1.0), (0.72, 0.0), (0.03, 0.68), (0.98, 0.68)]]
        if v == 0
        else [[(0.12, 0.0), (0.06, 0.68), (0.98, 0.68)], [(0.72, 0.3), (0.72, 1.0)]],
        "5": [[(0.88, 0.0), (0.14, 0.0), (0.1, 0.44), *_arc(0.5, 0.68, 0.44, 0.32, 235, 525)]],
        "6": [_arc(0.52, 0.5, 0.44, 0.5, 300, 180) + _arc(0.5, 0.68, 0.44, 0.32, 180, 540)],
        "7": [[(0.04, 0.0), (0.96, 0.0), (0.36, 1.0)]],
        "8": [
            _arc(0.5, 0.24, 0.36, 0.24, 90, 450),
            _arc(0.5, 0.72, 0.45, 0.28, -90, 270),
        ],
        "9": [
            _arc(0.5, 0.32, 0.44, 0.32, 0, 360),
            _arc(0.48, 0.5, 0.44, 0.5, 0, 120),
        ],
        "A": [[(0.02, 1.0), (0.5, 0.0), (0.98, 1.0)], [(0.2, 0.66), (0.8, 0.66)]],
        "B": [
            [
                (0.5, 0.46),
                (0.08, 0.46),
                (0.08, 0.0),
                (0.5, 0.0),
                *_arc(0.52, 0.23, 0.36, 0.23, 270, 450),
            ],
            [
                (0.08, 0.46),
                (0.08, 1.0),
                (0.52, 1.0),
                *_arc(0.54, 0.73, 0.4, 0.27, 90, -90),
                (0.5, 0.46),
            ],
        ],
        "C": [_arc(0.54, 0.5, 0.46, 0.5, 320, 40)],
        "D": [
            [(0.5, 0.0), (0.08, 0.0), (0.08, 1.0), (0.5, 1.0), *_arc(0.5, 0.5, 0.42, 0.5, 90, -90)]
        ]
        if v == 0
        else [
            [
                (0.08, 0.0),
                (0.08, 1.0),
                (0.62, 1.0),
                (0.92, 0.72),
                (0.92, 0.28),
                (0.62, 0.0),
                (0.08, 0.0),
            ]
        ],
        "E": [[(0.92, 0.0), (0.08, 0.0), (0.08, 1.0), (0.92, 1.0)], [(0.08, 0.5), (0.75, 0.5)]],
        "F": [[(0.92, 0.0), (0.08, 0.0), (0.08, 1.0)], [(0.08, 0.5), (0.75, 0.5)]],
        "G": [[*_arc(0.52, 0.5, 0.46, 0.5, 320, 45), (0.95, 0.55), (0.55, 0.55)]],
        "H": [[(0.08, 0.0), (0.08, 1.0)], [(0.92, 0.0), (0.92, 1.0)], [(0.08, 0.5), (0.92, 0.5)]],
        "I": [[(0.5, 0.0), (0.5, 1.0)], [(0.05, 0.0), (0.95, 0.0)], [(0.05, 1.0), (0.95, 1.0)]],
        "J": [[(0.85, 0.0), (0.85, 0.68), *_arc(0.5, 0.68, 0.35, 0.32, 0, 165)]]
        + ([[(0.45, 0.0), (0.95, 0.0)]] if v == 1 else []),
        "K": [[(0.08, 0.0), (0.08, 1.0)], [(0.92, 0.0), (0.1, 0.62)], [(0.38, 0.42), (0.95, 1.0)]],
        "L": [[(0.1, 0.0), (0.1, 1.0), (0.92, 1.0)]],
        "M": [
            [(0.05, 1.0), (0.07, 0.0), (0.5, 0.72 if v == 0 else 0.55), (0.93, 0.0), (0.95, 1.0)]
        ],
        "N": [[(0.08, 1.0), (0.08, 0.0), (0.92, 1.0), (0.92, 0.0)]],
        "O": [_arc(0.5, 0.5, 0.47, 0.5, 0, 360)],
        "P": [
            [
                (0.08, 1.0),
                (0.08, 0.0),
                (0.52, 0.0),
                *_arc(0.52, 0.27, 0.4, 0.27, 270, 450),
                (0.08, 0.54),
            ]
        ],
        "Q": [_arc(0.5, 0.5, 0.47, 0.5, 0, 360), [(0.58, 0.7), (0.95, 1.05)]],
        "R": [
            [
                (0.08, 1.0),
                (0.08, 0.0),
                (0.52, 0.0),
                *_arc(0.52, 0.27, 0.4, 0.27, 270, 450),
                (0.08, 0.54),
            ],
            [(0.48, 0.54), (0.94, 1.0)],
        ],
        "S": [_arc(0.5, 0.26, 0.42, 0.26, 340, 90) + _arc(0.5, 0.74, 0.45, 0.26, 270, 520)],
        "T": [[(0.02, 0.0), (0.98, 0.0)], [(0.5, 0.0), (0.5, 1.0)]],
        "U": [[(0.08, 0.0), (0.08, 0.66), *_arc(0.5, 0.66, 0.42, 0.34, 180, 0), (0.92, 0.0)]],
        "V": [[(0.02, 0.0), (0.5, 1.0), (0.98, 0.0)]],
        "W": [[(0.0, 0.0), (0.22, 1.0), (0.5, 0.3), (0.78, 1.0), (1.0, 0.0)]],
        "X": [[(0.05, 0.0), (0.95, 1.0)], [(0.95, 0.0), (0.05, 1.0)]],
        "Y": [[(0.03, 0.0), (0.5, 0.5), (0.97, 0.0)], [(0.5, 0.5), (0.5, 1.0)]],
        "Z": [[(0.06, 0.0), (0.94, 0.0), (0.06, 1.0), (0.95, 1.0)]],
    }
    if ch not in g:
        raise ValueError(f"stroke font has no glyph for {ch!r}; it draws {CHARSET}")
    return g[ch]


# Relative cell widths: plate dies give 1 and I a narrower cell, M and W a wider one, and
# draw 0 narrower than O so the two stay apart.
_CELL = {"1": 0.55, "I": 0.68, "0": 0.86, "M": 1.2, "W": 1.25, "O": 1.08, "Q": 1.08}


@functools.lru_cache(maxsize=2048)
def glyph_mask(ch: str, width: int, stroke: int, variant: int) -> Mask:
    """Cap-height (CAP) alpha mask of one character, cropped to its cell.

    ``width`` and ``stroke`` index WIDTHS and STROKES; ``variant`` < VARIANTS.
    The result is shared with a cache: do not modify it.
    """
    t = max(2, round(STROKES[stroke] * CAP))
    cell = WIDTHS[width] * CAP * _CELL.get(ch, 1.0) * (BR_DIE_WIDTH if variant == BR_DIE else 1.0)
    pad = t / 2 + 1
    w = math.ceil(cell + 2 * pad)
    h = math.ceil(CAP + 2 * pad)
    img = np.zeros((h, w), np.uint8)
    sy = CAP - t
    # Centre lines sit half a stroke inside the cap height so the ink spans exactly CAP rows.
    ox, oy = pad + t / 2, pad + t / 2
    sx = max(1.0, cell - t)
    for line in _glyph_strokes(ch, variant if variant == BR_DIE else variant % VARIANTS):
        pts = np.array([[(ox + x * sx) * 4, (oy + y * sy) * 4] for x, y in line], np.int32)
        cv2.polylines(img, [pts], False, 255, t, cv2.LINE_AA, shift=2)
    top = round(pad)
    return img[top : top + CAP]


def stroke_text_mask(
    text: str, width: int, stroke: int, variant: int, spacing: float = 0.08
) -> Mask:
    """Alpha mask of ``text`` in the stroke font, CAP rows tall, cropped to its ink.

    ``spacing`` is the gap between cells as a fraction of the cap height.
    """
    glyphs = [glyph_mask(c, width, stroke, variant) for c in text]
    gap = max(0, round(spacing * CAP))
    total = sum(g.shape[1] for g in glyphs) + gap * max(0, len(glyphs) - 1)
    canvas = np.zeros((CAP, max(1, total)), np.uint8)
    x = 0
    for g in glyphs:
        region = canvas[:, x : x + g.shape[1]]
        np.maximum(region, g[:, : region.shape[1]], out=region)
        x += g.shape[1] + gap
    cols = np.flatnonzero(canvas.max(axis=0) > 0)
    if cols.size == 0:
        return canvas[:, :1]
    return canvas[:, cols[0] : cols[-1] + 1]


def stroke_params(rng: np.random.Generator) -> tuple[int, int, int, float]:
    """Random (width, stroke, variant, spacing) arguments for ``stroke_text_mask``."""
    r = rng.random(4).tolist()
    return (
        int(r[0] * len(WIDTHS)),
        int(r[1] * len(STROKES)),
        int(r[2] * VARIANTS),
        0.04 + 0.14 * r[3],
    )
