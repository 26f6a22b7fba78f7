"""``edgeocr daemon --config FILE``: the service."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import click

from edgeocr.config import ConfigError, file_problems, load_config


def _fail(file: Path, problems: list[str]) -> NoReturn:
    for problem in problems:
        click.echo(f"{file}: {problem}", err=True)
    raise SystemExit(2)


@click.command("daemon")
@click.option("-c", "--config", "config_file", required=True,
              type=click.Path(path_type=Path, dir_okay=False),
              help="TOML config (see deploy/config.example.toml).")
@click.pass_context
def daemon(ctx: click.Context, config_file: Path) -> None:
    """Capture, detect, rectify, recognize, vote and publish until stopped (SIGTERM) or
    until every finite source (file, folder) has been played and its reads delivered."""
    try:
        config = load_config(config_file)
    except ConfigError as exc:
        _fail(config_file, exc.problems)
    problems = file_problems(config)
    if problems:
        _fail(config_file, problems)

    from edgeocr.daemon import Daemon, StartupError, setup_logging

    verbose = int(ctx.parent.params.get("verbose", 0)) if ctx.parent is not None else 0
    setup_logging(config.logging, verbose)
    try:
        runner = Daemon(config)
    except StartupError as exc:
        _fail(config_file, exc.problems)
    try:
        code = runner.run()
    except ConfigError as exc:
        _fail(config_file, exc.problems)
    raise SystemExit(code)
