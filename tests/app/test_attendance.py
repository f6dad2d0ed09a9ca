"""Attendance sessions (faceapp.app.attendance): the marking rule on the decisions the tracker
makes (real Decision and TrackSummary values, a real SQLite file), and ``faceapp identify
--session`` end to end on real video, the in-repo faces written into a clip and, where
../shared is there, person E's own recordings."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from faceapp.app import Database
from faceapp.app.attendance import (
    PRESENT,
    TO_CONFIRM,
    AttendanceError,
    AttendanceSession,
    attendance,
    sessions,
    write_attendance_csv,
)
from faceapp.cli import main
from faceapp.decide import Decision
from faceapp.track import TrackSummary
from faceapp.types import Detection, FaceResult, Frame

from conftest import RepoFaces, shared_path, write_video

START = datetime(2030, 5, 6, 9, 0, tzinfo=timezone.utc)
MIN_MARGIN = 0.04


@pytest.fixture
def db(tmp_path: Path):
    with Database.open(tmp_path / "faceapp.db", create=True) as database:
        database.store.enroll("Ada", np.eye(1, 128, 0, np.float32), "m")
        database.store.enroll("Bob", np.eye(1, 128, 1, np.float32), "m")
        yield database


def face(db: Database, name: str, track: int, margin: float = 1.0) -> FaceResult:
    person = db.person(name)
    match = Decision(person.name, 0.3, True, person.id, runner_up="x", runner_up_distance=0.3 + margin, track=track)
    return FaceResult(Detection((0, 0, 50, 50), np.zeros((5, 2), np.float32), 0.9), match)


def frame(t: float) -> Frame:
    return Frame(np.zeros((4, 4, 3), np.uint8), int(t * 10), t)


def ended(db: Database, name: str, track: int, first: float, last: float) -> TrackSummary:
    return TrackSummary(track, int(first * 10), int(last * 10), first, last, name, db.person(name).id, 5, 0.3)


def test_each_person_is_marked_once_a_close_call_is_to_confirm_and_times_follow_the_source(db: Database) -> None:
    session = AttendanceSession(db, "  Lecture   5 ", MIN_MARGIN, started=START)
    assert session.arrivals(frame(100.0), []) == 0  # the first frame: the session's start
    assert session.arrivals(frame(130.0), [face(db, "Ada", 1), face(db, "Bob", 2, margin=0.05)]) == 2
    assert session.arrivals(frame(200.0), [face(db, "Ada", 3)]) == 0, "Ada arrives again: still one mark"
    session.departures([ended(db, "Ada", 1, 130.0, 190.0), ended(db, "Bob", 2, 130.0, 400.0)])
    session.departures([ended(db, "Ada", 3, 200.0, 290.0)])  # her second visit ends later
    rows = attendance(db, "lecture 5")
    assert [(r.name, r.first_seen, r.last_seen, r.status) for r in rows] == [
        ("Ada", "2030-05-06T09:00:30.000+00:00", "2030-05-06T09:03:10.000+00:00", PRESENT),
        ("Bob", "2030-05-06T09:00:30.000+00:00", "2030-05-06T09:05:00.000+00:00", TO_CONFIRM)]
    assert session.arrivals(frame(500.0), [face(db, "Bob", 4)]) == 1, "a clear sighting confirms a close call"
    assert [r.status for r in attendance(db, "Lecture 5")] == [PRESENT, PRESENT]
    assert [(s.name, s.people) for s in sessions(db)] == [("Lecture 5", 2)]


def test_a_session_survives_a_rename_and_goes_with_a_deleted_person(db: Database, tmp_path: Path) -> None:
    session = AttendanceSession(db, "Lab", MIN_MARGIN, started=START)
    session.arrivals(frame(0.0), [face(db, "Ada", 1), face(db, "Bob", 2)])
    db.rename("Ada", "Ada Lovelace")
    db.delete("Bob")
    assert [r.name for r in attendance(db, "Lab")] == ["Ada Lovelace"]
    sheet = tmp_path / "lab.csv"
    assert write_attendance_csv(attendance(db, "Lab"), sheet) == 1
    with pytest.raises(AttendanceError, match="already"):
        write_attendance_csv(attendance(db, "Lab"), sheet)
    with pytest.raises(AttendanceError, match="sessions: Lab"):
        attendance(db, "Lecture 6")


def run(db: Path, card: Path, capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str, str]:
    code = main(["--db", str(db), "--model", str(card), *(str(a) for a in args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_identify_with_a_session_marks_the_enrolled_person_once_in_a_real_clip(
        repo_faces: RepoFaces, shipped_model_card: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """E, then a doorway stranger, then E again (a second track): E is marked once, present."""
    clip = write_video(tmp_path / "lecture.avi", [repo_faces.want[0], repo_faces.stranger, repo_faces.want[1]],
                       fps=10, repeats=6)
    db = tmp_path / "faceapp.db"
    assert run(db, shipped_model_card, capsys, "enroll", "Person E", *repo_faces.hungry[:3])[0] == 0
    code, _, err = run(db, shipped_model_card, capsys, "identify", clip, "--session", "Lecture 5")
    assert code == 0, err
    code, out, _ = run(db, shipped_model_card, capsys, "attendance", "export", "--session", "lecture 5", "--json")
    rows = json.loads(out)
    assert [(r["name"], r["status"]) for r in rows] == [("Person E", "present")]
    assert rows[0]["first_seen"] <= rows[0]["last_seen"]
    sheet = tmp_path / "lecture-5.csv"
    code, out, _ = run(db, shipped_model_card, capsys, "attendance", "export", "--session", "Lecture 5", "--csv", sheet)
    assert code == 0 and out.strip() == f"wrote 1 person of Lecture 5 to {sheet}"
    with open(sheet, newline="", encoding="utf-8-sig") as f:
        assert [row[0] for row in csv.reader(f)] == ["name", "Person E"]
    code, out, _ = run(db, shipped_model_card, capsys, "attendance", "list")
    assert out.splitlines()[1].split()[:2] == ["Lecture", "5"]
    code, _, err = run(db, shipped_model_card, capsys, "attendance", "list", "--session", "Lecture 9")
    assert code == 2 and err.startswith("faceapp: error: nobody was marked in the session 'Lecture 9'")
    code, _, err = run(db, shipped_model_card, capsys, "identify", clip, "--session", "  ")
    assert code == 2 and "--session" in err and len(err.splitlines()) == 1


def test_a_session_over_person_e_s_own_recording(shared_dir: Path, shipped_model_card: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    """Enrolled from frames of one recording, marked once, present, in the other."""
    hungry = shared_path(shared_dir, "videos/person-e-hungry.mkv", "person E's first clip")
    want = shared_path(shared_dir, "videos/person-e-want.mkv", "person E's second clip")
    db = tmp_path / "faceapp.db"
    code, _, err = run(db, shipped_model_card, capsys, "enroll", "Person E", "--camera", hungry, "--shots", "3")
    assert code == 0, err
    assert run(db, shipped_model_card, capsys, "identify", want, "--session", "Lecture 5")[0] == 0
    rows = json.loads(run(db, shipped_model_card, capsys, "attendance", "list", "--session", "Lecture 5", "--json")[1])
    assert [(r["name"], r["status"]) for r in rows] == [("Person E", "present")]
