"""``edgeocr watch``: print reads arriving on a broker, for a person at a terminal."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click

DEFAULT_BROKER = "127.0.0.1:1883"


def parse_broker(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``HOST``, port 1883) -> (host, port); ValueError when malformed."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = text, "1883"
    host = host.strip("[]")
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:1883)")
    return host, int(port_text)


def broker_option(ctx: click.Context, param: click.Parameter, value: str | None
                  ) -> tuple[str, int] | None:
    if value is None:
        return None
    try:
        return parse_broker(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _clock(stamp: Any) -> str:
    if isinstance(stamp, str):
        try:
            return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone().strftime(
                "%H:%M:%S")
        except ValueError:
            return stamp
    return "--:--:--"


def format_read(read: dict[str, Any]) -> str:
    """One line for a read payload (the JSON published on ``.../read``)."""
    kind = "plate" if read.get("kind") == "plate" else "house no."
    known = f"  known: {read['known']}" if read.get("known") else ""
    fmt = f", {read['format']}" if read.get("format") else ""
    return (f"{_clock(read.get('last_seen'))}  {read.get('device', '?')}/"
            f"{read.get('camera', '?'):<8} {kind:<9} {read.get('text', ''):<10} "
            f"{float(read.get('confidence', 0.0)):.2f}  ({read.get('frames', 0)} frames{fmt})"
            f"{known}")


class Subscriber:
    """A paho client that calls ``on_read(payload dict)`` for every read under ``prefix``
    and ``on_status(topic, text)`` for availability changes."""

    def __init__(self, host: str, port: int, prefix: str,
                 on_read: Callable[[dict[str, Any]], None],
                 on_status: Callable[[str, str], None] | None = None,
                 device: str = "+") -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.host, self.port, self.prefix = host, port, prefix
        self._device = device
        self.on_read, self.on_status = on_read, on_status
        self.subscribed = threading.Event()
        self.error: str | None = None
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(1, 5)

    def start(self) -> None:
        self._client.connect_async(self.host, self.port, 30)
        self._client.loop_start()

    def stop(self, timeout: float = 5.0) -> None:
        """Disconnect and stop the network thread, waiting at most ``timeout`` seconds for it
        (it is a daemon thread: a stuck one cannot keep the process alive)."""
        self._client.disconnect()
        stopper = threading.Thread(target=self._client.loop_stop, daemon=True)
        stopper.start()
        stopper.join(timeout)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            self.error = str(reason)
            return
        client.subscribe([(f"{self.prefix}/{self._device}/+/read", 1),
                          (f"{self.prefix}/{self._device}/availability", 1)])

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any,
                      properties: Any) -> None:
        self.subscribed.set()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        if msg.topic.endswith("/availability"):
            if self.on_status is not None:
                self.on_status(msg.topic, msg.payload.decode(errors="replace"))
            return
        try:
            payload = json.loads(msg.payload)
        except ValueError:
            return
        if isinstance(payload, dict):
            self.on_read(payload)


@click.command("watch")
@click.option("--broker", default=DEFAULT_BROKER, show_default=True, callback=broker_option,
              help="Broker as HOST:PORT.")
@click.option("--prefix", default="edgeocr", show_default=True, help="mqtt.topic_prefix.")
@click.option("--json", "as_json", is_flag=True, help="Print each read's JSON unchanged.")
def watch(broker: tuple[str, int], prefix: str, as_json: bool) -> None:
    """Print reads as they arrive on the broker (Ctrl-C to stop)."""
    host, port = broker

    def on_read(read: dict[str, Any]) -> None:
        click.echo(json.dumps(read) if as_json else format_read(read))

    def on_status(topic: str, text: str) -> None:
        if not as_json:
            device = topic[len(prefix) + 1:].split("/")[0]
            click.echo(f"-- {device} is {text}")

    sub = Subscriber(host, port, prefix, on_read, on_status)
    sub.start()
    if not sub.subscribed.wait(10):
        sub.stop()
        click.echo(f"edgeocr: {host}:{port}: no MQTT broker answered within 10 s", err=True)
        raise SystemExit(1)
    # Ctrl-C / SIGTERM only set a flag: a KeyboardInterrupt raised wherever the main thread
    # happens to be could leave the client half torn down and the process hanging.
    done = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: done.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    click.echo(f"watching {prefix}/# on {host}:{port} (Ctrl-C to stop)", err=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        sub.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
