"""Follow plates and house numbers across frames and turn each appearance into one read.

Per camera and kind, detections are matched to live tracks by IoU with the track's last
box or its constant-velocity prediction (cars move several box widths a second at 5 fps),
and failing that by nearly the same text. Each track votes on its text: the modal length
wins, then each position takes the character with the highest summed confidence among
reads of that length. A position's confidence is that sum divided by the number of votes,
so disagreement lowers it. A track emits one read, either as soon as its vote has been the
same for ``stable_frames`` updates or when it is not seen for ``track_timeout_seconds``.

Times are the frames' own timestamps, so a recording processed faster than real time
tracks the same way as when played live.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from edgeocr.core.charset import edit_distance
from edgeocr.core.geometry import iou
from edgeocr.core.types import Box, Detection, Image, Quad, Read

if TYPE_CHECKING:
    from edgeocr.config import ReadsConfig

MAX_VOTES = 50
"""Reads kept per track: a parked car must not grow its track without bound."""


@dataclass(frozen=True)
class Observation:
    """One detection in one frame with what was read from it; ``crop`` is kept only when
    crops are published."""

    detection: Detection
    read: Read
    format: str | None = None
    crop: Image | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class TrackedRead:
    """The read of one appearance, ready to publish."""

    track_id: int
    camera: str
    kind: str
    text: str
    char_confidences: tuple[float, ...]
    format: str | None
    frames: int
    first_seen: float
    last_seen: float
    box: Box
    corners: Quad
    known_text: str | None = None
    known_label: str | None = None
    known_distance: int | None = None
    crop: Image | None = field(default=None, compare=False, repr=False)

    @property
    def confidence(self) -> float:
        return min(self.char_confidences) if self.char_confidences else 0.0


@dataclass(frozen=True)
class TrackerSettings:
    min_frames: int = 2
    min_confidence: float = 0.6
    track_timeout_seconds: float = 1.5
    dedupe_seconds: float = 60.0
    known_plates: Mapping[str, str] = field(default_factory=dict)
    known_max_distance: int = 1
    stable_frames: int = 5
    iou_threshold: float = 0.2

    @classmethod
    def from_config(cls, reads: ReadsConfig, **overrides: float) -> TrackerSettings:
        values: dict[str, object] = {
            "min_frames": reads.min_frames,
            "min_confidence": reads.min_confidence,
            "track_timeout_seconds": reads.track_timeout_seconds,
            "dedupe_seconds": reads.dedupe_seconds,
            "known_plates": dict(reads.known_plates),
            "known_max_distance": reads.known_max_distance,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


def vote(reads: Iterable[Read]) -> Read | None:
    """Combine reads of the same object: modal length (ties to the larger summed
    confidence), then a confidence-weighted vote per position. None if nothing was read."""
    texts = [r for r in reads if r.text]
    if not texts:
        return None
    by_len: dict[int, list[Read]] = defaultdict(list)
    for r in texts:
        by_len[len(r.text)].append(r)
    length = max(by_len, key=lambda n: (len(by_len[n]), sum(sum(r.char_confidences)
                                                              for r in by_len[n])))
    group = by_len[length]
    chars: list[str] = []
    confs: list[float] = []
    for pos in range(length):
        score: dict[str, float] = defaultdict(float)
        for r in group:
            score[r.text[pos]] += _conf_at(r, pos)
        best = max(score, key=lambda ch: (score[ch], ch))
        chars.append(best)
        confs.append(score[best] / len(group))
    return Read(text="".join(chars), char_confidences=tuple(confs), kind=group[0].kind)


def _conf_at(read: Read, pos: int) -> float:
    if pos < len(read.char_confidences):
        return float(read.char_confidences[pos])
    return read.confidence


LOOKALIKES = str.maketrans({"O": "0", "I": "1", "B": "8", "S": "5", "Z": "2", "G": "6"})
"""The six confusable pairs the recognizer's brief names (O/0, I/1, B/8, S/5, Z/2, G/6; the
core of ``edgeocr.formats``' wider TO_DIGIT / TO_LETTER tables), folded onto one character
each: a swap within a pair costs nothing when a read is matched to a known plate. A camera
(and a person typing the list) mixes these up far more often than any other two characters;
dev crops matched against all dev plates at the default distance 1: right plate 94.4% ->
95.9%, another plate 0.9% either way (docs/config.md)."""


def match_known(text: str, known: Mapping[str, str], max_distance: int
                ) -> tuple[str, str, int] | None:
    """(known text, label, distance) of the nearest known plate within ``max_distance``
    edits, swaps within a look-alike pair (``LOOKALIKES``) not counted; of two known plates
    as near, the one with fewer edits counted plainly wins."""
    folded = text.translate(LOOKALIKES)
    best: tuple[int, int, str] | None = None
    for plate in known:
        if abs(len(plate) - len(text)) > max_distance:
            continue
        d = edit_distance(folded, plate.translate(LOOKALIKES))
        if d > max_distance:
            continue
        key = (d, edit_distance(text, plate), plate)
        if best is None or key < best:
            best = key
    if best is None:
        return None
    return best[2], known[best[2]], best[0]


def _same_text(track: _Track, text: str) -> bool:
    """False when the text clearly belongs to another object: at a gate the next car stops
    where the last one stood, within the track timeout."""
    if track.voted is None or len(text) < 3 or len(track.voted.text) < 3:
        return True
    limit = max(2, max(len(text), len(track.voted.text)) // 2)
    return edit_distance(track.voted.text, text) <= limit


def _predict(last: Box, prev: Box | None) -> Box:
    if prev is None:
        return last
    dx = (last[0] + last[2] - prev[0] - prev[2]) / 2
    dy = (last[1] + last[3] - prev[1] - prev[3]) / 2
    return (last[0] + dx, last[1] + dy, last[2] + dx, last[3] + dy)


class _Track:
    def __init__(self, track_id: int, camera: str, kind: str, t: float, obs: Observation):
        self.id = track_id
        self.camera = camera
        self.kind = kind
        self.first_seen = t
        self.last_seen = t
        self.frames = 0
        self.observations: deque[Observation] = deque(maxlen=MAX_VOTES)
        self.prev_box: Box | None = None
        self.last: Detection = obs.detection
        self.voted: Read | None = None
        self.stable = 0
        self.emitted = False
        self.add(t, obs)

    def add(self, t: float, obs: Observation) -> None:
        if self.frames:
            self.prev_box = self.last.box
        self.last = obs.detection
        self.last_seen = t
        self.frames += 1
        self.observations.append(obs)
        previous = self.voted.text if self.voted is not None else None
        self.voted = vote(o.read for o in self.observations)
        if self.voted is not None and self.voted.text == previous:
            self.stable += 1
        else:
            self.stable = 1 if self.voted is not None else 0

    def predicted(self) -> Box:
        return _predict(self.last.box, self.prev_box)


class Tracker:
    """Tracks of every camera; feed it each processed frame with ``update`` and call
    ``expire`` when a camera has no new frame (a live camera that stalls), ``flush`` at the
    end. Each returns the reads to publish, in the order they became final."""

    def __init__(self, settings: TrackerSettings | None = None) -> None:
        self.settings = settings or TrackerSettings()
        self._tracks: dict[tuple[str, str], list[_Track]] = defaultdict(list)
        self._ids = itertools.count(1)
        self._seen_text: dict[tuple[str, str], float] = {}
        self.suppressed = 0
        self.rejected = 0

    @property
    def active(self) -> int:
        return sum(len(v) for v in self._tracks.values())

    def update(self, camera: str, timestamp: float, observations: Sequence[Observation]
               ) -> list[TrackedRead]:
        out = self.expire(camera, timestamp)
        by_kind: dict[str, list[Observation]] = defaultdict(list)
        for obs in observations:
            by_kind[obs.detection.kind].append(obs)
        for kind, group in by_kind.items():
            tracks = self._tracks[(camera, kind)]
            for track in self._assign(tracks, group, camera, kind, timestamp):
                read = self._maybe_emit_early(track, timestamp)
                if read is not None:
                    out.append(read)
        return out

    def expire(self, camera: str, now: float) -> list[TrackedRead]:
        """End this camera's tracks not seen for ``track_timeout_seconds`` before ``now``."""
        out: list[TrackedRead] = []
        timeout = self.settings.track_timeout_seconds
        for (cam, _kind), tracks in self._tracks.items():
            if cam != camera:
                continue
            ended = [t for t in tracks if now - t.last_seen > timeout]
            for track in ended:
                tracks.remove(track)
                read = self._finish(track)
                if read is not None:
                    out.append(read)
        return out

    def flush(self) -> list[TrackedRead]:
        """End every track (end of input or shutdown)."""
        out: list[TrackedRead] = []
        ended = sorted((t for ts in self._tracks.values() for t in ts),
                       key=lambda t: (t.last_seen, t.id))
        self._tracks.clear()
        for track in ended:
            read = self._finish(track)
            if read is not None:
                out.append(read)
        return out

    def _assign(self, tracks: list[_Track], group: list[Observation], camera: str,
                kind: str, t: float) -> list[_Track]:
        pairs: list[tuple[float, int, int]] = []
        for ti, track in enumerate(tracks):
            pred = track.predicted()
            for oi, obs in enumerate(group):
                box = obs.detection.box
                score = max(iou(box, track.last.box), iou(box, pred))
                if score >= self.settings.iou_threshold and _same_text(track, obs.read.text):
                    pairs.append((score, ti, oi))
        pairs.sort(reverse=True)
        used_t: set[int] = set()
        used_o: set[int] = set()
        touched: list[_Track] = []
        for _score, ti, oi in pairs:
            if ti in used_t or oi in used_o:
                continue
            used_t.add(ti)
            used_o.add(oi)
            tracks[ti].add(t, group[oi])
            touched.append(tracks[ti])
        for oi, obs in enumerate(group):
            if oi in used_o:
                continue
            near = self._match_text(tracks, used_t, obs.read.text)
            if near is not None:
                used_t.add(near)
                tracks[near].add(t, obs)
                touched.append(tracks[near])
                continue
            track = _Track(next(self._ids), camera, kind, t, obs)
            tracks.append(track)
            touched.append(track)
        return touched

    @staticmethod
    def _match_text(tracks: list[_Track], used: set[int], text: str) -> int | None:
        # Fast motion at a low frame rate can leave no overlap between frames; nearly the
        # same text in the same camera within the timeout is the same object.
        if len(text) < 3:
            return None
        for ti, track in enumerate(tracks):
            if ti in used or track.voted is None:
                continue
            if edit_distance(track.voted.text, text) <= 1:
                return ti
        return None

    def _maybe_emit_early(self, track: _Track, t: float) -> TrackedRead | None:
        s = self.settings
        if track.emitted or track.stable < max(s.stable_frames, s.min_frames):
            return None
        read = self._result(track)
        if read is None or read.confidence < s.min_confidence:
            return None
        track.emitted = True
        return self._dedupe(read, t)

    def _finish(self, track: _Track) -> TrackedRead | None:
        read = self._result(track)
        if track.emitted:
            if read is not None:
                self._seen_text[self._text_key(read)] = track.last_seen
            return None
        s = self.settings
        if read is None or track.frames < s.min_frames or read.confidence < s.min_confidence:
            self.rejected += 1
            return None
        return self._dedupe(read, track.last_seen)

    def _dedupe(self, read: TrackedRead, t: float) -> TrackedRead | None:
        # The clock restarts on every sighting of the text (published or not), so a car
        # parked in view is published once, and again only after it was gone for a while.
        key = self._text_key(read)
        last = self._seen_text.get(key)
        self._seen_text[key] = max(t, read.last_seen)
        if last is not None and read.first_seen - last <= self.settings.dedupe_seconds:
            self.suppressed += 1
            return None
        return read

    @staticmethod
    def _text_key(read: TrackedRead) -> tuple[str, str]:
        # Not by kind: a house number the detector also boxed as a plate in some frames is
        # one object read twice (docs/config.md: the same text from the same camera).
        return read.camera, read.known_text or read.text

    def _result(self, track: _Track) -> TrackedRead | None:
        voted = track.voted
        if voted is None:
            return None
        agreeing = [o for o in track.observations if o.read.text == voted.text]
        formats = Counter(o.format for o in agreeing if o.format is not None)
        best = max(agreeing, key=lambda o: o.read.confidence, default=None)
        known = None
        if track.kind == "plate" and self.settings.known_plates:
            known = match_known(voted.text, self.settings.known_plates,
                                self.settings.known_max_distance)
        return TrackedRead(
            track_id=track.id,
            camera=track.camera,
            kind=track.kind,
            text=voted.text,
            char_confidences=voted.char_confidences,
            format=formats.most_common(1)[0][0] if formats else None,
            frames=track.frames,
            first_seen=track.first_seen,
            last_seen=track.last_seen,
            box=track.last.box,
            corners=track.last.corners,
            known_text=known[0] if known else None,
            known_label=known[1] if known else None,
            known_distance=known[2] if known else None,
            crop=best.crop if best is not None else None,
        )
