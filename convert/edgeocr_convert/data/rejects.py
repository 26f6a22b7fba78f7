"""Reject crops: what a detector boxes on real plate-free photos, as the recognizer sees it.

A recognizer trained only on plates reads something into every crop it is given, and reads
texture and sign lettering with high confidence often enough that the pipeline cannot keep
low-scored detections on the strength of their read (``edgeocr.pipeline.Verification``).
Trained on such crops with an empty label (CTC: blank at every step), it learns to say
"nothing here", which is what lets a read vouch for a detection.

The crops are mined with the pipeline's own geometry: every detection the detector makes on a
photo down to ``min_score`` (the highest first), warped from its corners and from its box the
way the pipeline's two looks are, plus a few random plate-shaped windows. Photos that
``edgeocr bands`` would choose its bands on (:func:`edgeocr.evaluation.bands.even_spread` of
the same folder) are left out, so the bands of a model trained on rejects are still chosen on
photos it has never seen.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edgeocr.core.geometry import box_to_quad
from edgeocr.core.sidecar import SidecarError
from edgeocr.core.types import Detection
from edgeocr.detect import Detector
from edgeocr.evaluation.bands import IMAGE_SUFFIXES, MAX_PHOTOS, even_spread
from edgeocr.recognize import prepare_grey
from edgeocr.rectify import rectify
from edgeocr.runtime import RuntimeBackendError
from edgeocr_convert.data.crops import TrainDataError

U8 = npt.NDArray[np.uint8]

MIN_SCORE = 0.10
"""Lowest detector score mined: under the lowest band any rule can choose (0.15)."""
PER_PHOTO = 12
"""Most detections mined per photo (the highest-scoring)."""
RANDOM_PER_PHOTO = 2
"""Random plate-shaped windows per photo, so the rejects are not only what one detector
finds."""
BANDS_PHOTOS = MAX_PHOTOS
"""How many photos of the folder ``edgeocr bands`` chooses on (left out of the rejects)."""
HOLDOUT_EVERY = 10
"""Every this-many-th crop is kept out of training to measure rejection (``split``)."""


def training_photos(folder: Path, bands_photos: int | None = None) -> list[Path]:
    """The images under ``folder`` that ``edgeocr bands`` would not choose its bands on
    (the first ``bands_photos`` of its even spread, default ``BANDS_PHOTOS``)."""
    if bands_photos is None:
        bands_photos = BANDS_PHOTOS
    if not folder.is_dir():
        raise TrainDataError(f"{folder}: not a folder")
    every = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    held = set(even_spread(folder, bands_photos))
    photos = [p for p in every if p not in held]
    if not photos:
        raise TrainDataError(
            f"{folder}: no photos left for reject crops ({len(every)} images, all of them "
            f"among the {bands_photos} that edgeocr bands chooses its bands on)")
    return photos


def _random_windows(rng: np.random.Generator, width: int, height: int,
                    n: int) -> list[Detection]:
    out: list[Detection] = []
    for _ in range(n):
        w = float(rng.uniform(0.05, 0.4)) * width
        h = w / float(rng.uniform(1.8, 5.0))
        if w < 8 or h < 4 or w >= width or h >= height:
            continue
        x0 = float(rng.uniform(0, width - w))
        y0 = float(rng.uniform(0, height - h))
        box = (x0, y0, x0 + w, y0 + h)
        out.append(Detection("plate", 0.0, box, box_to_quad(box)))
    return out


def mine(photos: Sequence[Path], detector: Detector, height: int, width: int, *,
         seed: int = 0, min_score: float = MIN_SCORE, per_photo: int = PER_PHOTO,
         random_per_photo: int = RANDOM_PER_PHOTO, progress: bool = True) -> U8:
    """Grey uint8 (N, height, width) reject crops from ``photos`` (unreadable files are
    skipped). ``detector`` must score from ``min_score`` up."""
    from edgeocr_convert.training import progress as progress_bar

    rng = np.random.default_rng(seed)
    crops: list[U8] = []
    bar = progress_bar(len(photos), 0, "reject crops", enabled=progress)
    for path in photos:
        bar.update(1)
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None or min(image.shape[:2]) < 16:
            continue
        dets = [d for d in detector.detect(image) if d.score >= min_score][:per_photo]
        looks: list[Detection] = []
        for d in dets:
            looks.append(d)
            looks.append(Detection(d.kind, d.score, d.box, box_to_quad(d.box)))
        looks.extend(_random_windows(rng, image.shape[1], image.shape[0], random_per_photo))
        for d in looks:
            x1, y1, x2, y2 = d.box
            if x2 - x1 < 2 or y2 - y1 < 2:
                continue
            crop = rectify(image, d, width, height)
            crops.append(prepare_grey(crop, height, width).astype(np.uint8))
    bar.close()
    if not crops:
        raise TrainDataError("no reject crops could be made from the photos given")
    return np.stack(crops)


def split(crops: U8) -> tuple[U8, U8]:
    """(training crops, held-out crops): every ``HOLDOUT_EVERY``-th is held out."""
    held = np.zeros(len(crops), bool)
    held[::HOLDOUT_EVERY] = True
    if held.all():
        return crops, crops[:0]
    return crops[~held], crops[held]


def cache_key(photos: Sequence[Path], detector: Path, height: int, width: int) -> str:
    """What a cached set of reject crops depends on: the photos, the detector, the size."""
    h = hashlib.sha256()
    h.update(detector.read_bytes())
    for p in photos:
        h.update(str(p).encode())
    h.update(f"{height}x{width}:{MIN_SCORE}:{PER_PHOTO}:{RANDOM_PER_PHOTO}".encode())
    return h.hexdigest()[:16]


def load_or_mine(folder: Path, out: Path, height: int, width: int,
                 detector_path: Path | None = None, progress: bool = True) -> U8:
    """The reject crops for ``folder``, mined once per run folder (``out/rejects.npz``) and
    reused on resume."""
    photos = training_photos(folder)
    try:
        detector = Detector(detector_path, threads=0, score_threshold=MIN_SCORE)
    except (OSError, ValueError, SidecarError, RuntimeBackendError) as exc:
        raise TrainDataError(f"{detector_path or 'the shipped detector'}: {exc}") from exc
    key = cache_key(photos, detector.path, height, width)
    path = out / "rejects.npz"
    if path.is_file():
        with np.load(path) as z:
            if str(z["key"]) == key:
                cached: U8 = z["crops"]
                return cached
    crops = mine(photos, detector, height, width, progress=progress)
    tmp = out / "rejects.tmp.npz"
    np.savez_compressed(tmp, key=key, crops=crops)
    tmp.replace(path)
    return crops
