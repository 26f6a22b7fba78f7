"""Format packs: check a read against known plate / house-number layouts and fix
look-alike characters where a layout demands a letter or a digit.

A pack is a list of fixed-length templates over ``L`` (letter), ``D`` (digit), ``A``
(either) and ``l`` (a letter that is never made by a fix: a house number's optional suffix
must not turn a trailing 5 into an S). A read matches a template when it has the
template's length and every character fits its position, allowing *fixes*: a digit where
a letter is demanded (or the reverse) is swapped for the model's own best candidate of the
demanded type at that character (``Read.alternatives``) or, without one, for its look-alike
(O/Q/D/U/0, I/J/1, B/8, S/5, Z/2, G/6, A/L/4, T/7). Each pack reports the fewest fixes it
needs; :func:`apply_formats` takes the pack with the fewest among the enabled ones (ties:
the order given).

A read that fits no template even with fixes (a character lost in a blank, three
look-alikes) is decoded again from the model's own probabilities, constrained to each
enabled template of about its length (:mod:`edgeocr.core.ctc`); the best such path is taken
when it is at most ``MAX_DECODE_LOSS`` nats less probable than the greedy path. Otherwise
the read is kept unchanged with ``format=None``.

Some layouts print a separator the charset has no class for: Brazil's old grey plates are
``ABC-1234`` (a dash or a dot), Mercosul plates ``ABC1D23`` have none. The two differ only
in the fifth character, where the old die's ``1``/``8``/``0`` look like Mercosul's
``I``/``B``/``D``. When a read fits one of two such rival templates, both are decoded from
the model's probabilities and the separator is weighed in: the blank steps between the third
and fourth characters, against the median gap elsewhere, give a log likelihood ratio
(``SEPARATOR_EVIDENCE``, measured on synthetic plates) that is added to the separated
template's path log probability; each path also gets its layout's own probability of the
spelling (``layout_log_prior``: a digit place allows 10 characters, a letter place 26).
Mercosul plates also print a blue band across their top, which the grey model input drops:
the recognizer measures it on the colour crop
(``Read.blue_band``) and its log likelihood ratio (``BAND_EVIDENCE``, also measured on
synthetic plates) is added to the banded template's score in the same places.

The ``us`` pack itself is deliberately loose (2-8 letters or digits, no positional rules), so
it never fixes anything: it only says "plausible US plate". When the model's probabilities
are at hand, ``us`` is also weighed as ``US_LAYOUTS``, the standard state layouts, whose fixes
do apply (see ``HYPOTHESES``). Otherwise, with one pack per kind (a region's own packs), the
fewest-fix rule above decides. With several (the region-free default us, eu,
br), us would fit every 2-8 character read with zero fixes and the others' fixes would
never apply, so each pack formats the read alone and the results are weighed as layout
hypotheses (:func:`_arbitrate`): the model's log probability of each spelling plus the log
probability the layout gives it. A strict layout's fix wins when the model half believes
it, never against a confident character.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

from edgeocr.core.ctc import (
    decode_aligned,
    decode_templates,
    gap_excess,
    text_log_prob,
)
from edgeocr.core.types import Read

TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "U": "0", "I": "1", "J": "1", "B": "8", "S": "5",
            "Z": "2", "G": "6", "A": "4", "L": "4", "T": "7"}
TO_LETTER = {"0": "O", "1": "I", "8": "B", "5": "S", "2": "Z", "6": "G", "4": "A", "7": "T"}
MIN_ALTERNATIVE = 0.02
"""A model candidate of the demanded type is used for a fix only above this probability;
below it the look-alike table decides."""
MAX_FIXES = 2
"""A read needing more swaps than this is another layout, not a misread of this one."""

MAX_DECODE_LOSS = 5.0
"""How much less probable (in nats: e^-5, about 1/150) than the greedy path a
layout-constrained path may be and still replace a read that fits no layout. Fixed a priori,
not tuned on the dev set."""

DEFAULT_PACKS: tuple[str, ...] = ("us", "eu", "br", "house_number")

SEPARATOR_EVIDENCE: tuple[tuple[float, float], ...] = ((2.0, 2.51), (1.0, -0.03), (-99.0, -1.85))
"""(lowest gap excess, log likelihood ratio) for "a separator is printed here" against "it
is not", first match wins. Measured on 1,000 synthetic old-Brazilian and 1,000 Mercosul
crops with the shipped recognizer v3 (benchmarks/separator_evidence.py): an excess of 2+
blank steps is 12x likelier with a separator (61.9% vs 5.0%), 1 step about equally likely
(27.7% vs 28.5%), 0 or fewer 6.4x likelier without one (10.4% vs 66.4%). Not tuned on the
dev set."""

BAND_EVIDENCE: tuple[tuple[float, float], ...] = (
    (0.25, 3.01), (0.1, 2.35), (0.03, 0.41), (0.0, -1.80))
"""(lowest blue share, log likelihood ratio) for "a Mercosul band is printed" against "it is
not" (an old Brazilian plate), first match wins; a grey crop gives no evidence. Measured on
1,000 synthetic colour crops of each (benchmarks/band_evidence.py): a share of 0.25+ is 20x
likelier on Mercosul plates (64.7% vs 3.2%: a blue car above an old plate), under 0.03 6x
likelier without a band (92.7% vs 15.4%: a washed-out or colour-cast band). Held within
+-BAND_EVIDENCE_CAP. Not tuned on the dev set."""
BAND_EVIDENCE_CAP = 3.0
"""The band evidence is held within +-3 nats (20:1) whatever the synthetic counts say: the
generator's colours are not a camera's. Fixed a priori."""


@dataclass(frozen=True)
class FormattedRead:
    """A read after format checking; ``format`` is the matching pack or None."""

    read: Read
    format: str | None


@dataclass(frozen=True)
class Pack:
    name: str
    kind: str
    templates: tuple[str, ...]
    """Preferred templates first: among equal fix counts the earliest wins."""
    fixable: bool = True
    separated: tuple[tuple[str, int], ...] = ()
    """(template, position): real plates of this template print a separator before that
    character (see the module docstring); rival same-length templates are weighed by it."""
    unused_letters: str = ""
    """Letters this layout never prints where a digit may stand (``A`` positions): read
    there, they are their digit look-alike (China leaves out I and O)."""
    lead_glyph: bool = False
    """The plate starts with a glyph outside the charset that the label leaves out (a
    Chinese province character): a read one longer than a template may have spent a
    character on it, and fits with that character dropped (counted as one fix)."""
    weights: tuple[float, ...] = ()
    """Relative prior weight of each template (``layout_log_prior``); empty: all equal."""
    banded: tuple[str, ...] = ()
    """Templates printed under a blue band across the top (Mercosul): the crop's blue share
    (``band_log_ratio``) weighs them against every other layout."""


def _de_templates() -> list[str]:
    # district 1-3 letters, 1-2 letters, 1-4 digits, at most 8 characters
    out = []
    for a, b, c in product((1, 2, 3), (1, 2), (4, 3, 2, 1)):
        if a + b + c <= 8:
            out.append("L" * (a + b) + "D" * c)
    return list(dict.fromkeys(out))


_EU_TEMPLATES: tuple[str, ...] = tuple(dict.fromkeys([
    "LLDDDLL",  # FR SIV, IT, SK (BA268IM), AB123CD
    "DDDDLLL",  # ES 1234BCD
    "LLLDDDD", "LLDDDDD", "LLDDDDL", "LLDDDLL", "LLLDDLL", "LLLDLDD",  # PL (WSQ3021)
    "DLDDDDD",  # CZ 1A23456
    "LLDDDD", "DDDDLL", "DDLLDD", "LLDDLL", "LLLLDD", "DDLLLL",  # NL sidecodes
    "DDLLLD", "DLLLDD", "LLDDDL", "LDDDLL", "LLLDDL", "LDDLLL", "DLLDDD", "DDDLLD",
    *_de_templates(),  # DE
]))

PACKS: dict[str, Pack] = {
    "us": Pack("us", "plate", tuple("A" * n for n in range(2, 9)), fixable=False),
    "eu": Pack("eu", "plate", _EU_TEMPLATES),
    "br": Pack("br", "plate", ("LLLDDDD", "LLLDLDD"),  # old grey, Mercosul
               separated=(("LLLDDDD", 3),), banded=("LLLDLDD",)),
    # Mainland China after the province character: city letter + 5 (blue, yellow) or
    # 6 (green, new energy) letters or digits, never I or O.
    "cn": Pack("cn", "plate", ("LAAAAA", "LAAAAAA"), unused_letters="IO", lead_glyph=True),
    "house_number": Pack(
        "house_number", "house_number",
        ("D", "DD", "DDD", "DDDD", "Dl", "DDl", "DDDl", "DDDDl"),
    ),
}


US_LAYOUTS = Pack(
    "us", "plate",
    (
        "LLLDDDD",  # ABC1234: NY, PA, TX, OH, MI, GA, NC, VA, WA, AZ and more
        "DLLLDDD",  # 1ABC234: California
        "LLDDDDD",  # AB12345: Illinois
        "LLLDDD", "DDDLLL",  # ABC123 / 123ABC: older issues of many states
        "LDDLLL",  # A12BCD: New Jersey
        "LLLLDD",  # ABCD12: Florida
    ),
    weights=(35, 12, 3, 4, 4, 3, 3),
)
"""The standard layouts most US states issue, weighed beside the loose ``us`` pack when the
model's probabilities are at hand: a standard plate gets their fixes, a vanity plate still
fits the loose one (see :func:`_arbitrate`). Weights: rough shares (percent) of US passenger
plates in each layout, from the states' registration counts (California alone is about
12%); the remaining 36% (vanity, specialty and other layouts) is the loose pack's. Public
figures, not fitted to any photo."""

HYPOTHESES: dict[str, tuple[tuple[Pack, float], ...]] = {
    "us": ((PACKS["us"], 0.36), (US_LAYOUTS, 0.64)),
}
"""Packs weighed as more than one layout hypothesis, with each one's share of the pack's
prior; every other pack is its own single hypothesis."""

Alternatives = tuple[tuple[tuple[str, float], ...], ...]


def _swap(ch: str, want: str, candidates: tuple[tuple[str, float], ...]) -> str | None:
    """The character to put where ``want`` (L or D) is demanded instead of ``ch``: the
    model's own best candidate of that type when it has one, else the look-alike."""
    for alt, p in candidates:
        if p >= MIN_ALTERNATIVE and (alt.isdigit() if want == "D" else alt.isalpha()):
            return alt
    return (TO_LETTER if want == "L" else TO_DIGIT).get(ch)


