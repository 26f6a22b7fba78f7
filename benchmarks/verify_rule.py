"""False positives per photo on real plate-free photos, with and without read verification.

Reproduces the choice of ``edgeocr.pipeline.VERIFY_SCORE``, of the strict band under it
(``STRICT_VERIFY_SCORE`` / ``STRICT_VERIFY_CONFIDENCE``) and of ``ZOOM_KEEP_SCORE`` for the
shipped (or given) models. The rules live in ``edgeocr.evaluation.bands`` and the product
command is ``edgeocr bands``; this script keeps the command line the docs have always used:

    .venv/bin/python benchmarks/verify_rule.py ../shared/backgrounds/real-negatives \\
        [--detector D.tflite] [--recognizer R.tflite] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from edgeocr.detect import Detector
from edgeocr.evaluation.bands import GRID, derive, even_spread, report, write_json
from edgeocr.recognize import Recognizer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("negatives", type=Path)
    ap.add_argument("--detector", type=Path, default=None)
    ap.add_argument("--recognizer", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--no-second-look", action="store_true",
                    help="Read only the warped crop (the pipeline also reads the box by default).")
    ap.add_argument("--no-zoom", action="store_true",
                    help="Warp from the first pass's corners (the pipeline zooms by default).")
    args = ap.parse_args(argv)
    photos = even_spread(args.negatives)  # the converter's own spread of <= 600 photos
    if not photos:
        print(f"verify_rule: no images under {args.negatives}", file=sys.stderr)
        return 2
    det = Detector(args.detector, threads=1, score_threshold=min(GRID))
    rec = Recognizer(args.recognizer, threads=1)

    done = 0

    def progress(step: int) -> None:
        nonlocal done
        done += step
        if done % 100 == 0:
            print(f"{done}/{len(photos)} photos", file=sys.stderr)

    @contextmanager
    def counter(zoom_from: float) -> Iterator[Callable[[int], None]]:
        nonlocal done
        done = 0
        print(f"reading, zoom from {zoom_from:.2f}", file=sys.stderr)
        yield progress

    choice, _ = derive(photos, det, rec, second_look=not args.no_second_look,
                       zoom=not args.no_zoom, progress_for=counter)
    print(report(choice))
    if args.json is not None:
        write_json(choice, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
