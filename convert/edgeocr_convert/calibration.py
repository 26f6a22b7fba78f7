"""Samples for int8 calibration and verification: the user's images or synthetic ones.

Every sample is preprocessed exactly as the device does it (recognizer: stretched grey crop;
detector: letterboxed frame) and comes out as float32 (1, H, W, C) in the model's input
range, so the quantization scales the converter measures are the ones the device will see.

Two folder layouts are read: a ``labels.csv`` set (``edgeocr.data.labels``: one row per
object, image, kind, text, optional corners) and a plain folder of images.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import numpy.typing as npt

from edgeocr.core.geometry import quad_to_box, warp_quad
from edgeocr.core.letterbox import letterbox
from edgeocr.core.types import KINDS, Image, Quad
from edgeocr.data.labels import DatasetError, LabelledSet, load_labelled_dir
from edgeocr.recognize import prepare_crop as device_prepare_crop
from edgeocr.rectify import MARGIN as CROP_MARGIN

if TYPE_CHECKING:
    from edgeocr_convert.convert import ModelInfo

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})
LABELS_FILE = "labels.csv"


class CalibrationError(Exception):
    """A calibration or validation folder is missing, empty or malformed."""


@dataclass(frozen=True)
class GroundTruth:
    """One labelled object of a detector sample, normalised to the network input."""

    class_index: int
    """1-based class index (0 is background), as in the model's ``classes`` output."""
    box: tuple[float, float, float, float]
    corners: tuple[float, ...]
    """x1, y1, .. x4, y4 clockwise from top-left."""


@dataclass
class Sample:
    """A preprocessed model input with what is known about it."""

    x: FloatArray
    """(1, H, W, C) float32 in the model's input range."""
    text: str | None = None
    objects: list[GroundTruth] = field(default_factory=list)


# ---------------------------------------------------------------- preprocessing

def _grey(image: npt.NDArray[Any]) -> Image:
    img: npt.NDArray[Any] = np.asarray(image)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY)
    elif img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    elif img.ndim == 3:
        img = img[:, :, 0]
    return img.astype(np.uint8)


def _scale(pixels: npt.NDArray[np.generic], value_range: tuple[float, float]) -> FloatArray:
    lo, hi = value_range
    return (pixels.astype(np.float32) * ((hi - lo) / 255.0) + lo).astype(np.float32)


def prepare_crop(image: Image, info: ModelInfo) -> FloatArray:
    """A recognizer input from a crop: grey, stretched to (W, H), scaled to the input range.

    For the standard [0, 1] grey input this is ``edgeocr.recognize.prepare_crop``, the
    device's own implementation. Raises ValueError for an empty or too small crop.
    """
    if info.value_range == (0.0, 1.0) and info.channels == 1:
        out: FloatArray = device_prepare_crop(image, info.height, info.width)
        return out
    grey: npt.NDArray[Any] = _grey(image)
    if grey.shape != (info.height, info.width):
        interp = cv2.INTER_AREA if grey.shape[1] > info.width else cv2.INTER_LINEAR
        grey = cv2.resize(grey, (info.width, info.height), interpolation=interp)
    x = _scale(grey, info.value_range)[None, :, :, None]
    if info.channels == 3:
        x = np.repeat(x, 3, axis=3)
    return x


def prepare_frame(image: Image, info: ModelInfo) -> tuple[FloatArray, float, tuple[int, int]]:
    """A detector input from a BGR or grey frame: letterboxed like the device does it.

    Returns the input and the letterbox ``(scale, pad)`` to map labels into it.
    """
    img: npt.NDArray[Any] = np.asarray(image)
    if info.channels == 1:
        img = _grey(img)
    else:
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        elif img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
        if info.colour == "rgb":
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    boxed, scale, pad = letterbox(img, info.height, info.width)
    x = _scale(boxed, info.value_range).reshape(1, info.height, info.width, info.channels)
    return x, scale, pad


def _ground_truth(quad: Quad, class_index: int, info: ModelInfo, scale: float,
                  pad: tuple[int, int]) -> GroundTruth:
    pts = np.asarray(quad, dtype=np.float64).reshape(4, 2) * scale + np.asarray(pad)
    pts /= np.array([info.width, info.height], dtype=np.float64)
    return GroundTruth(class_index, quad_to_box(pts), tuple(float(v) for v in pts.ravel()))


# ---------------------------------------------------------------- synthetic samples

def _recognizer_kinds(charset: str) -> tuple[str, ...]:
    # A digits-only charset cannot read plates; calibrate it on what it will see.
    return ("plate", "house_number") if any(c.isalpha() for c in charset) else ("house_number",)


