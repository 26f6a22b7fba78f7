"""Write a synthetic set as ``labels.csv`` (via ``edgeocr.data.labels``) plus a ``meta.csv``."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from edgeocr.data.labels import LabelRow, write_labels


def write_dataset(
    root: Path, rows: Sequence[LabelRow], geometry: str, region: str = "synth"
) -> int:
    """``root/labels.csv`` with ``rows`` and ``root/meta.csv`` with one row per image
    (``geometry`` is ``crop`` for recognizer crops, ``quad`` for scenes). Returns the row count."""
    n = write_labels(root / "labels.csv", rows)
    seen: dict[str, None] = dict.fromkeys(r.image for r in rows)
    with (root / "meta.csv").open("w", encoding="utf-8", newline="") as handle:
        w = csv.writer(handle, lineterminator="\n")
        w.writerow(["image", "geometry", "region", "processing"])
        for image in seen:
            w.writerow([image, geometry, region, "synthetic"])
    return n
