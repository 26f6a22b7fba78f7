"""Template-constrained CTC decoding: the most probable alignment whose text fits a layout.

Greedy decoding takes the best class at every step; when that text fits none of the
enabled plate layouts (a character dropped into a blank, a letter where a digit must be),
this finds the best single path through the same (T, C) probabilities whose text has the
template's length and a letter / digit at each position the template demands. It is a
Viterbi pass over the usual CTC lattice (blank, character, blank, ...), where a character
state also carries *which* character of its class it is, so the search stays exact:
states are (position, character) plus one blank state per gap, T x (N x C) work.

Templates use the format-pack alphabet: ``L`` letter, ``D`` digit, ``A`` either.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edgeocr.core.charset import BLANK_INDEX

_NEG = -1e30


@dataclass(frozen=True)
class TemplatePath:
    """The best path for one template: its text, per-character confidence (the highest
    probability of the character over its steps) and the path's log probability."""

    text: str
    char_confidences: tuple[float, ...]
    log_prob: float


def best_path_log_prob(probs: npt.NDArray[np.floating]) -> float:
    """Log probability of the unconstrained best path (what greedy decoding follows)."""
    return float(np.log(np.maximum(probs.max(axis=1), 1e-12)).sum())


@functools.lru_cache(maxsize=512)
def _class_mask(template: str, charset: str) -> npt.NDArray[np.bool_]:
    """(N, C) which classes each template position accepts (column 0 is the blank). Cached:
    do not modify the result."""
    digits = np.array([False] + [c.isdigit() for c in charset])
    letters = np.array([False] + [c.isalpha() for c in charset])
    rows = []
    for want in template:
        if want == "D":
            rows.append(digits)
        elif want in "Ll":
            rows.append(letters)
        elif want == "A":
            rows.append(digits | letters)
        else:
            raise ValueError(f"template {template!r}: unknown position {want!r}")
    return np.stack(rows)


def decode_template(
    probs: npt.NDArray[np.floating], charset: str, template: str
) -> TemplatePath | None:
    """Best CTC path through ``probs`` (T, 1 + len(charset)) whose text fits ``template``;
    None when T is too short to hold it."""
    return decode_templates(probs, charset, [template])[0]


def decode_templates(
    probs: npt.NDArray[np.floating], charset: str, templates: Sequence[str]
) -> list[TemplatePath | None]:
    """:func:`decode_template` for several templates at once; templates of equal length
    share one vectorised pass."""
    out: list[TemplatePath | None] = [None] * len(templates)
    probs, lp = _compress_blanks(probs)
    by_len: dict[int, list[int]] = {}
    for k, tpl in enumerate(templates):
        by_len.setdefault(len(tpl), []).append(k)
    for idx in by_len.values():
        for k, path in zip(idx, _decode_same_length(probs, lp, charset,
                                                    [templates[k] for k in idx]), strict=True):
            out[k] = path
    return out


CERTAIN_BLANK = 6.0
"""A step whose every character is at least this many nats less likely than the blank is a
certain blank: a path putting a character there is over 6 nats (1/400) less probable than
the greedy path, far below anything the format packs accept (``MAX_DECODE_LOSS``, 5 nats)."""


def _compress_blanks(
    probs: npt.NDArray[np.floating], margin: float = CERTAIN_BLANK,
) -> tuple[npt.NDArray[np.floating], npt.NDArray[np.float64]]:
    """(probs, log probs) with each run of certain blanks after the first step of the run
    folded into that step (log probabilities summed), so the lattice is about half as long.
    Every path within ``margin`` nats of the greedy one keeps its
    text and log probability: it has no character on those steps, and one blank step still
    separates two equal characters. Any other path can only lose probability."""
    lp = np.log(np.maximum(probs.astype(np.float64), 1e-12))
    certain = lp[:, 1:].max(axis=1) < lp[:, BLANK_INDEX] - margin
    folded = certain.copy()
    folded[1:] &= certain[:-1]
    folded[0] = False
    if not folded.any():
        return probs, lp
    starts = np.flatnonzero(~folded)
    return probs[starts], np.add.reduceat(lp, starts, axis=0)


