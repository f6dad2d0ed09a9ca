"""The event log of the PostgreSQL store: every verify, identify and enroll decision, with the
station that logged it.

As in every backend, an event keeps the name text it was logged under, so the log still says
who it was after the person is renamed or deleted.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

import psycopg

from ..names import clean_name, name_key
from .common import now
from .postgres_connection import PostgresConnection, iso
from .records import EVENT_KINDS, check_kind

EVENT_COLUMNS = ("id", "at", "kind", "person_id", "name", "decision", "distance", "source", "station")


def insert_event(
    conn: psycopg.Connection,
    kind: str,
    *,
    person_id: int | None,
    name: str | None,
    decision: str | None,
    distance: float | None,
    source: str | None,
    station: str | None,
    at: str | None = None,
) -> int:
    """Insert one event inside the caller's transaction (enroll logs its own within its
    write, so a failed enrolment leaves no event); returns the event id."""
    if distance is not None:
        distance = float(distance)
        if not math.isfinite(distance):
            distance = None  # inf = "nobody enrolled"; stored as the SQLite store stores it
    row = conn.execute(
        "INSERT INTO events (at, kind, person_id, name, decision, distance, source, station)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (at or now(), kind, person_id, name, decision, distance, source, station),
    ).fetchone()
    return int(row[0])


class PostgresEvents(PostgresConnection):
    """The GalleryStore event methods, on a PostgreSQL connection."""

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
        """Record a verify/identify/enroll decision, with this store's station; returns the event id.

        The name text is stored with the event (filled in from person_id when missing),
        so the log still says who it was after the person is deleted.
        """
        if kind not in EVENT_KINDS:
            raise ValueError(f"event kind must be one of {EVENT_KINDS}, got {kind!r}")
        with self._write("write events") as conn:
            if person_id is not None:
                row = conn.execute("SELECT name FROM people WHERE id = %s", (int(person_id),)).fetchone()
                if row is None:
                    person_id = None  # deleted meanwhile; keep the name text only
                elif name is None:
                    name = str(row[0])
            elif name is not None:
                row = conn.execute("SELECT id FROM people WHERE name_key = %s", (name_key(name),)).fetchone()
                person_id = None if row is None else int(row[0])
            return insert_event(conn, kind, person_id=person_id, name=name, decision=decision, distance=distance,
                                source=source, station=self.station)

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
        sql = f"SELECT {', '.join(EVENT_COLUMNS)} FROM events"
        where: list[str] = []
        params: list = []
        if name is not None:
            where.append("(person_id = (SELECT id FROM people WHERE name_key = %s)"
                         " OR (person_id IS NULL AND lower(name) = lower(%s)))")
            params += [name_key(clean_name(name)), clean_name(name)]
        if since is not None:
            where.append("at >= %s")
            params.append(since if since.tzinfo is not None else since.replace(tzinfo=timezone.utc))
        if kind is not None:
            where.append("kind = %s")
            params.append(kind)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT %s"
        params.append(int(limit))
        with self._read() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [dict(zip(EVENT_COLUMNS, (r[0], iso(r[1]), *r[2:]))) for r in rows]

    def purge_events(self, older_than: datetime) -> int:
        """Erase every event logged before ``older_than`` (an aware datetime; a naive one is
        taken as UTC); returns how many went."""
        if older_than.tzinfo is None:
            older_than = older_than.replace(tzinfo=timezone.utc)
        with self._write("delete events") as conn:
            return int(conn.execute("DELETE FROM events WHERE at < %s", (older_than,)).rowcount)
