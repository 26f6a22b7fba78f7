"""How well reads of real plate crops match a known-plates list.

Reproduces the figures behind ``edgeocr.track.LOOKALIKES``: every plate crop of a labelled
folder (``labels.csv``; crops warped from box/quad rows as ``edgeocr eval`` makes them) is
read with the shipped (or given) recognizer and its region's format packs, then matched with
``edgeocr.track.match_known`` against a list holding every distinct plate of the folder.
Per maximum distance it counts reads matched to their own plate ("right"), to another one
("wrong") or to none, with look-alike swaps free (the shipped matcher) and with plain edit
distance (before). "Stranger" is the share of reads that match some plate of the list once
their own plate is taken out of it: what a car not on the list risks.

Nothing is chosen from these figures: the look-alike pairs are the ones the format packs fix.

    .venv/bin/python benchmarks/known_match.py ../shared/realdata/dev [--recognizer R.tflite]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from edgeocr.cli.eval import pad_to_margin
from edgeocr.core.charset import edit_distance
from edgeocr.data.labels import load_labelled_dir
from edgeocr.evaluation.samples import packs_for_region, recognition_samples
from edgeocr.formats import apply_formats
from edgeocr.recognize import Recognizer
from edgeocr.track import match_known

Matcher = Callable[[str, dict[str, str], int], "tuple[str, str, int] | None"]


def plain_match(text: str, known: dict[str, str], max_distance: int
                ) -> tuple[str, str, int] | None:
    """The matcher before look-alike swaps were free: nearest by plain edit distance."""
    hits = sorted((edit_distance(text, p), p) for p in known)
    if not hits or hits[0][0] > max_distance:
        return None
    return hits[0][1], known[hits[0][1]], hits[0][0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path, help="folder with labels.csv")
    ap.add_argument("--recognizer", type=Path, default=None)
    args = ap.parse_args(argv)
    ds = load_labelled_dir(args.data)
    rec = Recognizer(args.recognizer, threads=1)
    pairs: list[tuple[str, str]] = []
    for s in recognition_samples(ds):
        crop = pad_to_margin(s.crop) if s.geometry == "crop" else s.crop
        read = apply_formats(rec.read(crop, s.kind), s.kind, packs_for_region(s.region, s.kind))
        pairs.append((s.text, read.read.text))
    if not pairs:
        print(f"known_match: no plate crops in {args.data}", file=sys.stderr)
        return 2
    plates = {t: t for t, _ in pairs}
    n = len(pairs)
    print(f"{n} plate crops, {len(plates)} distinct plates on the list")
    print("| matcher | max distance | right | wrong | none | stranger |")
    print("|---|---|---|---|---|---|")
    matchers: list[tuple[str, Matcher]] = [("plain edits", plain_match),
                                           ("look-alike swaps free", match_known)]
    # The list a car not on it is matched against: every plate but its own.
    others = {t: {p: p for p in plates if p != t} for t in plates}
    for name, match in matchers:
        for max_d in (0, 1, 2):
            right = wrong = stranger = 0
            for truth, text in pairs:
                hit = match(text, plates, max_d)
                right += hit is not None and hit[0] == truth
                wrong += hit is not None and hit[0] != truth
                stranger += match(text, others[truth], max_d) is not None
            print(f"| {name} | {max_d} | {right / n:.1%} | {wrong / n:.1%} | "
                  f"{(n - right - wrong) / n:.1%} | {stranger / n:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
