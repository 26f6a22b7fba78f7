"""``edgeocr-train synth``: write synthetic crops or scenes, a labels.csv and a contact sheet."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import cv2
import numpy as np

from edgeocr.core.types import KINDS, Image, Kind

SHEET_SAMPLES = 36


@click.command("synth")
@click.option("--kind", type=click.Choice(KINDS), default="plate", show_default=True)
@click.option("--mode", type=click.Choice(["crop", "scene"]), default="crop", show_default=True)
@click.option(
    "--n",
    "count",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Number of images.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Output folder (images/, labels.csv, meta.csv, contact_sheet.png).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--height",
    type=click.IntRange(min=8),
    default=None,
    help="Image height [crop: 32, scene: 320].",
)
@click.option(
    "--width", type=click.IntRange(min=8), default=None, help="Image width [crop: 128, scene: 320]."
)
@click.option(
    "--backgrounds",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder of background photos for scenes (e.g. ../shared/backgrounds/real-negatives).",
)
@click.option(
    "--quality", type=click.IntRange(50, 100), default=95, show_default=True, help="JPEG quality."
)
def synth(
    kind: Kind,
    mode: str,
    count: int,
    out: Path,
    seed: int,
    height: int | None,
    width: int | None,
    backgrounds: Path | None,
    quality: int,
) -> None:
    """Generate COUNT synthetic crops (recognizer) or scenes (detector) of one kind."""
    from tqdm import tqdm  # type: ignore[import-untyped]

    from edgeocr.data.labels import LabelRow
    from edgeocr_convert.synth.backgrounds import BackgroundPool
    from edgeocr_convert.synth.contact import contact_sheet, draw_objects
    from edgeocr_convert.synth.crops import make_crop
    from edgeocr_convert.synth.fonts import FontsNotFoundError
    from edgeocr_convert.synth.scenes import make_scene
    from edgeocr_convert.synth.writer import write_dataset

    h = height or (32 if mode == "crop" else 320)
    w = width or (128 if mode == "crop" else 320)
    if mode == "scene" and (h < 32 or w < 32):
        _fail(out, f"scene size {w}x{h} is too small (need at least 32x32)")
    pool = None
    if backgrounds is not None:
        if not backgrounds.is_dir():
            _fail(backgrounds, "not a folder of background images")
        pool = BackgroundPool(backgrounds)
        if not len(pool):
            _fail(backgrounds, "no .jpg/.png images found")
    try:
        (out / "images").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(out, f"cannot create output folder: {exc.strerror or exc}")
    rng = np.random.default_rng(seed)
    rows: list[LabelRow] = []
    sheet_imgs: list[Image] = []
    sheet_caps: list[str] = []
    digits = max(6, len(str(count - 1)))
    try:
        for i in tqdm(range(count), desc=f"synth {kind} {mode}", unit="img"):
            name = f"images/{kind}_{mode}_{i:0{digits}d}.jpg"
            if mode == "crop":
                img, text = make_crop(rng, kind, h, w)
                rows.append(LabelRow(name, kind, text, None))
                caps = text
                shown = img
            else:
                sample = make_scene(rng, h, w, pool, kinds=(kind,), min_objects=1)
                img = sample.image
                for o in sample.objects:
                    rows.append(LabelRow(name, o.kind, o.text, o.quad))
                caps = " ".join(o.text for o in sample.objects)
                shown = draw_objects(
                    img, [o.quad for o in sample.objects], [o.text for o in sample.objects]
                )
            if not cv2.imwrite(str(out / name), img, [cv2.IMWRITE_JPEG_QUALITY, quality]):
                _fail(out / name, "cannot write image")
            if len(sheet_imgs) < SHEET_SAMPLES:
                sheet_imgs.append(shown)
                sheet_caps.append(caps)
    except FontsNotFoundError as exc:
        _fail(Path("fonts"), str(exc))
    write_dataset(out, rows, geometry="crop" if mode == "crop" else "quad")
    tile = (256, 64) if mode == "crop" else (240, 240)
    sheet = contact_sheet(sheet_imgs, sheet_caps, cols=6 if mode == "crop" else 4, tile=tile)
    cv2.imwrite(str(out / "contact_sheet.png"), sheet)
    click.echo(f"wrote {count} images, {len(rows)} labels to {out}")


def _fail(path: Path, reason: str) -> None:
    click.echo(f"edgeocr-train: {path}: {reason}", err=True)
    sys.exit(2)