def _fit(text: str, template: str, fixable: bool,
         alternatives: Alternatives = (), unused_letters: str = "") -> tuple[int, str] | None:
    """(number of fixes, fixed text) when ``text`` fits ``template``, else None."""
    if len(text) != len(template):
        return None
    fixes = 0
    out = []
    for i, (ch, want) in enumerate(zip(text, template, strict=True)):
        if want == "A" and ch in unused_letters and fixable:
            fixes += 1
            out.append(TO_DIGIT[ch])
            continue
        if (want == "A" or (want in "Ll" and ch.isalpha())
                or (want == "D" and ch.isdigit())):
            out.append(ch)
            continue
        cands = alternatives[i] if i < len(alternatives) else ()
        swap = _swap(ch, want, cands) if want != "l" else None
        if swap is None or not fixable:
            return None
        fixes += 1
        out.append(swap)
    return fixes, "".join(out)


@functools.lru_cache(maxsize=256)
def _templates_of_length(pack: Pack, lengths: tuple[int, ...]) -> tuple[str, ...]:
    """The pack's templates of these lengths, in the pack's order (a read can only fit
    those: most of the eu pack's 40 are skipped at once)."""
    return tuple(t for t in pack.templates if len(t) in lengths)


@functools.lru_cache(maxsize=4096)
def _signature(text: str) -> str:
    """The text's own layout: L for each letter, D for each digit."""
    return "".join("D" if ch.isdigit() else "L" for ch in text)


