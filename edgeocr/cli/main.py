"""The ``edgeocr`` command group.

Commands are imported lazily (only the one being run is imported), so ``edgeocr --help``
stays fast on a Pi. Register a command by adding one line to ``COMMANDS``.
"""

from __future__ import annotations

import importlib
import logging

import click

# name -> "module:attribute" of a click.Command
COMMANDS: dict[str, str] = {
    "bands": "edgeocr.cli.bands:bands",
    "bench": "edgeocr.cli.bench:bench",
    "check-config": "edgeocr.cli.check_config:check_config",
    "eval": "edgeocr.cli.eval:eval_command",
    "daemon": "edgeocr.cli.daemon:daemon",
    "demo": "edgeocr.cli.demo:demo",
    "watch": "edgeocr.cli.watch:watch",
    "read": "edgeocr.cli.read:read",
}


class LazyGroup(click.Group):
    """A click group whose commands are ``"module:attribute"`` strings imported on use."""

    lazy_commands: dict[str, str] = COMMANDS

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.lazy_commands)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy_commands.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command


def setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(
        level=max(level, logging.DEBUG),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.version_option(package_name="edgeocr")
def cli(verbose: int) -> None:
    """edgeocr: read licence plates and house numbers on the edge, publish over MQTT."""
    setup_logging(verbose)
