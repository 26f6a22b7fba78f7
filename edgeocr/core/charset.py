"""Character set, text normalisation and greedy CTC decoding.

Recognizer outputs are (T, C) per-step probabilities where class 0 is the CTC blank and
class i (1..C-1) is ``charset[i - 1]``. Blank at 0 matches ``keras.ops.ctc_loss(mask_index=0)``.
"""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt

DEFAULT_CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
BLANK_INDEX = 0

_NOT_ALNUM = re.compile(r"[^A-Z0-9]")


def normalize_text(text: str) -> str:
    """Upper-case and keep A-Z0-9 only (drops spaces, dashes and non-Latin characters
    such as the CCPD province character)."""
    return _NOT_ALNUM.sub("", text.upper())


def encode(text: str, charset: str = DEFAULT_CHARSET) -> list[int]:
    """Label indices (1-based; 0 is blank) for ``text``.

    Raises ValueError naming the first character outside the charset.
    """
    out: list[int] = []
    for ch in text:
        pos = charset.find(ch)
        if pos < 0:
            raise ValueError(f"character {ch!r} of {text!r} is not in the charset {charset!r}")
        out.append(pos + 1)
    return out


def ctc_greedy_decode(
    probs: npt.NDArray[np.floating], charset: str = DEFAULT_CHARSET
) -> tuple[str, tuple[float, ...]]:
    """Best-path CTC decoding of (T, C) probabilities.

    Consecutive repeats collapse, blanks are dropped. A character's confidence is the
    highest probability among the steps of its run (the step that committed to it).
    """
    if probs.ndim != 2 or probs.shape[1] != len(charset) + 1:
        raise ValueError(
            f"expected (T, {len(charset) + 1}) probabilities, got shape {tuple(probs.shape)}"
        )
    best = np.argmax(probs, axis=1)
    best_p = probs[np.arange(len(best)), best]
    text: list[str] = []
    confs: list[float] = []
    prev = BLANK_INDEX
    for cls, p in zip(best.tolist(), best_p.tolist(), strict=True):
        if cls != BLANK_INDEX:
            if cls != prev:
                text.append(charset[cls - 1])
                confs.append(float(p))
            else:
                confs[-1] = max(confs[-1], float(p))
        prev = cls
    return "".join(text), tuple(confs)


def ctc_greedy_decode_alternatives(
    probs: npt.NDArray[np.floating], charset: str = DEFAULT_CHARSET, k: int = 4
) -> tuple[str, tuple[float, ...], tuple[tuple[tuple[str, float], ...], ...]]:
    """:func:`ctc_greedy_decode` plus, per character, the ``k`` best non-blank candidates
    at the step of its run where it was most probable."""
    text, confs = ctc_greedy_decode(probs, charset)
    best = np.argmax(probs, axis=1)
    peaks: list[int] = []
    prev = BLANK_INDEX
    for t, cls in enumerate(best.tolist()):
        if cls != BLANK_INDEX:
            if cls != prev:
                peaks.append(t)
            elif probs[t, cls] > probs[peaks[-1], cls]:
                peaks[-1] = t
        prev = cls
    alts = []
    for t in peaks:
        order = np.argsort(-probs[t, 1:])[:k]
        alts.append(tuple((charset[i], float(probs[t, i + 1])) for i in order.tolist()))
    return text, confs, tuple(alts)


def softmax(logits: npt.NDArray[np.floating], axis: int = -1) -> npt.NDArray[np.float32]:
    """Numerically stable softmax in float32."""
    x = logits.astype(np.float32)
    x = x - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    out: npt.NDArray[np.float32] = (e / e.sum(axis=axis, keepdims=True)).astype(np.float32)
    return out


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions all cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def cer(pred: str, truth: str) -> float:
    """Character error rate: edit distance over the truth's length (1.0 for an empty truth
    read as something, 0.0 for both empty)."""
    if not truth:
        return 0.0 if not pred else 1.0
    return edit_distance(pred, truth) / len(truth)