def _fits_as_is(signature: str, template: str) -> bool:
    """Whether a text of this ``_signature`` fits ``template`` with no fix."""
    if "A" not in template:
        return template.replace("l", "L") == signature
    return len(signature) == len(template) and all(
        want == "A" or want.upper() == have for have, want in zip(signature, template, strict=True))


@functools.lru_cache(maxsize=64)
def _exact_layouts(pack: Pack) -> frozenset[str]:
    """The pack's templates without ``A`` positions, ``l`` read as ``L``: a text whose
    signature is one of them fits that template with no fix."""
    return frozenset(t.replace("l", "L") for t in pack.templates if "A" not in t)


@functools.lru_cache(maxsize=256)
def _weighted_templates(pack: Pack, length: int) -> tuple[tuple[str, float], ...]:
    """(template, log prior weight) of the pack's templates of ``length``."""
    weights = pack.weights or (1.0,) * len(pack.templates)
    total = float(sum(weights))
    return tuple((t, math.log(w / total))
                 for t, w in zip(pack.templates, weights, strict=True) if len(t) == length)


def match_pack(text: str, pack: Pack,
               alternatives: Alternatives = ()) -> tuple[int, str] | None:
    """The fewest-fix fit of ``text`` to any template of ``pack`` (None: no fit)."""
    if not pack.lead_glyph and not pack.unused_letters and text.isalnum() and (
            _signature(text) in _exact_layouts(pack) or "A" * len(text) in pack.templates):
        return 0, text  # fits a template as it stands: nothing can need fewer fixes
    best: tuple[int, str] | None = None
    lengths = (len(text), len(text) - 1) if pack.lead_glyph else (len(text),)
    for template in _templates_of_length(pack, lengths):
        fits = [_fit(text, template, pack.fixable, alternatives, pack.unused_letters)]
        if pack.lead_glyph and len(text) == len(template) + 1:
            dropped = _fit(text[1:], template, pack.fixable, alternatives[1:],
                           pack.unused_letters)
            fits.append(None if dropped is None else (dropped[0] + 1, dropped[1]))
        for fit in fits:
            if fit is not None and fit[0] <= MAX_FIXES and (best is None or fit[0] < best[0]):
                best = fit
        if best is not None and best[0] == 0:
            break
    return best


