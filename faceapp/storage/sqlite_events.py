"""The event log of the SQLite store: every verify, identify and enroll decision.

An event keeps the name text it was logged under, so the log still says who it was after
the person is renamed or deleted.
"""

from __future__ import annotations

import math
import sqlite3
from datetime import datetime, timezone

from ..names import clean_name, name_key
from .common import now
from .records import EVENT_KINDS, check_kind
from .sqlite_connection import SqliteConnection


def utc_text(moment: datetime) -> str:
    """``moment`` (naive: UTC) as the stored events' UTC ISO-8601 text, for comparing with them."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def insert_event(
    conn: sqlite3.Connection,
    kind: str,
    *,
    person_id: int | None,
    name: str | None,
    decision: str | None,
    distance: float | None,
    source: str | None,
    station: str | None = None,
) -> int:
    """Insert one event inside the caller's transaction (enroll logs its own within its
    write, so a failed enrolment leaves no event); returns the event id. ``station``: which
    station logged it."""
    if distance is not None:
        distance = float(distance)
        if not math.isfinite(distance):
            distance = None  # inf = "nobody enrolled"; SQL has no portable infinity
    cur = conn.execute(
        "INSERT INTO events (at, kind, person_id, name, decision, distance, source, station)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (now(), kind, person_id, name, decision, distance, source, station),
    )
    return int(cur.lastrowid)


class SqliteEvents(SqliteConnection):
    """The GalleryStore event methods, on a SQLite connection."""

    def log_event(
        self,
        kind: str,
        *,
        name: str | None = None,
        person_id: int | None = None,
        decision: str | None = None,
        distance: float | None = None,
        source: str | None = None,
    ) -> int:
        """Record a verify/identify/enroll decision; returns the event id.

        The name text is stored with the event (filled in from person_id when missing),
        so the log still says who it was after the person is deleted.
        """
        if kind not in EVENT_KINDS:
            raise ValueError(f"event kind must be one of {EVENT_KINDS}, got {kind!r}")
        with self._write() as conn:
            if person_id is not None:
                row = conn.execute("SELECT name FROM people WHERE id = ?", (int(person_id),)).fetchone()
                if row is None:
                    person_id = None  # deleted meanwhile; keep the name text only
                elif name is None:
                    name = str(row[0])
            elif name is not None:
                row = conn.execute("SELECT id FROM people WHERE name_key = ?", (name_key(name),)).fetchone()
                person_id = None if row is None else int(row[0])
            return insert_event(
                conn, kind, person_id=person_id, name=name, decision=decision, distance=distance, source=source,
                station=self.station,
            )

    def events(self, limit: int = 100, name: str | None = None, *, since: datetime | None = None,
               kind: str | None = None) -> list[dict]:
        """The newest ``limit`` events first, optionally only one person's, only those logged
        at or after ``since`` (naive: UTC), only one ``kind``.

        Filtering by name finds the events of the person now carrying it (also from before a
        rename, and those a merge brought), and events tied to no person that were logged under
        it; never another person's events that once carried the name.
        """
        if int(limit) < 0:
            raise ValueError("limit must be >= 0")
        check_kind(kind)
        sql = "SELECT id, at, kind, person_id, name, decision, distance, source, station FROM events"
        where: list[str] = []
        params: list = []
        if name is not None:
            key = name_key(clean_name(name))
            where.append("(person_id = (SELECT id FROM people WHERE name_key = ?)"
                         " OR (person_id IS NULL AND name = ? COLLATE NOCASE))")
            params += [key, clean_name(name)]
        if since is not None:
            where.append("at >= ?")  # stored times are UTC ISO-8601 text: text order is time order
            params.append(utc_text(since))
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(int(limit))
        with self._errors():
            return list(self.db.query(sql, params))

    def purge_events(self, older_than: datetime) -> int:
        """Erase every event logged before ``older_than`` (an aware datetime; a naive one is
        taken as UTC); returns how many went. Erased as :meth:`delete` erases a person."""
        # Stored times are UTC ISO-8601 text with milliseconds, so text order is time order.
        cutoff = utc_text(older_than)
        with self._write() as conn:
            gone = int(conn.execute("DELETE FROM events WHERE at < ?", (cutoff,)).rowcount)
        if gone:
            self._erase_traces()
        return gone
