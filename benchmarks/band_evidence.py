"""The Mercosul band evidence of the ``br`` format pack, measured on synthetic plates.

Reproduces ``edgeocr.formats.BAND_EVIDENCE``: renders old Brazilian plates (grey, red or
white, no band) and Mercosul plates (a blue band across the top) the way recognizer training
crops are made, warps each in colour from a detector-like quad to the recognizer's input
size, and tabulates ``edgeocr.recognize.blue_band_share`` of the crops that are not grey (IR
captures give no colour cue and no evidence). The log likelihood ratio of each bin is
log P(bin | Mercosul) - log P(bin | old). No real photo is involved; the model is not used.

    .venv/bin/python benchmarks/band_evidence.py [--n 1000] [--size 160x40]
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np
from edgeocr_convert.synth.crops import capture, detector_quad

from edgeocr.core.geometry import warp_quad
from edgeocr.formats import BAND_EVIDENCE, BAND_EVIDENCE_CAP
from edgeocr.recognize import blue_band_share

BINS = ((0.25, "0.25+"), (0.1, "0.10-0.25"), (0.03, "0.03-0.10"), (0.0, "under 0.03"))


def shares(style: str, n: int, seed: int, width: int, height: int) -> tuple[list[float], int]:
    """Blue shares of the colour crops of ``n`` captures, and how many were grey."""
    rng = np.random.default_rng(seed)
    out: list[float] = []
    grey = 0
    for _ in range(n):
        cap = capture(rng, "plate", style)
        crop = warp_quad(cap.image, detector_quad(rng, cap.quad), width, height)
        s = blue_band_share(crop)
        if s is None:
            grey += 1
        else:
            out.append(s)
    return out, grey


def share(values: list[float], lo: float, hi: float) -> float:
    return sum(1 for v in values if lo <= v < hi) / max(1, len(values))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="crops per style")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--size", default="160x40", help="crop WIDTHxHEIGHT (recognizer input)")
    args = ap.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    old, old_grey = shares("br_old", args.n, args.seed, width, height)
    merc, merc_grey = shares("br_mercosul", args.n, args.seed + 1, width, height)
    print(f"{len(old)} old and {len(merc)} Mercosul colour crops (grey, no evidence: "
          f"{old_grey} and {merc_grey} of {args.n} each)")
    print(f"| blue share of the top third | old | Mercosul | log ratio | in BAND_EVIDENCE "
          f"(held within +-{BAND_EVIDENCE_CAP:g}) |")
    print("|---|---|---|---|---|")
    hi = math.inf
    shipped = dict(BAND_EVIDENCE)
    for lo, name in BINS:
        p, q = share(old, lo, hi), share(merc, lo, hi)
        ratio = math.log(max(q, 1e-3) / max(p, 1e-3))
        now = shipped.get(lo)
        print(f"| {name} | {p:.3f} | {q:.3f} | {ratio:+.2f} | "
              f"{'-' if now is None else f'{now:+.2f}'} |")
        hi = lo
    return 0


if __name__ == "__main__":
    sys.exit(main())
