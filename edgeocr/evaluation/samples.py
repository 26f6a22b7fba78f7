"""Turn a labelled set into what each stage is scored on.

Recognition crops: rows whose image is already a crop (geometry ``crop``) are used as they
are; rows with corners (``box`` or ``quad``) are warped flat from the label corners exactly as
the device warps a detection (:func:`edgeocr.rectify.rectify`), so a crop score isolates the
recognizer from the detector. Texts are normalised to A-Z0-9 (which also drops the CCPD
province character); rows without text are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgeocr.core.charset import normalize_text
from edgeocr.core.geometry import quad_to_box
from edgeocr.core.types import Detection, Image
from edgeocr.data.labels import LabelledSet, LabelRow
from edgeocr.rectify import rectify


def source_of(image: str) -> str:
    """The source folder of a dev-set image: ``images/<source>/<file>`` -> ``<source>``."""
    parts = Path(image).parts
    if len(parts) >= 3 and parts[0] == "images":
        return parts[1]
    return parts[0] if len(parts) > 1 else "all"


def read_image(path: Path) -> Image:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: cannot decode image")
    return np.asarray(image, dtype=np.uint8)


@dataclass(frozen=True)
class CropSample:
    image: str
    source: str
    kind: str
    text: str
    geometry: str
    crop: Image
    region: str = ""


def row_geometry(ds: LabelledSet, row: LabelRow) -> str:
    geometry = ds.geometry(row.image)
    if geometry is not None:
        return geometry
    return "crop" if row.corners is None else "box"


def recognition_samples(ds: LabelledSet,
                        kinds: tuple[str, ...] = ("plate",)) -> Iterator[CropSample]:
    """Crops with their normalised truth, in file order (see the module docstring).

    Warped crops keep the label quad's own pixel size (every engine then scales them as it
    likes; ours stretches to its input anyway).
    """
    for row in ds.rows:
        text = normalize_text(row.text)
        if not text or row.kind not in kinds:
            continue
        geometry = row_geometry(ds, row)
        if geometry == "none":
            continue
        image = read_image(ds.image_path(row.image))
        if row.corners is None:
            crop = image
        else:
            det = Detection(kind=row.kind, score=1.0, box=quad_to_box(row.corners),
                            corners=row.corners)
            x1, y1, x2, y2 = det.box
            width, height = max(16, round(x2 - x1)), max(8, round(y2 - y1))
            crop = rectify(image, det, width, height)
        meta = ds.meta.get(row.image)
        yield CropSample(row.image, source_of(row.image), row.kind, text, geometry, crop,
                         meta.region if meta is not None else "")


REGION_PACKS: dict[str, tuple[str, ...]] = {"us": ("us",), "br": ("br",), "eu": ("eu",),
                                            "cn": ("cn",)}
"""Format packs a user in each region would enable (meta.csv ``region``, e.g. ``us-ca``)."""


def packs_for_region(region: str, kind: str) -> tuple[str, ...]:
    if kind == "house_number":
        return ("house_number",)
    return REGION_PACKS.get(region.split("-")[0].split("(")[0], ())
