"""Detector training data: anchor matching and target encoding, dataset readers, sample
sources (synthetic scenes, real plate-free photos, labelled files), augmentation and the
background worker that assembles batches.

A sample is a BGR image of any size with objects as (class index, quad in pixels). It is
cropped (jitter), letterboxed exactly as the device letterboxes frames
(:func:`edgeocr.core.letterbox.letterbox`), colour-jittered and blurred, then encoded
against the anchors. Horizontal flips are never used: mirrored text is not text.

Batches are deterministic by (seed, step): batch ``k`` is drawn from
``np.random.default_rng([seed, k])``, so a resumed run sees the same data it would have.
"""

from __future__ import annotations

import csv
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edgeocr.core.anchors import AnchorSpec, encode, generate_anchors
from edgeocr.core.geometry import iou_matrix
from edgeocr.core.letterbox import letterbox

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class DatasetError(Exception):
    """A dataset file that cannot be used (the message names the path and the reason)."""


@dataclass
class Sample:
    """One training image: BGR uint8 (H, W, 3), class indices (M,) into the class names,
    quads (M, 4, 2) pixels clockwise from top-left. ``ignore`` (K, 4, 2) quads are objects
    of classes not being trained: anchors on them are neither positive nor negative."""

    image: npt.NDArray[np.uint8]
    classes: npt.NDArray[np.int64]
    quads: FloatArray
    ignore: FloatArray = field(default_factory=lambda: np.zeros((0, 4, 2), np.float32))


# --------------------------------------------------------------------------- targets


def anchor_boxes(anchors: FloatArray) -> FloatArray:
    """(N, 4) cx, cy, w, h anchors -> (N, 4) x1y1x2y2."""
    cxcy, wh = anchors[:, :2], anchors[:, 2:]
    return np.concatenate([cxcy - wh / 2, cxcy + wh / 2], axis=1).astype(np.float32)


def encode_targets(
    classes: npt.NDArray[np.integer],
    quads: FloatArray,
    anchors: FloatArray,
    variances: tuple[float, float],
    ignore_quads: FloatArray | None = None,
    pos_iou: float = 0.5,
    neg_iou: float = 0.4,
) -> tuple[npt.NDArray[np.int32], FloatArray, FloatArray]:
    """Match anchors to objects and encode the offsets.

    ``quads`` (M, 4, 2) normalised to [0, 1] of the input; ``classes`` (M,) 0-based.
    Each object's best anchor is positive whatever its IoU (small objects still get one);
    otherwise IoU >= ``pos_iou`` is positive, < ``neg_iou`` background, in between ignored.
    Returns class targets (N,) int32 (0 background, c + 1 object, -1 ignored), box offsets
    (N, 4) and corner offsets (N, 8) (zero where not positive).
    """
    n = len(anchors)
    cls = np.zeros(n, np.int32)
    box_t = np.zeros((n, 4), np.float32)
    corner_t = np.zeros((n, 8), np.float32)
    a_boxes = anchor_boxes(anchors)
    if ignore_quads is not None and len(ignore_quads):
        ib = np.concatenate([ignore_quads.min(axis=1), ignore_quads.max(axis=1)], axis=1)
        cls[iou_matrix(a_boxes, ib).max(axis=1) >= neg_iou] = -1
    if len(quads) == 0:
        return cls, box_t, corner_t
    q = np.asarray(quads, np.float32).reshape(-1, 4, 2)
    gt_boxes = np.concatenate([q.min(axis=1), q.max(axis=1)], axis=1)
    iou = iou_matrix(a_boxes, gt_boxes)  # (N, M)
    best_gt = iou.argmax(axis=1)
    best_iou = iou.max(axis=1)
    for j, a in enumerate(iou.argmax(axis=0)):
        if iou[a, j] > 0:
            best_gt[a] = j
            best_iou[a] = 2.0  # forced positive
    pos = best_iou >= pos_iou
    cls[(best_iou >= neg_iou) & ~pos] = -1
    cls[pos] = np.asarray(classes, np.int32)[best_gt[pos]] + 1
    if pos.any():
        b, c = encode(gt_boxes[best_gt[pos]].astype(np.float32),
                      q[best_gt[pos]].reshape(-1, 8), anchors[pos], variances)
        box_t[pos], corner_t[pos] = b, c
    return cls, box_t, corner_t


# --------------------------------------------------------------------------- readers


