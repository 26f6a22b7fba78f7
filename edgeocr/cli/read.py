"""``edgeocr read``: read plates / house numbers in image files.

Stable output contract (scripts and automated scoring parse it): with ``--json`` one JSON
object per image and line, ``{"image", "reads": [{"kind", "text", "confidence"[, "box",
"corners"]}], "ms"}``, or ``{"image", "error"}`` for a file that cannot be read (the
command goes on and exits 1 at the end). ``ms`` is the pipeline time for the image,
excluding file decoding.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import click
import cv2
import numpy as np
import numpy.typing as npt

from edgeocr.core.sidecar import SidecarError
from edgeocr.core.types import KINDS
from edgeocr.runtime import RuntimeBackendError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})


class _InputError(Exception):
    """Bad command-line input: reported as one line, exit 2."""


def collect_images(paths: Sequence[Path]) -> list[Path]:
    """Files named directly (any suffix) and images found under folders, folder by folder
    sorted; each file once."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*")
                                if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()))
        elif path.is_file():
            found.append(path)
        else:
            raise _InputError(f"{path}: no such file or directory")
    if not found:
        raise _InputError(
            f"{', '.join(str(p) for p in paths)}: no images found "
            f"({', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    return list(dict.fromkeys(found))


def decode_image(path: Path, flags: int) -> npt.NDArray[Any]:
    """Decode ``path`` with OpenCV (any path characters); ValueError with the reason."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise ValueError(exc.strerror or str(exc)) from None
    if data.size == 0:
        raise ValueError("file is empty")
    # OpenCV would print its own decoder complaints; the caller reports the file instead.
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        image = cv2.imdecode(data, flags)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if image is None:
        raise ValueError("not a readable image (jpg, png, bmp)")
    out: npt.NDArray[Any] = image
    return out


def _reason(exc: Exception) -> str:
    """One line: OpenCV errors carry a multi-line C++ trace."""
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


def _round(v: float, nd: int = 2) -> float:
    return round(float(v), nd)


def _process(paths: Iterable[Path], crops: bool, kind: str, threads: int,
             detector: Path | None, recognizer: Path | None,
             tiles: int | None = None,
             formats: Sequence[str] | None = None) -> Iterable[dict[str, Any]]:
    from edgeocr.formats import DEFAULT_PACKS, apply_formats
    from edgeocr.recognize import Recognizer
    from edgeocr.rectify import pad_to_margin

    packs = DEFAULT_PACKS if formats is None else tuple(formats)
    rec = Recognizer(recognizer, threads=threads)
    if crops:
        for path in paths:
            try:
                image = decode_image(path, cv2.IMREAD_UNCHANGED)
                t0 = time.perf_counter()
                read = apply_formats(rec.read(pad_to_margin(image), kind=kind), kind,
                                     packs).read
                ms = (time.perf_counter() - t0) * 1000.0
            except (ValueError, cv2.error) as exc:
                yield {"image": str(path), "error": _reason(exc)}
                continue
            yield {"image": str(path),
                   "reads": [{"kind": read.kind, "text": read.text,
                              "confidence": _round(read.confidence, 4)}],
                   "ms": _round(ms, 3)}
        return

    from edgeocr.detect import Detector
    from edgeocr.pipeline import Pipeline

    pipe = Pipeline(Detector(detector, threads=threads, tiles=tiles), rec, formats=packs)
    for path in paths:
        try:
            image = decode_image(path, cv2.IMREAD_COLOR)
            t0 = time.perf_counter()
            results = pipe.process(image)
            ms = (time.perf_counter() - t0) * 1000.0
        except (ValueError, cv2.error) as exc:
            yield {"image": str(path), "error": _reason(exc)}
            continue
        yield {"image": str(path), "reads": [
            {"kind": r.read.kind, "text": r.read.text,
             "confidence": _round(r.read.confidence, 4),
             "box": [_round(v) for v in r.detection.box],
             "corners": [[_round(x), _round(y)] for x, y in r.detection.corners]}
            for r in results
        ], "ms": _round(ms, 3)}


def _table(rows: list[dict[str, Any]]) -> list[str]:
    """Aligned columns; BOX only when some read has a box (not with --crops)."""
    lines = [("IMAGE", "KIND", "TEXT", "CONF", "MS", "BOX")]
    for row in rows:
        if "error" in row:
            lines.append((row["image"], "-", f"error: {row['error']}", "", "", ""))
            continue
        ms = f"{row['ms']:.1f}"
        if not row["reads"]:
            lines.append((row["image"], "-", "(nothing)", "", ms, ""))
        for r in row["reads"]:
            box = " ".join(f"{v:.0f}" for v in r["box"]) if "box" in r else ""
            lines.append((row["image"], r["kind"], r["text"] or "(empty)",
                          f"{r['confidence']:.2f}", ms, box))
    ncols = 6 if any(line[5] for line in lines[1:]) else 5
    widths = [max(len(line[i]) for line in lines) for i in range(ncols)]
    return ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=False)).rstrip()
            for line in lines]


def _packs(text: str) -> tuple[str, ...]:
    from edgeocr.formats import check_packs

    packs = tuple(p.strip() for p in text.split(",") if p.strip())
    try:
        check_packs(packs)
    except ValueError as exc:
        raise _InputError(f"--formats: {exc}") from None
    return packs


@click.command("read")
@click.option("--crops", is_flag=True,
              help="Each image is one plate / house-number crop (no detection), read as "
                   "the plate's extent: framed with the margin a detection's warp gets.")
@click.option("--kind", type=click.Choice(KINDS), default="plate", show_default=True,
              help="What the crops are (with --crops).")
@click.option("--threads", type=click.IntRange(min=0), default=0,
              help="Interpreter threads (0 = all cores).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per image and line.")
@click.option("--detector", type=click.Path(path_type=Path, dir_okay=False),
              help="Detector .tflite (default: the shipped model).")
@click.option("--recognizer", type=click.Path(path_type=Path, dir_okay=False),
              help="Recognizer .tflite (default: the shipped model).")
@click.option("--tiles", type=click.Choice(["auto", "1", "2"]), default="auto",
              show_default=True,
              help="Also detect on a 2x2 grid of tiles: auto = only for images at least 3x "
                   "the detector input.")
@click.option("--formats", default=None, metavar="PACKS",
              help="Comma-separated format packs (us, eu, br, cn, house_number) to check and "
                   "fix reads with [default: us,eu,br,house_number]. Several plate packs are "
                   "weighed against each other per read; naming only your region's is more "
                   "accurate still.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def read(crops: bool, kind: str, threads: int, as_json: bool, detector: Path | None,
         recognizer: Path | None, tiles: str, formats: str | None,
         paths: tuple[Path, ...]) -> None:
    """Read plates and house numbers in image files or folders (searched recursively
    for .jpg, .jpeg, .png, .bmp). Exits 1 when some image could not be read."""
    failed = False
    rows: list[dict[str, Any]] = []
    try:
        packs = None if formats is None else _packs(formats)
        images = collect_images(paths)
        for row in _process(images, crops, kind, threads, detector, recognizer,
                            None if tiles == "auto" else int(tiles), packs):
            failed = failed or "error" in row
            if as_json:
                click.echo(json.dumps(row))
            else:
                rows.append(row)
    except (_InputError, SidecarError, RuntimeBackendError) as exc:
        click.echo(f"edgeocr: {exc}", err=True)
        raise SystemExit(2) from None
    if not as_json:
        for line in _table(rows):
            click.echo(line)
    if failed:
        raise SystemExit(1)
