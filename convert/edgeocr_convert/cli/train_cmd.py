"""``edgeocr-train``: synthetic data and training commands (one module per subcommand)."""

from __future__ import annotations

import logging
import os

import click

from edgeocr.cli.main import LazyGroup

# Quiet TensorFlow's C++ banner before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

COMMANDS: dict[str, str] = {
    "recognizer": "edgeocr_convert.cli.train_recognizer_cmd:recognizer",
    "svhn-convert": "edgeocr_convert.cli.svhn_cmd:svhn_convert",
    "detector": "edgeocr_convert.cli.train_detector_cmd:detector",
    "synth": "edgeocr_convert.cli.synth_cmd:synth",
    "soup": "edgeocr_convert.cli.soup_cmd:soup",
}


class TrainGroup(LazyGroup):
    lazy_commands = COMMANDS


@click.group(cls=TrainGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True)
def cli(verbose: int) -> None:
    """edgeocr-train: generate synthetic data and train the detector and recognizer."""
    logging.basicConfig(level=logging.WARNING - 10 * min(verbose, 2),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
