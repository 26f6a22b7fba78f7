"""Dataset file formats on the device side (stdlib only, no TensorFlow): labels.csv and
meta.csv, Pascal box CSV, OpenALPR benchmark annotations."""

from __future__ import annotations

from edgeocr.data.labels import (
    DatasetError,
    ImageMeta,
    LabelledSet,
    LabelRow,
    group_by_image,
    load_labelled_dir,
    read_labels,
    read_meta,
    write_labels,
)
from edgeocr.data.openalpr import read_openalpr, read_openalpr_dir
from edgeocr.data.pascal import PascalBox, read_pascal, read_pascal_rows, write_pascal

__all__ = [
    "DatasetError",
    "ImageMeta",
    "LabelRow",
    "LabelledSet",
    "PascalBox",
    "group_by_image",
    "load_labelled_dir",
    "read_labels",
    "read_meta",
    "read_openalpr",
    "read_openalpr_dir",
    "read_pascal",
    "read_pascal_rows",
    "write_labels",
    "write_pascal",
]
