"""Template-constrained CTC decoding, checked against brute force, and its use by the
format packs."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

import edgeocr.core.ctc as ctc
from edgeocr.core.charset import DEFAULT_CHARSET, encode
from edgeocr.core.ctc import (
    best_path_log_prob,
    character_spans,
    decode_aligned,
    decode_template,
    decode_templates,
    gap_excess,
    text_log_prob,
)
from edgeocr.core.types import CTCOutput, Read
from edgeocr.formats import DEFAULT_PACKS, apply_formats

SMALL = "01AB"


def _collapse(seq: tuple[int, ...]) -> str:
    out, prev = [], 0
    for c in seq:
        if c and c != prev:
            out.append(SMALL[c - 1])
        prev = c
    return "".join(out)


def _fits(text: str, template: str) -> bool:
    return len(text) == len(template) and all(
        w == "A" or (w == "D" and ch.isdigit()) or (w == "L" and ch.isalpha())
        for ch, w in zip(text, template, strict=True))


def test_matches_brute_force_over_every_alignment() -> None:
    rng = np.random.default_rng(0)
    templates = ["LD", "DD", "A", "LL", "DLD", "AAA"]
    for trial in range(36):
        steps = int(rng.integers(2, 7))
        probs = rng.dirichlet(np.full(5, 0.5), size=steps)
        template = templates[trial % len(templates)]
        best: tuple[float, str] | None = None
        for seq in itertools.product(range(5), repeat=steps):
            text = _collapse(seq)
            if _fits(text, template):
                lp = float(np.log(probs[np.arange(steps), list(seq)]).sum())
                if best is None or lp > best[0]:
                    best = (lp, text)
        got = decode_template(probs, SMALL, template)
        if best is None:
            assert got is None
        else:
            assert got is not None and abs(got.log_prob - best[0]) < 1e-9
            assert got.text == best[1] and _fits(got.text, template)
            assert got.log_prob <= best_path_log_prob(probs) + 1e-9
    # Several templates at once give the same answers as one at a time.
    probs = rng.dirichlet(np.full(5, 0.5), size=6)
    together = decode_templates(probs, SMALL, ["LD", "DDD", "DL", "A"])
    alone = [decode_template(probs, SMALL, t) for t in ["LD", "DDD", "DL", "A"]]
    assert together == alone


def _probs_for(path: str, steps_per_char: int = 3, sure: float = 0.9) -> np.ndarray:
    """Per-step probabilities spelling ``path`` ('-' = blank step), the rest spread out."""
    n_cls = len(DEFAULT_CHARSET) + 1
    rows = []
    for ch in path:
        cls = 0 if ch == "-" else encode(ch)[0]
        for _ in range(steps_per_char):
            row = np.full(n_cls, (1 - sure) / (n_cls - 1))
            row[cls] = sure
            rows.append(row)
    return np.array(rows, np.float32)


def test_a_character_lost_in_a_blank_is_recovered_by_the_layout() -> None:
    # Greedy reads "ABC123" (6 chars): the 4th digit's step is mostly blank, but a '7' is
    # its runner-up. The br layout LLLDDDD asks for 7 characters and gets them.
    probs = _probs_for("-A-B-C-1-2-3-")
    probs = np.concatenate([probs, probs[-3:]])
    probs[-3:] = 0.01 / 36
    probs[-3:, 0] = 0.6
    probs[-3:, encode("7")[0]] = 0.39
    read = Read("ABC123", (0.9,) * 6, "plate", (), CTCOutput(probs, DEFAULT_CHARSET))
    fixed = apply_formats(read, "plate", ["br"])
    assert fixed.format == "br" and fixed.read.text == "ABC1237"
    assert len(fixed.read.char_confidences) == 7
    # Without the probabilities the read cannot be re-decoded: kept, flagged.
    bare = Read("ABC123", (0.9,) * 6, "plate")
    assert apply_formats(bare, "plate", ["br"]).format is None


def test_an_improbable_layout_is_not_forced() -> None:
    # Six sure characters and nothing else: making a seventh costs far more than the limit.
    probs = _probs_for("-A-B-C-1-2-3-", sure=0.999)
    read = Read("ABC123", (0.999,) * 6, "plate", (), CTCOutput(probs, DEFAULT_CHARSET))
    out = apply_formats(read, "plate", ["br"])
    assert out.format is None and out.read.text == "ABC123"


def test_character_spans_follow_the_greedy_path() -> None:
    probs = _probs_for("-AA-A-B--C", steps_per_char=1)
    a, b, c = (encode(ch)[0] for ch in "ABC")
    # "AA" with no blank between is one character, as CTC collapses it.
    assert character_spans(probs) == [(a, 1, 2), (a, 4, 4), (b, 6, 6), (c, 9, 9)]
    assert character_spans(_probs_for("---", steps_per_char=1)) == []


def test_gap_excess_measures_one_gap_against_the_others() -> None:
    spans = character_spans(_probs_for("-A-B-C---1-2-3-4-", steps_per_char=1))
    assert len(spans) == 7
    assert gap_excess(spans, 3) == 2.0  # 3 blank steps where the others have 1
    assert gap_excess(spans, 1) == 0.0
    assert gap_excess(spans, 0) is None and gap_excess(spans, 7) is None
    assert gap_excess(spans[:2], 1) is None


def _br_read(spacing: str, fifth_letter: float) -> Read:
    """A 7-character Brazilian read whose fifth character is 'I' with ``fifth_letter``
    probability and '1' with the rest; ``spacing`` is the blank run between C and 4."""
    probs = _probs_for(f"-A-B-C{spacing}4-X-5-6-", steps_per_char=1, sure=0.95)
    step = 6 + len(spacing) + 2  # the "X" step
    probs[step] = 1e-4
    probs[step, encode("I")[0]] = fifth_letter
    probs[step, encode("1")[0]] = 1 - fifth_letter - 1e-4 * 35
    greedy = "ABC4I56" if fifth_letter > 0.5 else "ABC4156"
    return Read(greedy, (0.95,) * 7, "plate", (), CTCOutput(probs, DEFAULT_CHARSET))


def test_a_printed_separator_weighs_for_the_old_brazilian_layout() -> None:
    # The model leans to Mercosul's 'I' (0.6 vs 0.4); a wide gap after the third character
    # (an old plate's dash) is worth more than that lean, a plain gap is not.
    wide = apply_formats(_br_read("----", 0.6), "plate", ["br"])
    assert (wide.format, wide.read.text) == ("br", "ABC4156")
    plain = apply_formats(_br_read("-", 0.6), "plate", ["br"])
    assert (plain.format, plain.read.text) == ("br", "ABC4I56")
    # Characters packed as tight as their neighbours are evidence against a separator.
    tight = apply_formats(_br_read("", 0.4), "plate", ["br"])
    assert tight.read.text == "ABC4I56"
    # A sure letter is not overruled by the gap, and packs without separators ignore it.
    sure = apply_formats(_br_read("----", 0.99), "plate", ["br"])
    assert sure.read.text == "ABC4I56"
    assert apply_formats(_br_read("----", 0.6), "plate", ["eu"]).read.text == "ABC4I56"


def test_each_layout_weighs_its_own_spelling_probability() -> None:
    # No gap or band evidence either way (a grey crop, a gap one step wider than the rest):
    # a slight lean to Mercosul's 'I' (0.6 vs 0.4) loses to the layouts' priors, as one
    # specific old plate (10 digits possible at that place) is 26/10 times likelier under
    # its layout than one Mercosul spelling (26 letters); a clear lean (0.75) does not.
    assert apply_formats(_br_read("--", 0.6), "plate", ["br"]).read.text == "ABC4156"
    assert apply_formats(_br_read("--", 0.75), "plate", ["br"]).read.text == "ABC4I56"


def test_the_colour_band_weighs_mercosul_against_the_old_layout() -> None:
    # A gap one step wider than the others says little either way, so the model's lean to
    # Mercosul's 'I' (0.75) stands; a colour crop without the blue band across its top is
    # evidence against Mercosul, one with it is evidence for it, and a grey crop is none.
    def band(share: float | None) -> str:
        read = replace(_br_read("--", 0.75), blue_band=share)
        return apply_formats(read, "plate", ["br"]).read.text

    assert band(None) == "ABC4I56"
    assert band(0.0) == "ABC4156"
    assert band(0.5) == "ABC4I56"
    # With a wide gap (the old die's dash) the band still wins Mercosul back.
    wide = replace(_br_read("----", 0.75), blue_band=0.5)
    assert apply_formats(wide, "plate", ["br"]).read.text == "ABC4I56"
    # The region-free packs weigh it the same way, and a sure letter is not overruled.
    free = replace(_br_read("", 0.9), blue_band=0.0)
    assert apply_formats(free, "plate", DEFAULT_PACKS).read.text == "ABC4156"
    sure = replace(_br_read("--", 0.999), blue_band=0.0)
    assert apply_formats(sure, "plate", ["br"]).read.text == "ABC4I56"


def test_forced_alignment_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    for trial in range(30):
        steps = int(rng.integers(1, 7))
        probs = rng.dirichlet(np.full(5, 0.5), size=steps)
        text = ["0", "A", "AA", "0B", "A1A", "BB1"][trial % 6]
        best: float | None = None
        for seq in itertools.product(range(5), repeat=steps):
            if _collapse(seq) == text:
                lp = float(np.log(probs[np.arange(steps), list(seq)]).sum())
                best = lp if best is None else max(best, lp)
        got = text_log_prob(probs, SMALL, text)
        if best is None:
            assert got is None
        else:
            assert got is not None and abs(got - best) < 1e-9
    assert text_log_prob(probs, SMALL, "AZ") is None  # outside the charset
    greedy = _probs_for("-A-B-C-1-", steps_per_char=2)
    assert text_log_prob(greedy, DEFAULT_CHARSET, "ABC1") == pytest.approx(
        best_path_log_prob(greedy))


def test_aligned_decode_swaps_in_place() -> None:
    # The fifth character reads I (0.6) over 1 (0.39): the template LLLDDDD takes the 1
    # at the same steps, and the exact decoder agrees.
    probs = _probs_for("-A-B-C-4-X-5-6-", steps_per_char=2, sure=0.95)
    probs[18:20] = 1e-4
    probs[18:20, encode("I")[0]] = 0.6
    probs[18:20, encode("1")[0]] = 0.4 - 36e-4
    spans = character_spans(probs)
    aligned = decode_aligned(probs, DEFAULT_CHARSET, spans, "LLLDDDD")
    exact = decode_template(probs, DEFAULT_CHARSET, "LLLDDDD")
    assert aligned is not None and exact is not None
    assert aligned.text == exact.text == "ABC4156"
    assert aligned.log_prob == pytest.approx(exact.log_prob)
    assert aligned.char_confidences[4] == pytest.approx(0.4 - 36e-4)
    kept = decode_aligned(probs, DEFAULT_CHARSET, spans, "LLLDLDD")
    assert kept is not None and kept.text == "ABC4I56"
    assert kept.log_prob == pytest.approx(best_path_log_prob(probs))
    assert decode_aligned(probs, DEFAULT_CHARSET, spans, "LLDD") is None


def test_folding_certain_blanks_keeps_every_acceptable_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(5)
    templates = ["LLLDDDD", "LLLDLDD", "LLDDDD", "LLLDDDDD", "AAAAAA"]
    compared = folded_steps = 0
    for _ in range(25):
        # A plate-like path: characters 1-2 steps wide between runs of sure blanks, and a
        # few uncertain steps (a look-alike or a blank close behind) that make other
        # layouts nearly as probable as greedy.
        text = "".join(rng.choice(list("ABCIO0128"), size=7).tolist())
        path = "".join("-" * int(rng.integers(1, 5)) + ch * int(rng.integers(1, 3))
                       for ch in text) + "--"
        probs = _probs_for(path, steps_per_char=1, sure=0.999)
        for t in rng.choice(np.flatnonzero(np.array(list(path)) != "-"), 2, replace=False):
            probs[t] = 1e-4
            probs[t, encode(path[t])[0]] = 0.5
            probs[t, encode(str(rng.choice(list("BIO18"))))[0]] += 0.3
            probs[t, 0] = 1 - probs[t, 1:].sum()
        folded_steps += len(probs) - len(ctc._compress_blanks(probs)[0])
        folded = decode_templates(probs, DEFAULT_CHARSET, templates)
        monkeypatch.setattr(ctc, "CERTAIN_BLANK", float("inf"))
        full = decode_templates(probs, DEFAULT_CHARSET, templates)
        monkeypatch.undo()
        limit = best_path_log_prob(probs) - 5.0
        for a, b in zip(folded, full, strict=True):
            if b is not None and b.log_prob >= limit:
                compared += 1
                assert a is not None and a.text == b.text
                assert a.log_prob == pytest.approx(b.log_prob)
    assert compared >= 20 and folded_steps >= 100  # the check above really ran


def _ambiguous_read(eight: float, text: str = "A8C1234", pos: int = 1, alt: str = "B") -> Read:
    """``text`` whose character at ``pos`` is itself with probability ``eight`` and ``alt``
    with the rest."""
    probs = _probs_for("-" + "-".join(text) + "-", steps_per_char=1, sure=0.97)
    step = 2 * pos + 1
    probs[step] = 1e-5
    probs[step, encode(text[pos])[0]] = eight
    probs[step, encode(alt)[0]] = 1 - eight - 35e-5
    return Read(text, (0.97,) * len(text), "plate", (), CTCOutput(probs, DEFAULT_CHARSET))


def test_region_free_packs_weigh_each_layout_against_the_evidence() -> None:
    # With us, eu and br enabled, us fits any read unchanged; a strict layout's fix is taken
    # when the model half believes it (8 at 0.6, B at 0.4: ABC1234 fits br and eu)...
    half = apply_formats(_ambiguous_read(0.6), "plate", DEFAULT_PACKS)
    assert half.read.text == "ABC1234" and half.format in ("eu", "br", "us")
    # ...never against a confident character (8 at 0.9995: a US vanity-style A8C1234).
    sure = apply_formats(_ambiguous_read(0.9995), "plate", DEFAULT_PACKS)
    assert (sure.read.text, sure.format) == ("A8C1234", "us")
    # A single pack without a second hypothesis keeps the fewest-fix rule, as before.
    assert apply_formats(_ambiguous_read(0.9995), "plate", ["br"]).read.text == "ABC1234"


def test_us_weighs_the_standard_state_layouts_against_a_vanity_plate() -> None:
    # A California 6LIK274 whose last 4 leans to L: the standard DLLLDDD layout fixes it...
    ca = apply_formats(_ambiguous_read(0.6, "6LIK27L", 6, "4"), "plate", ["us"])
    assert (ca.read.text, ca.format) == ("6LIK274", "us")
    # ...a sure L stays (a vanity plate), and without probabilities us fixes nothing.
    vanity = _ambiguous_read(0.9995, "6LIK27L", 6, "4")
    assert apply_formats(vanity, "plate", ["us"]).read.text == "6LIK27L"
    bare = Read("6LIK27L", (0.6,) * 7, "plate")
    assert apply_formats(bare, "plate", ["us"]).read.text == "6LIK27L"


def test_region_free_packs_weigh_the_brazilian_separator_too() -> None:
    # The same Brazilian reads with us, eu and br enabled: the dash's gap still counts for
    # the old layout (eu's Polish LLLDLDD would keep the greedy ABC4I56)...
    wide = apply_formats(_br_read("----", 0.6), "plate", DEFAULT_PACKS)
    assert (wide.format, wide.read.text) == ("br", "ABC4156")
    # ...and a tight gap with a clear lean to the letter keeps Mercosul. (At a 0.6 lean
    # the common US ABC1234 layout wins: without a region that is the likelier plate.)
    tight = apply_formats(_br_read("", 0.9), "plate", DEFAULT_PACKS)
    assert (tight.format, tight.read.text) == ("br", "ABC4I56")
