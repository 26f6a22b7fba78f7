"""OpenALPR benchmark annotations (``endtoend/{us,eu,br}/*.txt``).

One ``.txt`` per image, each line ``file x y w h PLATE`` separated by tabs or spaces:
the image file name, the plate's axis-aligned box (top-left corner, width, height, in
pixels) and its text. The box becomes the four corners of a LabelRow.
"""

from __future__ import annotations

from pathlib import Path

from edgeocr.data.labels import DatasetError, LabelRow, box_corners, parse_number


def read_openalpr(path: Path, kind: str = "plate", image_prefix: str = "") -> list[LabelRow]:
    """LabelRows from one annotation file; ``image`` is ``image_prefix`` + the file name
    written in it. Raises DatasetError (``file:line: reason``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DatasetError(path, None, f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(path, None, f"not UTF-8 text: {exc.reason}") from None
    rows: list[LabelRow] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 6:
            raise DatasetError(path, line_no, f"expected 6 fields (file x y w h PLATE), "
                                              f"got {len(fields)}")
        name, *numbers, plate = fields
        x, y, w, h = (parse_number(v, col, path, line_no)
                      for v, col in zip(numbers, ("x", "y", "w", "h"), strict=True))
        if w <= 0 or h <= 0:
            raise DatasetError(path, line_no, f"box width and height must be > 0, got {w:g}x{h:g}")
        rows.append(LabelRow(image_prefix + name, kind, plate.upper(),
                             box_corners((x, y, x + w, y + h))))
    return rows


def read_openalpr_dir(folder: Path, kind: str = "plate", image_prefix: str = "") -> list[LabelRow]:
    """LabelRows from every ``*.txt`` in ``folder`` (sorted by name)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(folder, None, "not a folder")
    rows: list[LabelRow] = []
    for path in sorted(folder.glob("*.txt")):
        rows.extend(read_openalpr(path, kind, image_prefix))
    return rows
