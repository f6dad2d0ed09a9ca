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