def _decode_same_length(
    probs: npt.NDArray[np.floating], lp: npt.NDArray[np.float64], charset: str,
    templates: list[str],
) -> list[TemplatePath | None]:
    t_steps, n_cls = probs.shape
    n = len(templates[0])
    k_n = len(templates)
    if n == 0 or n_cls != len(charset) + 1 or t_steps < n:
        return [None] * k_n
    allowed = np.stack([_class_mask(t, charset) for t in templates])  # (K, n, C)
    blank = lp[:, BLANK_INDEX]
    kk = np.arange(k_n)[:, None]
    nn = np.arange(n)[None, :]
    # chars[k, i, c]: best score ending in position i as class c; gaps[k, g]: best score
    # ending in the blank before position g (g = n: the trailing blank).
    chars = np.where(allowed[:, 0], lp[0][None, :], _NEG)[:, None, :].repeat(n, axis=1)
    chars[:, 1:] = _NEG
    gaps = np.full((k_n, n + 1), _NEG)
    gaps[:, 0] = blank[0]
    # Back-pointers per step: a character state came from 0 (itself), 1 (the gap before
    # it) or 2 + c' (position i-1 as class c'); a gap from 0 (itself) or 1 (the character
    # before it, whose class is kept in gap_from_cls).
    came_char = np.zeros((t_steps, k_n, n, n_cls), np.int32)
    came_gap = np.zeros((t_steps, k_n, n + 1), np.bool_)
    gap_from_cls = np.zeros((t_steps, k_n, n + 1), np.int32)
    cls_idx = np.arange(n_cls)[None, None, :]
    for t in range(1, t_steps):
        # Best previous class per position, and the runner-up for when the best is the
        # same class (two equal characters need a blank between them).
        best_cls = chars.argmax(axis=2)  # (K, n)
        best_val = chars.max(axis=2)
        masked = chars.copy()
        masked[kk, nn, best_cls] = _NEG
        second_cls = masked.argmax(axis=2)
        second_val = masked.max(axis=2)
        from_gap = np.broadcast_to(gaps[:, :n, None], chars.shape)
        better = from_gap > chars
        new_chars = np.where(better, from_gap, chars)
        src = better.astype(np.int32)
        if n > 1:
            pb = best_cls[:, :-1, None]
            same = cls_idx == pb
            direct_val = np.where(same, second_val[:, :-1, None], best_val[:, :-1, None])
            direct_cls = np.where(same, second_cls[:, :-1, None], pb)
            sub = new_chars[:, 1:]
            better = direct_val > sub
            new_chars[:, 1:] = np.where(better, direct_val, sub)
            src[:, 1:] = np.where(better, 2 + direct_cls, src[:, 1:])
        came_char[t] = src
        better_gap = best_val > gaps[:, 1:]
        new_gaps = gaps.copy()
        new_gaps[:, 1:] = np.where(better_gap, best_val, gaps[:, 1:])
        came_gap[t, :, 1:] = better_gap
        gap_from_cls[t, :, 1:] = best_cls
        chars = np.where(allowed, new_chars + lp[t][None, None, :], _NEG)
        gaps = new_gaps + blank[t]
    return [_backtrack(probs, charset, chars[k], gaps[k], came_char[:, k], came_gap[:, k],
                       gap_from_cls[:, k]) for k in range(k_n)]


def _backtrack(
    probs: npt.NDArray[np.floating], charset: str, chars: npt.NDArray[np.float64],
    gaps: npt.NDArray[np.float64], came_char: npt.NDArray[np.int32],
    came_gap: npt.NDArray[np.bool_], gap_from_cls: npt.NDArray[np.int32],
) -> TemplatePath | None:
    n = chars.shape[0]
    end_char = int(chars[n - 1].argmax())
    log_prob = float(max(chars[n - 1, end_char], gaps[n]))
    if log_prob <= _NEG / 2:
        return None
    # Walk back from the better of "last character" and "trailing blank".
    state: tuple[bool, int, int] = (
        (True, n - 1, end_char) if chars[n - 1, end_char] >= gaps[n] else (False, n, 0)
    )
    labels = [0] * n
    conf = [0.0] * n
    for t in range(probs.shape[0] - 1, 0, -1):
        is_char, i, c = state
        if is_char:
            labels[i] = c
            conf[i] = max(conf[i], float(probs[t, c]))
            s = int(came_char[t, i, c])
            state = (True, i, c) if s == 0 else (False, i, 0) if s == 1 else (True, i - 1, s - 2)
        elif came_gap[t, i]:
            state = (True, i - 1, int(gap_from_cls[t, i]))
    is_char, i, c = state
    if is_char:
        labels[i] = c
        conf[i] = max(conf[i], float(probs[0, c]))
    text = "".join(charset[c - 1] for c in labels)
    return TemplatePath(text, tuple(conf), log_prob)


