"""``edgeocr-train recognizer``: train the CRNN recognizer (CTC) on synthetic crops."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command("recognizer")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Run folder: checkpoint, log.csv, curves.png, model.h5.")
@click.option("--steps", type=click.IntRange(min=1), default=20000, show_default=True)
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.weights.h5.")
@click.option("--data", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="labels.csv of your own crops to fine-tune on (mixed with synthetic).")
@click.option("--init", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Start from these weights (model.h5 of an earlier run), e.g. to fine-tune.")
@click.option("--data-fraction", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Share of each batch taken from --data.")
@click.option("--photos", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None,
              help="Folder of real photos without plates (e.g. ../shared/backgrounds/"
                   "real-negatives): pictures on US plates and context around crops.")
@click.option("--negatives", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None,
              help="Folder of real photos without plates to mine reject crops from (what the "
                   "shipped detector boxes there), trained with an empty label; the photos "
                   "edgeocr bands picks its bands on are left out.")
@click.option("--reject-fraction", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Share of each batch taken from the --negatives reject crops.")
@click.option("--batch", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--head", type=click.Choice(["conv", "bilstm"]), default="conv", show_default=True)
@click.option("--height", type=click.IntRange(min=8), default=40, show_default=True)
@click.option("--width", type=click.IntRange(min=8), default=160, show_default=True)
@click.option("--width-mult", type=click.FloatRange(min=0.1), default=1.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True)
@click.option("--eval-every", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--val-size", type=click.IntRange(min=0), default=1000, show_default=True)
@click.option("--plate-fraction", type=click.FloatRange(0, 1), default=0.8, show_default=True)
@click.option("--workers", type=click.IntRange(min=0), default=1, show_default=True,
              help="Background processes making batches (0: inline).")
@click.option("--no-progress", is_flag=True, help="No progress bar (for logs).")
def recognizer(
    out: Path, steps: int, resume: bool, data: Path | None, init: Path | None,
    data_fraction: float, photos: Path | None, negatives: Path | None, reject_fraction: float,
    batch: int,
    head: str, height: int, width: int, width_mult: float, seed: int, lr: float,
    eval_every: int, checkpoint_every: int, val_size: int, plate_fraction: float, workers: int,
    no_progress: bool,
) -> None:
    """Train the recognizer into OUT (Ctrl-C saves a checkpoint; --resume continues)."""
    from edgeocr_convert.data.crops import TrainDataError
    from edgeocr_convert.train_recognizer import RecognizerTrainConfig, train_recognizer
    from edgeocr_convert.training import CheckpointError

    cfg = RecognizerTrainConfig(
        out=out, steps=steps, batch=batch, head=head, height=height, width=width,
        width_mult=width_mult, seed=seed, lr=lr, data=data, data_fraction=data_fraction, init=init,
        photos=photos, negatives=negatives, reject_fraction=reject_fraction,
        eval_every=eval_every, checkpoint_every=checkpoint_every, val_size=val_size,
        plate_fraction=plate_fraction, workers=workers, progress=not no_progress,
    )
    try:
        summary = train_recognizer(cfg, resume=resume)
    except (TrainDataError, CheckpointError) as exc:
        click.echo(f"edgeocr-train: {exc}", err=True)
        sys.exit(2)
    except ValueError as exc:
        # Model sizes the strides cannot divide and the like.
        click.echo(f"edgeocr-train: {out}: {exc}", err=True)
        sys.exit(2)
    click.echo(json.dumps({k: v for k, v in summary.items() if k != "config"}))
    if summary.get("interrupted"):
        sys.exit(130)
