"""The tracker and per-track voting."""

from __future__ import annotations

from edgeocr.core.geometry import box_to_quad
from edgeocr.core.types import Box, Detection, Read
from edgeocr.track import Observation, Tracker, TrackerSettings, match_known, vote


def obs(text: str, box: Box, conf: float | tuple[float, ...] = 0.9,
        kind: str = "plate") -> Observation:
    confs = conf if isinstance(conf, tuple) else tuple([conf] * len(text))
    return Observation(Detection(kind, 0.9, box, box_to_quad(box)), Read(text, confs, kind))


def run(tracker: Tracker, frames: list[list[Observation]], fps: float = 5.0,
        camera: str = "cam", t0: float = 1000.0) -> list[str]:
    out = []
    for i, observations in enumerate(frames):
        out += tracker.update(camera, t0 + i / fps, observations)
    out += tracker.flush()
    return [r.text for r in out]


def test_vote_weights_characters_by_confidence_among_modal_length() -> None:
    reads = [
        Read("ABC123", (0.9, 0.9, 0.9, 0.9, 0.9, 0.9)),
        Read("A8C123", (0.9, 0.4, 0.9, 0.9, 0.9, 0.9)),
        Read("ABC123", (0.9, 0.7, 0.9, 0.9, 0.9, 0.9)),
        Read("ABC12", (0.99,) * 5),  # another length: outvoted, ignored
        Read("", ()),
    ]
    voted = vote(reads)
    assert voted is not None
    assert voted.text == "ABC123"
    # Position 1: B got 0.9 + 0.7 of 3 votes; dissent lowers the confidence.
    assert abs(voted.char_confidences[1] - (0.9 + 0.7) / 3) < 1e-9
    assert abs(voted.char_confidences[0] - 0.9) < 1e-9
    assert vote([Read("", ())]) is None


def test_confident_minority_wins_a_position() -> None:
    voted = vote([Read("AB", (0.9, 0.2)), Read("AB", (0.9, 0.2)), Read("A8", (0.9, 0.95))])
    assert voted is not None and voted.text == "A8"


def test_one_read_per_appearance_of_a_moving_plate() -> None:
    tracker = Tracker(TrackerSettings(stable_frames=100))
    frames = [[obs("ABC123", (10 + 25 * i, 50, 60 + 25 * i, 65))] for i in range(8)]
    # 25 px a frame on a 50 px box: IoU with the last box is 1/3, the prediction matches.
    assert run(tracker, frames) == ["ABC123"]


def test_fast_motion_without_overlap_is_joined_by_text() -> None:
    tracker = Tracker(TrackerSettings(stable_frames=100))
    frames = [[obs("ABC123", (10 + 80 * i, 50, 60 + 80 * i, 65))] for i in range(3)]
    frames.append([obs("ABC128", (300, 50, 350, 65), 0.5)])  # jump, one char misread
    assert run(tracker, frames) == ["ABC123"]


def test_two_objects_and_a_new_car_at_the_same_spot() -> None:
    tracker = Tracker(TrackerSettings(stable_frames=100))
    frames = [[obs("ABC123", (10, 10, 60, 25)), obs("XY99", (100, 10, 140, 25))]
              for _ in range(3)]
    frames += [[obs("QRS777", (10, 10, 60, 25))] for _ in range(3)]  # next car, same place
    assert sorted(run(tracker, frames)) == ["ABC123", "QRS777", "XY99"]


def test_stable_vote_emits_early_and_only_once() -> None:
    tracker = Tracker(TrackerSettings(stable_frames=3, min_frames=2))
    box = (10, 10, 60, 25)
    out = [tracker.update("cam", float(i), [obs("ABC123", box)]) for i in range(3)]
    assert [len(o) for o in out] == [0, 0, 1]
    assert out[2][0].frames == 3
    more = [tracker.update("cam", 3.0 + i * 0.2, [obs("ABC123", box)]) for i in range(5)]
    assert all(not o for o in more)
    assert tracker.flush() == []


def test_track_ends_after_timeout_in_frame_time() -> None:
    tracker = Tracker(TrackerSettings(track_timeout_seconds=1.0, stable_frames=100))
    box = (10, 10, 60, 25)
    assert tracker.update("cam", 0.0, [obs("ABC123", box)]) == []
    assert tracker.update("cam", 0.5, [obs("ABC123", box)]) == []
    assert tracker.update("cam", 1.4, []) == []  # 0.9 s unseen: still open
    ended = tracker.update("cam", 1.6, [])
    assert [r.text for r in ended] == ["ABC123"]
    assert ended[0].first_seen == 0.0 and ended[0].last_seen == 0.5
    assert tracker.expire("other", 100.0) == []


