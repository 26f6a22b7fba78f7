"""SVHN "format 1" annotations (``digitStruct.mat``) to Pascal CSV and labels.csv.

``digitStruct.mat`` is a MATLAB v7.3 file, i.e. HDF5. ``digitStruct/name`` and
``digitStruct/bbox`` are (N, 1) arrays of object references, one per image. A name
reference points at a (L, 1) uint16 array of character codes. A bbox reference points at
a group with datasets ``label, left, top, width, height``: for a one-digit image each is a
(1, 1) float array holding the value; for a k-digit image each is a (k, 1) array of
references to (1, 1) float arrays. Label 10 stands for the digit 0.

Needs h5py and numpy only (no TensorFlow).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from edgeocr.core.types import Box
from edgeocr.data.labels import DatasetError, LabelRow, box_corners, write_labels
from edgeocr.data.pascal import PascalBox, write_pascal

BBOX_FIELDS: tuple[str, ...] = ("label", "left", "top", "width", "height")


@dataclass(frozen=True)
class SvhnDigit:
    digit: int  # 0-9 (SVHN's label 10 already mapped to 0)
    box: Box  # (left, top, left + width, top + height), pixels


@dataclass(frozen=True)
class SvhnImage:
    name: str
    digits: tuple[SvhnDigit, ...]

    @property
    def text(self) -> str:
        """The digits in SVHN's stored order, which is reading order (left to right)."""
        return "".join(str(d.digit) for d in self.digits)

    @property
    def union_box(self) -> Box:
        """The smallest box holding every digit box."""
        boxes = np.array([d.box for d in self.digits], dtype=np.float64)
        return (float(boxes[:, 0].min()), float(boxes[:, 1].min()),
                float(boxes[:, 2].max()), float(boxes[:, 3].max()))


def _is_refs(dtype: np.dtype[Any]) -> bool:
    return h5py.check_dtype(ref=dtype) is not None


def _read(oid: Any) -> np.ndarray[Any, Any]:
    # h5py's low-level API: the high-level File[ref] / Dataset[()] path costs about 2.5x
    # more per object, and SVHN's train split holds about half a million tiny objects.
    out = np.empty(oid.shape, dtype=oid.dtype)
    oid.read(h5py.h5s.ALL, h5py.h5s.ALL, out)
    return out


def _field(fid: Any, group: Any, key: str) -> list[float] | None:
    """One bbox field: inline values, or references to one-value datasets. None if absent."""
    try:
        data = _read(h5py.h5o.open(group, key.encode()))
    except KeyError:
        return None
    if _is_refs(data.dtype):
        return [float(_read(h5py.h5r.dereference(ref, fid)).ravel()[0]) for ref in data.ravel()]
    return [float(v) for v in data.ravel()]


def _digits(columns: dict[str, list[float]], path: Path, where: str) -> tuple[SvhnDigit, ...]:
    if len({len(v) for v in columns.values()}) != 1:
        raise DatasetError(path, None, f"{where}: bbox fields have different lengths")
    digits: list[SvhnDigit] = []
    for label, left, top, width, height in zip(*(columns[k] for k in BBOX_FIELDS), strict=True):
        if not (label.is_integer() and 1 <= label <= 10):
            raise DatasetError(path, None, f"{where}: label {label:g} is not 1-10")
        if width < 0 or height < 0:
            raise DatasetError(path, None, f"{where}: negative box size")
        digits.append(SvhnDigit(int(label) % 10, (left, top, left + width, top + height)))
    if not digits:
        raise DatasetError(path, None, f"{where}: no digits")
    return tuple(digits)


def read_digit_struct(path: Path) -> Iterator[SvhnImage]:
    """The images of a digitStruct.mat in file order. Raises DatasetError naming the image
    index for a structure that is not SVHN's."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, None, "not found")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise DatasetError(path, None, "not an HDF5 file (SVHN's digitStruct.mat is MATLAB "
                                       "v7.3, which is HDF5)") from None
    with f:
        group = f.get("digitStruct")
        if not isinstance(group, h5py.Group):
            raise DatasetError(path, None, "no 'digitStruct' group")
        names, bboxes = group.get("name"), group.get("bbox")
        if not (isinstance(names, h5py.Dataset) and isinstance(bboxes, h5py.Dataset)
                and _is_refs(names.dtype) and _is_refs(bboxes.dtype)):
            raise DatasetError(path, None, "digitStruct needs datasets 'name' and 'bbox' "
                                           "holding object references")
        name_refs = names[()].ravel()
        bbox_refs = bboxes[()].ravel()
        if len(name_refs) != len(bbox_refs):
            raise DatasetError(path, None, f"digitStruct has {len(name_refs)} names but "
                                           f"{len(bbox_refs)} bboxes")
        fid = f.id
        for index, (name_ref, bbox_ref) in enumerate(zip(name_refs, bbox_refs, strict=True)):
            codes = _read(h5py.h5r.dereference(name_ref, fid)).ravel()
            name = "".join(chr(int(c)) for c in codes)
            where = f"image {index} ({name})"
            bbox = h5py.h5r.dereference(bbox_ref, fid)
            if not isinstance(bbox, h5py.h5g.GroupID):
                raise DatasetError(path, None, f"{where}: bbox is not a group")
            columns: dict[str, list[float]] = {}
            for key in BBOX_FIELDS:
                values = _field(fid, bbox, key)
                if values is None:
                    raise DatasetError(path, None, f"{where}: bbox has no {key!r}")
                columns[key] = values
            yield SvhnImage(name, _digits(columns, path, where))


def to_pascal(images: Iterable[SvhnImage], image_prefix: str = "") -> Iterator[PascalBox]:
    """One Pascal box per digit, class_id = the digit."""
    for image in images:
        for d in image.digits:
            yield PascalBox(image_prefix + image.name, d.box, d.digit)


def to_label_rows(images: Iterable[SvhnImage], image_prefix: str = "") -> Iterator[LabelRow]:
    """One house_number row per image: the whole number and the union of its digit boxes
    (SVHN boxes can reach past the image edge; they are kept as given)."""
    for image in images:
        yield LabelRow(image_prefix + image.name, "house_number", image.text,
                       box_corners(image.union_box))


def convert_svhn(mat: Path, pascal: Path | None = None, labels: Path | None = None,
                 image_prefix: str = "") -> tuple[int, int]:
    """Write the Pascal CSV and/or labels.csv for a digitStruct.mat.
    Returns (images, digit boxes)."""
    images = list(read_digit_struct(mat))
    if pascal is not None:
        write_pascal(pascal, to_pascal(images, image_prefix))
    if labels is not None:
        write_labels(labels, to_label_rows(images, image_prefix))
    return len(images), sum(len(i.digits) for i in images)
