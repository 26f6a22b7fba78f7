"""``edgeocr eval``: accuracy on a labelled set (the labels.csv format), with peers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from edgeocr.core.sidecar import SidecarError
from edgeocr.core.types import Image
from edgeocr.data.labels import DatasetError, LabelledSet, load_labelled_dir
from edgeocr.evaluation.peers import Peer, PeerMissing, load_peer
from edgeocr.evaluation.recognition import RecognitionReport, score_crops, score_samples
from edgeocr.evaluation.samples import CropSample, packs_for_region, read_image, source_of
from edgeocr.evaluation.scenes import SceneReport, evaluate_scenes
from edgeocr.rectify import MARGIN, pad_to_margin
from edgeocr.runtime import RuntimeBackendError

AP_SCORE = 0.05
"""Detector threshold while evaluating: low, so AP sees the whole precision-recall curve."""


def _fail(message: str) -> None:
    click.echo(f"edgeocr eval: {message}", err=True)
    sys.exit(2)


@click.command("eval")
@click.argument("data_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--json", "json_out", type=click.Path(path_type=Path, dir_okay=False),
              help="Write every number to this JSON file.")
@click.option("--report", "report_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Write summary.md, plots and failure galleries to this folder.")
@click.option("--detector", type=click.Path(path_type=Path, dir_okay=False),
              help="Detector .tflite (default: the shipped one).")
@click.option("--recognizer", type=click.Path(path_type=Path, dir_okay=False),
              help="Recognizer .tflite (default: the shipped one).")
@click.option("--threads", type=int, default=1, show_default=True,
              help="Interpreter threads (and peer threads).")
@click.option("--score", type=float, default=None,
              help="Operating detection threshold for recall/precision/end-to-end "
                   "(default: the detector's own, from its sidecar; 0.5 if it has none).")
@click.option("--peers", default="", help="Comma-separated peers: tesseract,rapidocr,easyocr.")
@click.option("--crops-only", is_flag=True, help="Only score the recognizer on label crops.")
@click.option("--margin", default=None, metavar="X,Y",
              help="Rectification margin as fractions of the quad (default: the pipeline's).")
@click.option("--tiles", type=click.Choice(["auto", "1", "2"]), default="auto",
              show_default=True,
              help="Detector tiling (2x2 grid): auto = only images at least 3x its input.")
@click.option("--refine", is_flag=True,
              help="Snap predicted corners to image edges before warping (rectify.refine_quad).")
@click.option("--no-verify", is_flag=True,
              help="Keep only detections at the operating threshold (no read verification "
                   "below it; see edgeocr.pipeline.Verification).")
@click.option("--second-look/--no-second-look", default=True, show_default=True,
              help="Also read each detection's axis-aligned box and keep the better read "
                   "(the pipeline's default).")
@click.option("--look-agreement/--no-look-agreement", default=True, show_default=True,
              help="Choose between the two looks' different reads by how well each explains "
                   "both (the pipeline's default since session 14); off: by the weakest "
                   "character alone.")
@click.option("--zoom/--no-zoom", default=True, show_default=True,
              help="Re-detect each detection in a window around it and warp from the zoomed "
                   "corners (the pipeline's default; Detector.zoom).")
@click.option("--antialias/--no-antialias", default=False, show_default=True,
              help="Shrink detections bigger than the recognizer input by area averaging "
                   "instead of sampling them straight into it (rectify, warp_quad).")
@click.option("--bands", "bands_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Verification bands for these models: the JSON that `edgeocr bands "
                   "--json` writes (its chosen band, strict band and zoom keep score; "
                   "default: the pipeline's own).")
@click.option("--formats", default="auto", show_default=True,
              help="Format packs for the formatted score: comma-separated, or 'auto' to use "
                   "each image's region from meta.csv (what a user there would enable).")
def eval_command(data_dir: Path, json_out: Path | None, report_dir: Path | None,
                 detector: Path | None, recognizer: Path | None, threads: int, score: float | None,
                 peers: str, crops_only: bool, margin: str | None, tiles: str, refine: bool,
                 no_verify: bool, second_look: bool, look_agreement: bool, zoom: bool,
                 antialias: bool,
                 bands_file: Path | None, formats: str) -> None:
    """Score detection, rectification and recognition on DATA_DIR (labels.csv + images)."""
    from edgeocr.detect import Detector
    from edgeocr.evaluation.bands import read_bands
    from edgeocr.evaluation.samples import recognition_samples
    from edgeocr.formats import apply_formats, check_packs
    from edgeocr.pipeline import Pipeline, Verification
    from edgeocr.recognize import Recognizer

    try:
        ds = load_labelled_dir(data_dir)
        rec = Recognizer(recognizer, threads=threads)
        det = None if crops_only else Detector(
            detector, threads=threads, score_threshold=AP_SCORE,
            tiles=None if tiles == "auto" else int(tiles))
        margins = MARGIN if margin is None else _pair(margin)
        pack_list = tuple(p.strip() for p in formats.split(",") if p.strip())
        if formats != "auto":
            check_packs(pack_list)
        peer_objs = [load_peer(p.strip(), threads) for p in peers.split(",") if p.strip()]
        verification = Verification() if bands_file is None else read_bands(bands_file)
    except (DatasetError, SidecarError, RuntimeBackendError, PeerMissing, ValueError) as exc:
        _fail(str(exc))
        return

    try:
        samples = list(recognition_samples(ds))
    except ValueError as exc:
        _fail(str(exc))
        return
    click.echo(f"{len(samples)} plate crops, {len(ds.by_image())} images", err=True)

    def framed(s: CropSample) -> Image:
        # A crop file is read the way `edgeocr read --crops` reads it: grown by the margin
        # every warped crop gets. (Peers get the crop as it is.)
        return pad_to_margin(s.crop) if s.geometry == "crop" else s.crop

    def ours_raw(s: CropSample) -> str:
        return rec.read(framed(s), s.kind).text

    def ours_fmt(s: CropSample) -> str:
        packs = packs_for_region(s.region, s.kind) if formats == "auto" else pack_list
        return apply_formats(rec.read(framed(s), s.kind), s.kind, packs).read.text

    name = f"edgeocr {rec.model.sidecar.input.dtype}"
    crops: list[RecognitionReport] = [
        score_samples(f"{name} (formats)", ours_fmt, samples),
        score_samples(f"{name} (raw)", ours_raw, samples),
    ]
    crops += [score_crops(p.name, p.read_crop, samples) for p in peer_objs]

    scenes: SceneReport | None = None
    peer_scenes: dict[str, dict[str, float]] = {}
    if det is not None:
        threshold = score if score is not None else det.operating_threshold
        pipeline = Pipeline(det, rec, formats=pack_list if formats != "auto" else (),
                            margin=margins, refine=refine, accept_score=threshold,
                            verify=None if no_verify else verification,
                            second_look=second_look, zoom=zoom,
                            look_agreement=look_agreement, antialias=antialias)
        with click.progressbar(length=1, label="scenes", file=sys.stderr) as bar:
            def progress(done: int, total: int) -> None:
                bar.length = total
                bar.update(1)
            scenes = evaluate_scenes(ds, pipeline, progress,
                                     auto_formats=formats == "auto")
        for p in peer_objs:
            peer_scenes[p.name] = _peer_found(ds, p)

    _write_outputs(crops, scenes, peer_scenes, ds.root, json_out, report_dir, threads)


def _pair(text: str) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--margin takes two numbers X,Y, got {text!r}") from None
    return x, y


def _peer_found(ds: LabelledSet, p: Peer) -> dict[str, float]:
    """Rate of truth texts a peer finds anywhere in each scene, keyed like SceneReport, and
    ``ms_per_image``: the peer's median time per whole image (file decoding excluded)."""
    import time

    import numpy as np

    from edgeocr.core.charset import normalize_text
    from edgeocr.evaluation.samples import row_geometry

    hits: dict[str, list[bool]] = {}
    times: list[float] = []
    for image_name, rows in ds.by_image().items():
        if not any(row_geometry(ds, r) in ("box", "quad", "none") for r in rows):
            continue
        image = read_image(ds.image_path(image_name))
        t0 = time.perf_counter()
        texts = set(p.read_image(image))
        times.append((time.perf_counter() - t0) * 1000.0)
        for row in rows:
            text = normalize_text(row.text)
            if text:
                found = text in texts
                hits.setdefault(f"{row.kind}/{source_of(image_name)}", []).append(found)
                hits.setdefault(row.kind, []).append(found)
    rates = {k: sum(v) / len(v) for k, v in hits.items()}
    if times:
        rates["ms_per_image"] = float(np.median(times))
    return rates


def _write_outputs(crops: list[RecognitionReport], scenes: SceneReport | None,
                   peer_scenes: dict[str, dict[str, float]], root: Path,
                   json_out: Path | None, report_dir: Path | None, threads: int) -> None:
    from edgeocr.evaluation import report

    summary = report.markdown_summary(crops, scenes, peer_scenes, f"edgeocr eval: {root}")
    click.echo(summary)
    data = {
        "data": str(root),
        "threads": threads,
        "crops": [c.as_dict() for c in crops],
        "scenes": scenes.as_dict() if scenes is not None else None,
        "peer_scenes_found": peer_scenes,
    }
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
        (report_dir / "summary.md").write_text(summary, encoding="utf-8")
        report.crop_gallery(crops[0], root, report_dir / "crop_failures.png")
        if scenes is not None:
            report.plot_pr(scenes, report_dir / "pr_curve.png")
            report.plot_by_size(scenes.records, report_dir / "accuracy_by_size.png")
            report.plot_by_angle(scenes.records, report_dir / "accuracy_by_angle.png")
            report.gallery(scenes.records, root, report_dir / "worst_misses.png")
