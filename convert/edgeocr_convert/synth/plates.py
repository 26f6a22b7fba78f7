"""Licence plate faces in US-like, EU-like, Brazilian (old grey and Mercosul), Chinese and generic
styles.

Each renderer returns a ``Rendered`` plate whose label is what a human would write: A-Z0-9
only, without state names, slogans, stickers, separators or small stacked characters.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgeocr_convert.synth.draw import Rendered
from edgeocr_convert.synth.layout import DIGITS, LETTERS, pattern_text
from edgeocr_convert.synth.plates_cn import render_cn
from edgeocr_convert.synth.plates_intl import (
    render_br_mercosul,
    render_br_old,
    render_eu,
    render_generic,
)
from edgeocr_convert.synth.plates_us import render_us

__all__ = ["DIGITS", "LETTERS", "STYLES", "STYLE_WEIGHTS", "pattern_text", "render_plate"]

STYLES: dict[str, Callable[[np.random.Generator], Rendered]] = {
    "us": render_us,
    "eu": render_eu,
    "br_old": render_br_old,
    "br_mercosul": render_br_mercosul,
    "generic": render_generic,
    "cn": render_cn,
}
STYLE_WEIGHTS = {
    "us": 0.38,
    "eu": 0.17,
    "br_old": 0.18,
    "br_mercosul": 0.1,
    "generic": 0.12,
    "cn": 0.05,
}


def render_plate(rng: np.random.Generator, style: str | None = None) -> Rendered:
    """A random plate face; ``style`` picks one of STYLES, None draws by STYLE_WEIGHTS."""
    if style is None:
        names = list(STYLE_WEIGHTS)
        style = names[int(rng.choice(len(names), p=np.asarray(list(STYLE_WEIGHTS.values()))))]
    if style not in STYLES:
        raise ValueError(f"unknown plate style {style!r}; known: {', '.join(STYLES)}")
    return STYLES[style](rng)
