"""Running statistics of the daemon, turned into a ``StatsPayload`` every interval."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from edgeocr.publish.payload import CameraStats, StatsPayload, latency_stats

LATENCY_WINDOW = 2000
"""Samples kept per stage: enough for a stable p95 without growing on a long interval."""


class StatsCollector:
    """Counts frames, reads and stage latencies per interval; thread-safe."""

    def __init__(self, device_id: str, cameras: Iterable[str]) -> None:
        self.device_id = device_id
        self.cameras = list(cameras)
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._interval_start = self.started
        self._frames: dict[str, int] = defaultdict(int)
        self._reads: dict[str, int] = defaultdict(int)
        self._latency: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=LATENCY_WINDOW))
        self._dropped_seen: dict[str, int] = defaultdict(int)
        self.total_frames: dict[str, int] = defaultdict(int)
        self.total_reads: dict[str, int] = defaultdict(int)

    @property
    def uptime(self) -> float:
        return time.monotonic() - self.started

    def frame(self, camera: str, timings_ms: Mapping[str, float]) -> None:
        with self._lock:
            self._frames[camera] += 1
            self.total_frames[camera] += 1
            for stage, ms in timings_ms.items():
                self._latency[stage].append(float(ms))

    def latency(self, stage: str, ms: float) -> None:
        with self._lock:
            self._latency[stage].append(float(ms))

    def read(self, camera: str) -> None:
        with self._lock:
            self._reads[camera] += 1
            self.total_reads[camera] += 1

    def snapshot(self, dropped_total: Mapping[str, int], *, queue_depth: int = 0,
                 queue_dropped: int = 0, reads_published: int = 0) -> StatsPayload:
        """Statistics since the previous snapshot; ``dropped_total`` is each camera's
        dropped-frame counter since start (the interval's share is computed here)."""
        with self._lock:
            now = time.monotonic()
            interval = max(now - self._interval_start, 1e-9)
            cameras: dict[str, CameraStats] = {}
            dropped_sum = 0
            for cam in self.cameras:
                total = int(dropped_total.get(cam, 0))
                dropped = max(0, total - self._dropped_seen[cam])
                self._dropped_seen[cam] = total
                dropped_sum += dropped
                frames = self._frames[cam]
                cameras[cam] = CameraStats(fps=round(frames / interval, 3), frames=frames,
                                           dropped_frames=dropped, reads=self._reads[cam])
            latency = {stage: latency_stats(list(samples))
                       for stage, samples in sorted(self._latency.items()) if samples}
            payload = StatsPayload(
                device=self.device_id, time=datetime.now(UTC),
                uptime_seconds=round(now - self.started, 3),
                interval_seconds=round(interval, 3), cameras=cameras, latency_ms=latency,
                dropped_frames=dropped_sum, queue_depth=queue_depth,
                queue_dropped=queue_dropped, reads_published=reads_published,
            )
            self._interval_start = now
            self._frames.clear()
            self._reads.clear()
            self._latency.clear()
            return payload