@dataclass(frozen=True)
class Record:
    """One labelled image on disk: its objects as (class name, quad pixels (4, 2))."""

    path: Path
    objects: tuple[tuple[str, tuple[tuple[float, float], ...]], ...]


def _float(value: str, path: Path, line: int) -> float:
    try:
        return float(value)
    except ValueError:
        raise DatasetError(f"{path}:{line}: not a number: {value!r}") from None


def read_labels_csv(path: Path) -> list[Record]:
    """``image,kind,text,x1,y1,...,x4,y4`` (the project's labels.csv): rows without
    corners (crops, text-only rows) are skipped; box rows carry the box's corners."""
    need = ["image", "kind", *[f"{a}{i}" for i in range(1, 5) for a in "xy"]]
    by_image: dict[Path, list[tuple[str, tuple[tuple[float, float], ...]]]] = {}
    with _open_csv(path) as rows:
        header = rows.fieldnames or []
        missing = [c for c in need if c not in header]
        if missing:
            raise DatasetError(f"{path}: missing columns {', '.join(missing)}")
        for line, row in enumerate(rows, start=2):
            image = path.parent / row["image"]
            by_image.setdefault(image, [])
            if not all((row.get(f"{a}{i}") or "").strip() for i in range(1, 5) for a in "xy"):
                continue
            pts = tuple((_float(row[f"x{i}"], path, line), _float(row[f"y{i}"], path, line))
                        for i in range(1, 5))
            by_image[image].append((row["kind"].strip(), pts))
    return [Record(p, tuple(objs)) for p, objs in by_image.items() if objs]


def read_pascal_csv(path: Path) -> list[Record]:
    """``fname,xmin,xmax,ymin,ymax,class_id`` boxes (e.g. SVHN digits), header optional;
    ``fname`` relative to the CSV's folder. Class names are the ids as written."""
    by_image: dict[Path, list[tuple[str, tuple[tuple[float, float], ...]]]] = {}
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read: {exc}") from None
    for line_no, row in enumerate(csv.reader(lines), start=1):
        if not row or (line_no == 1 and row[0].strip().lower() in ("fname", "filename", "image")):
            continue
        if len(row) < 6:
            raise DatasetError(f"{path}:{line_no}: expected fname,xmin,xmax,ymin,ymax,class_id")
        x1, x2, y1, y2 = (_float(v, path, line_no) for v in row[1:5])
        if x2 <= x1 or y2 <= y1:
            raise DatasetError(f"{path}:{line_no}: empty box {row[1:5]}")
        cls = row[5].strip()
        by_image.setdefault(path.parent / row[0].strip(), []).append(
            (cls, ((x1, y1), (x2, y1), (x2, y2), (x1, y2))))
    return [Record(p, tuple(objs)) for p, objs in by_image.items()]


class _open_csv:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> csv.DictReader[str]:
        try:
            self._f = self.path.open(newline="", encoding="utf-8")
        except OSError as exc:
            raise DatasetError(f"{self.path}: cannot read: {exc.strerror}") from None
        return csv.DictReader(self._f)

    def __exit__(self, *exc: object) -> None:
        self._f.close()


