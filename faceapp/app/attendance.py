"""Attendance sessions, for both front ends: ``identify SOURCE --session "Lecture 5"`` marks each
person who arrives (a track is named, or a photo's face) once per session, with the first and
last time they were seen; a close call is marked "to confirm" rather than "present".

Where it is kept: in the event log, as events of the kind 'attend' whose source is the session's
name (decision "present", "to confirm", or "left" when one of their tracks ends). Not a table of
its own, because then attendance is the personal data the log already is: deleting a person
erases their attendance, the retention period purges it, ``db copy`` and a person's export carry
it, a merge moves it, and a station's role, which may only add events, can take it, on SQLite and
PostgreSQL alike, without a schema change to either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from ..errors import FaceAppError
from ..types import FaceResult, Frame
from .database import Database
from .events import ALL_EVENTS

if TYPE_CHECKING:
    from ..track import TrackSummary

PRESENT, TO_CONFIRM, LEFT = "present", "to confirm", "left"
# A name given with a margin over the runner-up below this many times the rule's minimum margin
# only narrowly escaped being "ambiguous" (faceapp.decide): someone should confirm it.
CONFIRM_MARGIN_FACTOR = 2.0
ATTENDANCE_CSV_COLUMNS = ("name", "first seen", "last seen", "status")


class AttendanceError(FaceAppError):
    """A session name that cannot be used, or a session nobody attended."""


def session_name(text: str) -> str:
    """The session's name, cleaned: printable, not blank, at most 100 characters."""
    cleaned = " ".join((text or "").split())
    if not cleaned or len(cleaned) > 100 or any(not ch.isprintable() for ch in cleaned):
        raise AttendanceError(f"--session must be a printable name of at most 100 characters, got {text!r}")
    return cleaned


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


class AttendanceSession:
    """Marks arrivals of one session as 'attend' events while a source is identified.

    Times are the session's start plus the source's own time (a video's position, a camera's
    clock since it opened), so a recorded lecture gets the times it would have had live; a
    photo's sighting gets the time it was seen."""

    def __init__(self, db: Database, name: str, min_margin: float, started: datetime | None = None) -> None:
        self.db = db
        self.name = session_name(name)
        self.confirm_below = CONFIRM_MARGIN_FACTOR * float(min_margin)
        self.started = started or datetime.now(timezone.utc)
        self._origin: float | None = None  # the source time of the first frame
        self._marked: dict[int, str] = {}  # person id -> the status marked
        self._tracks: dict[int, int] = {}  # track -> person id, for marking the time they leave

    def status(self, match: object) -> str:
        margin = getattr(match, "margin", float("inf"))
        return TO_CONFIRM if margin < self.confirm_below else PRESENT

    def _at_source_time(self, t: float) -> str:
        if self._origin is None:
            self._origin = t
        return _iso(self.started + timedelta(seconds=max(0.0, t - self._origin)))

    def _at(self, frame: Frame) -> str:
        if frame.path is not None:  # a photo: when it was seen
            return _iso(datetime.now(timezone.utc))
        return self._at_source_time(frame.timestamp)

    def _mark(self, at: str, person_id: int, name: str, decision: str, distance: float | None) -> None:
        # Logged as the log's other events are (kept while a shared gallery's server is away),
        # with the time it happened rather than the time it is written.
        self.db.log_event("attend", at=at, person_id=person_id, name=name, decision=decision, distance=distance,
                          source=self.name)

    def arrivals(self, frame: Frame, faces: Sequence[FaceResult]) -> int:
        """Mark the named faces among ``faces`` (those the sighting rule logged: arrivals);
        each person once, unless a clear sighting follows a close call. Called for every frame
        (``faces`` may be empty): the first one's time is the session's start. Returns how many marks."""
        if self._origin is None and frame.path is None:
            self._origin = frame.timestamp
        marks = 0
        for face in faces:
            match = face.match
            if not match.accepted or match.person_id is None:
                continue
            track = getattr(match, "track", None)
            if track is not None:
                self._tracks[track] = match.person_id
            status = self.status(match)
            if self._marked.get(match.person_id) in (PRESENT, status):
                continue
            self._marked[match.person_id] = status
            self._mark(self._at(frame), match.person_id, str(match.name), status, match.distance)
            marks += 1
        return marks

    def departures(self, ended: Sequence[TrackSummary]) -> None:
        """Mark when each marked person's track was last seen."""
        for summary in ended:
            person_id = self._tracks.pop(summary.track, None)
            if person_id is None or summary.person_id != person_id:
                continue  # a track that was never marked, or turned to someone else
            self._mark(self._at_source_time(summary.last_time), person_id, str(summary.name), LEFT, None)


@dataclass(frozen=True)
class AttendanceRow:
    """One person's attendance in one session; times are ISO-8601 UTC."""

    name: str
    first_seen: str
    last_seen: str
    status: str


@dataclass(frozen=True)
class SessionInfo:
    """A session as listed: its name, how many people it marked, when it began and ended."""

    name: str
    people: int
    first_seen: str
    last_seen: str


def _attend_events(db: Database) -> list[dict]:
    return db.store.events(ALL_EVENTS, kind="attend")[::-1]


def attendance(db: Database, session: str) -> list[AttendanceRow]:
    """One row per person marked in ``session``, by first arrival; a person renamed since is
    listed under the current name. AttendanceError when nobody was marked in it."""
    name = session_name(session)
    current = {p.id: p.name for p in db.people()}
    rows: dict[object, dict] = {}
    for e in _attend_events(db):
        if (e["source"] or "").casefold() != name.casefold():  # 'lecture 5' finds "Lecture 5"
            continue
        key = e["person_id"] if e["person_id"] is not None else ("name", e["name"])
        row = rows.setdefault(key, {"name": current.get(e["person_id"], e["name"]), "first": e["at"],
                                    "last": e["at"], "status": TO_CONFIRM})
        row["first"], row["last"] = min(row["first"], e["at"]), max(row["last"], e["at"])
        if e["decision"] == PRESENT:
            row["status"] = PRESENT
    if not rows:
        known = sorted({e["source"] for e in _attend_events(db) if e["source"]})
        hint = f"; sessions: {', '.join(known)}" if known else "; none is recorded yet"
        raise AttendanceError(f"nobody was marked in the session {name!r}{hint}")
    return sorted((AttendanceRow(r["name"], r["first"], r["last"], r["status"]) for r in rows.values()),
                  key=lambda r: (r.first_seen, r.name))


def sessions(db: Database) -> list[SessionInfo]:
    """Every session with marks, oldest first."""
    found: dict[str, dict] = {}
    for e in _attend_events(db):
        if not e["source"]:
            continue
        s = found.setdefault(e["source"].casefold(), {"name": e["source"], "people": set(), "first": e["at"], "last": e["at"]})
        s["people"].add(e["person_id"] if e["person_id"] is not None else e["name"])
        s["last"] = max(s["last"], e["at"])
    return [SessionInfo(s["name"], len(s["people"]), s["first"], s["last"]) for s in found.values()]


def write_attendance_csv(rows: Sequence[AttendanceRow], path) -> int:  # noqa: ANN001 - a path
    """One row per person (name, first seen, last seen, status) into a new CSV file."""
    from pathlib import Path

    from .events import EventsError, write_rows_csv

    try:
        return write_rows_csv(ATTENDANCE_CSV_COLUMNS,
                              [(r.name, r.first_seen, r.last_seen, r.status) for r in rows], Path(path))
    except EventsError as exc:
        raise AttendanceError(str(exc)) from None
