"""Fonts found at run time and a glyph cache that renders text masks quickly.

Fonts come from the system (fontconfig / /usr/share/fonts) or, as a last resort, the DejaVu
copy that matplotlib ships. Nothing is downloaded and no font file lives in the repository.

Text is rendered from per-character masks cached at a few fixed pixel sizes, then resized to
the box a layout asks for. Rendering a whole string with Pillow for every sample costs about
a millisecond; pasting cached glyphs costs tens of microseconds, which is what lets crops be
generated on the fly during training.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

Mask = npt.NDArray[np.uint8]
FontRole = Literal["plate", "condensed", "sans", "serif", "script", "mono", "din"]

# Families known to carry Latin capitals and digits; the many Noto script fonts do not.
_LATIN = re.compile(
    r"^(DejaVu|Liberation|Free(Sans|Serif|Mono)|Lato|B612|BebasNeue|LeagueSpartan|OCRB|"
    r"OpenSans|NotoSans-|NotoSansMono-|NotoSerif-|NotoSansDisplay-|NotoSerifDisplay-|OSP-DIN)",
)
_SKIP = re.compile(r"(MathTeX|Hairline|Thin|ExtraLight|Light|OCRB[EFLSX]\b)", re.IGNORECASE)

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts")


class FontsNotFoundError(RuntimeError):
    """No usable Latin font could be found on this machine."""


def _system_font_files() -> list[Path]:
    files: set[Path] = set()
    fc = shutil.which("fc-list")
    if fc:
        try:
            out = subprocess.run(
                [fc, "--format", "%{file}\n"],
                capture_output=True,
                text=True,
                timeout=20,
                check=False,
            ).stdout
            files.update(Path(line) for line in out.splitlines() if line.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    for d in FONT_DIRS:
        if d.is_dir():
            files.update(d.rglob("*.ttf"))
            files.update(d.rglob("*.otf"))
    try:
        import matplotlib

        mpl = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf"
        files.update(mpl.glob("DejaVu*.ttf"))
    except ImportError:
        pass
    return sorted(p for p in files if p.suffix.lower() in (".ttf", ".otf") and p.is_file())


# Narrow DIN 1451-style faces: the family real plate dies descend from (Germany's FE-Schrift,
# Brazil's old "Mandatory" die, many US state dies): square-shouldered O and 0, a flat-topped
# 6, a 1 without a foot. Debian's fonts-opendin ships one.
_DIN = re.compile(r"^OSP-DIN")


def _roles_for(name: str) -> set[FontRole]:
    roles: set[FontRole] = set()
    if _DIN.match(name):
        return {"din", "plate", "condensed", "sans"}
    bold = bool(re.search(r"Bold|Black|Heavy|ExtraBold|SemiBold|Semibold|Medium", name))
    italic = bool(re.search(r"Italic|Oblique", name))
    serif = "Serif" in name
    mono = bool(re.search(r"Mono|OCRB", name))
    condensed = bool(re.search(r"Cond|Narrow|Bebas", name))
    if serif:
        roles.add("script" if italic else "serif")
    else:
        roles.add("sans")
        # Plate characters are heavy strokes: only bold faces, bold condensed ones, OCR-B and
        # Bebas (which is bold by design) qualify.
        if not italic and (bold or "OCRB" in name or "Bebas" in name) and "FreeMono" not in name:
            roles.add("plate")
        if condensed and not italic:
            roles.add("condensed")
    if mono and not italic:
        roles.add("mono")
    if italic and not serif and bold:
        roles.add("script")
    return roles


@dataclass(frozen=True)
class FontSet:
    """Font files grouped by the role they can play on a plate or plaque."""

    by_role: dict[FontRole, tuple[Path, ...]]

    def pick(self, rng: np.random.Generator, role: str) -> Path:
        """A random font for ``role`` (one of FontRole; unknown roles fall back to sans)."""
        choices = self.by_role.get(cast("FontRole", role)) or self.by_role["sans"]
        return choices[int(rng.integers(len(choices)))]


_PROBE = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _covers_alnum(path: Path) -> bool:
    """True when the font draws every A-Z0-9 glyph. Some families ship display cuts with
    only a few glyphs (DejaVuSerifDisplay has no digits); a missing glyph renders as
    nothing or as the same .notdef box, so distinct non-empty masks prove coverage."""
    try:
        font = ImageFont.truetype(str(path), 16)
    except OSError:
        return False
    seen: set[bytes] = set()
    for ch in _PROBE:
        mask = font.getmask(ch)
        if mask.size[0] == 0 or mask.size[1] == 0:
            return False
        data = bytes(mask)
        if not any(data) or data in seen:
            return False
        seen.add(data)
    return True


@functools.lru_cache(maxsize=1)
def font_set() -> FontSet:
    """All usable fonts on this machine; raises FontsNotFoundError with an install hint."""
    groups: dict[str, list[Path]] = {}
    seen: set[str] = set()
    for path in _system_font_files():
        name = path.name
        if name in seen:  # matplotlib's DejaVu duplicates the system copy
            continue
        seen.add(name)
        if not _LATIN.match(name) or _SKIP.search(name) or not _covers_alnum(path):
            continue
        for role in _roles_for(name):
            groups.setdefault(role, []).append(path)
    if not groups.get("sans"):
        raise FontsNotFoundError(
            "no Latin TrueType/OpenType font found (looked in fc-list, /usr/share/fonts and "
            "matplotlib); install one, e.g. `apt-get install fonts-dejavu-core fonts-liberation`"
        )
    for role in ("plate", "serif", "script", "condensed", "mono"):
        if not groups.get(role):
            groups[role] = list(groups["sans"])
    if not groups.get("din"):
        groups["din"] = list(groups["condensed"])
    return FontSet({cast("FontRole", k): tuple(v) for k, v in groups.items()})


# Glyphs are cached at these pixel sizes; layouts resize the rendered line to their box.
_SIZES = (24, 48)


@dataclass(frozen=True)
class _Glyph:
    mask: Mask  # (line height, advance) alpha, baseline-aligned with the other glyphs
    advance: int


@dataclass(frozen=True)
class _FontMetrics:
    font: ImageFont.FreeTypeFont
    height: int
    cap_top: int
    baseline: int


@functools.lru_cache(maxsize=1024)
def _metrics(path: Path, size: int) -> _FontMetrics:
    font = ImageFont.truetype(str(path), size)
    ascent, descent = font.getmetrics()
    box = font.getbbox("HX08", anchor="ls")
    cap_top = max(0, ascent + int(box[1]))
    return _FontMetrics(font, ascent + descent, cap_top, ascent)


@functools.lru_cache(maxsize=65536)
def _glyph(path: Path, size: int, ch: str) -> _Glyph:
    m = _metrics(path, size)
    advance = max(1, round(m.font.getlength(ch)))
    pad = size // 4  # italic glyphs overhang their advance
    img = Image.new("L", (advance + 2 * pad, m.height), 0)
    ImageDraw.Draw(img).text((pad, m.baseline), ch, font=m.font, fill=255, anchor="ls")
    return _Glyph(np.asarray(img, dtype=np.uint8), advance)


def text_mask(
    path: Path, text: str, *, small: bool = False, caps_only: bool = True, spacing: float = 0.0
) -> Mask:
    """Alpha mask of ``text`` in the font at ``path``, cropped to its ink horizontally and to
    the cap height vertically (or to ascent..descent when ``caps_only`` is false).

    ``spacing`` adds letter spacing as a fraction of the font size (may be negative).
    The result may be shared with a cache: do not modify it.
    """
    if small and spacing == 0.0:
        # Small text (state names, slogans, street names, signs) comes from fixed word lists,
        # so whole words repeat and are worth caching.
        return _word_mask(path, text, caps_only)
    return _compose(path, text, _SIZES[0] if small else _SIZES[1], caps_only, spacing)


@functools.lru_cache(maxsize=8192)
def _word_mask(path: Path, text: str, caps_only: bool) -> Mask:
    return _compose(path, text, _SIZES[0], caps_only, 0.0)


def _compose(path: Path, text: str, size: int, caps_only: bool, spacing: float) -> Mask:
    m = _metrics(path, size)
    pad = size // 4
    glyphs = [_glyph(path, size, ch) for ch in text]
    extra = round(spacing * size)
    total = sum(g.advance for g in glyphs) + extra * max(0, len(glyphs) - 1) + 2 * pad + 2
    canvas = np.zeros((m.height, max(total, 1)), dtype=np.uint8)
    x = 0
    for g in glyphs:
        w = g.mask.shape[1]
        region = canvas[:, x : x + w]
        np.maximum(region, g.mask[:, : region.shape[1]], out=region)
        x += g.advance + extra
        x = max(x, 0)
    if caps_only:
        canvas = canvas[m.cap_top : m.baseline + 1]
    cols = np.flatnonzero(canvas.max(axis=0) > 0)
    if cols.size == 0:
        return np.zeros((max(canvas.shape[0], 1), 1), dtype=np.uint8)
    rows = np.flatnonzero(canvas.max(axis=1) > 0) if not caps_only else None
    out = canvas[:, cols[0] : cols[-1] + 1]
    if rows is not None:
        out = out[rows[0] : rows[-1] + 1]
    return out


def fit_mask(mask: Mask, width: int, height: int) -> Mask:
    """Resize a text mask to exactly (width, height) pixels (stretching as needed)."""
    width, height = max(1, int(width)), max(1, int(height))
    if mask.shape[1] == width and mask.shape[0] == height:
        return mask
    interp = cv2.INTER_AREA if width < mask.shape[1] else cv2.INTER_LINEAR
    out: Mask = cast("Mask", cv2.resize(mask, (width, height), interpolation=interp))
    return out