def check_packs(packs: Sequence[str]) -> None:
    unknown = [p for p in packs if p not in PACKS]
    if unknown:
        raise ValueError(
            f"unknown format pack(s) {', '.join(unknown)} (known: {', '.join(PACKS)})"
        )


def apply_formats(read: Read, kind: str, packs: Sequence[str]) -> FormattedRead:
    """Fit ``read`` to the enabled ``packs`` that apply to ``kind``.

    With one pack for ``kind``, or without the model's probabilities, the pack needing the
    fewest fixes wins. With several (a region-free setup such as the default us, eu, br),
    each pack formats the read on its own and :func:`_arbitrate` weighs the results.
    A fixed character keeps its confidence: the model was sure of the shape, the layout
    only says which of two look-alikes it is.
    """
    check_packs(packs)
    names = [name for name in dict.fromkeys(packs) if PACKS[name].kind == kind]
    if read.ctc is not None:
        hypotheses = [(h, math.log(share / len(names)))
                      for n in names for h, share in HYPOTHESES.get(n, ((PACKS[n], 1.0),))]
        if len(hypotheses) > 1:
            return _arbitrate(read, kind, hypotheses)
    return _apply_packs(read, kind, [PACKS[n] for n in names])


def layout_log_prior(pack: Pack, text: str) -> float | None:
    """log P(text | pack): a template drawn by the pack's ``weights`` (all equal without
    them), then each character uniformly from what its position allows. An ``A`` position
    is a letter or a digit with equal odds (so a loose pack is "any letter / digit pattern",
    each equally likely), less the pack's ``unused_letters``. None when ``text`` fits none
    of the pack's templates as it stands."""
    letters = 26 - len(pack.unused_letters)
    signature = _signature(text)
    best: float | None = None
    for template, lp in _weighted_templates(pack, len(text)):
        if not _fits_as_is(signature, template):
            continue
        for ch, want in zip(text, template, strict=True):
            if want == "D":
                lp -= math.log(10)
            elif want in "Ll":
                lp -= math.log(26)
            else:
                lp -= math.log(2 * (10 if ch.isdigit() else letters))
        best = lp if best is None else max(best, lp)
    return best