def synthetic_samples(info: ModelInfo, n: int, seed: int) -> Iterator[Sample]:
    """``n`` synthetic samples for the model's role from ``edgeocr_convert.synth``.

    Deterministic by ``seed``. Raises CalibrationError when the generator is not installed.
    """
    rng = np.random.default_rng(seed)
    if info.role == "recognizer":
        try:
            from edgeocr_convert.synth.crops import make_crop
        except ImportError as exc:
            raise CalibrationError(f"synthetic crop generator unavailable ({exc})") from None
        kinds = _recognizer_kinds(info.charset or "")
        for i in range(n):
            crop, text = make_crop(rng, kinds[i % len(kinds)], info.height, info.width)  # type: ignore[arg-type]
            yield Sample(prepare_crop(crop, info), text=text)
        return
    try:
        from edgeocr_convert.synth.scenes import make_scene
    except ImportError as exc:
        raise CalibrationError(f"synthetic scene generator unavailable ({exc})") from None
    names = list(info.class_names or ())
    for _ in range(n):
        scene = make_scene(rng, info.height, info.width, None)
        x, scale, pad = prepare_frame(scene.image, info)
        objects = [_ground_truth(o.quad, names.index(o.kind) + 1, info, scale, pad)
                   for o in scene.objects if o.kind in names]
        yield Sample(x, objects=objects)


# ---------------------------------------------------------------- folders

def _read_image(path: Path) -> Image:
    img: npt.NDArray[Any] | None = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise CalibrationError(f"{path}: not a readable image")
    return img


def _check_folder(folder: Path) -> None:
    if not folder.exists():
        raise CalibrationError(f"{folder}: folder not found")
    if not folder.is_dir():
        raise CalibrationError(f"{folder}: not a folder")


def _load_set(folder: Path, kinds: tuple[str, ...]) -> LabelledSet:
    try:
        return load_labelled_dir(folder, kinds)
    except DatasetError as exc:
        raise CalibrationError(str(exc)) from None


def _images(folder: Path) -> list[Path]:
    images = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise CalibrationError(f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return images


def kinds_for(info: ModelInfo) -> tuple[str, ...]:
    """Kinds a labels.csv may hold for this model: its class names and the standard kinds."""
    names = tuple(info.class_names or ())
    return names + tuple(k for k in KINDS if k not in names)


def check_folder(folder: Path, info_kinds: tuple[str, ...] = KINDS) -> int:
    """Check a calibration/validation folder before the slow work; returns its size
    (labelled rows, or images of a plain folder). Raises CalibrationError."""
    _check_folder(folder)
    if (folder / LABELS_FILE).is_file():
        return len(_load_set(folder, info_kinds).rows)
    return len(_images(folder))


def folder_samples(folder: Path, info: ModelInfo, limit: int | None = None,
                   need_labels: bool = False, seed: int = 0) -> Iterator[Sample]:
    """Samples from a labels.csv set (``edgeocr.data.labels``) or a plain image folder.

    Recognizer: each transcribed row is a crop, warped from its corners when it has them,
    else the whole image; detector: each image with its rows as ground truth. At most
    ``limit``; plain folders in a seeded random order. ``need_labels`` (validation) refuses
    a plain folder.
    """
    _check_folder(folder)
    if (folder / LABELS_FILE).is_file():
        labelled = _load_set(folder, kinds_for(info))
        yield from _labelled(labelled, info, limit, need_labels)
        return
    if need_labels:
        raise CalibrationError(f"{folder}: validation needs a {LABELS_FILE} with the truth")
    images = _images(folder)
    order = np.random.default_rng(seed).permutation(len(images))
    for i in order[:limit] if limit else order:
        path = images[int(i)]
        img = _read_image(path)
        try:
            if info.role == "recognizer":
                yield Sample(prepare_crop(img, info))
            else:
                yield Sample(prepare_frame(img, info)[0])
        except ValueError as exc:
            raise CalibrationError(f"{path}: {exc}") from None


def _labelled(labelled: LabelledSet, info: ModelInfo, limit: int | None,
              need_text: bool) -> Iterator[Sample]:
    count = 0
    if info.role == "recognizer":
        for row in labelled.rows:
            if limit and count >= limit:
                return
            if need_text and not row.text:
                continue  # not transcribed: no truth to compare with
            path = labelled.image_path(row.image)
            img = _read_image(path)
            try:
                crop = (warp_quad(img, row.corners, info.width, info.height, CROP_MARGIN)
                        if row.corners is not None else img)
                x = prepare_crop(crop, info)
            except (ValueError, cv2.error) as exc:
                raise CalibrationError(f"{path}: {exc}") from None
            count += 1
            yield Sample(x, text=row.text)
        return
    names = list(info.class_names or ())
    for image, rows in labelled.by_image().items():
        if limit and count >= limit:
            return
        path = labelled.image_path(image)
        try:
            x, scale, pad = prepare_frame(_read_image(path), info)
        except ValueError as exc:
            raise CalibrationError(f"{path}: {exc}") from None
        gts = [_ground_truth(r.corners, names.index(r.kind) + 1, info, scale, pad)
               for r in rows if r.corners is not None and r.kind in names]
        count += 1
        yield Sample(x, objects=gts)
