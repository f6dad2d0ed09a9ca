"""Corrections by hand in the PostgreSQL store: merging two entries of one person, and moving a
template that was someone else's face to them, as the SQLite store does (one transaction each,
logged as a 'correct' event). They change people and templates, so only the administrator's
role may make them, and every station reloads its gallery (the tables' NOTIFY triggers)."""

from __future__ import annotations

from ..errors import StoreError
from .postgres_connection import PostgresConnection
from .postgres_events import insert_event
from .postgres_people import person_row
from .common import named_sighting


class PostgresCorrections(PostgresConnection):
    """The GalleryStore correction methods, on a PostgreSQL connection."""

    def merge_people(self, source: str, target: str) -> tuple[int, int]:
        """Move every template and event of ``source`` to ``target`` and remove ``source``;
        returns (templates moved, events moved)."""
        with self._write("merge people") as conn:
            source_id, source_name = person_row(conn, source)
            target_id, target_name = person_row(conn, target)
            if source_id == target_id:
                raise StoreError(f"{source_name} and {target_name} are one person already; nothing to merge")
            templates = conn.execute("UPDATE templates SET person_id = %s WHERE person_id = %s",
                                     (target_id, source_id)).rowcount
            events = conn.execute("UPDATE events SET person_id = %s WHERE person_id = %s",
                                  (target_id, source_id)).rowcount
            self._copy_thumbnail(conn, source_id, target_id)  # sealed again to the target when encrypted
            conn.execute("DELETE FROM people WHERE id = %s", (source_id,))
            insert_event(conn, "correct", person_id=target_id, name=target_name,
                         decision=f"merged {source_name} into {target_name}: {templates} template{'s' if templates != 1 else ''}, "
                                  f"{events} event{'s' if events != 1 else ''}",
                         distance=None, source=None, station=self.station)
        return int(templates), int(events)

    def move_template(self, name: str, template_id: int, other: str) -> int:
        """Give one of ``name``'s templates to ``other``; returns how many ``name`` has left."""
        with self._write("move templates") as conn:
            person_id, stored = person_row(conn, name)
            other_id, other_name = person_row(conn, other)
            if person_id == other_id:
                raise StoreError(f"template {template_id} is {stored}'s already")
            moved = conn.execute("UPDATE templates SET person_id = %s WHERE id = %s AND person_id = %s",
                                 (other_id, int(template_id), person_id)).rowcount
            if not moved:
                raise StoreError(f"{stored} has no template {template_id}; "
                                 f"list theirs with 'faceapp people templates \"{stored}\"'")
            self._thumbnail_from_best_crop(conn, person_id)
            insert_event(conn, "correct", person_id=other_id, name=other_name,
                         decision=f"moved template {int(template_id)} from {stored} to {other_name}",
                         distance=None, source=None, station=self.station)
            return int(conn.execute("SELECT COUNT(*) FROM templates WHERE person_id = %s", (person_id,)).fetchone()[0])

    def not_this_person(self, event_id: int) -> str:
        """Rewrite the named identify event ``event_id`` as naming nobody and log the
        correction, as the SQLite store does; returns the name it had. No template or
        remembered face is tied to a sighting today, so nothing else changes."""
        with self._write("correct events") as conn:
            row = conn.execute("SELECT kind, person_id, name, source FROM events WHERE id = %s FOR UPDATE",
                               (int(event_id),)).fetchone()
            name = named_sighting(event_id, row)
            conn.execute("UPDATE events SET person_id = NULL, name = NULL, decision = %s WHERE id = %s",
                         (f"corrected: not {name}", int(event_id)))
            insert_event(conn, "correct", person_id=row[1], name=name,
                         decision=f"event {int(event_id)} was not {name}", distance=None, source=row[3],
                         station=self.station)
        return name