def _arbitrate(read: Read, kind: str, hypotheses: list[tuple[Pack, float]]) -> FormattedRead:
    """The enabled packs' own results, weighed as hypotheses about the plate's layout.

    Each hypothesis (a pack, or one of a pack's ``HYPOTHESES``) formats the read alone; a
    result is scored by the log probability of the best CTC path spelling it (how well the
    pixels support it) plus ``layout_log_prior`` (how likely the layout makes that string:
    a strict layout such as ``LLLDDDD`` gives each string it allows far more probability
    than a free one such as us's ``AAAAAAA``) plus the hypothesis's log prior (enabled packs
    equally likely, ``us`` split by its ``HYPOTHESES`` shares). This is ordinary Bayesian
    model choice with priors stated in this module, fixed a priori and not tuned on any
    photo: a layout wins by asking for a look-alike the model already half believes, never
    against a confident character. Ties keep the order given; when nothing fits, the
    combined fallback decides.
    """
    assert read.ctc is not None
    probs, charset = read.ctc.probs, read.ctc.charset
    # The read's own text is the greedy path's; other spellings get a forced alignment.
    evidence_of: dict[str, float | None] = {read.text: read.ctc.best_log_prob}
    results: list[tuple[int, Pack, float, FormattedRead]] = []
    for order, (pack, pack_prior) in enumerate(hypotheses):
        result = _apply_packs(read, kind, [pack], fallback=False)
        if result.format is not None:
            results.append((order, pack, pack_prior, result))
    if not any(pack.fixable for _, pack, _, _ in results):
        # Only the loose layout takes the read as it stands: a strict pack whose layouts
        # never have the read's length (a character lost in a blank, or a frame edge read
        # as one) decodes it again at the lengths it has. (Skipped when a strict layout
        # already fits: the exact decoder is the costly step.)
        for order, (pack, pack_prior) in enumerate(hypotheses):
            if pack.fixable and all(len(t) != len(read.text) for t in pack.templates):
                result = _apply_packs(read, kind, [pack])
                if result.format is not None:
                    results.append((order, pack, pack_prior, result))
    best: tuple[float, int, FormattedRead] | None = None
    for order, pack, pack_prior, result in results:
        text = result.read.text
        spelled = text
        if pack.lead_glyph and len(read.text) == len(text) + 1:
            spelled = read.text[0] + text  # the model spent a character on the glyph
        if spelled not in evidence_of:
            evidence_of[spelled] = text_log_prob(probs, charset, spelled)
        evidence = evidence_of[spelled]
        prior = layout_log_prior(pack, text)
        if evidence is None or prior is None:
            continue
        score = (evidence + prior + pack_prior + _separator_bonus(read, pack, text)
                 + _band_bonus(read, pack, text))
        if best is None or score > best[0]:
            best = (score, -order, result)
    if best is None:
        return _apply_packs(read, kind, list(dict.fromkeys(p for p, _ in hypotheses)))
    return best[2]


def _separator_bonus(read: Read, pack: Pack, text: str) -> float:
    """The gap evidence (``separator_log_ratio``) for a result in one of the pack's
    separated templates: the printed separator is part of what that layout predicts, and
    the other hypotheses predict none. 0 otherwise."""
    if read.ctc is None:
        return 0.0
    signature = _signature(text)
    for template, position in pack.separated:
        if not _fits_as_is(signature, template):
            continue
        spans = read.ctc.spans
        excess = gap_excess(spans, position) if len(spans) == len(text) else None
        return 0.0 if excess is None else separator_log_ratio(excess)
    return 0.0


def _band_bonus(read: Read, pack: Pack, text: str) -> float:
    """The band evidence (``band_log_ratio``) for a result in one of the pack's banded
    templates: the band is part of what that layout predicts, the others predict none."""
    if read.blue_band is None or not pack.banded:
        return 0.0
    signature = _signature(text)
    if any(_fits_as_is(signature, t) for t in pack.banded):
        return band_log_ratio(read.blue_band)
    return 0.0


def band_log_ratio(share: float | None) -> float:
    """log P(share | Mercosul band) - log P(share | none) (BAND_EVIDENCE); 0 for None."""
    if share is None:
        return 0.0
    for lowest, ratio in BAND_EVIDENCE:
        if share >= lowest:
            return max(-BAND_EVIDENCE_CAP, min(BAND_EVIDENCE_CAP, ratio))
    return 0.0


