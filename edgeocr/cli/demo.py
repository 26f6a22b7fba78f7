"""``edgeocr demo``: the whole pipeline on the bundled clip, reads printed as they arrive.

Starts an MQTT broker inside the process (amqtt, on a free loopback port) unless
``--broker`` names one, runs the daemon on the clip with the shipped models, subscribes
like any consumer would, and ends by itself with a summary.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import click

from edgeocr.cli.watch import Subscriber, broker_option, format_read

ASSETS = Path(__file__).resolve().parents[1] / "assets"
DEMO_CLIP = ASSETS / "demo.mp4"
DEMO_EXPECTED = ASSETS / "demo_expected.json"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedBroker:
    """amqtt on 127.0.0.1:PORT in a thread with its own event loop (never 0.0.0.0)."""

    def __init__(self, port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="demo-broker", daemon=True)
        self._ready = threading.Event()
        self._broker: Any = None
        self._error: BaseException | None = None

    def start(self, timeout: float = 10.0) -> None:
        try:
            from amqtt.broker import Broker  # noqa: F401
        except ImportError:
            raise click.ClickException(
                "the embedded broker needs amqtt: pip install 'edgeocr[demo]' "
                "(or pass --broker HOST:PORT)") from None
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            raise click.ClickException(f"the embedded broker did not start: {self._error}")

    def _run(self) -> None:
        from amqtt.broker import Broker

        asyncio.set_event_loop(self._loop)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin":
                        {"allow_anonymous": True}},
        }
        try:
            self._broker = Broker(config, loop=self._loop)
            self._loop.run_until_complete(self._broker.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        if self._broker is not None and self._loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
            try:
                fut.result(5)
            except Exception as exc:  # shutting down: nothing to do about it
                logging.getLogger(__name__).debug("broker shutdown: %s", exc)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def demo_config(clip: Path, host: str, port: int, queue: Path, realtime: bool,
                detector: Path | None, recognizer: Path | None) -> Any:
    from edgeocr.config import parse_config

    fps = 5.0
    if DEMO_EXPECTED.is_file() and clip == DEMO_CLIP:
        fps = float(json.loads(DEMO_EXPECTED.read_text())["fps"])
    models: dict[str, str] = {}
    if detector is not None:
        models["detector"] = str(detector)
    if recognizer is not None:
        models["recognizer"] = str(recognizer)
    return parse_config({
        "device_id": "demo",
        "cameras": {"demo": {"source": str(clip), "fps": fps, "realtime": realtime}},
        "models": models,
        "reads": {"min_frames": 2, "dedupe_seconds": 30.0},
        "mqtt": {"host": host, "port": port, "topic_prefix": "edgeocr",
                 "stats_interval_seconds": 5.0, "homeassistant": {"enabled": False}},
        "queue": {"path": str(queue)},
    })


@click.command("demo")
@click.option("--broker", default=None, callback=broker_option,
              help="Use this broker (HOST:PORT) instead of the embedded one.")
@click.option("--clip", type=click.Path(path_type=Path, exists=True), default=None,
              help="Another video file or image folder to play.")
@click.option("--fast", is_flag=True, help="Process frames as fast as possible instead of "
                                           "playing the clip in real time.")
@click.option("--detector", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              default=None, help="Detector .tflite (default: the shipped model).")
@click.option("--recognizer", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              default=None, help="Recognizer .tflite (default: the shipped model).")
def demo(broker: tuple[str, int] | None, clip: Path | None, fast: bool,
         detector: Path | None, recognizer: Path | None) -> None:
    """Read the bundled clip of cars and a house number, publish over MQTT, print the reads."""
    from edgeocr.daemon import Daemon, StartupError, build_pipeline

    clip = clip or DEMO_CLIP
    if not clip.exists():
        click.echo(f"edgeocr: {clip}: the demo clip is missing; reinstall edgeocr", err=True)
        raise SystemExit(2)
    with tempfile.TemporaryDirectory(prefix="edgeocr-demo-") as tmp:
        embedded: EmbeddedBroker | None = None
        if broker is None:
            embedded = EmbeddedBroker()
            embedded.start()
            host, port = embedded.host, embedded.port
            where = f"embedded broker on {host}:{port}"
        else:
            host, port = broker
            where = f"broker {host}:{port}"
        config = demo_config(clip, host, port, Path(tmp) / "queue.db", not fast, detector,
                             recognizer)
        try:
            stage = build_pipeline(config)
        except StartupError as exc:
            if embedded is not None:
                embedded.stop()
            for problem in exc.problems:
                click.echo(f"edgeocr: {problem}", err=True)
            raise SystemExit(2) from None

        received: list[dict[str, Any]] = []
        lock = threading.Lock()

        def on_read(read: dict[str, Any]) -> None:
            with lock:
                if any(r.get("id") == read.get("id") for r in received):
                    return  # at-least-once delivery: ids make duplicates harmless
                received.append(read)
            click.echo(format_read(read))

        sub = Subscriber(host, port, "edgeocr", on_read, device="demo")
        sub.start()
        if not sub.subscribed.wait(10):
            sub.stop()
            if embedded is not None:
                embedded.stop()
            click.echo(f"edgeocr: {host}:{port}: no MQTT broker answered within 10 s", err=True)
            raise SystemExit(1)
        mode = "as fast as it goes" if fast else "in real time"
        click.echo(f"edgeocr demo: {clip.name} {mode}, {where}; reads on edgeocr/demo/+/read")
        runner = Daemon(config, stage=stage)
        try:
            runner.run()
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline and len(received) < runner.summary.reads:
                time.sleep(0.05)
        finally:
            sub.stop()
            if embedded is not None:
                embedded.stop()
        summary = runner.summary
        frames = sum(summary.frames.values())
        dropped = sum(summary.dropped.values())
        click.echo(f"-- {len(received)} reads from {frames} frames in {summary.seconds:.1f} s "
                   f"({summary.fps:.1f} fps processed, {dropped} dropped)")
        if clip == DEMO_CLIP and DEMO_EXPECTED.is_file():
            expected = json.loads(DEMO_EXPECTED.read_text())["reads"]
            got = {(r.get("kind"), r.get("text")) for r in received}
            hits = [e for e in expected if (e["kind"], e["text"]) in got]
            click.echo(f"-- the clip shows {len(expected)}: "
                       + ", ".join(e["text"] for e in expected)
                       + f"; read correctly: {len(hits)}")
