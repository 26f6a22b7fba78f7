"""Pascal box CSV (SVHN example layout: fname,xmin,xmax,ymin,ymax,class_id)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeocr.data import DatasetError, PascalBox, read_pascal, read_pascal_rows, write_pascal


def test_round_trip_with_header(tmp_path: Path) -> None:
    boxes = [
        PascalBox("1.png", (246.0, 77.0, 327.0, 296.0), 1),
        PascalBox("1.png", (323.0, 81.0, 419.0, 300.0), 9),
        PascalBox("2.png", (77.5, 29.0, 100.25, 61.0), 2),
    ]
    path = tmp_path / "boxes.csv"
    assert write_pascal(path, boxes) == 3
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "fname,xmin,xmax,ymin,ymax,class_id"
    # x values first, then y values: the column order of the format.
    assert lines[1] == "1.png,246,327,77,296,1"
    assert read_pascal_rows(path) == boxes
    grouped = read_pascal(path)
    assert list(grouped) == ["1.png", "2.png"]
    assert [b.class_id for b in grouped["1.png"]] == [1, 9]


def test_header_is_optional(tmp_path: Path) -> None:
    path = tmp_path / "boxes.csv"
    write_pascal(path, [PascalBox("a.png", (1, 2, 3, 4), 0)], header=False)
    assert path.read_text(encoding="utf-8") == "a.png,1,3,2,4,0\n"
    assert read_pascal(path) == {"a.png": [PascalBox("a.png", (1.0, 2.0, 3.0, 4.0), 0)]}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("a.png,1,3,2", "expected 6 fields (fname,xmin,xmax,ymin,ymax,class_id), got 4"),
        ("a.png,1,x,2,4,0", "xmax is not a number: 'x'"),
        ("a.png,5,3,2,4,0", "box has negative size: xmin=5 xmax=3 ymin=2 ymax=4"),
        ("a.png,1,3,2,4,one", "class_id is not an integer: 'one'"),
        (",1,3,2,4,0", "empty fname"),
    ],
)
def test_malformed_lines(tmp_path: Path, line: str, reason: str) -> None:
    path = tmp_path / "boxes.csv"
    path.write_text(f"fname,xmin,xmax,ymin,ymax,class_id\nok.png,1,2,3,4,5\n{line}\n",
                    encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        read_pascal(path)
    assert str(info.value) == f"{path}:3: {reason}"


def test_header_only_on_first_line(tmp_path: Path) -> None:
    path = tmp_path / "boxes.csv"
    path.write_text("a.png,1,2,3,4,5\nfname,xmin,xmax,ymin,ymax,class_id\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r":2: xmin is not a number"):
        read_pascal(path)
