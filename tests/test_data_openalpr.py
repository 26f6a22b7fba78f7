"""OpenALPR benchmark annotation files (file x y w h PLATE)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeocr.data import DatasetError, LabelRow, read_openalpr, read_openalpr_dir


def test_tab_and_space_separated(tmp_path: Path) -> None:
    (tmp_path / "car1.txt").write_text("car1.jpg\t236\t225\t152\t77\tBHT8714\n", encoding="utf-8")
    (tmp_path / "car2.txt").write_text("car2.jpg  10 20   30 40 ab123cd\n\n", encoding="utf-8")
    (tmp_path / "car1.jpg").write_bytes(b"")  # images beside the txt files are ignored
    rows = read_openalpr_dir(tmp_path, image_prefix="us/")
    assert rows == [
        LabelRow("us/car1.jpg", "plate", "BHT8714",
                 ((236.0, 225.0), (388.0, 225.0), (388.0, 302.0), (236.0, 302.0))),
        LabelRow("us/car2.jpg", "plate", "AB123CD",
                 ((10.0, 20.0), (40.0, 20.0), (40.0, 60.0), (10.0, 60.0))),
    ]
    assert rows[0].box == (236.0, 225.0, 388.0, 302.0)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("car.jpg\t1\t2\t3\tAB1", "expected 6 fields (file x y w h PLATE), got 5"),
        ("car.jpg\t1\t2\t3\t4\tAB 1", "expected 6 fields (file x y w h PLATE), got 7"),
        ("car.jpg\t1\ttwo\t3\t4\tAB1", "y is not a number: 'two'"),
        ("car.jpg\t1\t2\t0\t4\tAB1", "box width and height must be > 0, got 0x4"),
    ],
)
def test_malformed_lines(tmp_path: Path, line: str, reason: str) -> None:
    path = tmp_path / "car.txt"
    path.write_text(f"ok.jpg 1 2 3 4 XY1\n{line}\n", encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        read_openalpr(path)
    assert str(info.value) == f"{path}:2: {reason}"


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a folder"):
        read_openalpr_dir(tmp_path / "nope")