def _apply_packs(read: Read, kind: str, packs: Sequence[Pack],
                 fallback: bool = True) -> FormattedRead:
    """The fewest-fix rule over ``packs`` (all of ``kind``), with the layout decoding
    fallback (``fallback``) when none fits."""
    best: tuple[int, str, Pack] | None = None
    for pack in packs:
        if pack.kind != kind:
            continue
        fit = match_pack(read.text, pack, read.alternatives)
        if fit is not None and (best is None or fit[0] < best[0]):
            best = (fit[0], fit[1], pack)
    if best is None:
        if not fallback:
            return FormattedRead(read, None)
        return _decode_to_layout(read, kind, packs)
    _, text, pack = best
    weighed = _weigh_separator(read, pack, text)
    if weighed is not None:
        return FormattedRead(weighed, pack.name)
    if text == read.text:
        return FormattedRead(read, pack.name)
    drop = len(read.text) - len(text)  # 1 when a lead glyph's character was dropped
    return FormattedRead(Read(text, read.char_confidences[drop:], read.kind,
                              read.alternatives[drop:], blue_band=read.blue_band), pack.name)


def separator_log_ratio(excess: float) -> float:
    """log P(excess | separator printed) - log P(excess | none) (SEPARATOR_EVIDENCE)."""
    for lowest, ratio in SEPARATOR_EVIDENCE:
        if excess >= lowest:
            return ratio
    return SEPARATOR_EVIDENCE[-1][1]


def _weigh_separator(read: Read, pack: Pack, text: str) -> Read | None:
    """The read decoded under whichever of the pack's separated template and its rival of
    the same length is likelier once the gap at the separator is weighed in; None when the
    pack has no such pair for this read or the read's alignment is unknown."""
    if read.ctc is None or not pack.separated:
        return None
    for template, position in pack.separated:
        if len(template) != len(text):
            continue
        rivals = [t for t in pack.templates
                  if t != template and len(t) == len(text) and "l" not in t]
        if not rivals:
            continue
        probs, charset = read.ctc.probs, read.ctc.charset
        spans = read.ctc.spans
        if len(spans) != len(text):
            return None
        excess = gap_excess(spans, position)
        if excess is None:
            return None
        layouts = [template, *rivals]
        paths = [decode_aligned(probs, charset, spans, t, read.ctc.best_log_prob)
                 for t in layouts]
        separator, band = separator_log_ratio(excess), band_log_ratio(read.blue_band)
        bonus = [(separator if k == 0 else 0.0) + (band if t in pack.banded else 0.0)
                 for k, t in enumerate(layouts)]
        # Each layout's own probability of the spelling, as _arbitrate weighs packs: a
        # digit position allows 10 characters, a letter one 26, so one specific old plate
        # is 26/10 times likelier under its layout than a Mercosul spelling under its own.
        scored = [(p.log_prob + bonus[k] + (layout_log_prior(pack, p.text) or 0.0), -k, p)
                  for k, p in enumerate(paths) if p is not None]
        if not scored:
            return None
        _, _, path = max(scored)
        if path.text == read.text:
            return read
        return Read(path.text, path.char_confidences, read.kind, (), read.ctc, read.blue_band)
    return None


def _decode_to_layout(read: Read, kind: str, packs: Sequence[Pack]) -> FormattedRead:
    """The read decoded again under each enabled template within one character of its
    length (fixable packs only); the most probable fit, if close enough to greedy."""
    if read.ctc is None:
        return FormattedRead(read, None)
    probs, charset = read.ctc.probs, read.ctc.charset
    best: tuple[float, str, tuple[float, ...], str] | None = None
    candidates = [(pack.name, template) for pack in packs
                  if pack.kind == kind and pack.fixable
                  for template in dict.fromkeys(pack.templates)
                  if "l" not in template and abs(len(template) - len(read.text)) <= 1]
    paths = decode_templates(probs, charset, [t for _, t in candidates])
    for (name, _), path in zip(candidates, paths, strict=True):
        if path is not None and (best is None or path.log_prob > best[0]):
            best = (path.log_prob, path.text, path.char_confidences, name)
    if best is None or best[0] < read.ctc.best_log_prob - MAX_DECODE_LOSS:
        return FormattedRead(read, None)
    _, text, confs, name = best
    return FormattedRead(Read(text, confs, read.kind, (), read.ctc, read.blue_band), name)