def is_pascal_csv(path: Path) -> bool:
    """Sniff the header: labels.csv starts with ``image,kind``; anything else with six
    columns is taken as Pascal."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            first = next(csv.reader(f), [])
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror}") from None
    return not (len(first) >= 2 and first[0].strip() == "image" and first[1].strip() == "kind")


def read_dataset(path: Path, class_names: Sequence[str] | None) -> tuple[list[Record], list[str]]:
    """Records and the class names to train: for Pascal CSVs the ids found (numeric order),
    for labels.csv ``class_names`` (rows of other kinds become ignored regions)."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    if is_pascal_csv(path):
        records = read_pascal_csv(path)
        found = sorted({c for r in records for c, _ in r.objects},
                       key=lambda c: (0, int(c), c) if c.isdigit() else (1, 0, c))
        names = list(found)
    else:
        records = read_labels_csv(path)
        names = list(class_names or ("plate", "house_number"))
        if records and not any(c in names for r in records for c, _ in r.objects):
            raise DatasetError(f"{path}: no objects of the classes {', '.join(names)}")
    if not records:
        raise DatasetError(f"{path}: no labelled objects with corners or boxes")
    missing = [r.path for r in records if not r.path.is_file()]
    if missing:
        raise DatasetError(f"{missing[0]}: image listed in {path} does not exist"
                           + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    return records, names


def fit_aspect_ratios(records: Sequence[Record], count: int = 3) -> tuple[float, ...]:
    """Anchor width/height ratios spread over a dataset's boxes (10th to 90th percentile),
    for datasets unlike plates (SVHN digits are about half as wide as tall)."""
    ratios = []
    for r in records:
        for _, quad in r.objects:
            q = np.asarray(quad, np.float64)
            w, h = np.ptp(q[:, 0]), np.ptp(q[:, 1])
            if w > 0 and h > 0:
                ratios.append(w / h)
    if not ratios:
        return (1.0,)
    qs = np.quantile(ratios, np.linspace(0.1, 0.9, count))
    return tuple(sorted({round(float(v), 2) for v in qs}))


def load_record(record: Record, class_names: Sequence[str]) -> Sample:
    image = cv2.imread(str(record.path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"{record.path}: not a readable image")
    index = {n: i for i, n in enumerate(class_names)}
    keep = [(index[c], q) for c, q in record.objects if c in index]
    other = [q for c, q in record.objects if c not in index]
    return Sample(
        image,
        np.asarray([k for k, _ in keep], np.int64),
        np.asarray([q for _, q in keep], np.float32).reshape(-1, 4, 2),
        np.asarray(other, np.float32).reshape(-1, 4, 2),
    )


# --------------------------------------------------------------------------- augmentation


def _crop_jitter(rng: np.random.Generator, s: Sample) -> Sample:
    """Zoom in on a random window that still holds every object whole (scale jitter
    without cutting plates in half)."""
    h, w = s.image.shape[:2]
    u = rng.uniform(0.55, 1.0)
    cw = min(w, round(w * u * rng.uniform(0.9, 1.1)))
    ch = min(h, round(h * u * rng.uniform(0.9, 1.1)))
    allq = np.concatenate([s.quads, s.ignore]).reshape(-1, 2)
    if len(allq):
        lo = np.floor(allq.min(axis=0)).clip(0, None)
        hi = np.ceil(allq.max(axis=0))
        cw = int(min(w, max(cw, hi[0] - lo[0] + 2)))
        ch = int(min(h, max(ch, hi[1] - lo[1] + 2)))
        x_lo, x_hi = max(0, int(hi[0]) + 1 - cw), min(int(lo[0]), w - cw)
        y_lo, y_hi = max(0, int(hi[1]) + 1 - ch), min(int(lo[1]), h - ch)
    else:
        x_lo, x_hi, y_lo, y_hi = 0, w - cw, 0, h - ch
    x0 = int(rng.integers(x_lo, max(x_lo, x_hi) + 1))
    y0 = int(rng.integers(y_lo, max(y_lo, y_hi) + 1))
    off = np.array([x0, y0], np.float32)
    return Sample(s.image[y0:y0 + ch, x0:x0 + cw], s.classes, s.quads - off, s.ignore - off)


def _photometric(rng: np.random.Generator, img: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Colour, contrast, grey, blur, noise and JPEG artefacts, in place of a real camera's."""
    x = img.astype(np.float32)
    if rng.random() < 0.8:
        x = x * rng.uniform(0.6, 1.4) + rng.uniform(-40, 40)
        x = x * rng.uniform(0.85, 1.15, size=3).astype(np.float32)  # white balance
    if rng.random() < 0.2:
        x = np.repeat(x.mean(axis=2, keepdims=True), 3, axis=2)
    out = np.clip(x, 0, 255).astype(np.uint8)
    r = rng.random()
    if r < 0.25:
        k = int(rng.choice([3, 5]))
        out = cv2.GaussianBlur(out, (k, k), 0)
    elif r < 0.35:
        k = int(rng.integers(3, 8))
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0 / k  # horizontal motion blur
        out = cv2.filter2D(out, -1, kernel)
    if rng.random() < 0.25:
        noise = rng.normal(0, rng.uniform(2, 10), out.shape).astype(np.float32)
        out = np.clip(out.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out


def prepare(
    sample: Sample, height: int, width: int, rng: np.random.Generator | None = None
) -> tuple[npt.NDArray[np.uint8], Sample]:
    """Letterbox ``sample`` to (height, width), with augmentation when ``rng`` is given.
    Returns the BGR input image and the sample with quads in its pixels."""
    s = sample
    if s.image.ndim == 2:
        s = Sample(cv2.cvtColor(s.image, cv2.COLOR_GRAY2BGR), s.classes, s.quads, s.ignore)
    if rng is not None and rng.random() < 0.6:
        s = _crop_jitter(rng, s)
    img, scale, pad = letterbox(s.image, height, width)
    off = np.asarray(pad, np.float32)
    if rng is not None:
        # Photometric changes only inside the picture: the device's padding stays black.
        nh, nw = round(s.image.shape[0] * scale), round(s.image.shape[1] * scale)
        region = img[pad[1]:pad[1] + nh, pad[0]:pad[0] + nw]
        img[pad[1]:pad[1] + nh, pad[0]:pad[0] + nw] = _photometric(rng, region)
    return img, Sample(img, s.classes, s.quads * scale + off, s.ignore * scale + off)


# --------------------------------------------------------------------------- sources

SampleFn = Callable[[np.random.Generator], Sample]


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def negative_source(paths: Sequence[Path]) -> SampleFn:
    """Real photos without plates: every anchor is background (text on signs included)."""
    def draw(rng: np.random.Generator) -> Sample:
        for _ in range(5):
            img = cv2.imread(str(paths[int(rng.integers(len(paths)))]), cv2.IMREAD_COLOR)
            if img is not None:
                return Sample(img, np.zeros(0, np.int64), np.zeros((0, 4, 2), np.float32))
        raise DatasetError(f"{paths[0].parent}: background images are unreadable")
    return draw


def record_source(records: Sequence[Record], class_names: Sequence[str]) -> SampleFn:
    def draw(rng: np.random.Generator) -> Sample:
        return load_record(records[int(rng.integers(len(records)))], class_names)
    return draw


def mixed_source(sources: Sequence[tuple[float, SampleFn]]) -> SampleFn:
    """Pick one source per sample with the given weights."""
    weights = np.asarray([w for w, _ in sources], np.float64)
    weights /= weights.sum()

    def draw(rng: np.random.Generator) -> Sample:
        return sources[int(rng.choice(len(sources), p=weights))][1](rng)
    return draw


# --------------------------------------------------------------------------- batches

Batch = tuple[FloatArray, npt.NDArray[np.int32], FloatArray, FloatArray]


def make_batch(
    samples: Sequence[Sample], spec: AnchorSpec, anchors: FloatArray,
    rng: np.random.Generator | None,
) -> tuple[Batch, list[Sample]]:
    """Prepare and encode ``samples``: images (B, H, W, 3) RGB float [0, 1] and targets;
    also the prepared samples (quads in input pixels) for evaluation."""
    h, w = spec.input_height, spec.input_width
    norm = np.array([w, h], np.float32)
    images, cls, boxes, corners, prepared = [], [], [], [], []
    for s in samples:
        img, p = prepare(s, h, w, rng)
        c, b, k = encode_targets(p.classes, p.quads / norm, anchors, spec.variances,
                                 p.ignore / norm)
        images.append(img[:, :, ::-1])
        cls.append(c)
        boxes.append(b)
        corners.append(k)
        prepared.append(p)
    x = np.stack(images).astype(np.float32) / 255.0
    return (x, np.stack(cls), np.stack(boxes), np.stack(corners)), prepared


class BatchWorker:
    """Builds batches for steps ``start..stop-1`` in a background thread (OpenCV drops the
    GIL, so rendering overlaps the TensorFlow step)."""

    def __init__(self, draw: SampleFn, spec: AnchorSpec, batch_size: int, seed: int,
                 start: int, stop: int, prefetch: int = 4) -> None:
        self.draw, self.spec, self.batch_size, self.seed = draw, spec, batch_size, seed
        self.anchors = generate_anchors(spec)
        self._queue: queue.Queue[Batch | BaseException] = queue.Queue(maxsize=prefetch)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(start, stop), daemon=True,
                                        name="detector-batches")
        self._thread.start()

    def _run(self, start: int, stop: int) -> None:
        try:
            for step in range(start, stop):
                rng = np.random.default_rng([self.seed, step])
                samples = [self.draw(rng) for _ in range(self.batch_size)]
                batch, _ = make_batch(samples, self.spec, self.anchors, rng)
                while not self._stop.is_set():
                    try:
                        self._queue.put(batch, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._queue.put(exc)

    def get(self) -> Batch:
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
