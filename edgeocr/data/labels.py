"""The ``labels.csv`` format (one row per plate or house number) and its ``meta.csv``.

``labels.csv`` header: ``image,kind,text,x1,y1,x2,y2,x3,y3,x4,y4``. ``image`` is a path
relative to the CSV's folder; ``text`` may be empty (not transcribed) and may hold
non-Latin characters (CCPD plates start with a Chinese province character); the eight
corner values, clockwise from top-left in pixels, are all empty when the location is unknown.
An axis-aligned box is written as its four corners.

``meta.csv`` (optional, beside it): one row per image with at least ``image`` and
``geometry`` (``quad``, ``box``, ``crop`` or ``none``: how far the corners can be trusted).

Stdlib only (no OpenCV, no TensorFlow): this module runs on the device and in training.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from edgeocr.core.types import KINDS, Box, Quad

LABELS_HEADER: tuple[str, ...] = (
    "image", "kind", "text", "x1", "y1", "x2", "y2", "x3", "y3", "x4", "y4",
)
CORNER_COLUMNS: tuple[str, ...] = LABELS_HEADER[3:]
Geometry = Literal["quad", "box", "crop", "none"]
GEOMETRIES: tuple[Geometry, ...] = get_args(Geometry)


class DatasetError(Exception):
    """A malformed dataset file. ``str()`` is ``file:line: reason`` (``file: reason`` when
    the problem is not on one line)."""

    def __init__(self, path: Path | str, line: int | None, reason: str) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class LabelRow:
    """One labelled object. ``corners`` is None when its location is unknown."""

    image: str
    kind: str
    text: str
    corners: Quad | None = None

    @property
    def box(self) -> Box | None:
        """The axis-aligned box around the corners (None without corners)."""
        if self.corners is None:
            return None
        xs = [p[0] for p in self.corners]
        ys = [p[1] for p in self.corners]
        return min(xs), min(ys), max(xs), max(ys)


@dataclass(frozen=True)
class ImageMeta:
    """One ``meta.csv`` row: ``geometry`` and ``region`` pulled out, every column in ``fields``."""

    image: str
    geometry: Geometry
    region: str = ""
    fields: Mapping[str, str] = field(default_factory=dict, compare=False)


def box_corners(box: Box) -> Quad:
    """The corners of an axis-aligned box (x1, y1, x2, y2), clockwise from top-left."""
    x1, y1, x2, y2 = box
    return (x1, y1), (x2, y1), (x2, y2), (x1, y2)


def parse_number(value: str, column: str, path: Path, line: int) -> float:
    """A finite float from a CSV cell, or DatasetError naming the column."""
    try:
        number = float(value)
    except ValueError:
        raise DatasetError(path, line, f"{column} is not a number: {value!r}") from None
    if not math.isfinite(number):
        raise DatasetError(path, line, f"{column} is not a finite number: {value!r}")
    return number


def _check_kind(kind: str, kinds: Iterable[str], path: Path, line: int) -> str:
    allowed = tuple(kinds)
    if kind not in allowed:
        expected = ", ".join(allowed)
        raise DatasetError(path, line, f"unknown kind {kind!r} (expected one of {expected})")
    return kind


def _read_table(path: Path, required: tuple[str, ...],
                all_or_none: tuple[str, ...] = ()) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row) for each data row of a CSV with a header, checking that the
    header has ``required``, all or none of ``all_or_none``, and that each row has the
    header's number of fields."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise DatasetError(path, None, f"cannot read: {exc.strerror or exc}") from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                raise DatasetError(path, 1, "empty file (expected a header line)")
            header = [h.strip() for h in header]
            missing = [c for c in required if c not in header]
            if any(c in header for c in all_or_none):
                missing += [c for c in all_or_none if c not in header]
            if missing:
                raise DatasetError(path, 1, f"missing columns: {', '.join(missing)} "
                                            f"(header is {','.join(header)})")
            for values in reader:
                if not values or all(not v.strip() for v in values):
                    continue
                if len(values) != len(header):
                    raise DatasetError(path, reader.line_num,
                                       f"expected {len(header)} fields, got {len(values)}")
                yield reader.line_num, dict(zip(header, values, strict=True))
        except csv.Error as exc:
            raise DatasetError(path, reader.line_num, f"bad CSV: {exc}") from None
        except UnicodeDecodeError as exc:
            raise DatasetError(path, None, f"not UTF-8 text: {exc.reason}") from None


def _parse_corners(row: dict[str, str], columns: tuple[str, ...], path: Path,
                   line: int) -> Quad | None:
    if not columns:
        return None
    cells = [row[c].strip() for c in columns]
    filled = [c for c in cells if c]
    if not filled:
        return None
    if len(filled) != len(columns):
        raise DatasetError(path, line, f"expected 8 corner coordinates or none, got {len(filled)}")
    v = [parse_number(cell, col, path, line) for cell, col in zip(cells, columns, strict=True)]
    return (v[0], v[1]), (v[2], v[3]), (v[4], v[5]), (v[6], v[7])


def read_labels(path: Path, kinds: Iterable[str] = KINDS) -> list[LabelRow]:
    """Read a labels.csv. Corner columns may be absent from the header altogether.

    Raises DatasetError (``file:line: reason``) for missing columns, a wrong number of
    fields, non-numeric coordinates, a partial set of corners or a kind not in ``kinds``.
    """
    path = Path(path)
    allowed = tuple(kinds)
    rows: list[LabelRow] = []
    for line, row in _read_table(path, LABELS_HEADER[:3], CORNER_COLUMNS):
        columns = CORNER_COLUMNS if "x1" in row else ()
        image = row["image"].strip()
        if not image:
            raise DatasetError(path, line, "empty image name")
        kind = _check_kind(row["kind"].strip(), allowed, path, line)
        rows.append(LabelRow(image, kind, row["text"].strip(),
                             _parse_corners(row, columns, path, line)))
    return rows


def _format_number(value: float) -> str:
    # Integers stay integers ("379", not "379.0"); anything else keeps full precision.
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def write_labels(path: Path, rows: Iterable[LabelRow]) -> int:
    """Write rows as a labels.csv (UTF-8, full header). Returns the number of rows."""
    path = Path(path)
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(LABELS_HEADER)
        for row in rows:
            corners = ([_format_number(v) for p in row.corners for v in p]
                       if row.corners is not None else [""] * 8)
            writer.writerow([row.image, row.kind, row.text, *corners])
            count += 1
    return count


def read_meta(path: Path) -> dict[str, ImageMeta]:
    """Read a meta.csv into image -> ImageMeta. Raises DatasetError for a missing
    ``image``/``geometry`` column, an unknown geometry or an image listed twice."""
    path = Path(path)
    out: dict[str, ImageMeta] = {}
    for line, row in _read_table(path, ("image", "geometry")):
        image = row["image"].strip()
        geometry = row["geometry"].strip()
        if geometry not in GEOMETRIES:
            raise DatasetError(path, line, f"unknown geometry {geometry!r} "
                                           f"(expected one of {', '.join(GEOMETRIES)})")
        if image in out:
            raise DatasetError(path, line, f"image {image!r} is listed twice")
        out[image] = ImageMeta(image, geometry, row.get("region", "").strip(), dict(row))
    return out


def group_by_image(rows: Iterable[LabelRow]) -> dict[str, list[LabelRow]]:
    """Rows per image, images in order of first appearance, rows in file order."""
    groups: dict[str, list[LabelRow]] = {}
    for row in rows:
        groups.setdefault(row.image, []).append(row)
    return groups


@dataclass(frozen=True)
class LabelledSet:
    """A folder with labels.csv (and maybe meta.csv): the rows, per-image metadata, and
    paths resolved against the folder."""

    root: Path
    rows: tuple[LabelRow, ...]
    meta: Mapping[str, ImageMeta]

    def image_path(self, image: str) -> Path:
        return self.root / image

    def geometry(self, image: str) -> Geometry | None:
        """How far the image's corners can be trusted; None without a meta.csv entry."""
        meta = self.meta.get(image)
        return meta.geometry if meta is not None else None

    def by_image(self) -> dict[str, list[LabelRow]]:
        return group_by_image(self.rows)


def load_labelled_dir(root: Path, kinds: Iterable[str] = KINDS) -> LabelledSet:
    """Read ``root/labels.csv`` and, if present, ``root/meta.csv``."""
    root = Path(root)
    labels = root / "labels.csv"
    if not labels.is_file():
        raise DatasetError(labels, None, "not found")
    rows = read_labels(labels, kinds)
    meta_path = root / "meta.csv"
    meta = read_meta(meta_path) if meta_path.is_file() else {}
    return LabelledSet(root, tuple(rows), meta)
