"""The on-disk read queue: order, bound, threads, and surviving a SIGKILL."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from edgeocr.publish.queue import QueueError, ReadQueue


def test_fifo_order_and_remove(tmp_path: Path) -> None:
    with ReadQueue(tmp_path / "q.db", max_items=100) as q:
        seqs = [q.put(f"id{i}", "gate", f"p{i}".encode()) for i in range(5)]
        assert seqs == sorted(seqs) and len(q) == 5
        rows = q.peek(0, 3)
        assert [r.read_id for r in rows] == ["id0", "id1", "id2"]
        assert rows[0].payload == b"p0" and rows[0].camera == "gate"
        assert [r.read_id for r in q.peek(rows[-1].seq, 10)] == ["id3", "id4"]
        assert q.remove(seqs[1]) and not q.remove(seqs[1])
        assert [r.read_id for r in q.peek()] == ["id0", "id2", "id3", "id4"]
        assert q.depth == 4
    mode = sqlite3.connect(tmp_path / "q.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_bound_drops_oldest_and_counts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="edgeocr.publish.queue")
    with ReadQueue(tmp_path / "q.db", max_items=3) as q:
        for i in range(5):
            q.put(f"id{i}", "gate", b"x")
        assert len(q) == 3
        assert q.dropped == 2
        assert [r.read_id for r in q.peek()] == ["id2", "id3", "id4"]
    assert "full" in caplog.text and "dropped" in caplog.text


def test_reopen_keeps_rows_and_sequence(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "q.db"
    with ReadQueue(path) as q:
        first = q.put("a", "gate", b"1")
        q.put("b", "gate", b"2")
        q.remove(first)
    with ReadQueue(path) as q:
        assert len(q) == 1
        later = q.put("c", "gate", b"3")
        # AUTOINCREMENT: a sequence number is never reused, so replay order stays insertion order.
        assert [r.read_id for r in q.peek()] == ["b", "c"] and later > first


def test_threads_put_and_remove_concurrently(tmp_path: Path) -> None:
    q = ReadQueue(tmp_path / "q.db", max_items=100_000)
    removed: list[int] = []

    def producer(n: int) -> None:
        for i in range(200):
            q.put(f"{n}-{i}", "gate", b"x")

    def consumer() -> None:
        for _ in range(50):
            for row in q.peek(0, 5):
                if q.remove(row.seq):
                    removed.append(row.seq)

    threads = [threading.Thread(target=producer, args=(n,)) for n in range(3)]
    threads.append(threading.Thread(target=consumer))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(removed)) == len(removed)
    assert len(q) == 600 - len(removed) == len(q.peek(0, 10_000))
    q.close()
    with pytest.raises(QueueError, match="closed"):
        q.put("x", "gate", b"x")


def test_unusable_path_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a dir")
    with pytest.raises(QueueError, match="cannot open the read queue"):
        ReadQueue(tmp_path / "file" / "q.db")


_CHILD = """
import sys, time
from pathlib import Path
from edgeocr.publish.queue import ReadQueue
q = ReadQueue(Path(sys.argv[1]))
for i in range(3):
    q.put(f"id{i}", "gate", b"payload")
print("stored", flush=True)
time.sleep(60)
"""


def test_committed_rows_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(path)], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "stored"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    with ReadQueue(path) as q:
        assert [r.read_id for r in q.peek()] == ["id0", "id1", "id2"]
