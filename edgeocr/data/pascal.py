"""Pascal-style box CSV, as used for SVHN digit boxes: ``fname,xmin,xmax,ymin,ymax,class_id``.

One row per box; note the column order (both x before both y). The header line is
optional when reading and written by default. ``class_id`` is an integer (for SVHN the
digit 0-9).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from edgeocr.core.types import Box
from edgeocr.data.labels import DatasetError, parse_number

PASCAL_HEADER: tuple[str, ...] = ("fname", "xmin", "xmax", "ymin", "ymax", "class_id")


@dataclass(frozen=True)
class PascalBox:
    """One box: ``box`` is (xmin, ymin, xmax, ymax) in pixels."""

    image: str
    box: Box
    class_id: int


def _parse_row(values: list[str], path: Path, line: int) -> PascalBox:
    if len(values) != len(PASCAL_HEADER):
        raise DatasetError(path, line, f"expected {len(PASCAL_HEADER)} fields "
                                       f"({','.join(PASCAL_HEADER)}), got {len(values)}")
    fname = values[0].strip()
    if not fname:
        raise DatasetError(path, line, "empty fname")
    xmin, xmax, ymin, ymax = (parse_number(v.strip(), name, path, line)
                              for v, name in zip(values[1:5], PASCAL_HEADER[1:5], strict=True))
    if xmax < xmin or ymax < ymin:
        raise DatasetError(path, line, f"box has negative size: xmin={xmin:g} xmax={xmax:g} "
                                       f"ymin={ymin:g} ymax={ymax:g}")
    cls = values[5].strip()
    try:
        class_id = int(cls)
    except ValueError:
        raise DatasetError(path, line, f"class_id is not an integer: {cls!r}") from None
    return PascalBox(fname, (xmin, ymin, xmax, ymax), class_id)


def read_pascal_rows(path: Path) -> list[PascalBox]:
    """Every box in file order. Raises DatasetError (``file:line: reason``)."""
    path = Path(path)
    out: list[PascalBox] = []
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise DatasetError(path, None, f"cannot read: {exc.strerror or exc}") from None
    with handle:
        reader = csv.reader(handle)
        try:
            for values in reader:
                if not values or all(not v.strip() for v in values):
                    continue
                if reader.line_num == 1 and [v.strip().lower() for v in values] == list(
                    PASCAL_HEADER
                ):
                    continue
                out.append(_parse_row(values, path, reader.line_num))
        except csv.Error as exc:
            raise DatasetError(path, reader.line_num, f"bad CSV: {exc}") from None
        except UnicodeDecodeError as exc:
            raise DatasetError(path, None, f"not UTF-8 text: {exc.reason}") from None
    return out


def read_pascal(path: Path) -> dict[str, list[PascalBox]]:
    """Boxes per image, images in order of first appearance."""
    groups: dict[str, list[PascalBox]] = {}
    for box in read_pascal_rows(path):
        groups.setdefault(box.image, []).append(box)
    return groups


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def write_pascal(path: Path, boxes: Iterable[PascalBox], header: bool = True) -> int:
    """Write boxes in the Pascal CSV column order. Returns the number of rows written."""
    count = 0
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        if header:
            writer.writerow(PASCAL_HEADER)
        for b in boxes:
            x1, y1, x2, y2 = b.box
            writer.writerow([b.image, _fmt(x1), _fmt(x2), _fmt(y1), _fmt(y2), str(b.class_id)])
            count += 1
    return count
