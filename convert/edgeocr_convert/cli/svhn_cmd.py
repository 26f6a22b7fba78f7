"""``edgeocr-train svhn-convert``: SVHN digitStruct.mat to Pascal CSV and labels.csv."""

from __future__ import annotations

from pathlib import Path

import click

from edgeocr.data.labels import DatasetError


@click.command("svhn-convert")
@click.argument("mat", type=click.Path(path_type=Path))
@click.option("--pascal", type=click.Path(path_type=Path, dir_okay=False),
              help="Write one row per digit: fname,xmin,xmax,ymin,ymax,class_id.")
@click.option("--labels", type=click.Path(path_type=Path, dir_okay=False),
              help="Write labels.csv: one house_number row per image, union box as corners.")
@click.option("--image-prefix", default="", show_default=True,
              help="Prepended to every image name (e.g. 'train/' for paths relative to "
                   "the folder holding the CSVs).")
def svhn_convert(mat: Path, pascal: Path | None, labels: Path | None, image_prefix: str) -> None:
    """Convert SVHN's MAT file (digitStruct.mat, format 1) to box CSVs."""
    from edgeocr_convert.data.svhn import convert_svhn

    if pascal is None and labels is None:
        click.echo("edgeocr-train: svhn-convert: give --pascal and/or --labels", err=True)
        raise SystemExit(2)
    try:
        n_images, n_digits = convert_svhn(mat, pascal, labels, image_prefix)
    except DatasetError as exc:
        click.echo(f"edgeocr-train: {exc}", err=True)
        raise SystemExit(2) from None
    except OSError as exc:
        click.echo(f"edgeocr-train: {exc.filename}: {exc.strerror}", err=True)
        raise SystemExit(2) from None
    outputs = ", ".join(str(p) for p in (pascal, labels) if p is not None)
    click.echo(f"{mat}: {n_images} images, {n_digits} digits -> {outputs}")