def test_min_frames_and_min_confidence_reject() -> None:
    tracker = Tracker(TrackerSettings(min_frames=3, min_confidence=0.6, stable_frames=100))
    frames = [[obs("ONCE11", (10, 10, 60, 25)), obs("LOW222", (100, 10, 150, 25), 0.4)],
              [obs("ONCE11", (10, 10, 60, 25)), obs("LOW222", (100, 10, 150, 25), 0.4)],
              [obs("LOW222", (100, 10, 150, 25), 0.4)]]
    assert run(tracker, frames) == []
    assert tracker.rejected == 2


def test_dedupe_same_text_same_camera_within_window() -> None:
    tracker = Tracker(TrackerSettings(dedupe_seconds=10, track_timeout_seconds=1,
                                      stable_frames=100))
    box = (10, 10, 60, 25)
    seen = []
    for t in (0.0, 0.2, 5.0, 5.2, 20.0, 20.2):  # appearances at 0, 5 (dupe), 20 (new)
        seen += tracker.update("gate", t, [obs("ABC123", box)])
        seen += tracker.update("door", t, [obs("ABC123", box)])
    seen += tracker.flush()
    assert [(r.camera, r.first_seen) for r in seen if r.camera == "gate"] == [
        ("gate", 0.0), ("gate", 20.0)]
    assert len([r for r in seen if r.camera == "door"]) == 2
    assert tracker.suppressed == 2


def test_known_plates_match_fuzzily() -> None:
    known = {"XYZ780": "Alice", "ABC123": "Bob"}
    assert match_known("XYZ789", known, 1) == ("XYZ780", "Alice", 1)
    assert match_known("XYZ7", known, 1) is None
    assert match_known("ABC123", known, 0) == ("ABC123", "Bob", 0)
    tracker = Tracker(TrackerSettings(known_plates=known, known_max_distance=1,
                                      stable_frames=100))
    for t in (0.0, 0.2):
        tracker.update("cam", t, [obs("XYZ789", (10, 10, 60, 25))])
    (read,) = tracker.flush()
    assert (read.text, read.known_text, read.known_label, read.known_distance) == (
        "XYZ789", "XYZ780", "Alice", 1)


def test_known_plates_forgive_lookalike_swaps() -> None:
    known = {"AB0123": "Anna", "ABO128": "Ben"}
    # O/0 and I/1 swaps are free; an ordinary substitution still counts.
    assert match_known("ABO123", known, 0) == ("AB0123", "Anna", 0)
    assert match_known("A8O1Z3", known, 0) == ("AB0123", "Anna", 0)
    assert match_known("AB0I24", known, 0) is None
    assert match_known("AB0I24", known, 1) == ("AB0123", "Anna", 1)
    # Equally near once folded: the one with fewer plain edits wins.
    assert match_known("ABO128", known, 1) == ("ABO128", "Ben", 0)
    assert match_known("AB0128", known, 1) == ("ABO128", "Ben", 0)
    # Other confusions are not pairs: D is not 0, U is not V.
    assert match_known("ABD123", known, 0) is None


def test_kinds_are_tracked_apart() -> None:
    tracker = Tracker(TrackerSettings(stable_frames=100))
    box = (10, 10, 60, 25)
    for t in (0.0, 0.2):
        tracker.update("cam", t, [obs("12", box, kind="house_number"), obs("AB12CD", box)])
    assert sorted((r.kind, r.text) for r in tracker.flush()) == [
        ("house_number", "12"), ("plate", "AB12CD")]


def test_one_object_read_as_two_kinds_is_published_once() -> None:
    # A house number the detector also boxed as a plate in some frames: two tracks, one text.
    tracker = Tracker(TrackerSettings(stable_frames=100))
    box = (10, 10, 60, 25)
    for t in (0.0, 0.2, 0.4):
        tracker.update("cam", t, [obs("887", box, kind="house_number"),
                                  obs("887", (12, 11, 61, 26))])
    assert [r.text for r in tracker.flush()] == ["887"]
    assert tracker.suppressed == 1


def test_parked_car_keeps_a_bounded_history() -> None:
    tracker = Tracker(TrackerSettings(stable_frames=3))
    box = (10, 10, 60, 25)
    emitted = []
    for i in range(500):
        emitted += tracker.update("cam", i * 0.2, [obs("PARK01", box)])
    assert [r.text for r in emitted] == ["PARK01"]
    ((_, tracks),) = tracker._tracks.items()
    assert len(tracks[0].observations) <= 50 and tracks[0].frames == 500
