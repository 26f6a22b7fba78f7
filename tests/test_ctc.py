"""Template-constrained CTC decoding, checked against brute force, and its use by the
format packs."""

from __future__ import annotations

import itertools

import numpy as np

from edgeocr.core.charset import DEFAULT_CHARSET, encode
from edgeocr.core.ctc import (
    best_path_log_prob,
    character_spans,
    decode_template,
    decode_templates,
    gap_excess,
)
from edgeocr.core.types import CTCOutput, Read
from edgeocr.formats import apply_formats

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
    assert apply_formats(_br_read("----", 0.6), "plate", ["us"]).read.text == "ABC4I56"