def character_spans(probs: npt.NDArray[np.floating]) -> list[tuple[int, int, int]]:
    """(class, first step, last step) of each character of the greedy read, in order (a
    run of one class between blanks or other classes is one character, as CTC collapses)."""
    best = probs.argmax(axis=1)
    spans: list[tuple[int, int, int]] = []
    prev = BLANK_INDEX
    for t, c in enumerate(best.tolist()):
        if c != BLANK_INDEX and c != prev:
            spans.append((c, t, t))
        elif c != BLANK_INDEX:
            spans[-1] = (c, spans[-1][1], t)
        prev = c
    return spans


def gap_excess(spans: Sequence[tuple[int, int, int]], after: int) -> float | None:
    """How many more blank steps separate character ``after - 1`` from character ``after``
    than the median gap between the other neighbours (a printed separator, a dash or a dot
    the charset has no class for, shows as a wider gap); None with fewer than 3 characters
    or ``after`` outside them."""
    if len(spans) < 3 or not 0 < after < len(spans):
        return None
    gaps = [spans[i + 1][1] - spans[i][2] - 1 for i in range(len(spans) - 1)]
    here = gaps.pop(after - 1)
    gaps.sort()  # a handful of gaps: a plain median beats numpy's call overhead
    mid = len(gaps) // 2
    median = gaps[mid] if len(gaps) % 2 else (gaps[mid - 1] + gaps[mid]) / 2
    return float(here - median)


FORCED_FOLD = 20.0
"""Certain-blank margin for :func:`text_log_prob`: its value is exact for every spelling
within 20 nats of the greedy path and lower otherwise. The format packs' layout priors differ
by at most about 15 nats (an 8-letter read under the loose ``us`` against a 7-character
Brazilian layout), so a spelling further off than that can never win on its prior."""


def text_log_prob(probs: npt.NDArray[np.floating], charset: str, text: str) -> float | None:
    """Log probability of the best single CTC path through ``probs`` whose text is exactly
    ``text`` (a forced alignment); None when ``text`` has a character outside ``charset``
    or T is too short to hold it."""
    idx = [charset.find(c) + 1 for c in text]
    if not text or 0 in idx:
        return None
    # Extended label: blank, c1, blank, c2, ..., blank. A few hundred cells: plain Python
    # beats per-step numpy calls here. Runs of certain blanks are folded first
    # (FORCED_FOLD: exact within that many nats of the greedy path).
    ext = [BLANK_INDEX]
    for c in idx:
        ext += [c, BLANK_INDEX]
    lp = _compress_blanks(probs, FORCED_FOLD)[1][:, ext].tolist()
    s = len(ext)
    # A character state may also be entered from two states back (skipping the blank)
    # unless the previous character is the same.
    skip = [k % 2 == 1 and k >= 3 and ext[k] != ext[k - 2] for k in range(s)]
    neg = _NEG
    score = [neg] * s
    score[0], score[1] = lp[0][0], lp[0][1]
    for row in lp[1:]:
        new = [score[0] + row[0]]
        for k in range(1, s):
            b = score[k] if score[k] > score[k - 1] else score[k - 1]
            if skip[k] and score[k - 2] > b:
                b = score[k - 2]
            new.append(b + row[k])
        score = new
    best = max(score[-1], score[-2])
    return None if best <= neg / 2 else float(best)


def decode_aligned(
    probs: npt.NDArray[np.floating],
    charset: str,
    spans: Sequence[tuple[int, int, int]],
    template: str,
    best_log_prob: float | None = None,
) -> TemplatePath | None:
    """The greedy path's own alignment (``character_spans``) with each character that does
    not fit ``template`` replaced by the likeliest character of the demanded class over its
    steps: the template's best path when the characters stay where greedy put them, which
    is all a same-length choice between look-alikes needs, at a fraction of
    :func:`decode_template`'s cost. None when the lengths differ."""
    if len(spans) != len(template):
        return None
    total = best_path_log_prob(probs) if best_log_prob is None else best_log_prob
    allowed = _class_mask(template, charset)
    chars: list[str] = []
    confs: list[float] = []
    for (c, t0, t1), ok in zip(spans, allowed, strict=True):
        if not ok[c]:
            # Only a swapped character's own steps need log probabilities.
            seg = np.log(np.maximum(probs[t0 : t1 + 1].astype(np.float64), 1e-12)).sum(axis=0)
            new = int(np.where(ok, seg, _NEG).argmax())
            total += float(seg[new] - seg[c])
            c = new
        chars.append(charset[c - 1])
        confs.append(float(probs[t0 : t1 + 1, c].max()))
    return TemplatePath("".join(chars), tuple(confs), total)
