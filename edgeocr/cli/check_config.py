"""``edgeocr check-config FILE``: validate a config file without starting anything."""

from __future__ import annotations

from pathlib import Path

import click

from edgeocr.config import ConfigError, EdgeocrConfig, file_problems, load_config


def summary(config: EdgeocrConfig) -> list[str]:
    """A few human lines saying what the config will do."""
    lines: list[str] = []
    for name, cam in config.cameras.items():
        state = "" if cam.enabled else ", disabled"
        roi = f", roi {list(cam.roi)}" if cam.roi is not None else ""
        lines.append(f"  camera {name}: {cam.source} at {cam.fps:g} fps{roi}{state}")
    mqtt = config.mqtt
    scheme = "mqtts" if mqtt.tls is not None else "mqtt"
    user = f"{mqtt.username}@" if mqtt.username else ""
    lines.append(
        f"  broker: {scheme}://{user}{mqtt.host}:{mqtt.port} "
        f"(MQTT {mqtt.protocol}, qos {mqtt.qos}), topic prefix {mqtt.topic_prefix!r}"
    )
    reads = config.reads
    lines.append(f"  reads: {', '.join(reads.kinds)}; formats {', '.join(reads.formats)}")
    lines.append(f"  queue: {config.queue.path} (at most {config.queue.max_items} messages)")
    return lines


@click.command("check-config")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=True))
def check_config(file: Path) -> None:
    """Check a TOML config FILE: print each problem as `key.path: message` and exit 2,
    or print a summary and exit 0."""
    try:
        config = load_config(file)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"{file}: {problem}", err=True)
        raise SystemExit(2) from None
    problems = file_problems(config)
    if problems:
        for problem in problems:
            click.echo(f"{file}: {problem}", err=True)
        raise SystemExit(2)
    click.echo(f"{file}: OK")
    for line in summary(config):
        click.echo(line)
