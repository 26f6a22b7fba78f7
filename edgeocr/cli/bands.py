"""``edgeocr bands``: the verification bands for a detector and recognizer pair."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from edgeocr.core.sidecar import SidecarError
from edgeocr.runtime import RuntimeBackendError

if TYPE_CHECKING:
    from edgeocr.detect import Detector
    from edgeocr.recognize import Recognizer


@click.command("bands")
@click.argument("negatives", type=click.Path(path_type=Path, file_okay=False))
@click.option("--detector", type=click.Path(path_type=Path, dir_okay=False),
              help="Detector .tflite (default: the shipped one).")
@click.option("--recognizer", type=click.Path(path_type=Path, dir_okay=False),
              help="Recognizer .tflite (default: the shipped one).")
@click.option("--json", "json_out", type=click.Path(path_type=Path, dir_okay=False),
              help="Write every figure and the choice here (what `edgeocr eval --bands` reads).")
@click.option("--limit", type=click.IntRange(min=1), default=600, show_default=True,
              help="Photos used at most, evenly spread over the folder's sorted files.")
@click.option("--second-look/--no-second-look", default=True, show_default=True,
              help="Read each detection's box too, as the pipeline does by default.")
@click.option("--zoom/--no-zoom", default=True, show_default=True,
              help="Zoom each detection, as the pipeline does by default.")
@click.option("--scenes", type=click.Path(path_type=Path, file_okay=False),
              help="A folder of labelled scenes (`edgeocr-train synth --mode scene`; not your "
                   "evaluation set): choose by the split rule, the bands within the budget "
                   "that read the most of its plates (edgeocr/evaluation/band_split.py).")
@click.option("--antialias/--no-antialias", default=False, show_default=True,
              help="Shrink big detections by area averaging, as `edgeocr eval --antialias`.")
def bands(negatives: Path, detector: Path | None, recognizer: Path | None,
          json_out: Path | None, limit: int, second_look: bool, zoom: bool,
          scenes: Path | None, antialias: bool) -> None:
    """Choose the verification bands for a detector and recognizer on NEGATIVES.

    NEGATIVES is a folder of real photos with no plate and no house number (every read there
    is false). The lowest bands that keep the whole pipeline within 0.05 false reads per
    photo are printed with the [models] settings that apply them. Rules and their reasons:
    edgeocr/evaluation/bands.py. With --scenes, the split rule chooses instead.
    """
    from edgeocr.detect import Detector
    from edgeocr.evaluation.bands import GRID, derive, even_spread, report, write_json
    from edgeocr.recognize import Recognizer

    if not negatives.is_dir():
        _fail(f"{negatives}: no such folder")
    photos = even_spread(negatives, limit)
    if not photos:
        _fail(f"{negatives}: no .jpg .jpeg .png or .bmp images under it")
    if scenes is not None and not (scenes / "labels.csv").is_file():
        _fail(f"{scenes}: no labels.csv (make labelled scenes with `edgeocr-train synth "
              "--mode scene`)")
    if scenes is not None and (not second_look or not zoom or antialias):
        _fail("--scenes reads the pipeline as it runs by default: drop --no-second-look, "
              "--no-zoom and --antialias")
    try:
        det = Detector(detector, threads=1, score_threshold=min(GRID))
        rec = Recognizer(recognizer, threads=1)
    except (SidecarError, RuntimeBackendError, OSError, ValueError) as exc:
        _fail(str(exc))
        return

    @contextmanager
    def bar_for(zoom_from: float) -> Iterator[Callable[[int], None]]:
        label = f"plate-free photos (zoom from {zoom_from:.2f})"
        with click.progressbar(length=len(photos), label=label, file=sys.stderr) as bar:
            yield bar.update

    if scenes is not None:
        _split(photos, scenes, det, rec, json_out)
        return
    choice, n = derive(photos, det, rec, second_look=second_look, zoom=zoom,
                       antialias=antialias, progress_for=bar_for)
    if n == 0:
        _fail(f"{negatives}: none of {len(photos)} images could be decoded")
    click.echo(report(choice))
    if json_out is not None:
        try:
            write_json(choice, json_out)
        except OSError as exc:
            _fail(f"{json_out}: {exc.strerror}")


def _split(photos: list[Path], scenes: Path, det: Detector, rec: Recognizer,
           json_out: Path | None) -> None:
    from edgeocr.data.labels import DatasetError
    from edgeocr.evaluation import band_split

    @contextmanager
    def bar_for(band: float) -> Iterator[Callable[[int], None]]:
        label = f"band {band:.2f}: plate-free photos, then scenes"
        with click.progressbar(length=len(photos), label=label, file=sys.stderr) as bar:
            yield bar.update

    try:
        rows, n, plates = band_split.choose_split(photos, scenes, det, rec, progress_for=bar_for)
    except (ValueError, DatasetError) as exc:
        _fail(str(exc))
        return
    if n == 0:
        _fail(f"none of {len(photos)} plate-free images could be decoded")
    click.echo(band_split.report(rows, n, plates))
    if json_out is not None:
        try:
            band_split.write_json(rows, n, plates, det.operating_threshold, json_out)
        except OSError as exc:
            _fail(f"{json_out}: {exc.strerror}")


def _fail(message: str) -> None:
    click.echo(f"edgeocr bands: {message}", err=True)
    sys.exit(2)
