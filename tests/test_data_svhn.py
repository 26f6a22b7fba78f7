"""SVHN digitStruct.mat conversion, on a small file written in SVHN's exact HDF5 layout."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from edgeocr_convert.cli.train_cmd import cli
from edgeocr_convert.data.svhn import BBOX_FIELDS, read_digit_struct

from edgeocr.data import DatasetError, LabelRow, read_labels, read_pascal

# (name, [(label, left, top, width, height), ...]) as SVHN stores them; label 10 = digit 0.
IMAGES = [
    ("1.png", [(1.0, 246.0, 77.0, 81.0, 219.0), (9.0, 323.0, 81.0, 96.0, 219.0)]),
    ("2.png", [(2.0, 77.0, 29.0, 23.0, 32.0), (10.0, 98.0, 25.0, 26.0, 32.0),
               (3.0, 121.0, 27.0, 20.0, 33.0)]),
    ("3.png", [(10.0, 17.0, 5.0, 8.0, 15.0)]),
]


def write_digit_struct(path: Path, images: list[tuple[str, list[tuple[float, ...]]]]) -> None:
    """Write what MATLAB v7.3 writes for SVHN: referenced data under #refs#, (N, 1) arrays of
    references, one-digit fields stored inline as (1, 1), multi-digit ones as (k, 1) refs."""
    ref_dt = h5py.ref_dtype
    with h5py.File(path, "w") as f:
        refs = f.create_group("#refs#")
        group = f.create_group("digitStruct")
        name_refs = np.empty((len(images), 1), dtype=ref_dt)
        bbox_refs = np.empty((len(images), 1), dtype=ref_dt)
        for i, (name, digits) in enumerate(images):
            codes = np.array([ord(c) for c in name], dtype=np.uint16).reshape(-1, 1)
            name_refs[i, 0] = refs.create_dataset(f"name{i}", data=codes).ref
            bbox = refs.create_group(f"bbox{i}")
            for j, key in enumerate(BBOX_FIELDS):
                values = [d[j] for d in digits]
                if len(values) == 1:
                    bbox.create_dataset(key, data=np.array([[values[0]]], dtype=np.float64))
                    continue
                field_refs = np.empty((len(values), 1), dtype=ref_dt)
                for k, v in enumerate(values):
                    ds = refs.create_dataset(f"{key}{i}_{k}", data=np.array([[v]], np.float64))
                    field_refs[k, 0] = ds.ref
                bbox.create_dataset(key, data=field_refs)
            bbox_refs[i, 0] = bbox.ref
        group.create_dataset("name", data=name_refs)
        group.create_dataset("bbox", data=bbox_refs)


@pytest.fixture
def mat(tmp_path: Path) -> Path:
    path = tmp_path / "digitStruct.mat"
    write_digit_struct(path, IMAGES)
    return path


def test_read_digit_struct(mat: Path) -> None:
    images = list(read_digit_struct(mat))
    assert [i.name for i in images] == ["1.png", "2.png", "3.png"]
    assert [i.text for i in images] == ["19", "203", "0"]
    assert images[0].digits[1].box == (323.0, 81.0, 419.0, 300.0)
    assert images[1].union_box == (77.0, 25.0, 141.0, 61.0)
    assert images[2].union_box == (17.0, 5.0, 25.0, 20.0)


def test_cli_writes_pascal_and_labels(mat: Path, tmp_path: Path) -> None:
    pascal, labels = tmp_path / "boxes.csv", tmp_path / "labels.csv"
    result = CliRunner().invoke(cli, ["svhn-convert", str(mat), "--pascal", str(pascal),
                                      "--labels", str(labels), "--image-prefix", "train/"])
    assert result.exit_code == 0, result.output
    assert "3 images, 6 digits" in result.stdout

    boxes = read_pascal(pascal)
    assert list(boxes) == ["train/1.png", "train/2.png", "train/3.png"]
    assert [b.class_id for b in boxes["train/2.png"]] == [2, 0, 3]
    assert boxes["train/2.png"][0].box == (77.0, 29.0, 100.0, 61.0)
    assert pascal.read_text(encoding="utf-8").splitlines()[1] == "train/1.png,246,327,77,296,1"

    rows = read_labels(labels)
    assert rows == [
        LabelRow("train/1.png", "house_number", "19",
                 ((246.0, 77.0), (419.0, 77.0), (419.0, 300.0), (246.0, 300.0))),
        LabelRow("train/2.png", "house_number", "203",
                 ((77.0, 25.0), (141.0, 25.0), (141.0, 61.0), (77.0, 61.0))),
        LabelRow("train/3.png", "house_number", "0",
                 ((17.0, 5.0), (25.0, 5.0), (25.0, 20.0), (17.0, 20.0))),
    ]


def test_cli_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    not_hdf5 = tmp_path / "old.mat"
    not_hdf5.write_bytes(b"MATLAB 5.0 MAT-file")
    result = runner.invoke(cli, ["svhn-convert", str(not_hdf5), "--labels", str(tmp_path / "l")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"edgeocr-train: {not_hdf5}: not an HDF5 file")
    result = runner.invoke(cli, ["svhn-convert", str(not_hdf5)])
    assert result.exit_code == 2 and "give --pascal and/or --labels" in result.stderr
    missing = tmp_path / "nope.mat"
    result = runner.invoke(cli, ["svhn-convert", str(missing), "--pascal", str(tmp_path / "p")])
    assert result.exit_code == 2 and result.stderr.strip() == f"edgeocr-train: {missing}: not found"


def test_bad_label_and_structure(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mat"
    write_digit_struct(bad, [("1.png", [(1.0, 1, 1, 1, 1)]), ("2.png", [(11.0, 1, 1, 1, 1)])])
    with pytest.raises(DatasetError) as info:
        list(read_digit_struct(bad))
    assert str(info.value) == f"{bad}: image 1 (2.png): label 11 is not 1-10"

    other = tmp_path / "other.mat"
    with h5py.File(other, "w") as f:
        f.create_group("something")
    with pytest.raises(DatasetError, match="no 'digitStruct' group"):
        list(read_digit_struct(other))


def test_missing_bbox_field(mat: Path) -> None:
    with h5py.File(mat, "a") as f:
        del f["#refs#/bbox1/height"]
    with pytest.raises(DatasetError) as info:
        list(read_digit_struct(mat))
    assert str(info.value) == f"{mat}: image 1 (2.png): bbox has no 'height'"
