"""labels.csv / meta.csv reading and writing."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeocr.data import (
    DatasetError,
    LabelRow,
    group_by_image,
    load_labelled_dir,
    read_labels,
    read_meta,
    write_labels,
)
from edgeocr.data.labels import LABELS_HEADER

HEADER = ",".join(LABELS_HEADER)
QUAD = ((379.0, 441.0), (666.0, 414.0), (656.0, 527.0), (369.0, 554.0))


def write(tmp_path: Path, text: str, name: str = "labels.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_every_row_shape(tmp_path: Path) -> None:
    path = write(tmp_path, "\n".join([
        HEADER,
        "images/ccpd/a.jpg,plate,皖APV930,379,441,666,414,656,527,369,554",
        "images/crops/b.jpg,plate,AVB0734,,,,,,,,",
        "images/boxes/c.jpg,house_number,,10.5,20,30.25,20,30.25,40,10.5,40",
        "images/boxes/c.jpg,house_number,502B,1,2,3,2,3,4,1,4",
        "",
    ]))
    rows = read_labels(path)
    assert rows[0] == LabelRow("images/ccpd/a.jpg", "plate", "皖APV930", QUAD)
    assert rows[1] == LabelRow("images/crops/b.jpg", "plate", "AVB0734", None)
    assert rows[2].text == "" and rows[2].corners is not None
    assert rows[2].box == (10.5, 20.0, 30.25, 40.0)
    assert rows[1].box is None
    groups = group_by_image(rows)
    assert list(groups) == ["images/ccpd/a.jpg", "images/crops/b.jpg", "images/boxes/c.jpg"]
    assert [r.text for r in groups["images/boxes/c.jpg"]] == ["", "502B"]


def test_round_trip(tmp_path: Path) -> None:
    rows = [
        LabelRow("a.jpg", "plate", "皖APV930", QUAD),
        LabelRow("b.jpg", "plate", "AB, \"12\"", None),  # quoting survives
        LabelRow("c.jpg", "house_number", "", ((0.1, 0.2), (3.3, 0.2), (3.3, 4.0), (0.1, 4.0))),
    ]
    path = tmp_path / "out.csv"
    assert write_labels(path, rows) == 3
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == HEADER
    assert "a.jpg,plate,皖APV930,379,441,666,414,656,527,369,554" in text
    assert read_labels(path) == rows


def test_header_without_corner_columns(tmp_path: Path) -> None:
    rows = read_labels(write(tmp_path, "image,kind,text\nx.jpg,house_number,12\n"))
    assert rows == [LabelRow("x.jpg", "house_number", "12", None)]


def test_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_bytes(("\ufeff" + HEADER + "\r\nx.jpg,plate,AB1,,,,,,,,\r\n").encode())
    assert read_labels(path) == [LabelRow("x.jpg", "plate", "AB1", None)]


@pytest.mark.parametrize(
    ("body", "line", "reason"),
    [
        ("x.jpg,car,AB1,,,,,,,,", 2, "unknown kind 'car' (expected one of plate, house_number)"),
        ("x.jpg,plate,AB1,1,2,3,,,,,", 2, "expected 8 corner coordinates or none, got 3"),
        ("x.jpg,plate,AB1,1,2,3,4,5,6,7,abc", 2, "y4 is not a number: 'abc'"),
        ("x.jpg,plate,AB1,1,2,3,4,5,6,7,nan", 2, "y4 is not a finite number: 'nan'"),
        ("x.jpg,plate,AB1,1,2", 2, "expected 11 fields, got 5"),
        (",plate,AB1,,,,,,,,", 2, "empty image name"),
        ("x.jpg,plate,AB1,,,,,,,,\ny.jpg,plate", 3, "expected 11 fields, got 2"),
    ],
)
def test_malformed_rows_name_file_and_line(
    tmp_path: Path, body: str, line: int, reason: str
) -> None:
    path = write(tmp_path, f"{HEADER}\n{body}\n")
    with pytest.raises(DatasetError) as info:
        read_labels(path)
    assert str(info.value) == f"{path}:{line}: {reason}"
    assert info.value.line == line


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("image,text", "missing columns: kind (header is image,text)"),
        ("image,kind,text,x1,y1", "missing columns: x2, y2, x3, y3, x4, y4"),
    ],
)
def test_missing_columns(tmp_path: Path, header: str, reason: str) -> None:
    path = write(tmp_path, header + "\n")
    with pytest.raises(DatasetError) as info:
        read_labels(path)
    assert str(info.value).startswith(f"{path}:1: {reason}")


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = write(tmp_path, "")
    with pytest.raises(DatasetError, match=r":1: empty file"):
        read_labels(empty)
    with pytest.raises(DatasetError, match=r"nope\.csv: cannot read"):
        read_labels(tmp_path / "nope.csv")


def test_kinds_can_be_restricted(tmp_path: Path) -> None:
    path = write(tmp_path, f"{HEADER}\nx.jpg,house_number,12,,,,,,,,\n")
    with pytest.raises(DatasetError, match="unknown kind 'house_number'"):
        read_labels(path, kinds=("plate",))


def test_meta_and_labelled_dir(tmp_path: Path) -> None:
    write(tmp_path, f"{HEADER}\nimages/a.jpg,plate,AB1,1,2,3,2,3,4,1,4\n"
                    "images/b.jpg,plate,CD2,,,,,,,,\n")
    write(tmp_path, "image,source_repo,region,geometry,license\n"
                    "images/a.jpg,o/r,us,box,\"AGPL, internal\"\n"
                    "images/b.jpg,o/r,br,crop,x\n", name="meta.csv")
    data = load_labelled_dir(tmp_path)
    assert len(data.rows) == 2
    assert data.geometry("images/a.jpg") == "box"
    assert data.geometry("images/b.jpg") == "crop"
    assert data.geometry("images/zzz.jpg") is None
    assert data.meta["images/a.jpg"].region == "us"
    assert data.meta["images/a.jpg"].fields["license"] == "AGPL, internal"
    assert data.image_path("images/a.jpg") == tmp_path / "images" / "a.jpg"
    assert list(data.by_image()) == ["images/a.jpg", "images/b.jpg"]


def test_labelled_dir_without_meta(tmp_path: Path) -> None:
    write(tmp_path, f"{HEADER}\na.jpg,plate,AB1,,,,,,,,\n")
    data = load_labelled_dir(tmp_path)
    assert data.meta == {} and data.geometry("a.jpg") is None
    with pytest.raises(DatasetError, match=r"labels\.csv: not found"):
        load_labelled_dir(tmp_path / "missing")


def test_bad_meta(tmp_path: Path) -> None:
    path = write(tmp_path, "image,geometry\na.jpg,box\nb.jpg,circle\n", name="meta.csv")
    with pytest.raises(DatasetError) as info:
        read_meta(path)
    assert str(info.value) == (f"{path}:3: unknown geometry 'circle' "
                               "(expected one of quad, box, crop, none)")
    path = write(tmp_path, "image,geometry\na.jpg,box\na.jpg,quad\n", name="meta.csv")
    with pytest.raises(DatasetError, match=r":3: image 'a.jpg' is listed twice"):
        read_meta(path)
    path = write(tmp_path, "image,region\na.jpg,us\n", name="meta.csv")
    with pytest.raises(DatasetError, match=r":1: missing columns: geometry"):
        read_meta(path)
