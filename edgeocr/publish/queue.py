"""The offline read queue: every read is stored on disk before it is published.

A read is inserted (and committed) before the publisher hands it to the MQTT client, and
removed only once the broker has acknowledged it (PUBACK for QoS 1, PUBCOMP for QoS 2; for
QoS 0 once the publish call succeeded). A read that was stored but never acknowledged (broker
down, process killed, power cut after the WAL reached the disk) is published again, in
insertion order, on the next connect or start. Delivery is therefore at least once; readers
de-duplicate by the read's ``id``.

SQLite in WAL mode with ``synchronous=NORMAL``: a committed insert survives the process
being killed (the WAL is in the OS page cache); only a power cut can lose the last few
commits, which is the price of not fsyncing an SD card several times per second.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgeocr.config import QueueConfig

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reads (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    read_id TEXT NOT NULL,
    camera TEXT NOT NULL,
    payload BLOB NOT NULL,
    created REAL NOT NULL
)
"""


class QueueError(Exception):
    """The queue file cannot be opened or used (path and reason in the message)."""


@dataclass(frozen=True)
class QueuedRead:
    """One stored read. ``seq`` is the insertion order; ``created`` epoch seconds."""

    seq: int
    read_id: str
    camera: str
    payload: bytes
    created: float


class ReadQueue:
    """A bounded, thread-safe, on-disk FIFO of read payloads.

    When ``max_items`` reads are stored, each new one drops the oldest; drops are counted in
    ``dropped`` and logged. One connection is shared by all threads under a lock: the
    capture loop inserts while the MQTT network thread's acknowledgements remove.
    """

    def __init__(self, path: Path, max_items: int = 10000) -> None:
        if max_items < 1:
            raise ValueError(f"max_items must be at least 1, got {max_items}")
        self.path = Path(path)
        self.max_items = max_items
        self.dropped = 0
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: autocommit, every statement is its own transaction, so
            # an insert is on disk (in the WAL) when put() returns.
            self._db = sqlite3.connect(str(self.path), isolation_level=None,
                                       check_same_thread=False, timeout=10.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
            row = self._db.execute("SELECT COUNT(*) FROM reads").fetchone()
        except (OSError, sqlite3.Error) as exc:
            raise QueueError(f"{self.path}: cannot open the read queue: {exc}") from None
        self._count = int(row[0])
        self._closed = False
        if self._count:
            log.info("read queue %s holds %d unpublished reads", self.path, self._count)

    @classmethod
    def from_config(cls, config: QueueConfig) -> ReadQueue:
        """Build from the ``queue`` section of the config."""
        return cls(config.path, config.max_items)

    def put(self, read_id: str, camera: str, payload: bytes, created: float | None = None) -> int:
        """Store a read; returns its sequence number. Drops the oldest when full."""
        stamp = time.time() if created is None else created
        with self._lock:
            self._check_open()
            cur = self._db.execute(
                "INSERT INTO reads (read_id, camera, payload, created) VALUES (?, ?, ?, ?)",
                (read_id, camera, payload, stamp),
            )
            seq = int(cur.lastrowid or 0)
            self._count += 1
            if self._count > self.max_items:
                self._drop_oldest(self._count - self.max_items)
        return seq

    def _drop_oldest(self, n: int) -> None:
        cur = self._db.execute(
            "DELETE FROM reads WHERE seq IN (SELECT seq FROM reads ORDER BY seq LIMIT ?)", (n,))
        gone = max(cur.rowcount, 0)
        self._count -= gone
        self.dropped += gone
        # Logging every drop during a long outage would flood the journal: first, then every 100.
        if self.dropped == gone or self.dropped % 100 < gone:
            log.warning("read queue %s is full (%d reads): dropped the oldest, %d dropped so far",
                        self.path, self.max_items, self.dropped)

    def peek(self, after_seq: int = 0, limit: int = 100) -> list[QueuedRead]:
        """Up to ``limit`` stored reads with ``seq > after_seq``, oldest first."""
        with self._lock:
            self._check_open()
            rows = self._db.execute(
                "SELECT seq, read_id, camera, payload, created FROM reads WHERE seq > ? "
                "ORDER BY seq LIMIT ?", (after_seq, limit)).fetchall()
        return [QueuedRead(int(r[0]), str(r[1]), str(r[2]), bytes(r[3]), float(r[4]))
                for r in rows]

    def remove(self, seq: int) -> bool:
        """Remove an acknowledged read; False when it was not there (already dropped)."""
        with self._lock:
            self._check_open()
            cur = self._db.execute("DELETE FROM reads WHERE seq = ?", (seq,))
            gone = cur.rowcount > 0
            if gone:
                self._count -= 1
        return gone

    def __len__(self) -> int:
        return self._count

    @property
    def depth(self) -> int:
        """Reads stored and not yet acknowledged."""
        return self._count

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def _check_open(self) -> None:
        if self._closed:
            raise QueueError(f"{self.path}: the read queue is closed")

    def __enter__(self) -> ReadQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
