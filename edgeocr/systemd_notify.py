"""The systemd notify protocol over ``$NOTIFY_SOCKET`` with a plain datagram socket.

Outside systemd (no ``NOTIFY_SOCKET``) every call is a cheap no-op, so the daemon calls
these unconditionally.
"""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger(__name__)


def notify(message: str, env: os._Environ[str] | dict[str, str] | None = None) -> bool:
    """Send one notify datagram (e.g. ``READY=1``); False when not under systemd or the
    send failed (never raises: a lost status line must not stop the daemon)."""
    address = (env if env is not None else os.environ).get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace socket
    elif not address.startswith("/"):
        log.debug("NOTIFY_SOCKET %r is not a unix socket path; ignored", address)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode("utf-8"))
        return True
    except OSError as exc:
        log.debug("systemd notify failed: %s", exc)
        return False


def watchdog_interval(env: os._Environ[str] | dict[str, str] | None = None) -> float | None:
    """Seconds between watchdog pings (half of ``WATCHDOG_USEC``), or None when systemd
    does not watch this process."""
    e = env if env is not None else os.environ
    usec = e.get("WATCHDOG_USEC", "")
    pid = e.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) <= 0:
        return None
    if pid.isdigit() and int(pid) != os.getpid():
        return None
    return int(usec) / 2e6


class Notifier:
    """READY/STATUS/STOPPING and rate-limited WATCHDOG pings for the daemon's main loop."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self._env = env
        self.interval = watchdog_interval(env)
        self._last_ping = 0.0
        self._last_status = ""

    def send(self, message: str) -> bool:
        return notify(message, self._env)

    def ready(self, status: str = "") -> None:
        self.send("READY=1" + (f"\nSTATUS={status}" if status else ""))
        self._last_status = status

    def status(self, text: str) -> None:
        if text != self._last_status:
            self._last_status = text
            self.send(f"STATUS={text}")

    def watchdog(self) -> None:
        """Ping when half the watchdog period has passed; call it from the main loop so a
        hung loop (not just a live process) is what systemd sees."""
        if self.interval is None:
            return
        now = time.monotonic()
        if now - self._last_ping >= self.interval:
            self._last_ping = now
            self.send("WATCHDOG=1")

    def stopping(self) -> None:
        self.send("STOPPING=1")
