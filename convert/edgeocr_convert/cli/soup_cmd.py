"""``edgeocr-train soup``: average the weights of models fine-tuned from one parent."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("soup")
@click.argument("models", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The averaged model (.h5), with the first model's metadata.")
def soup(models: tuple[Path, ...], out: Path) -> None:
    """Average MODELS (Keras .h5 of one architecture) into one model, uniformly.

    Meant for several fine-tunes of one parent (different seeds): their accuracy on real
    crops differs run to run, and the average keeps what they share. Convert the result
    with edgeocr-convert as usual.
    """
    from edgeocr_convert.soup import SoupError, make_soup

    try:
        make_soup(list(models), out)
    except SoupError as exc:
        click.echo(f"edgeocr-train: soup: {exc}", err=True)
        raise SystemExit(2) from None
    click.echo(f"{out}: uniform average of {len(models)} models")
