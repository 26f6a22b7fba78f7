"""``edgeocr-train detector``: train the SSD-lite detector on synthetic scenes or a CSV."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command("detector")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Run folder: checkpoint, log.csv, curves.png, model.h5.")
@click.option("--steps", type=click.IntRange(min=1), default=30000, show_default=True)
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.weights.h5.")
@click.option("--data", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="labels.csv (corners or boxes) or Pascal CSV fname,xmin,xmax,ymin,ymax,"
                   "class_id to train on instead of synthetic scenes.")
@click.option("--batch", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--size", type=click.IntRange(min=64), default=320, show_default=True,
              help="Square input size (a multiple of the largest stride, 64).")
@click.option("--classes", default="plate,house_number", show_default=True,
              help="Comma-separated classes (a Pascal CSV uses the class ids it holds).")
@click.option("--backgrounds", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Real photos without plates [default: ../shared/backgrounds/real-negatives].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=2e-3,
              show_default=True)
@click.option("--val-every", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--val-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=250, show_default=True)
@click.option("--cls-loss", type=click.Choice(["focal", "ohem"]), default="focal",
              show_default=True, help="Focal loss, or cross entropy with 3:1 hard negatives.")
@click.option("--no-progress", is_flag=True, help="No progress bar (for logs).")
def detector(
    out: Path, steps: int, resume: bool, data: Path | None, batch: int, size: int, classes: str,
    backgrounds: Path | None, seed: int, lr: float, val_every: int, val_size: int,
    checkpoint_every: int, cls_loss: str, no_progress: bool,
) -> None:
    """Train the detector into OUT (Ctrl-C saves a checkpoint; --resume continues)."""
    from edgeocr_convert.train_detector import (
        DetectorTrainConfig,
        TrainError,
        default_backgrounds,
        train_detector,
    )

    names = tuple(c.strip() for c in classes.split(",") if c.strip())
    if not names:
        click.echo(f"edgeocr-train: --classes {classes!r}: no class names", err=True)
        sys.exit(2)
    if backgrounds is not None and not backgrounds.is_dir():
        click.echo(f"edgeocr-train: {backgrounds}: not a folder", err=True)
        sys.exit(2)
    cfg = DetectorTrainConfig(
        out=out, steps=steps, batch=batch, size=size, classes=names, data=data,
        backgrounds=backgrounds or default_backgrounds(), seed=seed, resume=resume, lr=lr,
        val_every=val_every, val_size=val_size, checkpoint_every=checkpoint_every,
        cls_loss=cls_loss, progress=not no_progress,
    )
    try:
        summary = train_detector(cfg)
    except TrainError as exc:
        click.echo(f"edgeocr-train: {exc}", err=True)
        sys.exit(2)
    except ValueError as exc:
        # Input sizes the anchor strides do not fit and the like.
        click.echo(f"edgeocr-train: {out}: {exc}", err=True)
        sys.exit(2)
    click.echo(json.dumps(summary, default=str))
    if summary.get("interrupted"):
        sys.exit(130)
