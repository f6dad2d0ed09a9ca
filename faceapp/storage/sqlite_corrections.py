"""Corrections by hand in the SQLite store: merging two entries of one person, and moving a
template that was someone else's face to them. Each is one transaction that also logs itself
as a 'correct' event, so the log says who was changed into whom and when."""

from __future__ import annotations

from ..errors import StoreError
from .common import named_sighting
from .sqlite_connection import SqliteConnection
from .sqlite_events import insert_event
from .sqlite_people import person_row


class SqliteCorrections(SqliteConnection):
    """The GalleryStore correction methods, on a SQLite connection."""

    def merge_people(self, source: str, target: str) -> tuple[int, int]:
        """Move every template and event of ``source`` to ``target`` and remove ``source``;
        returns (templates moved, events moved)."""
        with self._write() as conn:
            source_id, source_name = person_row(conn, source)
            target_id, target_name = person_row(conn, target)
            if source_id == target_id:
                raise StoreError(f"{source_name} and {target_name} are one person already; nothing to merge")
            templates = conn.execute("UPDATE templates SET person_id = ? WHERE person_id = ?",
                                     (target_id, source_id)).rowcount
            events = conn.execute("UPDATE events SET person_id = ? WHERE person_id = ?",
                                  (target_id, source_id)).rowcount
            # The source's face stands in for the target's only when the target shows none.
            conn.execute("UPDATE people SET thumbnail = (SELECT thumbnail FROM people WHERE id = ?)"
                         " WHERE id = ? AND thumbnail IS NULL", (source_id, target_id))
            conn.execute("DELETE FROM people WHERE id = ?", (source_id,))
            insert_event(conn, "correct", person_id=target_id, name=target_name,
                         decision=f"merged {source_name} into {target_name}: {templates} template{'s' if templates != 1 else ''}, "
                                  f"{events} event{'s' if events != 1 else ''}",
                         distance=None, source=None, station=self.station)
        self._erase_traces()  # the source's thumbnail, out of the WAL too
        return int(templates), int(events)

    def move_template(self, name: str, template_id: int, other: str) -> int:
        """Give one of ``name``'s templates to ``other``; returns how many ``name`` has left."""
        with self._write() as conn:
            person_id, stored = person_row(conn, name)
            other_id, other_name = person_row(conn, other)
            if person_id == other_id:
                raise StoreError(f"template {template_id} is {stored}'s already")
            moved = conn.execute("UPDATE templates SET person_id = ? WHERE id = ? AND person_id = ?",
                                 (other_id, int(template_id), person_id)).rowcount
            if not moved:
                raise StoreError(f"{stored} has no template {template_id}; "
                                 f"list theirs with 'faceapp people templates \"{stored}\"'")
            # The thumbnail may show the moved face: as delete_template, the best kept crop left.
            best = conn.execute("SELECT crop FROM templates WHERE person_id = ? AND crop IS NOT NULL"
                                " ORDER BY quality IS NULL, quality DESC, id DESC LIMIT 1", (person_id,)).fetchone()
            conn.execute("UPDATE people SET thumbnail = ? WHERE id = ?", (None if best is None else best[0], person_id))
            insert_event(conn, "correct", person_id=other_id, name=other_name,
                         decision=f"moved template {int(template_id)} from {stored} to {other_name}",
                         distance=None, source=None, station=self.station)
            left = int(conn.execute("SELECT COUNT(*) FROM templates WHERE person_id = ?", (person_id,)).fetchone()[0])
        self._erase_traces()
        return left

    def not_this_person(self, event_id: int) -> str:
        """Rewrite the named identify event ``event_id`` as naming nobody and log the
        correction; returns the name it had. No template or remembered face is tied to a
        sighting today, so nothing else changes."""
        with self._write() as conn:
            row = conn.execute("SELECT kind, person_id, name, source FROM events WHERE id = ?", (int(event_id),)).fetchone()
            name = named_sighting(event_id, row)
            conn.execute("UPDATE events SET person_id = NULL, name = NULL, decision = ? WHERE id = ?",
                         (f"corrected: not {name}", int(event_id)))
            insert_event(conn, "correct", person_id=row[1], name=name,
                         decision=f"event {int(event_id)} was not {name}", distance=None, source=row[3],
                         station=self.station)
        self._erase_traces()  # the old name, out of the WAL too
        return name
