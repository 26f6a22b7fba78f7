"""Labelled recognizer crops for fine-tuning (``edgeocr-train recognizer --data``): a
labels.csv of crops, or of scenes whose rows carry corners (warped flat the way the device
warps a detection)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edgeocr.core.charset import normalize_text
from edgeocr.core.geometry import order_corners, warp_quad
from edgeocr.core.types import KINDS
from edgeocr.rectify import MARGIN

U8 = npt.NDArray[np.uint8]


class TrainDataError(Exception):
    """Unusable training input; the message starts with the offending path."""


def to_grey_stretched(image: npt.NDArray[Any], height: int, width: int) -> U8:
    """Grey uint8 (height, width): the whole image stretched (CONTRACTS input convention)."""
    img = image
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    if img.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if img.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        img = cv2.cvtColor(img, code)
    interp = cv2.INTER_AREA if img.shape[1] > width else cv2.INTER_LINEAR
    out: U8 = cv2.resize(img, (width, height), interpolation=interp)
    return out


@dataclass
class LabelledCrops:
    images: U8  # (N, H, W) grey
    texts: list[str]


def load_labelled_crops(csv_path: Path, height: int, width: int, charset: str) -> LabelledCrops:
    """Read a labels.csv (``image,kind,text[,x1,y1,...,x4,y4]``, paths relative to the CSV).

    Rows with corners are warped flat from them; rows without are whole crops, stretched.
    Text is normalised to A-Z0-9; rows left empty are skipped. Raises TrainDataError.
    """
    if not csv_path.is_file():
        raise TrainDataError(f"{csv_path}: no such file")
    corner_keys = [f"{a}{i}" for i in range(1, 5) for a in ("x", "y")]
    images: list[U8] = []
    texts: list[str] = []
    with csv_path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"image", "text"} - set(reader.fieldnames or [])
        if missing:
            raise TrainDataError(f"{csv_path}: missing column(s) {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            kind = (row.get("kind") or "plate").strip()
            if kind not in KINDS:
                raise TrainDataError(f"{csv_path}:{line}: unknown kind {kind!r}")
            text = normalize_text(row.get("text") or "")
            if not text or any(c not in charset for c in text):
                continue
            path = csv_path.parent / (row.get("image") or "")
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if image is None:
                raise TrainDataError(f"{path}: cannot read image (line {line} of {csv_path})")
            if all(row.get(k) not in (None, "") for k in corner_keys):
                try:
                    pts = [(float(row[f"x{i}"]), float(row[f"y{i}"])) for i in range(1, 5)]
                except ValueError as exc:
                    raise TrainDataError(f"{csv_path}:{line}: bad corner value: {exc}") from exc
                image = warp_quad(image, order_corners(pts), width, height, margin=MARGIN)
            images.append(to_grey_stretched(image, height, width))
            texts.append(text)
    if not images:
        raise TrainDataError(f"{csv_path}: no usable rows (text in {charset!r})")
    return LabelledCrops(np.stack(images), texts)
