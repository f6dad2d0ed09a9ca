"""The one rule for logging identify sightings (``SightingRule`` + ``log_sightings``), used by
``faceapp identify`` and the window's Identify mode alike: a person is logged when they arrive,
that is when they were not seen in the last ``interval_s`` seconds of the source's own time."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceapp.app import Database
from faceapp.app.recognition import SightingRule, log_sightings
from faceapp.types import Detection, FaceResult, Frame, FrameResult, Match

ALICE = Match("Alice", 0.2, True, 1)
BOB = Match("Bob", 0.3, True, 2)
STRANGER = Match(None, 1.2, False)


def frame(at: float, path: str | None = None) -> Frame:
    return Frame(np.zeros((4, 4, 3), np.uint8), 0, at, path)


def test_a_person_is_logged_when_they_arrive_not_while_they_stay() -> None:
    rule = SightingRule(interval_s=60)
    assert rule.due(ALICE, frame(0))
    assert not rule.due(ALICE, frame(1))
    assert rule.due(BOB, frame(1))  # each person arrives on their own
    for at in range(30, 3601, 30):  # Alice stays in view for an hour: still the one sighting
        assert not rule.due(ALICE, frame(at))
    assert rule.due(ALICE, frame(3600 + 61))  # away for more than a minute: she arrives again
    assert not rule.due(ALICE, frame(3600 + 62))


def test_unknown_faces_arrive_too_and_still_photos_are_each_a_sighting() -> None:
    rule = SightingRule(interval_s=60)
    assert rule.due(STRANGER, frame(0)) and not rule.due(STRANGER, frame(5))
    assert rule.due(ALICE, frame(0, "a.jpg")) and rule.due(ALICE, frame(0, "a.jpg"))  # photos: every face


def test_a_slideshow_of_images_counts_as_one_stream_when_asked() -> None:
    rule = SightingRule(interval_s=60, photos=False)  # the window's folder slideshow
    assert rule.due(ALICE, frame(0, "a.jpg"))
    assert not rule.due(ALICE, frame(0.5, "b.jpg")) and not rule.due(ALICE, frame(1, "a.jpg"))


def test_a_new_source_and_times_that_go_back_start_afresh() -> None:
    rule = SightingRule(interval_s=60)
    assert rule.due(ALICE, frame(100))
    assert rule.due(ALICE, frame(3))  # the source's clock went back (replayed from the start)
    rule.forget()
    assert rule.due(ALICE, frame(4))


def _face(match: Match) -> FaceResult:
    return FaceResult(Detection((0, 0, 2, 2), np.zeros((5, 2), np.float32), 0.9), match)


def test_log_sightings_writes_one_identify_event_per_arrival(tmp_path: Path) -> None:
    rule = SightingRule(interval_s=60)
    with Database.open(tmp_path / "faces.db", create=True) as db:
        assert log_sightings(db, FrameResult(frame(0), (_face(ALICE), _face(ALICE), _face(STRANGER))), rule, "cam") == 2
        assert log_sightings(db, FrameResult(frame(1), (_face(ALICE), _face(STRANGER))), rule, "cam") == 0
        events = db.events()
    assert [(e["kind"], e["name"], e["decision"], e["source"]) for e in reversed(events)] == [
        ("identify", "Alice", "recognised", "cam"),
        ("identify", None, "unknown", "cam"),
    ]


# --- tracked faces (faceapp.follow): one event when a track is named, one when it ends -----------

from faceapp.decide import Decision  # noqa: E402
from faceapp.follow import TrackedFrame  # noqa: E402
from faceapp.track import TrackSummary  # noqa: E402


def tracked(track: int, name: str | None, reason: str = "match", person_id: int | None = None) -> FaceResult:
    decision = Decision(name, 0.4 if name else 1.2, name is not None, person_id if name else None,
                        threshold=1.0, reason=reason, track=track, evidence=1)
    return _face(decision)


def at(seconds: float, *faces: FaceResult, ended: tuple[TrackSummary, ...] = ()) -> TrackedFrame:
    return TrackedFrame(frame(seconds), faces, {}, ended)


def summary(track: int, name: str | None, first: float, last: float, frames: int = 10) -> TrackSummary:
    return TrackSummary(track, 0, frames - 1, first, last, name, 1 if name else None, 3, 0.4 if name else 1.2)


def test_a_track_is_logged_once_when_named_and_once_when_it_ends_with_how_long_it_was_seen(tmp_path: Path) -> None:
    rule = SightingRule(interval_s=60)
    with Database.open(tmp_path / "faces.db", create=True) as db:
        db.store.enroll("Alice", np.eye(1, 128, dtype=np.float32), "m")  # she is person id 1
        logged = [
            log_sightings(db, at(0, tracked(7, None, "gathering")), rule, "cam"),  # not decided yet
            log_sightings(db, at(0.1, tracked(7, "Alice", person_id=1)), rule, "cam"),  # named: she arrived
            log_sightings(db, at(0.2, tracked(7, "Alice", person_id=1)), rule, "cam"),
            log_sightings(db, at(0.3, tracked(7, None, "quality")), rule, "cam"),  # turned away: no new event
            log_sightings(db, at(5.0, ended=(summary(7, "Alice", 0.0, 4.5),)), rule, "cam"),
        ]
        events = [(e["name"], e["decision"]) for e in reversed(db.events()) if e["kind"] == "identify"]
    assert logged == [0, 1, 0, 0, 1]
    assert events == [("Alice", "recognised"), ("Alice", "left after 4.5 s")]


def test_a_judged_stranger_is_logged_once_and_a_face_never_judged_only_when_it_lasted(tmp_path: Path) -> None:
    rule = SightingRule(interval_s=60, min_frames=3)
    with Database.open(tmp_path / "faces.db", create=True) as db:
        assert log_sightings(db, at(0, tracked(1, None, "too far"), tracked(2, None, "quality")), rule, "cam") == 1
        assert log_sightings(db, at(1, tracked(1, None, "too far"), tracked(2, None, "quality")), rule, "cam") == 0
        ended = (summary(1, None, 0, 1), summary(2, None, 0, 1, frames=3), summary(3, None, 0, 0.1, frames=2))
        assert log_sightings(db, at(2, ended=ended), rule, "cam") == 2  # the blip of two frames is not a visit
        events = [(e["name"], e["decision"]) for e in reversed(db.events())]
    assert events == [(None, "unknown"), (None, "left after 1.0 s"),
                      (None, "unknown, seen 1.0 s (the face was never clear enough to judge)")]


def test_a_track_that_turns_out_to_be_someone_else_is_logged_again() -> None:
    rule = SightingRule(interval_s=60)
    assert rule.due(tracked(4, "Alice", person_id=1).match, frame(0))
    assert not rule.due(tracked(4, None, "too far").match, frame(1))  # a named track turning Unknown keeps its event
    assert rule.due(tracked(4, "Bob", person_id=2).match, frame(2))
    assert rule.due(tracked(5, "Bob", person_id=2).match, frame(2))  # each track arrives on its own
